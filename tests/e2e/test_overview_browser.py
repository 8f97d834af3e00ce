"""Network overview in a real browser: the overview and the number view draw, and an arrow button steps the traced
unit to its neighbour (the page tests check the numbers, this checks the browser side)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_clean, go_to, wait_until_idle

pytestmark = pytest.mark.e2e


def test_overview_draws_and_the_arrow_steps_to_the_next_unit(tab) -> None:
    page, problems = tab
    go_to(page, "Network overview", heading="Network overview")
    page.wait_for_selector(".st-key-ov_figure .js-plotly-plot", timeout=120_000)
    body = page.inner_text("body")
    assert "The network's answer:" in body and "Unit (0, 0) of output channel 0" in body
    page.get_by_role("button", name="→", exact=True).click()
    wait_until_idle(page)
    page.wait_for_function("() => document.body.innerText.includes('Unit (0, 1) of output channel 0')",
                           timeout=60_000)
    assert page.locator(".st-key-ov_cj_small_cnn_features_0 input").input_value() == "1"
    assert page.locator(".st-key-ov_numbers .js-plotly-plot").count() == 1
    assert_clean(page, problems)
