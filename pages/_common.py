"""Streamlit glue shared by the pages: cached loaders, error display, the device badge, figures with downloads.

The only place pages share Streamlit code; vizcore never imports this.
"""
from __future__ import annotations

import pages._startup  # noqa: F401  first import of every page: imports all modules once, in one thread

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

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


def image_picker(key: str, shapes_size: int = 128, source: str = "Sample photo") -> np.ndarray:
    """Pick an input image: a sample photo (scikit-image), an image of the embedded shapes set, or an upload;
    ``source`` is the choice it starts from.

    Returns (H, W, 3) uint8. Upload problems (too large, not an image, truncated) are shown with st.error and
    the first sample photo is used instead, so the page keeps working.
    """
    photos = _photos()
    st.session_state.setdefault(f"{key}_source", source)
    bound(f"{key}_source", source, options=_SOURCES)  # an upload is not in a link
    source = st.radio("Image", ["Sample photo", "Shapes data set", "Upload"], horizontal=True, key=f"{key}_source")
    if source == "Shapes data set":
        images, labels = _shapes_images(shapes_size)
        bound(f"{key}_shape", 0, lo=0, hi=len(images) - 1)
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
            except (ValueError, TypeError, MemoryError, RuntimeError, OSError) as exc:
                st.error(f"Could not use this file: {error_sentence(exc)}. Showing a sample photo instead.")
        return next(iter(photos.values()))
    names = list(photos)
    default = names.index("chelsea") if "chelsea" in names else 0
    bound(f"{key}_photo", names[default], options=names)
    name = st.selectbox("Sample photo (scikit-image)", names, index=default, key=f"{key}_photo")
    return photos[name]


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


@st.cache_resource(show_spinner=False)
def _default_checkpoint(model: str = "small_cnn") -> str:
    from vizcore.lab import default_model as runs

    bar = st.progress(0.0, text="Preparing ConvScope's default trained model…")
    try:
        path = runs.default_model(lambda frac, text: bar.progress(min(max(frac, 0.0), 1.0), text=text), model=model)
    finally:
        bar.empty()
    return str(path)


def outside_training_note(weights: str, picker_key: str) -> str:
    """A sentence when the picked image is outside what the chosen weights were trained on — a photo or an upload
    shown to a model trained on the embedded shapes or the 8×8 digits — else ''. Its answer is then one of its own
    classes whatever the photo shows, and the page should say so beside the prediction."""
    from vizcore.models import weights as mweights

    if weights in ("random", "pretrained") or st.session_state.get(f"{picker_key}_source") == "Shapes data set":
        return ""
    try:
        meta = mweights.checkpoint_meta(weights) or {}
    except (ValueError, OSError):
        return ""
    dataset = str((meta.get("config") or {}).get("dataset", ""))
    names = {"shapes": "the embedded shapes", "shapes_cue_conflict": "the embedded shapes", "digits": "8×8 digits"}
    if dataset not in names:
        return ""
    classes = list(meta.get("classes") or [])
    listed = f" ({len(classes)} classes: {', '.join(map(str, classes))})" if classes else ""
    return (f"This model was trained only on {names[dataset]}{listed}: this image is outside what it has seen, so it "
            "answers with one of those classes whatever the image shows. Pick an image of the shapes data set to "
            "see it on its own ground.")


def picked_shape_mask(key: str, shapes_size: int = 128) -> np.ndarray | None:
    """The object mask (H, W) bool of the image :func:`image_picker` (same ``key``) shows, when it is one of the
    embedded shapes; None for photos and uploads."""
    if st.session_state.get(f"{key}_source") != "Shapes data set":
        return None
    idx = int(st.session_state.get(f"{key}_shape", 0))
    return _shapes_masks(shapes_size)[idx]


@st.cache_data(show_spinner=False, max_entries=4)
def _shapes_masks(size: int) -> np.ndarray:
    from vizcore.data import shapes

    return shapes.make_shapes(_SHAPES_N, size=size, seed=0).masks.numpy()


# ------------------------------------------------------------------------------------------- weights + shared model


