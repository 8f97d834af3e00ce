"""Few labels in a real browser, on the shared server whose store holds few-label runs beside the Lab's: the
curve, the pseudo-label log, then the pool scored (trade-off, confusion matrix, confident wrong pseudo-labels)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_clean, go_to, wait_until_idle

pytestmark = pytest.mark.e2e


def test_curve_log_and_gallery(tab) -> None:
    page, problems = tab
    go_to(page, "Few labels")
    page.get_by_text("Label efficiency: validation accuracy").first.wait_for(timeout=60_000)
    page.get_by_text("pseudo-labels during training").first.wait_for(timeout=60_000)
    page.get_by_text("Score its pseudo-labels on the pool").click()
    wait_until_idle(page)
    page.get_by_text("The threshold's trade-off").first.wait_for(timeout=60_000)
    page.get_by_text("Pseudo-labels over τ").first.wait_for(timeout=60_000)
    page.get_by_text("Confident and wrong").first.wait_for(timeout=60_000)
    assert_clean(page, problems)
