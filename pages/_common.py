"""Streamlit glue shared by the pages: cached loaders, error display, the device badge.

The only place pages share Streamlit code; vizcore never imports this.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import streamlit as st

from vizcore.core import device as vdevice


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


def _warm_up() -> None:
    """Import the model zoo (torchvision: about 2 s on 2 cores) while the first page is read, so the first visit
    to a page that needs it does not wait for the import.

    Only modules that nothing inspects half-imported: a page importing them meanwhile waits on Python's import
    lock. Not pandas or plotly: plotly peeks at ``sys.modules["pandas"]`` without importing it, and a pandas
    half-imported by this thread broke a chart.
    """
    import torchvision  # noqa: F401

    import vizcore.models.registry  # noqa: F401


@st.cache_resource(show_spinner=False)
def _start_warm_up() -> threading.Thread:
    """Once per server process: the warm-up in a background thread."""
    t = threading.Thread(target=_warm_up, name="convscope-warm-up", daemon=True)
    t.start()
    return t


_start_warm_up()


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


# ------------------------------------------------------------------------------------------- image picker

_UPLOAD_MAX_BYTES = 10_000_000  # the server limit is not enforced per widget: check the bytes ourselves
_SHAPES_N = 40  # images offered from the embedded shapes set


@st.cache_data(show_spinner=False, max_entries=4)
def _shapes_images(size: int) -> tuple[np.ndarray, tuple[str, ...]]:
    from vizcore.data import shapes

    ds = shapes.make_shapes(_SHAPES_N, size=size, seed=0)
    return ds.images.permute(0, 2, 3, 1).numpy(), tuple(ds.classes[int(i)] for i in ds.labels)


@st.cache_data(show_spinner=False, max_entries=8)
def _decode_upload(digest: str, raw: bytes) -> np.ndarray:
    from vizcore.data import datasets

    return datasets.decode_image(raw, max_bytes=_UPLOAD_MAX_BYTES)


@st.cache_resource(show_spinner=False)
def _photos() -> dict[str, np.ndarray]:
    from vizcore.data import images as image_io

    return image_io.sample_photos()


def image_picker(key: str, shapes_size: int = 128) -> np.ndarray:
    """Pick an input image: a sample photo (scikit-image), an image of the embedded shapes set, or an upload.

    Returns (H, W, 3) uint8. Upload problems (too large, not an image, truncated) are shown with st.error and
    the first sample photo is used instead, so the page keeps working.
    """
    photos = _photos()
    source = st.radio("Image", ["Sample photo", "Shapes data set", "Upload"], horizontal=True, key=f"{key}_source")
    if source == "Shapes data set":
        images, labels = _shapes_images(shapes_size)
        idx = st.number_input(f"Shape image (0–{len(images) - 1})", 0, len(images) - 1, 0, key=f"{key}_shape")
        st.caption(f"Class: {labels[int(idx)]} · {shapes_size}×{shapes_size} pixels, generated offline")
        return images[int(idx)]
    if source == "Upload":
        up = st.file_uploader("Image file (PNG, JPEG, GIF, WebP, BMP, TIFF; at most 10 MB)",
                              type=["png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff"], key=f"{key}_upload")
        if up is not None:
            raw = up.getvalue()
            try:
                return _decode_upload(hashlib.sha256(raw).hexdigest(), raw)
            except (ValueError, TypeError) as exc:
                st.error(f"Could not use this file: {exc}. Showing a sample photo instead.")
        return next(iter(photos.values()))
    names = list(photos)
    default = names.index("chelsea") if "chelsea" in names else 0
    name = st.selectbox("Sample photo (scikit-image)", names, index=default, key=f"{key}_photo")
    return photos[name]


CHECKPOINT_KEY = "checkpoint_path"  # set by the Training Lab's "Open in other pages"


@st.cache_resource(show_spinner=False)
def _default_checkpoint() -> str:
    from vizcore.lab import default_model as runs

    bar = st.progress(0.0, text="Preparing ConvScope's default trained model…")
    try:
        path = runs.default_model(lambda frac, text: bar.progress(min(max(frac, 0.0), 1.0), text=text))
    finally:
        bar.empty()
    return str(path)


def trained_checkpoint(model_name: str) -> tuple[str | None, str]:
    """A trained checkpoint for ``model_name`` and where it comes from, or (None, reason).

    The run chosen in the Training Lab ("Open in other pages") wins when it trained this architecture;
    otherwise the default model (small_cnn on the embedded shapes) serves ``small_cnn``.
    """
    from vizcore.models.weights import checkpoint_meta

    chosen = st.session_state.get(CHECKPOINT_KEY)
    if chosen:
        meta = checkpoint_meta(chosen) or {}
        if meta.get("model") == model_name:
            return chosen, f"Training Lab run {meta.get('run_id', '')} ({meta.get('dataset', '?')}, " \
                           f"val. accuracy {meta.get('val_acc', float('nan')):.1%})"
    if model_name == "small_cnn":
        return _default_checkpoint(), "ConvScope's default model (small_cnn trained on the embedded shapes)"
    return None, ("no trained weights for this model here: train one in the Training Lab and press "
                  "'Open in other pages', or pick Small CNN, which has a default trained model")
