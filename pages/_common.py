"""Streamlit glue shared by the pages: cached loaders, error display, the device badge.

The only place pages share Streamlit code; vizcore never imports this.
"""
from __future__ import annotations

import hashlib
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
def user_errors(prefix: str = "") -> Iterator[None]:
    """Show expected failures as a sentence, not a traceback, and stop this run of the page (the next
    interaction reruns it): ValueError/TypeError raised by vizcore in words, and MemoryError, RuntimeError and
    OSError from allocation or files (see :func:`error_sentence`)."""
    try:
        yield
    except (ValueError, TypeError, MemoryError, RuntimeError, OSError) as exc:
        text = error_sentence(exc)
        st.error(f"{prefix}{text}" if prefix else text)
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
            except (ValueError, TypeError, MemoryError, RuntimeError, OSError) as exc:
                st.error(f"Could not use this file: {error_sentence(exc)}. Showing a sample photo instead.")
        return next(iter(photos.values()))
    names = list(photos)
    default = names.index("chelsea") if "chelsea" in names else 0
    name = st.selectbox("Sample photo (scikit-image)", names, index=default, key=f"{key}_photo")
    return photos[name]


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
    if model_name == "se_resnet_small":
        from vizcore.lab.default_model import default_model_ready

        if default_model_ready(model_name):  # never start a long training from a page visit
            return _default_checkpoint(model_name), "ConvScope's default SE model (se_resnet_small trained on " \
                                                    "the embedded shapes)"
        return None, ("the default SE-ResNet is not built on this machine yet: run `python -m vizcore "
                      "default-model --model se_resnet_small` once (CPU minutes), or train one in the Training Lab")
    return None, ("no trained weights for this model here: train one in the Training Lab and press "
                  "'Open in other pages', or pick Small CNN, which has a default trained model")


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


def weights_picker(name: str, key: str, default: str = "random") -> tuple[str, float, str]:
    """Radio for the weights of zoo model ``name``: (weights argument, checkpoint mtime, label in words).

    "trained": the Training Lab's chosen run or ConvScope's default model; "pretrained": torchvision's when on
    this machine. Whatever is missing falls back to random weights, said so. Browser users choose only weights the
    app owns: no free file path.
    """
    from pathlib import Path

    from vizcore.models import registry as zoo
    from vizcore.models import weights as mweights

    options = ["random", "trained", "pretrained"]
    c1, c2 = st.columns([2, 3])
    choice = c1.radio("Weights", options, index=options.index(default), horizontal=True, key=key)
    if choice == "trained":
        ckpt, source = trained_checkpoint(name)
        if ckpt:
            return ckpt, Path(ckpt).stat().st_mtime, source
        c2.info(f"Showing random weights — {source}.")
    elif choice == "pretrained":
        if zoo.get_entry(name).has_pretrained and mweights.pretrained_available(name):
            return "pretrained", 0.0, "torchvision's ImageNet weights"
        c2.info("Pretrained weights for this model are not on this machine (no download here); showing random "
                "weights.")
    return "random", 0.0, "random (untrained) weights"


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def traced_model(name: str, weights: str, stamp: float):
    """(model, its receptive-field table with the traced graph, the lock its users hold), cached for every session.

    Hooks and forward passes on the shared model happen under the lock; ``stamp`` renews the cache on a new file.
    """
    import threading

    from vizcore.arch import receptive_field as rf
    from vizcore.models import registry as zoo
    from vizcore.models import weights as mweights

    if weights not in ("random", "pretrained") and mweights.checkpoint_meta(weights):
        model = mweights.load_trained(weights, model=name)
    else:
        model = mweights.get_model(name, weights=weights)
    model.to(vdevice.pick_device())
    return model, rf.analyze(model, zoo.get_entry(name).input_size), threading.Lock()
