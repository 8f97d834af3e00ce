"""Few labels in a real browser, on a server of its own whose store holds few-label runs: the curve, the
pseudo-label log, then the pool scored (trade-off, confusion matrix, confident wrong pseudo-labels)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_clean, opened, running_server, wait_until_idle

pytestmark = pytest.mark.e2e


def test_curve_log_and_gallery(browser, tmp_path_factory) -> None:
    from tests.seed import seed_few_labels

    data = tmp_path_factory.mktemp("e2e-few")
    seed_few_labels(data)
    with running_server(data) as srv, opened(browser, f"{srv}/few_labels", height=1600) as (page, errors):
        page.get_by_text("Label efficiency: validation accuracy").first.wait_for(timeout=60_000)
        page.get_by_text("pseudo-labels during training").first.wait_for(timeout=60_000)
        page.get_by_text("Score its pseudo-labels on the pool").click()
        wait_until_idle(page)
        page.get_by_text("The threshold's trade-off").first.wait_for(timeout=60_000)
        page.get_by_text("Pseudo-labels over τ").first.wait_for(timeout=60_000)
        page.get_by_text("Confident and wrong").first.wait_for(timeout=60_000)
        assert_clean(page, errors)
    log = (data / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "Warning" not in log, log[-2000:]
