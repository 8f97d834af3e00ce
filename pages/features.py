"""Features: filters, activation maps, top-activating patches and activation maximisation (Zeiler & Fergus 2014;
Yosinski et al. 2015; Olah et al., Distill 2017), for every zoo model with random or trained weights."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from pages._common import (
    bound,
    clicked_points,
    data_folder_picker,
    image_picker,
    show_figure,
    user_errors,
    view_link,
    words,
)
from pages._weights import batch_input, model_and_weights, model_device, model_input, traced_model
from vizcore.arch.receptive_field import FieldTable, NodeField
from vizcore.data import images as image_io
from vizcore.figures import features as figs
from vizcore.inspect import activations, capture, filters, maximize, top_patches
from vizcore.models import preprocess
from vizcore.models import registry as zoo

through_app()  # a fresh server's first deep links rerun through app.py's navigation

_DEFAULT_MODEL = "small_cnn"
_VIEWS = ["Filters", "Activation maps", "Top-activating patches", "Activation maximisation"]
_TV = [0.0, 1e-4, 1e-3, 1e-2, 1e-1]  # activation maximisation's total-variation weights


@st.cache_data(show_spinner="Computing the activations…", max_entries=32)
def node_act(name: str, weights: str, stamp: float, node: str, digest: str, _image: np.ndarray) -> np.ndarray:
    model, table, lock = traced_model(name, weights, stamp)
    x = model_input(name, _image, model)
    with lock:
        return capture.node_output(table.graph, node, x)[0].float().cpu().numpy()


@st.cache_data(show_spinner=False, max_entries=16)
def top_units(name: str, weights: str, stamp: float, node: str, dataset: str, n: int, k: int,
              root: str | None) -> tuple[dict, np.ndarray]:
    """Top-k units of every channel of ``node`` over the data set (cached per weights, node and data set)."""
    model, table, lock = traced_model(name, weights, stamp)
    size = zoo.get_entry(name).input_size[1]
    imgs = top_patches.load_images(dataset, n, size, root=root)
    bar = st.progress(0.0, text=f"Searching {len(imgs):,} images…")
    try:
        with lock:
            res = top_patches.top_units(capture.NodeRunner(table.graph, node), imgs, k=k, batch_size=128,
                                        prepare=batch_input(name, model),
                                        progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
    finally:
        bar.empty()
    arr = imgs.permute(0, 2, 3, 1).numpy()
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return {"values": res.values.numpy(), "image": res.image.numpy(), "unit": res.unit.numpy()}, arr


@st.cache_data(show_spinner=False, max_entries=16)
def maximized(name: str, weights: str, stamp: float, node: str, channel: int, size: int,
              cfg: maximize.MaximizeConfig) -> tuple[np.ndarray, list[float]]:
    model, table, lock = traced_model(name, weights, stamp)
    bar = st.progress(0.0, text="Optimising the input…")
    try:
        with lock:
            runner = capture.NodeRunner(table.graph, node)
            with capture.eval_mode(runner.sub):
                res = maximize.maximize(runner.sub, channel, (size, size), preprocess.for_model(name), cfg,
                                        device=model_device(model), progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
    finally:
        bar.empty()
    return res.image, res.activation


@dataclass
class _View:
    """What the page looks at: the zoo model, its chosen weights, the traced model and its receptive-field table."""

    name: str
    entry: zoo.ModelEntry
    weights: str
    stamp: float
    model: torch.nn.Module
    table: FieldTable

    @property
    def in_h(self) -> int:
        return self.entry.input_size[1]


@dataclass
class _Channel:
    """The layer (a spatial graph node) and channel looked at, the picked image and the node's activations for it."""

    node: str
    nf: NodeField
    shown: np.ndarray  # the picked image at the model's input size
    act: np.ndarray  # the node's activations (C, H, W)
    stats: dict
    channel: int

    @property
    def label(self) -> str:
        return self.nf.module or self.node


def model_section() -> _View:
    """The model and weights boxes, the traced model and a caption on its weights."""
    name, weights, stamp = model_and_weights(
        "ft", zoo.list_models(), _DEFAULT_MODEL, trained_only_for=_DEFAULT_MODEL,
        random_note="**Random (untrained) weights**: filters are noise and maps show what a random network does.")
    with user_errors("Could not load the model: "):
        model, table, _ = traced_model(name, weights, stamp)
    return _View(name, zoo.get_entry(name), weights, stamp, model, table)


