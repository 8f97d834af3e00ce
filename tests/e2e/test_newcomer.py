"""What a newcomer meets (issue 26), in a real browser on a server whose store already holds runs: every page
linked from Home, and the scaling explorer at its widgets' extremes. (Time estimates as ranges in words, a queued
run's place in the queue and a second tab during a comparison are part of the training flow in test_flows.py.)
"""
from __future__ import annotations

import pytest

from pages._nav import all_pages
from tests.e2e.conftest import assert_clean, go_to, wait_until_idle

pytestmark = pytest.mark.e2e


def _set_float(page, key: str, value: float) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(f"{value}")
    box.press("Enter")
    wait_until_idle(page)


def test_home_links_every_page_and_scaling_survives_its_extremes(tab) -> None:
    page, problems = tab
    go_to(page, "Home", heading="ConvScope")
    main = page.locator('[data-testid="stMain"]')
    for info in all_pages():
        if not info.default:
            assert main.get_by_text(info.title, exact=True).count() >= 1, info.title
    go_to(page, "Model tweaks & scaling")
    _set_float(page, "sc_alpha", 1.5)  # α = 1.5 at φ = 1: depth 1.5 (issue 26 defect 1 broke here)
    slider = page.locator(".st-key-sc_phi input[type=range]")
    slider.focus()
    slider.press("End")  # φ = 7 with α = 1.5: the family's deep end cannot be built
    wait_until_idle(page)
    assert_clean(page, problems)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "depth_mult" not in text  # no internal names
    assert page.locator(".st-key-sc_train_queue").count() == 1  # the sections below are still there
