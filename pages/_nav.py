"""A link to another page of the app that also works when a page script runs on its own (tests, bare runs)."""
from __future__ import annotations

from pathlib import Path

from streamlit.errors import StreamlitAPIException


def page_link(container, page: str, label: str, icon: str | None = None) -> None:
    """``container.page_link(page, ...)`` in the app (app.py registers every page with ``st.navigation``); a plain
    link to the page's URL when the script runs without that navigation and Streamlit cannot resolve it."""
    try:
        container.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:  # StreamlitPageNotFoundError: no st.navigation in this run
        container.markdown(f"[{label}](/{Path(page).stem})")