def pick_view() -> str:
    """The view picker (filters, maps, top patches or maximisation), bound to the URL."""
    bound("ft_view", _VIEWS[1], options=words(_VIEWS))
    return st.segmented_control("View", _VIEWS, default=_VIEWS[1], key="ft_view") or _VIEWS[1]


def filters_section(v: _View) -> None:
    """A convolution layer's filters as patches, with their norms, dead filters and near-duplicates."""
    convs = filters.conv_layers(v.model)
    bound(f"ft_conv_{v.name}", convs[0], param="ft_conv", options=convs)  # one parameter for any model
    layer = st.selectbox("Convolution layer", convs, key=f"ft_conv_{v.name}")
    w = filters.conv_weight(v.model, layer)
    st.caption(f"Weight shape (out, in/groups, kh, kw) = {tuple(w.shape)}")
    if w.shape[1] in (1, 3):
        grid = filters.rgb_filters(w[:256])
        title = f"{layer}: {len(grid.images)} first-layer filters as {'RGB' if w.shape[1] == 3 else 'grey'} patches"
        labels = [str(i) for i in range(len(grid.images))]
    else:
        oc = int(st.number_input(f"Output channel (0–{w.shape[0] - 1})", 0, w.shape[0] - 1, 0,
                                 key=f"ft_oc_{v.name}"))
        grid = filters.channel_kernels(w[:, :256], oc)
        title = f"{layer}, output channel {oc}: its kernel on each of the first {len(grid.images)} input channels"
        labels = [f"in {i}" for i in range(len(grid.images))]
    show_figure(figs.filters_figure(grid.images, grid.low, grid.high, labels, title), key="ft_filters")
    span = np.abs(np.concatenate([grid.low, grid.high]))
    st.caption(f"Each patch is scaled to its own min–max (black = its most negative weight, white = its most "
               f"positive); the weights span ±{span.max():.3g}. Hover a patch for its range.")
    stats = filters.filter_stats(w)
    dup = sorted({i for a, b, _ in stats.duplicates for i in (a, b)})
    show_figure(figs.filter_norms_figure(stats.norms, stats.dead, dup, f"{layer}: L2 norm of each of the "
                                         f"{w.shape[0]} filters"), key="ft_norms")
    st.markdown(f"**Dead filters** (norm below {filters.DEAD_RELATIVE_NORM:.0%} of the median): "
                f"{', '.join(map(str, stats.dead)) or 'none'}. **Near-duplicates** (|cosine| > "
                f"{filters.DUPLICATE_COSINE}): " + (", ".join(f"{a}–{b} ({c:+.3f})" for a, b, c in stats.duplicates[:12])
                                                    or "none") + ".")


def node_image_and_channel(v: _View) -> _Channel:
    """The layer box, the sidebar's image, the layer's activations for it and the channel box (strongest first)."""
    spatial = [n for n in v.table.nodes if n.spatial]
    by_name = {n.node: n for n in spatial}
    default_node = next((n.node for n in reversed(spatial) if n.map_size and n.map_size[0] >= 4 and n.is_layer),
                        spatial[-1].node)
    bound(f"ft_node_{v.name}", default_node, param="ft_node", options=list(by_name))
    node = st.selectbox("Layer (any spatial node, execution order)", list(by_name),
                        index=list(by_name).index(default_node), key=f"ft_node_{v.name}",
                        format_func=lambda n: f"{by_name[n].module or n} · {by_name[n].op} · "
                                              f"{'×'.join(map(str, by_name[n].out_shape))}")
    nf = by_name[node]
    n_channels = nf.out_shape[0]
    with st.sidebar:
        st.markdown("**Input image**")
        raw, digest, _ = image_picker("ft")
    shown = image_io.fit_image(raw, v.in_h)
    with user_errors("Could not compute the activations: "):
        act = node_act(v.name, v.weights, v.stamp, node, digest, raw)
    stats = activations.channel_stats(act)
    ckey = f"ft_channel_{v.name}_{node}"
    strongest = int(activations.channel_order(stats, "max")[0])
    st.session_state.setdefault(ckey, strongest)
    bound(ckey, strongest, param="ft_channel", lo=0, hi=n_channels - 1)
    channel = int(st.number_input(f"Channel (0–{n_channels - 1})", 0, n_channels - 1, key=ckey))
    return _Channel(node, nf, shown, act, stats, channel)


