"""Every page of the navigation app renders with no exception (AppTest, the real app.py), walked in one session
(one app start for all pages), and Home links every other page."""
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


def _sidebar_says_the_device(at: AppTest) -> bool:
    return any("Compute device" in getattr(c.proto, "body", "") for c in at.sidebar.children.values())


@pytest.mark.slow
def test_home_links_every_page_and_every_page_renders_without_exception() -> None:
    from pages._nav import all_pages

    at = AppTest.from_file("../../app.py", default_timeout=240).run()
    assert not at.exception, [e.message for e in at.exception]
    assert _sidebar_says_the_device(at)
    links = [link for link in at.get("page_link") if link.proto.label.startswith("**")]  # the directory, not lessons
    labels = [link.proto.label for link in links]
    others = [p for p in all_pages() if not p.default]
    assert len(others) == 15 - 1 and len(links) == len(others)
    for info in others:
        assert f"**{info.title}**" in labels, info.title
    assert all(link.proto.page for link in links)  # resolved through st.navigation, not a plain fallback link

    failed: dict[str, list[str]] = {}
    for page in _pages():  # every page, Home last as well as first: each switch is a fresh script run of that page
        at.switch_page(page).run()
        if at.exception:
            failed[page] = [e.message for e in at.exception]
    assert not failed, failed