DEFAULT_SOURCE = "default"  # key of ConvScope's default trained model among the trained sources
MY_WEIGHTS = "my weights"  # the weights choice for a file of your own (pages/_own_weights.py)


@st.cache_data(show_spinner=False, max_entries=64)
def _stored_runs(model: str, data_dir: str, stamp: float) -> list[tuple[str, str]]:
    """(checkpoint, label) of the Training Lab's runs of ``model``; ``stamp`` (the store's last change) and
    ``data_dir`` renew the cache."""
    from vizcore.lab.trained import trained_runs

    return [(r.checkpoint, r.label) for r in trained_runs(model)]


def trained_sources(name: str) -> tuple[dict[str, str], str]:
    """Trained weights the app owns for zoo model ``name``: {source key: label} (a checkpoint path, or
    DEFAULT_SOURCE for ConvScope's default model), and a sentence for when there are none or one is missing."""
    from vizcore.core import paths
    from vizcore.lab.default_model import default_model_ready
    from vizcore.lab.trained import store_stamp

    out: dict[str, str] = {}
    note = ""
    if name == "small_cnn":
        out[DEFAULT_SOURCE] = "ConvScope's default model (small_cnn trained on the embedded shapes)"
    elif name == "se_resnet_small":
        if default_model_ready(name):  # never start a long training from a page visit
            out[DEFAULT_SOURCE] = "ConvScope's default SE model (se_resnet_small trained on the embedded shapes)"
        else:
            note = ("The default SE-ResNet is not built on this machine yet: run `python -m vizcore default-model "
                    "--model se_resnet_small` once (CPU minutes), or train one in the Training Lab.")
    d = str(paths.data_dir())
    out.update(dict(_stored_runs(name, d, store_stamp())))
    if not out and not note:
        note = (f"No trained weights for {zoo_title(name)} here yet: train one in the Training Lab (a run of this "
                "model appears here once it completes an epoch), or upload a checkpoint.")
    return out, note


def zoo_title(name: str) -> str:
    from vizcore.models import registry as zoo

    return zoo.get_entry(name).title


def weights_picker(name: str, key: str, default: str = "random") -> tuple[str, float, str]:
    """Weights of zoo model ``name``: (weights argument, checkpoint mtime, label in words: the page shows it).

    Offers "trained" only where trained weights exist (ConvScope's default models, the Training Lab's runs of
    this architecture: a second box picks one), "pretrained" (torchvision's, when on this machine), and "my weights":
    a safetensors file or weights-only state_dict of this architecture with any classes, uploaded, checked in a
    child process and kept for this browser session (:mod:`pages._own_weights`). For one of the session's own models
    (a "My weights: …" entry of the model list) the weights are its file. Browser users choose only weights the
    app owns: no free file path. A run chosen in the Training Lab ("Open in other pages") is preselected once.
    """
    from pathlib import Path

    from pages import _own_weights as own
    from pages._nav import page_link
    from vizcore.models import registry as zoo
    from vizcore.models import weights as mweights

    own.show_flash(st)
    mine = own.own_model_of(name)
    if mine is not None:  # one of this session's own models: its weights are the file
        st.caption(f"Your weights: {mine.filename}, checked in {mine.check_seconds:.1f} s — "
                   f"{mine.num_classes} classes ({', '.join(mine.classes[:6])}{'…' if mine.num_classes > 6 else ''}), "
                   f"input {'×'.join(map(str, mine.input_shape))}, Grad-CAM layer {mine.cam_layer}.")
        return mine.weights, Path(mine.weights).stat().st_mtime, f"your weights from {mine.filename}"
    sources, note = trained_sources(name)
    options = ["random"] + (["trained"] if sources else []) + ["pretrained", MY_WEIGHTS]
    pick_key = f"{key}_trained_{name}"
    opened = st.session_state.get(CHECKPOINT_KEY)
    if opened in sources and st.session_state.get(f"{key}_opened") != opened:  # newly opened from the Lab
        st.session_state[f"{key}_opened"] = opened
        st.session_state[key] = "trained"
        st.session_state[pick_key] = opened
    first = default if default in options else "random"
    if st.session_state.get(key) not in options:
        st.session_state[key] = first
    bound(key, first, options=[o for o in options if o != MY_WEIGHTS])  # a file of one's own is not in a link
    c1, c2 = st.columns([2, 3])
    choice = c1.radio("Weights", options, horizontal=True, key=key,
                      help="'trained': ConvScope's default model or a Training Lab run of this architecture; "
                           "'my weights': a safetensors file or a state_dict you saved with "
                           "torch.save(model.state_dict(), ...), any number of classes.")
    if note:
        c2.caption(note)
        if not sources:
            page_link(c2, "pages/training_lab.py", "Train one in the Training Lab", ":material/model_training:")
    if choice == "trained":
        keys = list(sources)
        if st.session_state.get(pick_key) not in keys:
            st.session_state[pick_key] = keys[0]
        pick = c2.selectbox("Trained weights", keys, key=pick_key, format_func=sources.get)
        ckpt = _default_checkpoint(name) if pick == DEFAULT_SOURCE else pick
        return ckpt, Path(ckpt).stat().st_mtime, sources[pick]
    if choice == "pretrained":
        if zoo.get_entry(name).has_pretrained and mweights.pretrained_available(name):
            return "pretrained", 0.0, "torchvision's ImageNet weights"
        c2.info("Pretrained weights for this model are not on this machine (no download here); showing random "
                "weights.")
    elif choice == MY_WEIGHTS:
        picked = _my_weights(c2, name, key)
        if picked is not None:
            return picked
    return "random", 0.0, "random (untrained) weights"