def maps_section(v: _View, c: _Channel) -> None:
    """The strongest channels' maps, the chosen channel over the image (click: a unit's receptive field), its
    statistics, every channel's and the network's depth profile."""
    in_h, nf, act, stats, channel = v.in_h, c.nf, c.act, c.stats, c.channel
    n_channels, h, w_ = nf.out_shape
    bound("ft_sort", "mean", options=["mean", "max"])
    sort_by = st.radio("Sort channels by", ["mean", "max"], horizontal=True, key="ft_sort")
    order = activations.channel_order(stats, sort_by)
    show_figure(figs.channel_grid_figure(act, order, f"{c.label}: the {min(32, n_channels)} channels "
                                         f"with the highest {sort_by} (of {n_channels})"), key="ft_grid")
    ys = np.array([nf.unit_box(i, 0, (in_h, in_h)).centre[0] for i in range(h)])
    xs = np.array([nf.unit_box(0, j, (in_h, in_h)).centre[1] for j in range(w_)])
    ukey = f"ft_overlay_{v.name}_{c.node}_{channel}"
    pts = clicked_points(ukey)
    box = None
    if pts:
        i, j = int(np.abs(ys - pts[0]["y"]).argmin()), int(np.abs(xs - pts[0]["x"]).argmin())
        ub = nf.unit_box(i, j, (in_h, in_h))
        box = ub.clipped
        st.caption(f"Unit ({i}, {j}): activation {act[channel, i, j]:.3f}; receptive field {nf.size[0]}×{nf.size[1]} "
                   f"px, rows {ub.clipped[0]}…{ub.clipped[2]}, columns {ub.clipped[1]}…{ub.clipped[3]} on the image.")
    else:
        st.caption("Click the map to draw a unit's receptive field.")
    show_figure(figs.overlay_figure(c.shown, act[channel], ys, xs, box, f"Channel {channel} of "
                                    f"{c.label} ({h}×{w_} units) over the {in_h}×{in_h} input"),
                key=ukey, on_select="rerun", selection_mode="points")
    m = st.columns(3)
    m[0].metric("Mean", f"{stats['mean'][channel]:.3f}")
    m[1].metric("Max", f"{stats['max'][channel]:.3f}")
    m[2].metric("Units at zero", f"{stats['zero_fraction'][channel]:.0%}")
    show_figure(figs.channel_stats_figure(stats, order, f"Per-channel statistics of {c.label}"),
                key="ft_stats")
    show_figure(figs.depth_figure(activations.depth_profile(v.table), f"{v.entry.title}: maps shrink, channels grow"),
                key="ft_depth")
    st.caption("The fraction of zeros counts units exactly 0: after a ReLU they are inactive for this image.")


