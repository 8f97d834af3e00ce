"""Streamlit glue shared by the pages: error display, the device badge, figures with downloads, work done only when
asked, the image picker, data folders, and the session keys pages hand each other.

Weights and the shared model are in :mod:`pages._weights`, the view in the URL in :mod:`pages._url_state`;
vizcore never imports any of these.
"""
from __future__ import annotations

import pages._startup  # noqa: F401  first import of every page: imports all modules once, in one thread

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import streamlit as st

from pages._url_state import bound as bound  # the view in the URL: pages import both from here
from pages._url_state import view_link as view_link
from pages._url_state import view_link_before_stop
from pages._url_state import words as words
from vizcore.core import device as vdevice
from vizcore.figures.export import figure_filename, figure_to_csv


@st.cache_resource(show_spinner=False)
def _device_info() -> vdevice.DeviceInfo:
    return vdevice.describe()


def sidebar_device() -> None:
    """Show which device computes (CUDA / MPS / CPU and its name) in the sidebar."""
    info = _device_info()
    st.sidebar.caption(f"Compute device: **{info.kind.upper()}** — {info.name}")


def error_sentence(exc: BaseException) -> str:
    """What a user reads for an expected failure: vizcore's own sentence, or one for allocation failures
    (MemoryError, and the RuntimeError PyTorch raises when it cannot allocate) and file-system faults, which
    never names a server path."""
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "alloc" in str(exc).lower()):
        return ("this request needs more memory than the server can give it; choose a smaller input, "
                "model or batch")
    if isinstance(exc, OSError):
        return f"the server could not read or write a file ({exc.strerror or type(exc).__name__})"
    if isinstance(exc, RuntimeError):
        return f"the computation failed ({type(exc).__name__}); try smaller or different settings"
    return str(exc)


@contextmanager
def user_errors(prefix: str = "", stop: bool = True) -> Iterator[None]:
    """Show expected failures as a sentence, not a traceback, and stop this run of the page (the next
    interaction reruns it): ValueError/TypeError raised by vizcore in words, and MemoryError, RuntimeError and
    OSError from allocation or files (see :func:`error_sentence`). With ``stop=False`` the page goes on below
    (for a part the rest of the page does without)."""
    try:
        yield
    except (ValueError, TypeError, MemoryError, RuntimeError, OSError) as exc:
        text = error_sentence(exc)
        st.error(f"{prefix}{text}" if prefix else text)
        if stop:
            view_link_before_stop()
            st.stop()


