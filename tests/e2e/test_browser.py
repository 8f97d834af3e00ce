"""Open every page in a real browser against a real server: each renders, with no error element."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_pages import app_pages
from tests.e2e.conftest import opened, wait_until_idle

pytestmark = pytest.mark.e2e


def _page_paths() -> list[str]:
    urls = ["" if default else Path(path).stem for path, default in app_pages()]
    # deep links first: a fresh server's first visitor must get the navigation app, not a bare page file
    return sorted(urls, key=lambda u: u == "")


@pytest.mark.parametrize("url_path", _page_paths())
def test_page_opens_without_error(server: str, browser, url_path: str) -> None:
    with opened(browser, f"{server}/{url_path}") as (page, errors):
        assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
            '[data-testid="stException"]').first.inner_text()
        assert page.locator("h1").first.inner_text().strip()
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "Compute device" in sidebar and "Conv Arithmetic" in sidebar and "common" not in sidebar
        assert not errors, errors


def test_conv_arithmetic_widget_changes_output(server: str, browser) -> None:
    with opened(browser, f"{server}/conv_arithmetic") as (page, _):
        assert "16×7×7" in page.locator('[data-testid="stMetric"]').first.inner_text()
        stride = page.get_by_label("Stride S")
        stride.fill("2")
        stride.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"stMetric\"]').innerText.includes('16×4×4')",
            timeout=60_000)
        wait_until_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
