"""Weights and the shared model for the pages: which weights a page offers for a zoo model (random, trained, pretrained,
the user's own), ConvScope's default trained models, and one cached model per (name, weights) for every page and
session.

Streamlit code like :mod:`pages._common`, kept apart so that module stays the pages' small toolbox.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from pages._common import CHECKPOINT_KEY, bound
from vizcore.core import device as vdevice


@st.cache_resource(show_spinner=False)
def default_checkpoint(model: str = "small_cnn") -> str:
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


def model_and_weights(prefix: str, names: list[str], default: str, *, random_note: str = "",
                      trained_default: bool = True, trained_only_for: str | None = None, tag: str | None = None,
                      **select_kwargs) -> tuple[str, str, float]:
    """The model box (this session's own models first, :func:`pages._own_weights.model_select`) beside its weights
    (:func:`weights_picker`), keys ``{prefix}_model`` and ``{prefix}_weights``; under them ``random_note`` as a
    warning when the weights are random, else which weights these are. The weights start at "trained" (where the
    model has trained weights; only for model ``trained_only_for`` when given), else "random".
    Returns (model name, weights, their stamp)."""
    from pages._own_weights import model_select

    c1, c2 = st.columns([2, 5])
    name = model_select(c1, "Model", f"{prefix}_model", names, default, tag=tag, **select_kwargs)
    trained = trained_default and trained_only_for in (None, name)
    with c2:
        weights, stamp, wlabel = weights_picker(name, f"{prefix}_weights", default="trained" if trained else "random")
    if weights == "random" and random_note:
        st.warning(random_note)
    else:
        st.caption(f"Weights: {wlabel}.")
    return name, weights, stamp


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
        ckpt = default_checkpoint(name) if pick == DEFAULT_SOURCE else pick
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


def model_input(name: str, image: np.ndarray, model=None, size: int | None = None):
    """(1, C, H, W) float32 input of zoo model ``name`` for a picked image (H, W, 3) uint8: fitted to the model's
    input size (or ``size``) and normalised as the model wants (:func:`vizcore.models.preprocess.for_model`), on
    the device of ``model``'s parameters (on the CPU without a model)."""
    from vizcore.models import preprocess
    from vizcore.models import registry as zoo

    x = preprocess.for_model(name).image(image, size or zoo.get_entry(name).input_size[1])
    return x if model is None else x.to(model_device(model))


def batch_input(name: str, model) -> Callable:
    """The function that turns a batch of images (N, 3, H, W) in [0, 1] into zoo model ``name``'s normalised input
    on ``model``'s device."""
    from vizcore.models import preprocess

    prep, dev = preprocess.for_model(name), model_device(model)
    return lambda batch: prep.batch(batch.to(dev))
