"""Adversarial examples in a real browser, on a server whose store already holds runs: the attack on the shapes
image, ε moved with the slider's keys until the answer flips, the sweep over ε drawn, and the comparison
section offering the missing adversarially trained run."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_clean, go_to, set_number, wait_until_idle
from tests.e2e.test_flows import _wait_text

pytestmark = pytest.mark.e2e


def test_attack_an_image_then_measure_accuracy_against_eps(tab) -> None:
    page, problems = tab
    go_to(page, "Adversarial examples")
    answer = _wait_text(page, '[data-testid="stMarkdownContainer"]', r"^The model's answer")
    assert "8.0/255" in answer or "more than" in answer
    page.locator(".st-key-adv_fig .js-plotly-plot").wait_for(timeout=60_000)  # drawn (a moment after the text)
    # ε down to 0 with the slider's keyboard handle: nothing moves, nothing flips
    handle = page.locator(".st-key-adv_eps input[type=range]")
    handle.focus()
    handle.press("Home")
    wait_until_idle(page)
    answer = _wait_text(page, '[data-testid="stMarkdownContainer"]', r"^The model's answer.*not flipped")
    assert "more than 0.0/255" in answer
    handle.focus()
    handle.press("End")  # 64/255: the attack has room
    wait_until_idle(page)
    moved = _wait_text(page, '[data-testid="stMarkdownContainer"]', r"^The model's answer.*more than [1-9]")
    assert float(re.search(r"more than ([\d.]+)/255", moved).group(1)) <= 64.0
    assert_clean(page, problems)
    # the sweep over ε on a few held-out images
    set_number(page, "adv_sweep_n", 10)
    page.get_by_role("button", name="Measure FGSM, PGD and noise over ε").click()
    wait_until_idle(page)
    page.locator(".st-key-adv_sweep_fig .js-plotly-plot").wait_for(timeout=120_000)
    traces = page.locator(".st-key-adv_sweep_fig .js-plotly-plot").evaluate("gd => gd.data.map(t => t.name)")
    assert "FGSM" in traces and "PGD-10" in traces and "random noise" in traces
    # the store holds standard runs only: the page offers the adversarially trained one
    assert page.get_by_role("button", name="Queue the FGSM-RS run").count() == 1
    assert_clean(page, problems)