def _my_weights(container, name: str, key: str) -> tuple[str, float, str] | None:
    """This session's own weights for zoo model ``name`` (same input shape), and the form that adds more."""
    from pathlib import Path

    from pages import _own_weights as own
    from vizcore.models import registry as zoo

    shape = zoo.get_entry(name).input_size
    fitting = [n for n in own.own_names(base=name) if own.own_model_of(n).input_shape == shape]
    if fitting:
        pick = container.selectbox("My weights (this session)", fitting, key=f"{key}_mine",
                                   format_func=lambda n: zoo.get_entry(n).title)
        mine = own.own_model_of(pick)
        if container.button("Remove these weights", key=f"{key}_mine_remove",
                            help="Deletes the file from the server now and takes it out of every page's lists"):
            own.remove_own(pick)  # said on the rerun
            st.rerun()
        with container.expander("Add other weights"):
            own.upload_form(st, name, f"{key}_own", None)
        return mine.weights, Path(mine.weights).stat().st_mtime, f"your weights from {mine.filename}"
    own.upload_form(container, name, f"{key}_own", None)
    return None


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def shared_model(name: str, weights: str, stamp: float):
    """(model, the lock its users hold): one model per (zoo name, weights) for every page and every session, on the
    compute device, prepared for inspection (eval mode, no in-place activations, frozen parameters:
    :func:`vizcore.inspect.attribution.prepare`). Hooks and forward passes on it happen under the lock;
    ``stamp`` (a checkpoint's mtime) renews the entry when the file changes."""
    from vizcore.inspect import attribution as attr
    from vizcore.models import weights as mweights

    model, lock = attr.shared(mweights.load_model(name, weights))
    return model.to(vdevice.pick_device()), lock


@st.cache_resource(show_spinner="Tracing the model…", max_entries=4)
def traced_model(name: str, weights: str, stamp: float):
    """(the shared model, its receptive-field table with the traced graph, the lock): the graph traces the same
    model object :func:`shared_model` holds (its modules, not a copy), so a model sits in memory once."""
    from vizcore.arch import receptive_field as rf
    from vizcore.models import registry as zoo

    model, lock = shared_model(name, weights, stamp)
    return model, rf.analyze(model, zoo.get_entry(name).input_size), lock


def model_device(model):
    """The device a model's parameters are on (where its inputs must go)."""
    import torch

    return next(iter(model.parameters()), torch.zeros(0)).device
