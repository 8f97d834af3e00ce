"""Network overview: one image traced through every layer of a network, and one unit's convolution worked out on
the network's own numbers (the two views of CNN Explainer, Wang et al., IEEE VIS 2020)."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from pages._common import bound, image_picker, show_figure, unit_keys, user_errors, view_link
from pages._conv_numbers import conv_numbers
from pages._weights import model_input, traced_model, weights_picker, zoo_title
from vizcore.data import images as image_io
from vizcore.figures import overview as figures
from vizcore.figures import receptive_field as rf_figures
from vizcore.inspect import overview as ov
from vizcore.models import registry as zoo
from vizcore.models.weights import class_names

through_app()  # a fresh server's first deep links rerun through app.py's navigation

MODES = {"layers": "every layer", "stages": "one column per stage (resolution)"}


@st.cache_data(show_spinner="Running the image through the network…", max_entries=16)
def overview(name: str, weights: str, stamp: float, mode: str, n_channels: int, digest: str,
             _image: np.ndarray) -> ov.Overview:
    model, table, lock = traced_model(name, weights, stamp)
    with lock:
        res = ov.run_overview(model, table, model_input(name, _image, model), mode,  # type: ignore[arg-type]
                              n_channels)
    k = 0 if res.probabilities is None else len(res.probabilities)
    return ov.Overview(res.mode, res.columns, res.probabilities, tuple(class_names(name, weights, k)))


@dataclass
class _View:
    """The model, its weights (their traced table) and the picked image, as the model takes it and as drawn."""

    name: str
    weights: str
    stamp: float
    table: Any
    raw: np.ndarray
    digest: str
    shown: np.ndarray

    @property
    def input_hw(self) -> tuple[int, int]:
        _, h, w = zoo.get_entry(self.name).input_size
        return h, w


def model_and_image() -> _View:
    """The model and its weights (trained by default), the sidebar's image, and the traced model."""
    names = zoo.list_models()
    st.session_state.setdefault("ov_model", "small_cnn")
    bound("ov_model", "small_cnn", options=names)
    c1, c2 = st.columns([2, 5])
    name = c1.selectbox("Model", names, key="ov_model", format_func=zoo_title)
    with c2:
        weights, stamp, wlabel = weights_picker(name, "ov_weights", default="trained")
        st.caption(f"Weights: {wlabel}.")
    if weights == "random":
        st.warning("These are random (untrained) weights: the maps show what random filters do to the image, and "
                   "the probabilities mean nothing. Pick trained weights where the model has them.")
    with st.sidebar:
        st.markdown("**Input image**")
        raw, digest, _ = image_picker("ov")
    shown = image_io.fit_image(raw, zoo.get_entry(name).input_size[1])
    with user_errors("Could not load the model: "):
        _model, table, _lock = traced_model(name, weights, stamp)
    return _View(name, weights, stamp, table, raw, digest, shown)


def through_every_layer(v: _View) -> None:
    """Section 1: the image through every layer (or stage), the column and unit to inspect, and that unit's
    receptive field on the image."""
    st.header("1 · One image through every layer")
    layer_count = sum(1 for n in v.table.nodes if n.spatial and n.is_layer)
    modes = list(MODES) if layer_count <= ov.MAX_LAYER_COLUMNS else ["stages"]
    mode_key = f"ov_mode_{v.name}"
    first_mode = ov.default_mode(v.table) if ov.default_mode(v.table) in modes else modes[0]
    if st.session_state.get(mode_key) not in modes:
        st.session_state[mode_key] = first_mode
    bound(mode_key, first_mode, param="ov_mode", options=modes)  # one parameter whatever the model
    bound("ov_channels", 6, lo=1, hi=ov.MAX_CHANNELS)
    m1, m2 = st.columns([3, 2])
    mode = m1.radio("Columns", modes, key=mode_key, format_func=MODES.get, horizontal=True,
                    help=f"This network has {layer_count} layers with maps; above {ov.MAX_LAYER_COLUMNS} it is shown "
                         "by stage only.")
    n_channels = m2.slider("Channels per column (the strongest)", 1, ov.MAX_CHANNELS, 6, key="ov_channels")
    with user_errors("Could not run the image through the network: "):
        res = overview(v.name, v.weights, v.stamp, mode, n_channels, v.digest, v.raw)
    figure_slot = st.container()  # the overview above the controls that pick its unit (drawn once they are read)
    sel, unit, kclick = column_and_unit(v.name, mode, res.columns)
    cols = res.columns
    reads = ov.reads_from(cols[sel - 1].field, cols[sel].field, unit) if sel > 0 else None
    show_figure(figures.overview_figure(res, sel, unit, reads,
                                        title=f"{zoo_title(v.name)}: the image through {len(cols)} "
                                              f"{'layers' if res.mode == 'layers' else 'stages'}"),
                width="stretch", key="ov_figure", where=figure_slot)
    if res.probabilities is not None:
        best, p = res.top(1)[0]
        figure_slot.markdown(f"The network's answer: **{best}** with probability {100 * p:.1f}% "
                             f"({len(res.probabilities)} classes).")
    unit_field(v, cols, sel, unit, reads, kclick)


