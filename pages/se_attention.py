"""SE Attention: the channel gates of squeeze-and-excitation blocks, per image and per class, and what removing
them costs (Hu, Shen, Albanie, Sun, Wu. Squeeze-and-Excitation Networks, TPAMI 2019, §7.2)."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

from dataclasses import dataclass, field

import numpy as np
import streamlit as st
import torch

from pages._common import bound, data_folder_picker, image_picker, show_figure, user_errors, view_link
from pages._weights import (
    batch_input,
    model_and_weights,
    model_input,
    outside_training_note,
    traced_model,
)
from vizcore.figures import se as figs
from vizcore.inspect import se
from vizcore.inspect.top_patches import load_labelled
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights

through_app()  # a fresh server's first deep links rerun through app.py's navigation

_DEFAULT_MODEL = "se_resnet_small"
_SETS = {"shapes": "Embedded shapes", "digits": "Digits (scikit-learn)", "folder": "Image folder"}



@st.cache_data(show_spinner="Reading the gates…", max_entries=32)
def image_gates(name: str, weights: str, stamp: float, digest: str, _image: np.ndarray
                ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    model, _, lock = traced_model(name, weights, stamp)
    x = model_input(name, _image, model)
    with lock:
        ex = se.excitations(model, x)
    return {p: g[0].numpy() for p, g in ex.gates.items()}, torch.softmax(ex.logits[0], 0).numpy()


@st.cache_data(show_spinner="Scaling the block's input…", max_entries=32)
def block_maps(name: str, weights: str, stamp: float, block: str, digest: str, _image: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    model, _, lock = traced_model(name, weights, stamp)
    x = model_input(name, _image, model)
    with lock:
        before, after, gates = se.before_after(model, x, block)
    return before.numpy(), after.numpy(), gates.numpy()


@st.cache_data(show_spinner=False, max_entries=8)
def class_analysis(name: str, weights: str, stamp: float, dataset: str, n: int, root: str | None
                   ) -> tuple[list[dict], dict[str, np.ndarray], tuple[str, ...], str]:
    model, _, lock = traced_model(name, weights, stamp)
    ds = load_labelled(dataset, n, zoo.get_entry(name).input_size[1], root=root)
    bar = st.progress(0.0, text="Reading the gates of every image…")
    try:
        with lock:
            res, means = se.by_class(model, ds.images, ds.labels, ds.classes, batch_input(name, model),
                                     progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
    finally:
        bar.empty()
    last = [a.path for i, a in enumerate(res) if i == len(res) - 1 or res[i + 1].stage != a.stage]
    rows = [{**a.to_dict(), "last": a.path in last} for a in res]
    return rows, {p: m.numpy() for p, m in means.items()}, ds.classes, se.describe(res, last, weights == "random")


@st.cache_data(show_spinner="Running the model with and without the chosen gates…", max_entries=16)
def ablation(name: str, weights: str, stamp: float, dataset: str, n: int, root: str | None, blocks: tuple[str, ...],
             mode: str, digest: str, _image: np.ndarray) -> dict:
    _, means, _, _ = class_analysis(name, weights, stamp, dataset, n, root)
    model, _, lock = traced_model(name, weights, stamp)
    ds = load_labelled(dataset, n, zoo.get_entry(name).input_size[1], root=root)
    x = batch_input(name, model)(ds.images)
    one = model_input(name, _image, model)
    repl = se.ablation(blocks, mode, {p: torch.from_numpy(m) for p, m in means.items()})  # type: ignore[arg-type]
    with lock:
        base, abl = se.predict(model, x).argmax(1), se.predict(model, x, repl).argmax(1)
        p0, p1 = torch.softmax(se.predict(model, one)[0], 0), torch.softmax(se.predict(model, one, repl)[0], 0)
    return {"acc": float((base == ds.labels).double().mean()), "acc_ablated": float((abl == ds.labels).double().mean()),
            "changed": int((base != abl).sum()), "n": len(ds.labels), "p0": p0.numpy(), "p1": p1.numpy()}


@dataclass
class _View:
    """The model, its weights and the picked image the page is about; the class names once the model has answered."""

    name: str
    weights: str
    stamp: float
    model: torch.nn.Module
    raw: np.ndarray  # the picked image (H, W, 3) uint8
    digest: str
    classes: list[str] = field(default_factory=list)


def model_and_image() -> _View:
    """The SE model and its weights (trained by default for ConvScope's own), and the sidebar's image."""
    name, weights, stamp = model_and_weights(
        "se", zoo.list_models("se"), _DEFAULT_MODEL, trained_only_for=_DEFAULT_MODEL, tag="se",
        random_note="**Random (untrained) weights**: every gate sits near 0.5 and says nothing about the image. Pick "
                    "'trained' (ConvScope's SE-ResNet on the shapes) or pretrained weights to see real attention.")
    with user_errors("Could not load the model: "):
        model, _table, _lock = traced_model(name, weights, stamp)
    with st.sidebar:
        st.markdown("**Input image**")
        raw, digest, _ = image_picker("se")
    return _View(name, weights, stamp, model, raw, digest)


def this_image(v: _View) -> dict[str, np.ndarray]:
    """The model's answer and the gates of every SE block for the image; returns the gates by block."""
    with user_errors("Could not read the gates: "):
        gates, probs = image_gates(v.name, v.weights, v.stamp, v.digest, v.raw)
    v.classes = mweights.class_names(v.name, v.weights, len(probs))
    top = int(probs.argmax())
    st.caption(f"Prediction for this image: **{v.classes[top]}** ({probs[top]:.1%}). {len(gates)} SE blocks.")
    if note := outside_training_note(v.weights, "se"):
        st.info(note)
    show_figure(figs.gates_heatmap(gates, f"{zoo.get_entry(v.name).title}: the gates of all {len(gates)} SE blocks "
                                          "for this image"), key="se_heat")
    return gates


def one_block(v: _View, gates: dict[str, np.ndarray]) -> None:
    """One block: its gates sorted, a channel before and after its gate, and how the block works, with its cost."""
    info = {b.path: b for b in se.blocks(v.model)}
    paths = list(gates)
    bound(f"se_block_{v.name}", paths[-1], param="se_block", options=paths)  # one parameter for any model
    block = st.selectbox("SE block", paths, index=len(paths) - 1, key=f"se_block_{v.name}")
    b = info[block]
    left, right = st.columns(2)
    show_figure(figs.gates_bar(gates[block], block), key="se_bar", where=left)
    before, after, g = block_maps(v.name, v.weights, v.stamp, block, v.digest, v.raw)
    ch = int(right.number_input(f"Channel (0–{b.channels - 1})", 0, b.channels - 1, int(np.argmin(g)),
                                key=f"se_ch_{v.name}"))
    show_figure(figs.before_after_figure(before[ch], after[ch], float(g[ch]), f"{block}, channel {ch}"),
                key="se_before_after", where=right)
    sem = v.model.get_submodule(block)
    total = sum(p.numel() for p in v.model.parameters())
    st.markdown(
        f"**How {block} works.** *Squeeze*: global average pooling turns its {b.channels}×{before.shape[1]}×"
        f"{before.shape[2]} input into {b.channels} numbers, one per channel. *Excitation*: a bottleneck — a 1×1 "
        f"convolution {b.channels}→{b.squeeze} (reduction r = {b.reduction:g}), {type(sem.activation).__name__}, "
        f"then {b.squeeze}→{b.channels} and a {b.gate} — gives {b.channels} gates in [0, 1]. *Scale*: channel c of "
        f"the input is multiplied by its gate s_c. Cost: 2·{b.channels}·{b.squeeze} weights + "
        f"{b.squeeze + b.channels} biases = {b.params:,} parameters ({b.params / total:.2%} of the model's "
        f"{total:,}); all {len(info)} blocks together: {sum(x.params for x in info.values()) / total:.1%}.")


def by_class(v: _View, paths: list[str]) -> None:
    """The paper's §7.2 analysis on a labelled data set, behind its button; then the ablation of chosen blocks."""
    st.subheader("Gates per class (Hu et al., TPAMI 2019, §7.2, Figs. 6–7)")
    big = zoo.get_entry(v.name).input_size[1] > 64
    a1, a2, a3 = st.columns(3)
    bound("se_data", "shapes", options=[s for s in _SETS if s != "folder"])  # a server folder is not in a link
    dataset = a1.selectbox("Labelled data", list(_SETS), format_func=_SETS.__getitem__, key="se_data")
    root = data_folder_picker(a1, "se_root") if dataset == "folder" else None
    bound("se_n", 10 if big else 50, lo=5, hi=30 if big else 100)
    n = int(a2.slider("Images per class", 5, 30 if big else 100, 10 if big else 50, key="se_n"))
    akey = (v.name, v.weights, v.stamp, dataset, n, root)
    if a3.button("Run the by-class analysis", key="se_run", type="primary",
                 disabled=dataset == "folder" and root is None):
        st.session_state["se_done"] = akey
    if st.session_state.get("se_done") != akey:
        st.info("Press **Run the by-class analysis** to read the gates of every image of the data set.")
        return
    with user_errors("Could not run the analysis: "):
        rows, _means, ds_classes, text = class_analysis(v.name, v.weights, v.stamp, dataset, n, root)
    show_figure(figs.class_means_figure([r for r in rows if r["last"]], ds_classes), key="se_class_means")
    show_figure(figs.specificity_figure(rows), key="se_spec")
    st.markdown(text)
    st.caption("Class specificity: the share of the gates' variance (over images and channels) explained by the "
               "class, adjusted for chance like an adjusted R². Stage: the blocks working at one map size.")
    ablation_section(v, paths, akey)


def ablation_section(v: _View, paths: list[str], akey: tuple) -> None:
    """Replace the chosen blocks' gates (by 1 or by their data-set mean) and measure what the network loses."""
    _name, _weights, _stamp, dataset, n, root = akey
    st.subheader("Ablation: switch gates off")
    b1, b2, b3 = st.columns([3, 2, 1])
    chosen = b1.multiselect("Blocks to ablate", paths, default=[paths[-1]], key=f"se_abl_{v.name}")
    mode = b2.radio("Replace their gates by", ["one", "mean"], horizontal=True, key="se_abl_mode",
                    format_func=lambda m: "1 (block = identity)" if m == "one" else "their data-set mean")
    if chosen and b3.button("Ablate", key="se_abl_run"):
        st.session_state["se_abl_done"] = (akey, tuple(chosen), mode)
    if chosen and st.session_state.get("se_abl_done") == (akey, tuple(chosen), mode):
        with user_errors("Could not ablate: "):
            r = ablation(v.name, v.weights, v.stamp, dataset, n, root, tuple(chosen), mode, v.digest, v.raw)
        m = st.columns(3)
        m[0].metric("Accuracy on the analysis set", f"{r['acc']:.1%}")
        m[1].metric("With the gates ablated", f"{r['acc_ablated']:.1%}",
                    delta=f"{100 * (r['acc_ablated'] - r['acc']):+.1f} pts")
        m[2].metric("Predictions changed", f"{r['changed']} of {r['n']}")
        t0, t1 = int(r["p0"].argmax()), int(r["p1"].argmax())
        st.caption(f"This image: {v.classes[t0]} ({r['p0'][t0]:.1%}) → {v.classes[t1]} ({r['p1'][t1]:.1%}) with "
                   f"{', '.join(chosen)} ablated.")


st.title("SE attention: which channels a block lets through")
st.markdown("A **squeeze-and-excitation** block (Hu et al., 2018) looks at the whole image, then multiplies each "
            "channel by a gate between 0 and 1. Here you see those gates for your image, how they depend on the "
            "class (the paper's §7.2 analysis, redone on your data), and what the network loses without them.")
view = model_and_image()
block_gates = this_image(view)
one_block(view, block_gates)
by_class(view, list(block_gates))
view_link()