def patches_section(v: _View, c: _Channel) -> None:
    """The data set's patches that excite the channel most, searched when asked (all channels at once)."""
    d1, d2, d3, d4 = st.columns(4)
    dataset = d1.selectbox("Data set", list(top_patches.PATCH_SETS), key="ft_tp_data",
                           format_func=lambda d: {"shapes": "Embedded shapes", "digits": "Digits (scikit-learn)",
                                                  "photos": "Sample photos, cut into crops",
                                                  "folder": "Image folder"}[d])
    root = data_folder_picker(d1, "ft_tp_root") if dataset == "folder" else None
    bound("ft_tp_n", 1000, lo=100, hi=5000)
    n = int(d2.slider("Images searched", 100, 5000, 1000, 100, key="ft_tp_n"))
    bound("ft_tp_k", 9, lo=1, hi=36)
    k = int(d3.slider("Top k", 1, 36, 9, key="ft_tp_k"))
    run_key = (v.name, v.weights, v.stamp, c.node, dataset, n, k, root)
    if d4.button("Find top patches", key="ft_tp_run", type="primary", disabled=dataset == "folder" and root is None):
        st.session_state["ft_tp_done"] = run_key
    if st.session_state.get("ft_tp_done") != run_key:
        st.info("Press **Find top patches** to search the data set (all channels at once; cached per weights, "
                "layer and data set).")
        return
    with user_errors("Could not search the data set: "):
        res, images = top_units(v.name, v.weights, v.stamp, c.node, dataset, n, k, root)
    channel, nf = c.channel, c.nf
    recs = [(float(res["values"][channel, r]), int(res["image"][channel, r]), tuple(res["unit"][channel, r]))
            for r in range(res["values"].shape[1])]
    patches = [top_patches.patch(images[i], nf, u) for _, i, u in recs]
    show_figure(figs.patches_figure(patches, [value for value, _, _ in recs],
                                    f"Channel {channel} of {c.label}: top {len(recs)} units over "
                                    f"{len(images):,} images"), key="ft_patches")
    st.caption(f"Each patch is the {nf.size[0]}×{nf.size[1]}-pixel receptive field of one unit; change the "
               "channel above to browse others without searching again (all channels are kept)."
               + (f" Its validation images number {len(images):,}, fewer than the {n:,} asked for: all were searched."
                  if len(images) < n else ""))


def maximisation_section(v: _View, c: _Channel) -> None:
    """Activation maximisation: its settings, then an input optimised to excite the channel, made when asked."""
    in_h = v.in_h
    a1, a2, a3, a4, a5 = st.columns(5)
    bound("ft_am_steps", 128, lo=16, hi=512)
    steps = int(a1.slider("Steps", 16, 512, 128, 16, key="ft_am_steps"))
    bound("ft_am_jitter", max(1, in_h // 16), lo=0, hi=16)
    jitter = int(a2.slider("Jitter (px)", 0, 16, max(1, in_h // 16), key="ft_am_jitter"))
    bound("ft_am_tv", 1e-3, options=_TV)
    tv = float(a3.select_slider("Total variation", _TV, 1e-3, key="ft_am_tv"))
    bound("ft_am_fourier", True)
    fourier = a4.toggle("Fourier, decorrelated", value=True, key="ft_am_fourier")
    bound("ft_am_seed", 0, lo=0, hi=2**31 - 1)
    seed = int(a5.number_input("Seed", 0, 2**31 - 1, 0, key="ft_am_seed"))
    with user_errors():
        cfg = maximize.MaximizeConfig(steps=steps, jitter=jitter, tv_weight=tv, fourier=fourier, seed=seed)
    akey = (v.name, v.weights, v.stamp, c.node, c.channel, cfg)
    if st.button("Optimise the input", key="ft_am_run", type="primary"):
        st.session_state["ft_am_done"] = akey
    if st.session_state.get("ft_am_done") != akey:
        st.info("Press **Optimise the input** to run gradient ascent on the image for this channel.")
        return
    with user_errors("Could not optimise: "):
        img, trace = maximized(v.name, v.weights, v.stamp, c.node, c.channel, in_h, cfg)
    show_figure(figs.maximize_figure(img, trace, f"Input that excites channel {c.channel} of "
                                     f"{c.label} (seed {seed})"), key="ft_am_fig")
    st.caption(f"Seed {seed}, {steps} Adam steps, jitter ±{jitter} px, TV weight {tv:g}, "
               f"{'Fourier + colour-decorrelated' if fourier else 'raw pixel'} parameterisation.")


st.title("Features: what the channels see")
st.markdown("Each convolution layer learns **filters**; applied to an image they give **activation maps**, one "
            "per channel. Look at the filters, at the maps for your image, at the image patches that excite a "
            "channel most over a whole data set, and at an input optimised to excite it.")
looked_at = model_section()
view = pick_view()
if view == "Filters":  # needs no image: the filters are the weights themselves
    filters_section(looked_at)
    view_link()
    st.stop()
picked = node_image_and_channel(looked_at)
if view == "Activation maps":
    maps_section(looked_at, picked)
elif view == "Top-activating patches":
    patches_section(looked_at, picked)
else:  # activation maximisation
    maximisation_section(looked_at, picked)
view_link()
