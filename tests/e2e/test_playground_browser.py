"""Training playground in a real browser: step runs one batch, play trains on its own until pause, a paused run
stays where it stopped, reset goes back to step 0."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_clean, go_to, wait_until_idle

pytestmark = pytest.mark.e2e

_STEPS = ("() => { const m = [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
          ".find(e => /^Steps/.test(e.innerText)); return m ? m.querySelector('[data-testid=\"stMetricValue\"]')"
          ".innerText : null; }")


def _steps(page) -> int:
    return int(page.evaluate(_STEPS).replace(",", ""))


def test_step_play_pause_reset(tab) -> None:
    page, problems = tab
    go_to(page, "Training playground")
    assert _steps(page) == 0
    page.get_by_role("button", name=re.compile(r"Step$")).click()
    wait_until_idle(page)
    assert _steps(page) == 1

    page.get_by_role("button", name=re.compile(r"Play$")).click()
    page.wait_for_function(f"() => parseInt(({_STEPS})()) >= 3", timeout=60_000, polling=200)  # ticks train

    page.get_by_role("button", name=re.compile(r"Pause$")).click()
    page.get_by_role("button", name=re.compile(r"Play$")).and_(page.locator(":enabled")).wait_for(timeout=30_000)
    wait_until_idle(page)
    held = _steps(page)
    page.wait_for_timeout(1500)  # three ticks' worth: a paused run does not train
    assert _steps(page) == held >= 3

    page.get_by_role("button", name=re.compile(r"Reset$")).click()
    wait_until_idle(page)
    assert _steps(page) == 0
    assert_clean(page, problems)
