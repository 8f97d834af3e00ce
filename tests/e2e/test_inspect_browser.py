"""Seeing inside, in a real browser: pick a channel and find its top patches; run the SE by-class analysis (each on
the fewest images its slider allows: the page tests check the numbers, this checks the browser side)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import go_to, wait_until_idle

pytestmark = pytest.mark.e2e


def _slider_to_minimum(page, key: str) -> None:
    """Move a slider to its minimum with the keyboard, as a user can (Home on its focused thumb)."""
    thumb = page.locator(f".st-key-{key} input[type=range]")
    thumb.focus()
    thumb.press("Home")
    wait_until_idle(page)


def _no_exception(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()


def test_features_click_a_unit_pick_a_channel_and_find_top_patches(tab) -> None:
    page, errors = tab
    go_to(page, "Features")
    # the activation map over the image: a click on a unit draws its receptive field (a heatmap alone cannot be
    # clicked in the browser; the page said "click" and nothing happened)
    page.get_by_text("Click the map to draw a unit's receptive field.").wait_for(timeout=60_000)
    overlay = page.locator('[class*="st-key-ft_overlay"] .js-plotly-plot').first
    overlay.scroll_into_view_if_needed()  # a click lands only inside the window
    xy = overlay.evaluate("""gd => { const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const r = gd.getBoundingClientRect(), m = gd._fullData.find(t => t.mode === 'markers');
        const w = Math.round(Math.sqrt(m.x.length)), k = w + 1;  // unit (1, 1) of the square map
        return [r.left + xa._offset + xa.l2p(m.x[k]), r.top + ya._offset + ya.l2p(m.y[k])]; }""")
    page.mouse.click(*xy)
    page.wait_for_function("() => document.body.innerText.includes('Unit (1, 1): activation')", timeout=60_000)
    wait_until_idle(page)
    assert page.locator('[class*="st-key-ft_overlay"] .js-plotly-plot').first.evaluate(
        "gd => (gd.layout.shapes || []).length") == 1  # the field's box
    page.locator("button", has_text="Top-activating patches").first.click(force=True)
    wait_until_idle(page)
    channel = page.get_by_label("Channel (0–127)")
    channel.fill("5")
    channel.press("Enter")
    wait_until_idle(page)
    _slider_to_minimum(page, "ft_tp_n")
    assert page.locator(".st-key-ft_tp_n input[type=range]").input_value() == "100"
    page.locator("button", has_text="Find top patches").first.click(force=True)
    page.wait_for_function("() => document.body.innerText.includes('Channel 5 of features.13: top 9 units')",
                           timeout=240_000)
    wait_until_idle(page)
    _no_exception(page)
    assert "receptive field of one unit" in page.inner_text("body")
    assert not errors, errors


def test_se_attention_runs_the_by_class_analysis(tab) -> None:
    page, errors = tab
    go_to(page, "SE Attention")
    assert "SE attention" in page.locator("h1").first.inner_text()
    _slider_to_minimum(page, "se_n")
    assert page.locator(".st-key-se_n input[type=range]").input_value() == "5"
    page.locator("button", has_text="Run the by-class analysis").first.click(force=True)
    page.wait_for_function("() => document.body.innerText.includes('Class specificity (share of gate variance')",
                           timeout=240_000)
    wait_until_idle(page)
    _no_exception(page)
    assert "Ablation: switch gates off" in page.inner_text("body")
    assert not errors, errors