@contextmanager
def said(prefix: str) -> Iterator[None]:
    """Show a ValueError/TypeError in words and go on with the rest of the page (the other sections stay)."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        st.error(f"{prefix}{exc}")


def asked_for(work: tuple, flops: float, text: str, label: str, key: str) -> bool:
    """Whether to do ``work`` (a hashable description: model, weights, ...) now. At once when it costs at most
    :data:`vizcore.core.budget.UNASKED_FLOPS` or was asked for before in this session; otherwise ``text`` (what
    the work is, how long it takes) and a button ``label`` (widget key ``key``) are shown, and the work is done on
    the click, then for the rest of the session. A shared server spends seconds of a core only when asked."""
    from vizcore.core.budget import on_request

    asked: set = st.session_state.setdefault("_asked_for", set())
    if work in asked or not on_request(flops):
        return True
    question = st.empty()
    with question.container():
        st.info(text)
        clicked = st.button(label, key=key)
    if clicked:
        question.empty()  # answered: only the work's progress, then its result
        asked.add(work)
    return clicked


def clicked_points(key: str) -> list:
    """The points clicked on the chart of key ``key`` drawn with ``on_select="rerun"`` (its selection event, kept in
    the session state; a dict or an object by Streamlit's version), [] before any click."""
    event = st.session_state.get(key)
    return (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
        (getattr(getattr(event, "selection", None), "points", None) or [])


def unit_keys(click_key: str, ki: str, kj: str, h: int, w: int, param: str) -> None:
    """Before a feature map of ``h`` × ``w`` units and its two unit sliders (keys ``ki``, ``kj``) are drawn: a new
    click on the map (``click_key``, drawn with ``on_select="rerun"``) moves the sliders there, once; the sliders
    start at the centre unit, and their values travel in the link as ``{param}_i`` and ``{param}_j``."""
    points = clicked_points(click_key)
    if points:
        click = (int(round(points[0]["y"])), int(round(points[0]["x"])))
        if st.session_state.get(f"{click_key}_last") != click:  # a new click moves the sliders once
            st.session_state[f"{click_key}_last"] = click
            st.session_state[ki], st.session_state[kj] = min(max(click[0], 0), h - 1), min(max(click[1], 0), w - 1)
    st.session_state.setdefault(ki, (h - 1) // 2)  # defaults through session state: a click may set them too
    st.session_state.setdefault(kj, (w - 1) // 2)
    bound(ki, (h - 1) // 2, param=f"{param}_i", lo=0, hi=h - 1)
    bound(kj, (w - 1) // 2, param=f"{param}_j", lo=0, hi=w - 1)


def progress_bar(text: str, every_s: float = 0.1):
    """(a progress bar, a callback(fraction, words) that moves it): for long work a page does in one call. The bar
    moves at most every ``every_s`` seconds (and at the end): work that reports each of hundreds of fast steps
    would otherwise spend more time sending bars to the browser than working."""
    bar = st.progress(0.0, text=text)
    last = [-math.inf]

    def move(f: float, t: str) -> None:
        now = time.monotonic()
        if f < 1.0 and now - last[0] < every_s:
            return
        last[0] = now
        bar.progress(min(max(f, 0.0), 1.0), text=f"{text} {t}")

    return bar, move


def show_figure(fig, key: str, *, name: str | None = None, where=None, csv: Callable[[], str] | None = None,
                png: Callable[[], bytes] | None = None, **kwargs):
    """Draw a plotly figure with its downloads: the camera in its toolbar saves a PNG named after the figure, and a
    small "CSV" button under it gives every trace's numbers (:func:`vizcore.figures.export.figure_to_csv`).

    key: the chart's key (the buttons': ``key + "_csv"``, ``key + "_png"``); name: the file name stem (default: from
    the title); where: the column or container to draw in (default: the page); csv: makes the CSV instead, where
    the numbers are not in the traces (an overlay's map); png: makes a PNG of the picture at its own pixels, offered
    beside the CSV. kwargs go to ``st.plotly_chart`` (``width``, ``on_select``, ...). Returns what
    ``st.plotly_chart`` returns (the selection when ``on_select`` is set). Files are made only when a button is
    clicked (``csv``/``png`` must bind their data now: a loop's variables change before the click), and a click
    does not rerun the page."""
    stem = name or figure_filename(fig, key)
    box = (where if where is not None else st).container(gap=None)
    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": stem, "scale": 2}}
    shown = box.plotly_chart(fig, key=key, config=config, **kwargs)
    row = box.container(horizontal=True, gap="small")
    row.download_button("CSV", csv or (lambda: figure_to_csv(fig)), file_name=f"{stem}.csv", mime="text/csv",
                        key=f"{key}_csv", on_click="ignore", type="tertiary", icon=":material/download:",
                        help="The numbers of this plot as a table (CSV). The camera in the plot's toolbar saves "
                             "the plot as PNG.")
    if png is not None:
        row.download_button("PNG", png, file_name=f"{stem}.png", mime="image/png", key=f"{key}_png",
                            on_click="ignore", type="tertiary", icon=":material/download:",
                            help="The picture itself at its own pixels (PNG), without axes.")
    return shown


# ------------------------------------------------------------------------------------------- image picker

def put_back(name: str, keys: Iterable[str]) -> None:
    """Put back the values that widgets ``keys`` held when :func:`keep` last saved them under ``name``, for those
    without a value now. Streamlit drops a widget's value when a run of another page leaves it undrawn: without
    this, leaving a page and coming back resets its form. Call before the widgets are drawn."""
    saved = st.session_state.get(f"_kept_{name}", {})
    for key in keys:
        if key not in st.session_state and key in saved:
            st.session_state[key] = saved[key]


def keep(name: str, keys: Iterable[str]) -> None:
    """Save the values widgets ``keys`` hold now under ``name`` (a key of its own, which Streamlit leaves alone),
    for :func:`put_back` on a later visit."""
    st.session_state[f"_kept_{name}"] = {k: st.session_state[k] for k in keys if k in st.session_state}


_UPLOAD_MAX_BYTES = 10_000_000  # the server limit is not enforced per widget: check the bytes ourselves
_SHAPES_N = 40  # images offered from the embedded shapes set
_SOURCES = {"Sample photo": "photo", "Shapes data set": "shapes"}  # image sources a link can carry, as URL words


@st.cache_data(show_spinner=False, max_entries=4)
def _shapes_images(size: int) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """The images offered from the embedded shapes set (N, H, W, 3), their class names and object masks (N, H, W)."""
    from vizcore.data import shapes

    ds = shapes.make_shapes(_SHAPES_N, size=size, seed=0)
    return (ds.images.permute(0, 2, 3, 1).numpy(), tuple(ds.classes[int(i)] for i in ds.labels),
            ds.masks.numpy())


@st.cache_data(show_spinner=False, max_entries=8)
def _decode_upload(digest: str, raw: bytes) -> np.ndarray:
    from vizcore.data import datasets

    return datasets.decode_image(raw, max_bytes=_UPLOAD_MAX_BYTES)


@st.cache_resource(show_spinner=False)
def _photos() -> dict[str, np.ndarray]:
    from vizcore.data import images as image_io

    return image_io.sample_photos()


class Picked(NamedTuple):
    """What :func:`image_picker` returns."""

    image: np.ndarray  # (H, W, 3) uint8
    digest: str  # sha256 of the image's bytes: the cache key of every computation on it
    mask: np.ndarray | None  # (H, W) bool object mask of an image of the embedded shapes; None for photos, uploads


def image_picker(key: str, shapes_size: int = 128, source: str = "Sample photo") -> Picked:
    """Pick an input image: a sample photo (scikit-image), an image of the embedded shapes set, or an upload;
    ``source`` is the choice it starts from. Returns the image with its digest and, for the shapes, its mask.

    Upload problems (too large, not an image, truncated) are shown with st.error and the first sample photo is
    used instead, so the page keeps working.
    """
    image, mask = _pick(key, shapes_size, source)
    return Picked(image, hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest(), mask)


def _pick(key: str, shapes_size: int, source: str) -> tuple[np.ndarray, np.ndarray | None]:
    photos = _photos()
    st.session_state.setdefault(f"{key}_source", source)
    bound(f"{key}_source", source, options=_SOURCES)  # an upload is not in a link
    source = st.radio("Image", ["Sample photo", "Shapes data set", "Upload"], horizontal=True, key=f"{key}_source")
    if source == "Shapes data set":
        images, labels, masks = _shapes_images(shapes_size)
        bound(f"{key}_shape", 0, lo=0, hi=len(images) - 1)
        idx = st.number_input(f"Shape image (0–{len(images) - 1})", 0, len(images) - 1, 0, key=f"{key}_shape")
        st.caption(f"Class: {labels[int(idx)]} · {shapes_size}×{shapes_size} pixels, generated offline")
        return images[int(idx)], masks[int(idx)]
    if source == "Upload":
        up = st.file_uploader("Image file (PNG, JPEG, GIF, WebP, BMP, TIFF; at most 10 MB)",
                              type=["png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff"], key=f"{key}_upload")
        if up is not None:
            raw = up.getvalue()
            try:
                return _decode_upload(hashlib.sha256(raw).hexdigest(), raw), None
            except (ValueError, TypeError, MemoryError, RuntimeError, OSError) as exc:
                st.error(f"Could not use this file: {error_sentence(exc)}. Showing a sample photo instead.")
        return next(iter(photos.values())), None
    names = list(photos)
    default = names.index("chelsea") if "chelsea" in names else 0
    bound(f"{key}_photo", names[default], options=names)
    name = st.selectbox("Sample photo (scikit-image)", names, index=default, key=f"{key}_photo")
    return photos[name], None


# ------------------------------------------------------------------------------------------- data folders

DOWNLOADS = "Data directory (downloads)"  # the choice that means "no folder: the data directory's own copy"


def data_folder_picker(container, key: str, *, downloads: bool = False,
                       label: str = "Data folder") -> str | None:
    """Choose an image folder (root/<class>/<image>) among those the server's operator allows; never a typed path.

    The only way a page reads a server folder: the choices are the names of :func:`vizcore.core.paths.data_folders`
    (``CONVSCOPE_DATA_FOLDERS`` or the data directory's ``folders`` file), so nothing a browser user does can name,
    or learn anything about, another path. With ``downloads`` the first choice is the data directory itself (for
    data sets that download there). Returns the chosen folder's path, or None (downloads, or none configured: then
    a sentence says how the operator adds one).
    """
    from vizcore.core import paths

    folders = paths.data_folders()
    choices = ([DOWNLOADS] if downloads else []) + list(folders)
    if not choices:
        container.info(f"No image folders are offered on this server. Its operator lists them in "
                       f"{paths.FOLDERS_ENV_VAR} or in the data directory's '{paths.FOLDERS_FILE}' file (one per line).")
        return None
    picked = container.selectbox(label, choices, key=key,
                                 help="image folders (root/<class>/<image>) the operator of this server offers")
    if picked == DOWNLOADS:
        return None
    with user_errors(f"{label}: "):
        return str(paths.resolve_data_folder(picked))


CHECKPOINT_KEY = "checkpoint_path"  # set by the Training Lab's "Open in other pages"
AUGMENT_PIPELINE_KEY = "augment_pipeline_for_lab"  # pipeline JSON set by the Augmentation Lab's "Use in Training Lab"
