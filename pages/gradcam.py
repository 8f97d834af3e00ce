"""Grad-CAM & attributions: where a classifier looks (Selvaraju et al., ICCV 2017, and relatives), and whether
the maps are right — against the embedded shapes' object masks, by deletion/insertion, and by the sanity check of
Adebayo et al. (NeurIPS 2018)."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import streamlit as st
import torch
from PIL import Image

from pages._cam_epochs import cam_over_training
from pages._common import (
    asked_for,
    bound,
    image_picker,
    progress_bar,
    show_figure,
    user_errors,
    view_link,
)
from pages._weights import model_and_weights, model_input, outside_training_note, shared_model
from vizcore.core.budget import on_request
from vizcore.data import images as image_io
from vizcore.figures import attribution as figures
from vizcore.figures.export import array_to_csv
from vizcore.figures.images import image_grid
from vizcore.inspect import attribution as attr
from vizcore.inspect import cam_metrics as metrics
from vizcore.models import registry as zoo
from vizcore.train.timing import format_seconds

through_app()  # a fresh server's first deep links rerun through app.py's navigation

TITLES = {k: v.title for k, v in attr.METHODS.items()}
TARGET_WORDS = {"Predicted class": "predicted", "Chosen classes": "chosen", "Top-k": "topk"}  # the radio's URL words


@st.cache_data(show_spinner="Finding the spatial layers…", max_entries=32)
def layers(name: str) -> list[attr.LayerInfo]:
    """Spatial layers of a zoo model (geometry only: random weights suffice)."""
    return attr.zoo_spatial_layers(name)


@st.cache_data(show_spinner=False, max_entries=64)
def predictions(name: str, weights: str, stamp: float, digest: str, _image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model, lock = shared_model(name, weights, stamp)
    with lock:
        p, i = attr.predict(model, model_input(name, _image, model), k=5)
    return p[0].cpu().numpy(), i[0].cpu().numpy()


@st.cache_data(show_spinner="Computing the map…", max_entries=128)
def cam(name: str, weights: str, stamp: float, digest: str, method: str, layer: str, target: int,
        _image: np.ndarray) -> tuple[np.ndarray, float]:
    """The map at the model's pixels and the seconds it took (what longer work on this model is estimated from)."""
    model, lock = shared_model(name, weights, stamp)
    x = model_input(name, _image, model)
    a = attr.attribute(model, x, method, target, layer, lock=lock)
    return a.maps[0].cpu().double().numpy(), a.seconds


@st.cache_data(show_spinner=False, max_entries=16)
def warm_seconds(name: str, weights: str, stamp: float, digest: str, method: str, layer: str, target: int,
                 _image: np.ndarray) -> float:
    """Seconds of the map of :func:`cam` made again, without the model's one-time first-call costs (what an
    estimate of longer work rests on: :func:`vizcore.inspect.cam_metrics.localisation_seconds`)."""
    model, lock = shared_model(name, weights, stamp)
    x = model_input(name, _image, model)
    return attr.attribute(model, x, method, target, layer, lock=lock).seconds


@st.cache_data(show_spinner=False, max_entries=16)
def localisation(name: str, weights: str, stamp: float, methods: tuple[str, ...], layer: str, n: int,
                 true_labels: bool) -> dict:
    model, lock = shared_model(name, weights, stamp)
    began = time.perf_counter()
    x, masks, ds = metrics.shapes_for_model(name, n, seed=1)
    x = x.to(next(model.parameters()).device)
    with lock:
        targets = ds.labels if true_labels else attr.predict(model, x, 1)[1][:, 0].cpu()
    bar, cb = progress_bar("Scoring maps against the object masks…")
    res = metrics.localisation_of(model, x, masks, targets.to(x.device), methods, layer, lock=lock, progress=cb)
    bar.empty()
    return {"results": res, "seconds": time.perf_counter() - began}


@st.cache_data(show_spinner="Deleting and inserting pixels…", max_entries=32)
def faithfulness(name: str, weights: str, stamp: float, digest: str, methods: tuple[str, ...], layer: str,
                 target: int, _image: np.ndarray) -> dict:
    model, lock = shared_model(name, weights, stamp)
    x = model_input(name, _image, model)
    t = torch.tensor([target], device=x.device)
    return {m: metrics.faithfulness(model, x, attr.attribute(model, x, m, t, layer, lock=lock).maps, t, lock=lock)
            for m in methods}


