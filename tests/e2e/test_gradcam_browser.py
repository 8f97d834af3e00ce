"""Grad-CAM page in a real browser: open it, change the method, see the new overlay; no error element and no
traceback in the server log."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import go_to, wait_until_idle

pytestmark = pytest.mark.e2e


def test_change_method_and_see_the_overlay(tab, tmp_path_factory) -> None:
    log_path = next(Path(tmp_path_factory.getbasetemp()).glob("e2e-data*/server.log"))
    start = log_path.stat().st_size  # the server is shared: judge only what this page writes
    page, errors = tab
    go_to(page, "Grad-CAM & attributions")
    assert page.locator("h1").first.inner_text().strip() == "Grad-CAM & attributions"
    page.wait_for_selector(".js-plotly-plot .gtitle >> text=Grad-CAM · features", timeout=120_000)
    page.locator("[data-testid='stMultiSelect'] input").first.click()
    page.get_by_role("option", name="Layer-CAM").click()
    page.keyboard.press("Escape")
    wait_until_idle(page)
    page.wait_for_selector(".js-plotly-plot .gtitle >> text=Layer-CAM · features", timeout=120_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlert']", has_text="failed").count() == 0
    assert not errors, errors
    with open(log_path, encoding="utf-8", errors="replace") as f:
        f.seek(start)
        log = f.read()
    assert "Traceback" not in log, log[-3000:]
