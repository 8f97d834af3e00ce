"""Training Lab in a real browser: start a run, watch it live, cancel it, and read the outcome in words."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import opened

pytestmark = pytest.mark.e2e


def test_start_watch_and_cancel_a_run(server: str, browser) -> None:
    with opened(browser, f"{server}/training_lab", height=1400) as (page, errors):
        page.get_by_role("button", name="Start run").click()
        progress = page.locator('[data-testid="stProgress"]').first
        # the live fragment shows the run training (or waiting for its slot) without a page reload
        page.wait_for_function(
            "() => { const p = document.querySelector('[data-testid=\"stProgress\"]');"
            " return p && /training|waiting/.test(p.innerText); }", timeout=120_000, polling=300)
        page.get_by_role("button", name="Cancel this run").click()
        page.wait_for_function(
            "() => { const p = document.querySelector('[data-testid=\"stProgress\"]');"
            " return p && /cancelled/.test(p.innerText); }", timeout=120_000, polling=300)
        assert "cancelled" in progress.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not errors, errors
