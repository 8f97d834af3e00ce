"""Receptive Field: which input pixels a unit sees, in theory (Araujo et al., Distill 2019) and in effect
(Luo et al., NeurIPS 2016), for every model of the zoo."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import threading
import time

import numpy as np
import streamlit as st

from pages._common import (
    CHECKPOINT_KEY,
    asked_for,
    bound,
    image_picker,
    show_figure,
    unit_keys,
    user_errors,
    view_link,
)
from pages._weights import model_and_weights, model_input, traced_model
from vizcore.arch import kernel_stack as kstack
from vizcore.arch import receptive_field as rf
from vizcore.arch import rf_measured
from vizcore.arch.summary import forward_flops
from vizcore.data import images as image_io
from vizcore.figures import receptive_field as figures
from vizcore.inspect import activations
from vizcore.models import registry as zoo
from vizcore.models.weights import checkpoint_meta
from vizcore.train.timing import format_seconds

through_app()  # a fresh server's first deep links rerun through app.py's navigation

ERF_RANDOM = 4  # random N(0, 1) inputs the effective field averages over, beside the image

_DEFAULT_MODEL = "resnet18"


@st.cache_data(show_spinner="Tracing the network…", max_entries=32)
def field_records(name: str) -> list[dict]:
    """The analytic table of a zoo model at its own input size (geometry only: no weights needed)."""
    return rf.zoo_fields(name).records()


def model_table(name: str, weights: str, stamp: float) -> tuple[rf.FieldTable, threading.Lock]:
    """The shared model's receptive-field table (with its traced graph) and the lock its users hold
    (:func:`pages._weights.traced_model`: one model object serves every page and session)."""
    _model, table, lock = traced_model(name, weights, stamp)
    return table, lock


@st.cache_data(show_spinner="Computing the feature map…", max_entries=64)
def feature(name: str, weights: str, stamp: float, node: str, digest: str,
            _image: np.ndarray) -> tuple[np.ndarray, float]:
    """The layer's map for the image and the seconds its forward took (what the effective field's time is
    estimated from)."""
    table, lock = model_table(name, weights, stamp)
    with lock:
        began = time.perf_counter()
        fmap = activations.feature_map(table, node, model_input(name, _image, table.graph))
        return fmap, time.perf_counter() - began


def erf_asked(name: str, weights: str, stamp: float, n_inputs: int, forward_s: float | None) -> bool:
    """Whether to measure the effective field now (:func:`pages._common.asked_for`): asked once per model, then
    every unit and layer of it; the time estimated from the layer's forward (``forward_s``)."""
    e = zoo.get_entry(name)
    flops = rf_measured.effective_field_flops(forward_flops(name, e.input_size[1], e.num_classes), n_inputs)
    about = (f"about {format_seconds(rf_measured.effective_field_seconds(forward_s, n_inputs))}"
             if forward_s else "")
    return asked_for(
        ("rf_erf", name, weights, stamp), flops,
        f"The effective field back-propagates this unit through {e.title} for {n_inputs} inputs at "
        f"{e.input_size[1]}×{e.input_size[2]}: up to {flops / 1e9:,.0f} GFLOPs of work"
        + (f", {about} here (from this layer's feature map)" if about else "")
        + ". The box (the theoretical field) is exact without it.",
        "Measure the effective field" + (f" ({about})" if about else ""), "rf_erf_go")


@st.cache_data(show_spinner="Back-propagating the unit (effective receptive field)…", max_entries=64)
def erf(name: str, weights: str, stamp: float, node: str, unit: tuple[int, int], digest: str,
        _image: np.ndarray, n_random: int) -> tuple[np.ndarray, dict]:
    table, lock = model_table(name, weights, stamp)
    with lock:
        res = rf_measured.effective_field(table, node, unit, images=model_input(name, _image, table.graph),
                                          n_random=n_random)
    return res.heatmap, res.summary()