def column_and_unit(name: str, mode: str, cols: list) -> tuple[int, tuple[int, int], str]:
    """The column to inspect and its unit (sliders, or a click on its map): (column index, unit, the map's key)."""
    labels = [f"{k + 1}. {c.label} · {c.op} · {c.shape[0]}×{c.shape[1]}×{c.shape[2]}" for k, c in enumerate(cols)]
    col_key = f"ov_col_{name}_{mode}"
    middle = min(range(len(cols)), key=lambda k: abs(cols[k].shape[1] - cols[0].shape[1] // 2))
    if st.session_state.get(col_key, -1) not in range(len(cols)):
        st.session_state[col_key] = middle
    bound(col_key, middle, param="ov_col", lo=0, hi=len(cols) - 1)
    sel = st.selectbox("Column to inspect", range(len(cols)), key=col_key, format_func=lambda k: labels[k])
    h, w = cols[sel].shape[1:]
    ki, kj, kclick = f"ov_i_{col_key}_{sel}", f"ov_j_{col_key}_{sel}", f"ov_grid_{col_key}_{sel}"
    unit_keys(kclick, ki, kj, h, w, "ov")
    s1, s2 = st.columns(2)
    i = s1.slider("Unit row", 0, h - 1, key=ki) if h > 1 else 0
    j = s2.slider("Unit column", 0, w - 1, key=kj) if w > 1 else 0
    return sel, (int(i), int(j)), kclick


def unit_field(v: _View, cols: list, sel: int, unit: tuple[int, int], reads, kclick: str) -> None:
    """The chosen unit's receptive field on the image beside its column's map (click a unit), in words too."""
    col = cols[sel]
    h, w = col.shape[1:]
    i, j = unit
    in_h, in_w = v.input_hw
    ub = col.field.unit_box(i, j, (in_h, in_w))
    left, right = st.columns(2)
    show_figure(rf_figures.rf_image_figure(v.shown, ub.box, ub.clipped, ub.centre,
                                           title=f"Unit ({i}, {j}) of {col.label}: its receptive field"),
                width="stretch", key="ov_rf_image", where=left)
    show_figure(rf_figures.feature_grid_figure(col.mean_abs, (i, j), title=f"{col.label}: {h}×{w} units — click "
                                                                          "one"),
                width="stretch", key=kclick, on_select="rerun", selection_mode="points", where=right)
    where = (f" It reads units rows {reads[0][0]}–{reads[0][1]}, columns {reads[1][0]}–{reads[1][1]} of "
             f"{cols[sel - 1].label} (orange in the overview).") if reads else ""
    st.caption(f"Unit ({i}, {j}) of {col.label} sees input rows {ub.clipped[0]}–{ub.clipped[2]} and columns "
               f"{ub.clipped[1]}–{ub.clipped[3]} of the {in_h}×{in_w} image (field {col.field.size[0]} px at stride "
               f"{col.field.stride[0]} px).{where}")


st.title("Network overview")
st.caption("One image through the whole network, layer by layer, ending in the class probabilities; then one unit "
           "of a convolution worked out on the network's own numbers.")
view = model_and_image()
through_every_layer(view)
st.header("2 · One unit's convolution on real numbers")
conv_numbers(view.name, view.weights, view.stamp, view.table, view.digest, view.raw, view.shown)
view_link()
