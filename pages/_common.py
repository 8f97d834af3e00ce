"""Streamlit glue shared by the pages: cached loaders, error display, the device badge.

The only place pages share Streamlit code; vizcore never imports this.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from vizcore import device as vdevice


def _ensure_navigation_app() -> None:
    """Run every page through app.py's ``st.navigation``, even on a fresh server's first deep link.

    Streamlit starts in its older "pages directory" mode when a ``pages/`` folder sits beside the main
    script, and stays there until some session runs ``st.navigation``. A first visitor opening
    ``/conv_arithmetic`` would get the bare page file (no page config, no device badge, helper modules
    listed as pages). Leaving that mode and rerunning sends the request through app.py instead.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the old mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


_ensure_navigation_app()


@st.cache_resource(show_spinner=False)
def _device_info() -> vdevice.DeviceInfo:
    return vdevice.describe()


def sidebar_device() -> None:
    """Show which device computes (CUDA / MPS / CPU and its name) in the sidebar."""
    info = _device_info()
    st.sidebar.caption(f"Compute device: **{info.kind.upper()}** — {info.name}")


@contextmanager
def user_errors(prefix: str = "") -> Iterator[None]:
    """Show ValueError/TypeError raised by vizcore as a message in words, not a traceback."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        st.error(f"{prefix}{exc}" if prefix else str(exc))
        st.stop()