def model_and_layer(names: list[str]) -> tuple[str, str, float, rf.FieldTable, rf.NodeField]:
    """The model (a run opened in the Training Lab preselects its architecture, once), its weights and the layer:
    (model name, weights, their stamp, the model's field table, the chosen layer's field)."""
    opened = st.session_state.get(CHECKPOINT_KEY)  # a run chosen in the Training Lab ("Open in other pages")
    if opened and st.session_state.get("rf_opened_model") != opened:  # newly chosen: show its architecture, once
        st.session_state["rf_opened_model"] = opened
        run_model = (checkpoint_meta(opened) or {}).get("model")
        if run_model in names:
            st.session_state["rf_model"] = run_model
    st.session_state.setdefault("rf_model", _DEFAULT_MODEL)  # a default through session state: the Lab may set it
    name, weights, stamp = model_and_weights(
        "rf", names, _DEFAULT_MODEL, trained_default=False,
        help="Only the effective field and the feature map depend on the weights; the theoretical field is geometry.")
    entry = zoo.get_entry(name)
    with user_errors("Could not load the model: "):
        table, _lock = model_table(name, weights, stamp)
    spatial = [n for n in table.nodes if n.spatial]
    by_name = {n.node: n for n in spatial}
    # default: the deepest layer whose field still fits in half the image (the box is easy to see there)
    fits = [n for n in spatial if n.size[0] <= entry.input_size[1] // 2 and n.map_size[0] > 1]  # type: ignore[index]
    default_node = next(n for n in fits if n.size == max(f.size for f in fits)) if fits else spatial[-1]
    bound(f"rf_layer_{name}", default_node.node, param="rf_layer", options=list(by_name))  # one parameter, any model
    node_name = st.selectbox(
        "Layer (in execution order)", list(by_name), index=list(by_name).index(default_node.node),
        key=f"rf_layer_{name}",
        format_func=lambda n: f"{by_name[n].module or n} · {by_name[n].op} · "
                              f"field {by_name[n].size[0]}×{by_name[n].size[1]}")
    return name, weights, stamp, table, by_name[node_name]


def unit_choice(name: str, nf: rf.NodeField) -> tuple[tuple[int, int], bool, str]:
    """The unit (row, column) from the sliders, or from a click on the feature map (which moves the sliders once),
    whether to show the effective field, and the feature map's key (its clicks)."""
    h, w = nf.map_size  # type: ignore[misc]
    ki, kj, kclick = f"rf_i_{name}_{nf.node}", f"rf_j_{name}_{nf.node}", f"rf_grid_{name}_{nf.node}"
    unit_keys(kclick, ki, kj, h, w, "rf")
    bound("rf_show_erf", True)
    s1, s2, s3 = st.columns([2, 2, 1])
    i = s1.slider("Unit row i", 0, h - 1, key=ki) if h > 1 else 0
    j = s2.slider("Unit column j", 0, w - 1, key=kj) if w > 1 else 0
    show_erf = s3.toggle("Effective field", value=True, key="rf_show_erf",
                         help=f"Mean |gradient| of the unit over this image and {ERF_RANDOM} random images "
                              "(Luo et al., 2016).")
    return (int(i), int(j)), show_erf, kclick


def field_on_image(name: str, weights: str, stamp: float, nf: rf.NodeField, raw: np.ndarray, digest: str,
                   unit: tuple[int, int], show_erf: bool, kclick: str) -> None:
    """The unit's field on the image (with the effective field when asked) beside the clickable feature map,
    and its numbers."""
    _, in_h, in_w = zoo.get_entry(name).input_size
    h, w = nf.map_size  # type: ignore[misc]
    shown = image_io.fit_image(raw, in_h)  # what the model sees (shorter side resized, centre crop)
    ub = nf.unit_box(unit[0], unit[1], (in_h, in_w))
    fmap, forward_s = None, None
    with user_errors("Could not compute the feature map: ", stop=False):
        fmap, forward_s = feature(name, weights, stamp, nf.node, digest, raw)
    heat, summary = None, None
    if show_erf and erf_asked(name, weights, stamp, 1 + ERF_RANDOM, forward_s):
        with user_errors("Could not compute the effective field: ", stop=False):  # the box, the map and the rest stay
            heat, summary = erf(name, weights, stamp, nf.node, ub.unit, digest, raw, ERF_RANDOM)
    left, right = st.columns(2)
    show_figure(figures.rf_image_figure(
        shown, ub.box, ub.clipped, ub.centre, heat,
        title=f"Unit ({ub.unit[0]}, {ub.unit[1]}) of {nf.module or nf.node}: field on the {in_h}×{in_w} input"),
        width="stretch", key="rf_image", where=left)
    if fmap is not None:
        show_figure(figures.feature_grid_figure(fmap, ub.unit, title=f"{nf.module or nf.node}: {h}×{w} units "
                                                                      "— click one"),
                    width="stretch", key=kclick, on_select="rerun", selection_mode="points", where=right)
    field_numbers(nf, ub, summary)


def field_numbers(nf: rf.NodeField, ub: rf.UnitBox, summary: dict | None) -> None:
    """Size, stride, padding and centre of the unit's field, its box in words, the effective field's figures,
    and what makes the box a simplification at this layer."""
    m = st.columns(4)
    m[0].metric("Field size", f"{nf.size[0]}×{nf.size[1]} px")
    m[1].metric("Stride (jump)", f"{nf.stride[0]} px")
    m[2].metric("Effective padding", f"{nf.padding[0]} px")
    m[3].metric("Centre (row, col)", f"{ub.centre[0]:g}, {ub.centre[1]:g}")
    outside = (ub.box[2] - ub.box[0] + 1) * (ub.box[3] - ub.box[1] + 1) - \
        (ub.clipped[2] - ub.clipped[0] + 1) * (ub.clipped[3] - ub.clipped[1] + 1)
    st.caption(f"Unit ({ub.unit[0]}, {ub.unit[1]}): theoretical box rows {ub.box[0]}…{ub.box[2]}, columns "
               f"{ub.box[1]}…{ub.box[3]}; on the image rows {ub.clipped[0]}…{ub.clipped[2]}, columns "
               f"{ub.clipped[1]}…{ub.clipped[3]}. {outside:,} of its pixels lie outside the image, in the zero "
               "padding. Centre = −P + i·S + (R−1)/2 per axis.")
    if summary is not None:
        e1, e2, e3 = st.columns(3)
        e1.metric("ERF radius (95% of the mass)", f"{summary['radius95']:.1f} px")
        e2.metric("Theoretical half-size", f"{(nf.size[0] - 1) / 2:g} px")
        e3.metric("ERF mass inside the box", f"{100 * summary['mass_in_box']:.1f}%")
    if nf.global_context:
        st.info("This layer comes after a squeeze-and-excitation gate: the gate is computed from a global average "
                "of the whole image, so every unit here also depends on the whole image. The field above is the "
                "local (convolutional) one; the effective field shows the global leak as mass outside the box.")
    if not nf.aligned:
        st.warning("Paths merged on the way to this layer disagree on stride or centre, so the unit's centre is "
                   "not well defined; the box shown is the union of the paths' fields.")


def growth_chart(name: str, names: list[str], table: rf.FieldTable) -> None:
    """Field size against depth for several models."""
    st.subheader("How fields grow through a network")
    growth_default = list(dict.fromkeys([name, "vgg16", "resnet50"]))
    bound("rf_growth_models", growth_default, options=names, many=True)
    picked = st.multiselect("Models to compare", list(dict.fromkeys([name, *names])), default=growth_default,
                            key="rf_growth_models", format_func=lambda n: zoo.get_entry(n).title)
    with user_errors():
        # the chosen model's fields from its traced table (the same geometry, already computed); the others' from meta
        series = {zoo.get_entry(n).title: table.records() if n == name else field_records(n) for n in picked}
    if series:
        show_figure(figures.rf_growth_figure(series), width="stretch", key="rf_growth")
    last = {t: next(r for r in reversed(recs) if len(r["out_shape"]) == 3 and r["out_shape"][1] > 1)
            for t, recs in series.items()}
    if last:
        st.caption("Last spatial layer with more than one unit per side: " + "; ".join(
            f"{t}: {r['size'][0]} px field at stride {r['stride'][0]}" for t, r in last.items()))


def stacked_kernels() -> None:
    """n stacked k×k layers against one kernel of the same field (VGG's argument): weights and non-linearities."""
    st.subheader("Stacked small kernels or one big kernel?")
    k1, k2, k3 = st.columns(3)
    bound("rf_stack_n", 3, lo=1, hi=6)
    bound("rf_stack_k", 3, options=[3, 5, 7])
    bound("rf_stack_c", 256, lo=1, hi=4096)
    n_stack = k1.slider("Stacked layers n", 1, 6, 3, key="rf_stack_n")
    k_size = k2.selectbox("Kernel k", [3, 5, 7], index=0, key="rf_stack_k")
    chans = k3.number_input("Channels C (in = out)", 1, 4096, 256, key="rf_stack_c")
    with user_errors():
        ks = kstack.kernel_stack(int(n_stack), int(k_size), int(chans))
    s = st.columns(4)
    s[0].metric("Field of the stack", f"{ks.field}×{ks.field}")
    s[1].metric(f"Weights, {ks.n} × {ks.k}×{ks.k}", f"{ks.params_stacked:,}")
    s[2].metric(f"Weights, one {ks.field}×{ks.field}", f"{ks.params_single:,}",
                delta=f"{-100 * ks.saving:+.0f}% for the stack" if ks.n > 1 else None, delta_color="off")
    s[3].metric("Non-linearities", f"{ks.nonlinearities_stacked} vs {ks.nonlinearities_single}")
    show_figure(figures.kernel_stack_figure(int(k_size), int(chans)), width="stretch", key="rf_stack_fig")
    st.markdown(
        f"Each stride-1 {ks.k}×{ks.k} layer widens the field by {ks.k - 1} pixels, so {ks.n} of them see "
        f"{ks.field}×{ks.field} — like a single {ks.field}×{ks.field} layer, but with n·k²·C² = "
        f"{ks.params_stacked:,} weights instead of {ks.field}²·C² = {ks.params_single:,}, and a non-linearity after "
        "every layer. This is "
        "the argument of the VGG paper (Simonyan & Zisserman, 2015, Sec. 2.3): three 3×3 layers replace a 7×7 "
        "with 27C² instead of 49C² weights and make the decision function more discriminative.")


def terms() -> None:
    """The words of the page, in plain language."""
    with st.expander("The terms, in plain words", expanded=True):
        st.markdown(
            "- **Receptive field (size R)** — the square of input pixels that can change a unit's value. Each "
            "k×k layer adds (k−1) × the current stride to it.\n"
            "- **Effective stride S (jump)** — how many input pixels the field moves when you step one unit to "
            "the right in the feature map: the product of the strides so far.\n"
            "- **Effective padding P** — how far the field of the first unit starts *before* the first image "
            "pixel, because of zero padding. Unit i covers rows −P + i·S … −P + i·S + R − 1.\n"
            "- **Alignment** — at an addition or concatenation the paths usually have the same centre; if they "
            "do not, the unit has no single centre and we say so.\n"
            "- **Effective receptive field (ERF)** — how much each pixel *actually* changes the unit, measured by "
            "its gradient and averaged over several images (Luo et al., 2016). It is roughly Gaussian and far "
            "smaller than the theoretical field; training usually widens it.\n"
            "- The numbers are checked by back-propagating one unit through a copy of the network with all paths "
            "made positive: the pixels that get a gradient are exactly the box.")


st.title("Receptive fields")
st.markdown(
    "A unit of a convolutional layer only sees part of the image: its **receptive field**. Pick a layer and a "
    "unit to see that window on the image — exactly, for branching networks too (ResNet, Inception, DenseNet, "
    "EfficientNet) — and how much of it the unit really uses.")
zoo_names = zoo.list_models()
rf_name, rf_weights, rf_stamp, rf_table, rf_node = model_and_layer(zoo_names)
with st.sidebar:
    st.markdown("**Input image**")
    picked_image, picked_digest, _ = image_picker("rf")
rf_unit, rf_show_erf, rf_click_key = unit_choice(rf_name, rf_node)
field_on_image(rf_name, rf_weights, rf_stamp, rf_node, picked_image, picked_digest, rf_unit, rf_show_erf, rf_click_key)
growth_chart(rf_name, zoo_names, rf_table)
stacked_kernels()
terms()
view_link()
