"""Augmentation Lab in a real browser: build a 3-step pipeline, re-roll the draws, send it to the Training Lab.

In a tab of its own (not the flow tests' shared one): the pipeline it sends stays in its session's Training Lab."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import opened, wait_until_idle

pytestmark = pytest.mark.e2e


def test_build_reroll_and_send_to_the_training_lab(server: str, browser, tmp_path_factory) -> None:
    with opened(browser, f"{server}/augmentation_lab", height=1400) as (page, errors):
        page.get_by_role("button", name="Load preset").click()  # flip_crop: flip, padded crop
        wait_until_idle(page)
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Operation").click()
        page.keyboard.type("Colour jitter")
        page.keyboard.press("Enter")
        wait_until_idle(page)
        page.get_by_role("button", name="Add", exact=True).click()
        wait_until_idle(page)
        assert page.get_by_text("3. Colour jitter").count() == 1
        page.get_by_role("button", name="Re-roll").click()
        wait_until_idle(page)
        page.get_by_text("draws of the pipeline, seed 1").first.wait_for(timeout=60_000)
        assert page.get_by_text("color_jitter order=").count() >= 1  # each draw's parameters are listed
        page.get_by_role("button", name="Use in Training Lab").click()
        wait_until_idle(page)
        page.get_by_text("Sent: the Training Lab").wait_for(timeout=60_000)
        page.get_by_text("Open the Training Lab").click()
        wait_until_idle(page)
        page.get_by_role("tab", name="Data augmentation").click()
        page.get_by_text("Pipeline: Horizontal flip p=0.5 → Padded random crop").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not errors, errors
    logs = list(tmp_path_factory.getbasetemp().glob("e2e-data*/server.log"))
    assert logs and not any("Traceback" in p.read_text() for p in logs)
