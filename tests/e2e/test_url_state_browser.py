"""The view in the URL, in a real browser: choices set on a page go into the address, and that address opened in a
fresh page (Browser.new_page: a new context, a new session, nothing shared) shows the same choices (Conv Arithmetic, Network overview); a
link to Adversarial examples with a bad parameter keeps the good one and notes the bad one."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_clean, opened, set_number, wait_until_idle

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


def test_choices_travel_in_the_link_to_a_fresh_session(browser, server) -> None:
    with opened(browser, f"{server}/conv_arithmetic", height=1200) as (page, problems):
        set_number(page, "ca_h", 32)
        set_number(page, "ca_k", 5)
        url = page.url
        assert url.endswith("/conv_arithmetic?ca_h=32&ca_k=5") and _link(page) == url
        assert_clean(page, problems)
    with opened(browser, url, height=1200) as (page, problems):
        assert _shows(page, "ca_h", "32") and _shows(page, "ca_k", "5") and _shows(page, "ca_w", "7")
        assert_clean(page, problems)

    with opened(browser, f"{server}/network_overview", height=1200) as (page, problems):
        page.locator(".st-key-ov_source").get_by_text("Shapes data set").click()
        wait_until_idle(page)
        set_number(page, "ov_shape", 5)
        url = page.url
        assert "ov_source=shapes" in url and "ov_shape=5" in url
        assert_clean(page, problems)
    with opened(browser, url, height=1200) as (page, problems):
        assert _checked(page, "ov_source") == "Shapes data set" and _shows(page, "ov_shape", "5")
        assert_clean(page, problems)

    # a link as a teacher would type it, with one bad value: the good one is taken, the bad one noted and dropped
    with opened(browser, f"{server}/adversarial?adv_method=fgsm&adv_eps=abc", height=1200) as (page, problems):
        assert _checked(page, "adv_method") == "FGSM (one step)"
        note = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentInfo"]').inner_text()
        assert "adv_eps: expected a whole number, got 'abc'" in note
        assert page.url.endswith("/adversarial?adv_method=fgsm")  # the bad parameter left the address
        assert_clean(page, problems)