@st.cache_data(show_spinner=False, max_entries=16)
def sanity(name: str, weights: str, stamp: float, digest: str, methods: tuple[str, ...], layer: str, target: int,
           _image: np.ndarray) -> dict:
    model, lock = shared_model(name, weights, stamp)
    x = model_input(name, _image, model)
    bar, cb = progress_bar("Randomising the network from the logits down…")
    res = metrics.cascading_randomisation(model, x, torch.tensor([target], device=x.device), methods, layer,
                                          max_steps=6, lock=lock, progress=cb)
    bar.empty()
    return res


@st.cache_data(show_spinner="Explaining cue-conflict images…", max_entries=16)
def cues(name: str, weights: str, stamp: float, method: str, layer: str, n: int):
    model, lock = shared_model(name, weights, stamp)
    x, _, ds = metrics.shapes_for_model(name, n, seed=5, cue_conflict=True)
    x = x.to(next(model.parameters()).device)
    res = metrics.cue_conflict_maps(model, x, ds.labels, ds.texture_labels, method, layer, lock=lock)
    return res.decision, res.shape_maps.cpu().numpy(), res.texture_maps.cpu().numpy(), ds


@dataclass
class _View:
    """What the page explains: the model and its weights, the picked image (as the model takes it and as shown), and,
    once chosen, the methods, the layer, the classes to explain and the maps' opacity."""

    name: str
    entry: zoo.ModelEntry
    weights: str
    stamp: float
    raw: np.ndarray  # the picked image (H, W, 3) uint8
    digest: str
    shown: np.ndarray  # the image as drawn: at least 224 pixels wide
    mask: np.ndarray | None  # the object mask at the model's input size (embedded shapes only)
    mask_shown: np.ndarray | None  # the same at the drawn size
    classes: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    layer: str = ""
    targets: list[int] = field(default_factory=list)
    alpha: float = 0.5

    @property
    def in_h(self) -> int:
        return int(self.entry.input_size[1])

    @property
    def fast(self) -> list[str]:
        """The chosen methods that take one or a few passes (occlusion and IG left out), at least one method."""
        return [m for m in self.methods if m not in ("occlusion", "integrated_gradients")] or self.methods[:1]


def localisation_asked(v: _View, methods: tuple[str, ...], n: int, true_labels: bool, seconds: dict[str, float],
                       warm: Callable[[str], float]) -> bool:
    """Whether to score the maps now (:func:`pages._common.asked_for`), the time estimated from ``seconds``, each
    method's time for one image, and, when the page asks, ``warm(method)``: the cheapest method's map timed
    again."""
    flops = metrics.localisation_flops(v.name, n, methods, predicted=not true_labels)
    measured = {m: seconds[m] for m in methods if m in seconds}
    about = ""
    if len(measured) == len(methods):
        again = None
        if on_request(flops):  # a question with an estimate: worth one more map of one image
            cheapest = min(methods, key=lambda m: metrics.passes(m, v.in_h))  # type: ignore[arg-type]
            again = (cheapest, warm(cheapest))
        said = metrics.localisation_seconds(measured, n, predicted=not true_labels, size=v.in_h, warm=again)
        about = f"about {format_seconds(said)}"
    return asked_for(
        ("cam_loc", v.name, v.weights, v.stamp, methods, v.layer, n), flops,
        f"Scoring {n} images with {', '.join(TITLES[m] for m in methods)} on {v.entry.title} is up to "
        f"{flops / 1e9:,.0f} GFLOPs of work" + (f": {about} here, estimated from the maps above" if about else "")
        + ". It starts when you ask.",
        f"Score {n} shapes images" + (f" ({about})" if about else ""), "cam_loc_go")


