"""Streamlit glue shared by the pages: cached loaders, error display, the device badge.

The only place pages share Streamlit code; vizcore never imports this.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from vizcore import device as vdevice


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
