"""Every page of the navigation app renders with no exception (AppTest, the real app.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages import app_pages

ROOT = Path(__file__).resolve().parents[2]


def _pages() -> list[str]:
    return [path for path, _ in app_pages()]


def test_every_page_file_exists() -> None:
    pages = _pages()
    assert "pages/home.py" in pages and "pages/conv_arithmetic.py" in pages and "pages/architectures.py" in pages
    for p in pages:
        assert (ROOT / p).is_file(), p


@pytest.mark.parametrize("page", _pages())
def test_page_renders_without_exception(page: str) -> None:
    at = AppTest.from_file("../../app.py", default_timeout=240).run()
    assert not at.exception
    assert any("Compute device" in getattr(c.proto, "body", "") for c in at.sidebar.children.values())
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