def _took(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else format_seconds(s)


def _overlay_png(image: np.ndarray, cmap: np.ndarray, alpha: float) -> bytes:
    """The overlay at the image's own pixels as PNG bytes (made when its download button is clicked)."""
    buf = io.BytesIO()
    Image.fromarray(figures.overlay_rgb(image, cmap, alpha)).save(buf, format="PNG")
    return buf.getvalue()


def model_and_image() -> tuple[_View, torch.nn.Module, dict[str, attr.LayerInfo]]:
    """The model and weights boxes and the sidebar's image: the view so far, the shared model, its spatial layers."""
    name, weights, stamp = model_and_weights(
        "cam", zoo.list_models(), "small_cnn",
        random_note="**Random weights**: these maps explain an untrained network. They show what the architecture "
                    "alone does to a map, not what a classifier learned.")
    entry = zoo.get_entry(name)
    with user_errors("Could not load the model: "):
        model, _ = shared_model(name, weights, stamp)
        spatial = layers(name)
    with st.sidebar:
        st.markdown("**Input image**")
        raw, digest, mask_raw = image_picker("cam", source="Shapes data set")  # the default model knows shapes
    in_h = entry.input_size[1]
    shown = image_io.fit_image(raw, max(in_h, 224))  # what the model sees, at least 224 pixels wide for the eye
    mask = None if mask_raw is None else figures.resize_map(mask_raw.astype(float), in_h, in_h) > 0.5
    mask_shown = None if mask is None else figures.resize_map(mask.astype(float), *shown.shape[:2]) > 0.5
    return (_View(name, entry, weights, stamp, raw, digest, shown, mask, mask_shown), model,
            {la.path: la for la in spatial})


def what_to_explain(v: _View, model: torch.nn.Module, by_path: dict[str, attr.LayerInfo]) -> tuple[np.ndarray, list]:
    """The top 5 beside the choices of methods, layer, classes and opacity (set on ``v``); returns (probabilities
    of the top 5, their classes)."""
    with user_errors("Could not classify the image: "):
        probs, top = predictions(v.name, v.weights, v.stamp, v.digest, v.raw)
    v.classes = attr.class_names(v.name, v.weights, attr.num_outputs(model) or v.entry.num_classes)
    classes, entry = v.classes, v.entry
    left, right = st.columns([2, 3])
    show_figure(figures.topk_figure(probs, [classes[i] for i in top], title=f"{entry.title}: top 5"),
                width="stretch", key="cam_topk", where=left)
    if note := outside_training_note(v.weights, "cam"):
        left.info(note)
    with right:
        bound("cam_methods", ["gradcam"], options=list(attr.METHODS), many=True, most=4)
        v.methods = st.multiselect("Methods (1–4, side by side)", list(attr.METHODS), default=["gradcam"],
                                   max_selections=4, key="cam_methods", format_func=lambda m: TITLES[m])
        paths = list(by_path)
        bound(f"cam_layer_{v.name}", entry.cam_layer, param="cam_layer", options=paths)  # one parameter, any model
        v.layer = st.selectbox("Layer (for the Grad-CAM family)", paths, index=paths.index(entry.cam_layer),
                               key=f"cam_layer_{v.name}", format_func=lambda p: f"{p} · {by_path[p].kind} · "
                                                                                f"{'×'.join(map(str, by_path[p].out_shape))}")
        if v.layer == entry.cam_layer:
            st.caption("Default: " + attr.default_layer_reason(by_path[v.layer]) + ".")
        bound("cam_target", "Predicted class", options=TARGET_WORDS)
        mode = st.radio("Explain", ["Predicted class", "Chosen classes", "Top-k"], horizontal=True, key="cam_target")
        if mode == "Chosen classes":
            bound("cam_classes", [int(top[0])], options=range(len(classes)), many=True, most=2)
            chosen = st.multiselect("Classes (1–2)", list(range(len(classes))), default=[int(top[0])],
                                    max_selections=2, key="cam_classes", format_func=lambda i: classes[i])
            v.targets = [int(c) for c in chosen] or [int(top[0])]
        elif mode == "Top-k":
            bound("cam_k", 2, lo=2, hi=4)
            k = st.slider("k", 2, 4, 2, key="cam_k")
            v.targets = [int(c) for c in top[:k]]
        else:
            v.targets = [int(top[0])]
        bound("cam_alpha", 0.5, lo=0.0, hi=1.0)
        v.alpha = st.slider("Map opacity", 0.0, 1.0, 0.5, 0.05, key="cam_alpha")
    return probs, top


def overlays(v: _View, probs: np.ndarray, top) -> dict[str, float]:
    """Each chosen method's map of each target class over the image; returns each method's seconds for one image
    (the last target's): what the estimates below rest on."""
    seconds: dict[str, float] = {}
    for t in v.targets:
        st.markdown(f"**{v.classes[t]}** — probability {100 * float(probs[list(top).index(t)]):.1f}%"
                    if t in top else f"**{v.classes[t]}** (not in the top 5)")
        cols = st.columns(max(3, len(v.methods)))
        for col, m in zip(cols, v.methods):
            with user_errors(f"{TITLES[m]} failed: "):
                cmap, seconds[m] = cam(v.name, v.weights, v.stamp, v.digest, m, v.layer, t, v.raw)
            peak = attr.shown_peak(cmap, v.shown.shape[0])  # model pixels -> shown pixels
            where = f" · {v.layer}" if m in attr.LAYER_METHODS else ""
            show_figure(figures.overlay_figure(v.shown, cmap, v.alpha, f"{TITLES[m]}{where}", mask=v.mask_shown,
                                               peak=peak), width="stretch", key=f"cam_overlay_{m}_{t}", where=col,
                        name=f"{v.name}_{m}_{t}", csv=partial(array_to_csv, cmap, "importance"),
                        png=partial(_overlay_png, v.shown, cmap, v.alpha))
            if v.mask is not None:
                loc = metrics.localisation(torch.from_numpy(cmap)[None], torch.from_numpy(v.mask)[None])
                col.caption(f"Peak {'inside' if loc.pointing else 'outside'} the object; {100 * loc.energy:.0f}% of "
                            f"the map inside it (object area {100 * loc.energy_chance:.0f}%).")
    st.caption("Maps scaled to their own maximum; white outline = the object's mask (embedded shapes); × = maximum. "
               + " ".join(f"{TITLES[m]}: {attr.METHODS[m].reduce}." for m in v.methods))
    return seconds


def localisation_section(v: _View, seconds: dict[str, float]) -> None:
    # small inputs score 100 images by default, 224-pixel ones 20: one slider each, so a choice made for the one
    # does not carry to the other (100 images through VGG-16 are minutes of work)
    n = st.slider("Shapes images", 20, 200, 100 if v.in_h <= 64 else 20, 20,
                  key="cam_loc_n" if v.in_h <= 64 else "cam_loc_n_large")
    true_labels = metrics.knows_the_shapes(v.classes)
    fast = tuple(v.fast)
    if localisation_asked(v, fast, n, true_labels, seconds,
                          lambda m: warm_seconds(v.name, v.weights, v.stamp, v.digest, m, v.layer, v.targets[-1],
                                                 v.raw)):
        with user_errors():
            out = localisation(v.name, v.weights, v.stamp, fast, v.layer, n, true_labels)
        show_figure(figures.localisation_figure(out["results"], TITLES, v.layer, n), width="stretch", key="cam_loc")
        st.caption(("Maps of each image's true class. " if true_labels else
                    "This model was not trained on the shapes: maps of its predicted class. ")
                   + "Grey tick = chance: the share of the image the object covers (a random point's hit rate and a "
                   f"flat map's energy share). Occlusion and Integrated Gradients are left out here (slow). "
                   f"Scored in {_took(out['seconds'])}.")


def faithfulness_section(v: _View) -> None:
    with user_errors():
        res = faithfulness(v.name, v.weights, v.stamp, v.digest, tuple(v.methods), v.layer, v.targets[0], v.raw)
    show_figure(figures.faithfulness_figure(res, TITLES), width="stretch", key="cam_faith")
    st.caption(" · ".join(f"{TITLES[m]}: average drop {r.average_drop:.1f}%, increase in confidence "
                          f"{r.increase:.0f}%" for m, r in res.items())
               + f" — for {v.classes[v.targets[0]]} on this image (Petsiuk et al., 2018; Chattopadhay et al., 2018).")


def sanity_section(v: _View) -> None:
    with user_errors():
        res = sanity(v.name, v.weights, v.stamp, v.digest, tuple(v.fast), v.layer, v.targets[0], v.raw)
    first = next(iter(res.values()))
    step = st.slider("Layer groups randomised", 0, len(first.blocks), len(first.blocks), key="cam_sanity_step")
    show_figure(figures.sanity_figure(res, TITLES, metrics.SANITY_THRESHOLD, step), width="stretch",
                key="cam_sanity")
    strips = [figures.overlay_rgb(v.shown, r.strip[step], v.alpha) for r in res.values()]
    strips = strips + [v.shown] if len(strips) == 1 else strips  # the image itself beside a single map
    show_figure(image_grid(np.stack(strips), titles=[TITLES[m] for m in res] + ["image"] * (len(res) == 1),
                           cols=len(strips),
                           title=f"Maps after {step} randomised group(s)", cell_px=180), key="cam_sanity_maps")
    st.caption(" · ".join(f"{TITLES[m]}: rank correlation {r.spearman[-1]:.2f} after all groups — "
                          f"{'passes (the map depends on the weights)' if r.passes else 'fails (the map survives random weights)'}"
                          for m, r in res.items()))
    failed = [TITLES[m] for m, r in res.items() if not r.passes]
    if failed:
        st.warning(
            f"{', '.join(failed)} failed the sanity check (Adebayo et al., 2018): after every layer was given "
            f"random weights the map still looks like it did (rank correlation ≥ {metrics.SANITY_THRESHOLD:g}), "
            "so on this image it shows what the *architecture and the image* make salient — edges, bright "
            "regions — not what the trained model learned. Do not read it as the model's reason. What to do: "
            "try another image, one like the training data (a model trained on the shapes says little about a "
            "photo); try another layer (an earlier one often depends more on the weights); train the model "
            "longer or to a higher accuracy (a weak model's maps are mostly architecture); and prefer the methods "
            "that pass here.")


def cues_section(v: _View) -> None:
    method = v.fast[0]
    with user_errors():
        decision, smaps, tmaps, ds = cues(v.name, v.weights, v.stamp, method, v.layer, 6)
    imgs = ds.images.permute(0, 2, 3, 1).numpy()
    tiles, titles = [], []
    for i in range(len(decision)):
        tiles += [imgs[i], figures.overlay_rgb(imgs[i], smaps[i], v.alpha),
                  figures.overlay_rgb(imgs[i], tmaps[i], v.alpha)]
        titles += [f"followed {decision[i]}", f"shape: {ds.classes[int(ds.labels[i])]}",
                   f"texture: {ds.classes[int(ds.texture_labels[i])]}"]
    show_figure(image_grid(np.stack(tiles), titles=titles, cols=6, cell_px=110,
                           title=f"{TITLES[method]} on cue-conflict images: image, map for the outline's "
                                 "class, map for the texture's class"), key="cam_cues")
    st.caption("Cue-conflict images draw one class's outline filled with another class's typical texture "
               "(Geirhos et al., 2019). 'followed shape' means the model chose the outline's class.")


def is_it_right(v: _View, seconds: dict[str, float]) -> None:
    """One measure of the maps at a time (each is work): against the object masks, by deletion and insertion, by
    randomising the weights, on cue-conflict images."""
    st.subheader("Is the explanation right?")
    measure = st.radio("Measure", ["Localisation", "Faithfulness", "Sanity check", "Shape or texture"],
                       horizontal=True, key="cam_measure")
    if measure == "Localisation":
        localisation_section(v, seconds)
    elif measure == "Faithfulness":
        faithfulness_section(v)
    elif measure == "Sanity check":
        sanity_section(v)
    else:
        cues_section(v)


st.title("Grad-CAM & attributions")
st.markdown(
    "Which part of the image made the network say its class? **Grad-CAM** weighs a layer's feature maps by the "
    "average gradient of the class score and keeps the positive evidence; its relatives weigh differently, or "
    "work on the pixels directly. Below the maps: numbers that say whether a map is *right*.")
view, cam_model, spatial_layers = model_and_image()
top_probs, top_classes = what_to_explain(view, cam_model, spatial_layers)
if not view.methods:
    st.info("Pick at least one method.")
    view_link()
    st.stop()
if "occlusion" in view.methods or "integrated_gradients" in view.methods:
    st.caption("Occlusion runs one forward per occluded square and Integrated Gradients 32; they take longer.")
one_image_seconds = overlays(view, top_probs, top_classes)
is_it_right(view, one_image_seconds)
cam_over_training(view.name, view.entry.title, view.weights, view.digest, view.raw, view.shown, view.mask,
                  view.mask_shown, view.alpha, view.fast[0], view.layer)
view_link()
