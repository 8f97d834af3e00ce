"""The pages app.py registers with st.navigation: the app's one page list (pages/_nav.py)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def app_pages() -> list[tuple[str, bool]]:
    """(page file path, is the default page) for every page of the app's navigation, in order."""
    from pages._nav import all_pages

    return [(p.path, p.default) for p in all_pages()]
