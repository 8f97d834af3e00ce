"""Augmentation Lab in a real browser: load a preset pipeline, re-roll the draws, send it to the Training Lab.

In a tab of its own (a session of its own, not the flow tests' shared tab): the pipeline it sends stays in its session's Training Lab, where
the flow test's runs would train with it. Controls are found by their widget keys (``.st-key-...``): a role-and-name
look-up computes the accessible name of every element of this long page at each step. What AppTest checks at less
cost is left to it (tests/pages/test_augmentation_lab_page.py): adding an operation chosen in the select box, the
draws each operation makes, re-roll's new draws, the statistics, the effect on the default model, loading a preset,
the pipeline the Training Lab receives."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import opened, wait_until_idle

pytestmark = pytest.mark.e2e


def _click(page, key: str) -> None:
    """Click the button with widget key ``key`` and wait for the run it starts (an element being redrawn is
    still on the page, hidden, until its replacement arrives)."""
    page.locator(f".st-key-{key} button:visible").click()
    wait_until_idle(page)


def test_build_reroll_and_send_to_the_training_lab(server: str, context, tmp_path_factory) -> None:
    with opened(context, f"{server}/augmentation_lab", height=1000) as (page, errors):
        _click(page, "aug_load_preset")  # flip_crop: flip, padded crop
        page.get_by_text("2. Padded random crop").wait_for(timeout=60_000)
        _click(page, "aug_reroll")
        page.get_by_text("draws of the pipeline, seed 1").first.wait_for(timeout=60_000)
        assert page.get_by_text("crop dx=").count() >= 1  # each draw's parameters are listed
        _click(page, "aug_send")
        page.get_by_text("Sent: the Training Lab").wait_for(timeout=60_000)
        page.get_by_text("Open the Training Lab").click()  # a link to another page of the same session
        wait_until_idle(page)
        page.get_by_role("tab", name="Data augmentation").click()
        page.get_by_text("Pipeline: Horizontal flip p=0.5 → Padded random crop").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not errors, errors
    logs = list(tmp_path_factory.getbasetemp().glob("e2e-data*/server.log"))
    assert logs and not any("Traceback" in p.read_text() for p in logs)
