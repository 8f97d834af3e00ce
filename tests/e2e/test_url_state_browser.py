"""The view in the URL, in a real browser: choices set on a page go into the address, and that address opened in a
new tab (a Streamlit session of its own; only the browser's caches are shared, as between a user's tabs) shows the
same choices (Conv Arithmetic); a link to Adversarial examples with a radio's value and a bad parameter shows the
radio's choice and notes the bad one. Every page's parameters, labels kept out of the URL and the overview's links
are checked with AppTest (tests/pages/test_url_state.py)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_clean, go_to, opened, set_number

pytestmark = pytest.mark.e2e


def _shows(page, key: str, value: str) -> bool:
    """Whether input ``key`` shows ``value``; a number input set from the URL may show its default for a moment
    after the run ends before the browser adopts the run's value, so this waits for it (up to 15 s)."""
    expect(page.locator(f".st-key-{key} input").first).to_have_value(value, timeout=15_000)
    return True


def _checked(page, key: str) -> str:
    return page.locator(f".st-key-{key} label:has(input:checked)").inner_text().strip()


def _link(page) -> str:
    return page.locator('[data-testid="stSidebar"] [data-testid="stCode"]').inner_text().strip()


def test_choices_travel_in_the_link_to_a_fresh_session(context, server, tab) -> None:
    page, problems = tab  # the shared tab's session: choices set there, its address opened in a fresh one
    go_to(page, "Conv Arithmetic")
    set_number(page, "ca_h", 32)
    set_number(page, "ca_k", 5)
    url = page.url
    # (the shared tab keeps what an earlier test chose on this page, padding say: it is in the address too)
    params = {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}
    assert urlparse(url).path.endswith("/conv_arithmetic") and _link(page) == url
    assert {"ca_h": "32", "ca_k": "5"}.items() <= params.items()
    assert_clean(page, problems)
    with opened(context, url, height=1200) as (fresh, fresh_problems):
        assert all(_shows(fresh, k, v) for k, v in params.items())
        assert "ca_w" in params or _shows(fresh, "ca_w", "7")  # the rest at the defaults
        assert_clean(fresh, fresh_problems)

    # a link as a teacher would type it, with one bad value: the good one is taken, the bad one noted and dropped
    with opened(context, f"{server}/adversarial?adv_method=fgsm&adv_eps=abc", height=1200) as (fresh, fresh_problems):
        assert _checked(fresh, "adv_method") == "FGSM (one step)"
        note = fresh.locator('[data-testid="stSidebar"] [data-testid="stAlertContentInfo"]').inner_text()
        assert "adv_eps: expected a whole number, got 'abc'" in note
        assert fresh.url.endswith("/adversarial?adv_method=fgsm")  # the bad parameter left the address
        assert_clean(fresh, fresh_problems)
