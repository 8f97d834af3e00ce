"""Architectures: per-layer shapes, parameters and multiply-adds of classic CNNs, side by side or custom-built.

Only the view and the chart on screen are computed (a segmented control, not tabs: Streamlit runs every tab's
body on every rerun). Each zoo summary is traced once per (model, input size) on PyTorch's "meta" device —
shapes and FLOP counts without allocating weights or computing a single value (VGG-16 at 224 is 15 G
multiply-adds on the CPU otherwise) — and kept for the whole server; the numbers are the same as a real
forward pass (tests/pages/test_architectures_page.py checks every zoo model).
"""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import pandas as pd
import streamlit as st

from pages._arch_trace import trace
from pages._common import (
    bound,
    show_figure,
    user_errors,
    view_link,
    words,
)
from pages._own_weights import model_select, show_flash, upload_form
from vizcore.arch import classic_tables, spec
from vizcore.arch.memory import decimal_bytes, training_memory
from vizcore.arch.own_model import SPEC
from vizcore.arch.summary import summarize
from vizcore.figures import arch as figures
from vizcore.models import registry as zoo

through_app()  # a fresh server's first deep links rerun through app.py's navigation

VIEWS = ["One model", "Compare models", "Custom stack", "Classic tables"]
COMPARED = ["resnet18", "mobilenet_v2", "efficientnet_b0"]  # the models compared at first
OPTIMIZERS = {"sgd": "SGD (no state)", "momentum": "SGD + momentum (1 value / parameter)",
              "adam": "Adam (2 values / parameter)"}
METRICS = {"spatial": "Spatial size", "channels": "Channels", "params": "Parameters", "macs": "Multiply-adds"}
COUNT = st.column_config.NumberColumn(format="localized")  # 11,689,512: thousands separators


@st.cache_resource(show_spinner="Tracing the model…", max_entries=64)
def model_summary(name: str, shape: tuple[int, int, int]) -> dict:
    """:func:`trace`, once per (model, input size) for the whole server (read-only: never mutate the result)."""
    return trace(name, shape)


@st.cache_resource(show_spinner="Building the stack…", max_entries=32)
def spec_summary(text: str) -> dict:
    built = spec.check(text)
    s = summarize(built.model, built.input_shape)
    rows = s.to_rows()
    lines = {i + 1: ln.split("#", 1)[0].strip() for i, ln in enumerate(text.splitlines())}
    owners = built.layer_lines
    for r in rows:  # "3" -> "line 5: conv", "7.fc1" -> "line 9: se · fc1" (the spec line and its operation)
        top, _, sub = r["name"].partition(".")
        if top.isdigit() and int(top) < len(owners):
            i = int(top)
            n = owners[i]
            op = lines.get(n, "").split()[0] if lines.get(n) else r["type"]
            # a line that builds two modules (fc after a feature map: Flatten, then Linear) names the helper
            helper = f" · {r['type'].lower()}" if not sub and i + 1 < len(owners) and owners[i + 1] == n else ""
            r["name"] = f"line {n}: {op}" + (f" · {sub}" if sub else helper)
    return {"rows": rows, "params": s.total_params, "trainable": s.trainable_params, "macs": s.total_macs,
            "output": s.output_shape, "stages": s.stages, "input": built.input_shape,
            "activation_bytes": s.activation_bytes}


@st.cache_data(max_entries=64)
def published(name: str) -> dict | None:
    entry = zoo.get_entry(name)
    if not entry.tv_name:
        return None
    from torchvision.models import get_model_weights

    meta = get_model_weights(entry.tv_name).DEFAULT.meta
    return {"params": meta["num_params"], "gmacs": meta["_ops"]}


def _fmt(v: object) -> str:
    """A layer setting as text: '3×3', '2', or '' for none (one type per column: Arrow needs it)."""
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return "×".join(str(x) for x in v)
    return str(v)


def layer_table(rows: list[dict]) -> pd.DataFrame:
    """One row per leaf layer: its settings, shapes, parameters, multiply-adds and output bytes."""
    return pd.DataFrame([{
        "#": r["index"], "name": r["name"], "type": r["type"], "kernel": _fmt(r["kernel"]),
        "stride": _fmt(r["stride"]), "padding": _fmt(r["padding"]), "dilation": _fmt(r["dilation"]),
        "groups": _fmt(r["groups"]), "input": _fmt(r["in_shape"]),
        "output": _fmt(r["out_shape"]), "params": r["params"], "MACs": r["macs"], "output bytes": r["output_bytes"],
        "trainable": {True: "yes", False: "frozen", None: ""}[r["trainable"]],
    } for r in rows])


def _choice(label: str, options: list[str], key: str, default: str, fmt=None) -> str:
    """A segmented control that always has a value (clicking the selected segment again would clear it)."""
    if st.session_state.get(key) is None:  # first visit, or the segment was clicked off
        st.session_state[key] = default
    bound(key, default, options=words(options))
    picked = st.segmented_control(label, options, key=key, **({"format_func": fmt} if fmt else {}))
    return picked if picked is not None else default


def show_memory(data: dict, key: str) -> None:
    """Activations of one image and what a training step of a batch needs (float32)."""
    st.markdown("**Memory** (float32): training keeps every layer's output for the backward pass; inference "
                "needs only two consecutive layers' outputs at a time.")
    c1, c2, c3 = st.columns([1, 1, 2])
    batch = int(c1.number_input("Training batch", 1, 100_000, 32, key=f"{key}_batch"))
    opt = c2.selectbox("Optimizer", list(OPTIMIZERS), key=f"{key}_opt", format_func=OPTIMIZERS.get)
    mem = training_memory(data["activation_bytes"], data["params"], data["trainable"], batch, opt)
    c3.metric("Activations / image", decimal_bytes(data["activation_bytes"]))
    m1, m2, m3 = st.columns(3)
    m1.metric(f"Activations × {batch}", decimal_bytes(mem.activations))
    m2.metric("Weights + gradients + optimizer state", decimal_bytes(mem.parameters + mem.gradients +
                                                                     mem.optimizer_state))
    m3.metric("Training step", decimal_bytes(mem.total))


def show_summary(data: dict, key: str) -> None:
    """Totals, the layer table, memory, and one chart per layer of a summary (`key` prefixes the widget keys)."""
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Parameters", f"{data['params']:,}")
    m2.metric("Trainable", f"{data['trainable']:,}")
    m3.metric("Multiply-adds / image", f"{data['macs'] / 1e9:.3f} G" if data["macs"] > 1e8 else f"{data['macs']:,}")
    m4.metric("Layers (leaf calls)", len(data["rows"]))
    st.dataframe(layer_table(data["rows"]), hide_index=True, width="stretch", height=420,
                 column_config={"params": COUNT, "MACs": COUNT, "output bytes": COUNT})
    show_memory(data, key)
    metric = _choice("Chart per layer", list(METRICS), f"{key}_chart", "spatial", METRICS.get)
    show_figure(figures.layer_metric_figure(data["rows"], metric), width="stretch", key=f"{key}_{metric}")


def one_model_view() -> None:
    """One zoo model at an input size of your choice: what it is, torchvision's published counts, its layers."""
    names = zoo.list_models()
    name = model_select(st, "Model", "arch_model", names, "resnet18")
    entry = zoo.get_entry(name)
    c1, c2, c3 = st.columns([1, 1, 3])
    h = c1.number_input("Input height (px)", 1, 1024, entry.input_size[1], key=f"arch_h_{name}")
    w = c2.number_input("Input width (px)", 1, 1024, entry.input_size[2], key=f"arch_w_{name}")
    c3.markdown(f"**{entry.title}** — {entry.paper}  \nInput {entry.input_size[0]}×{entry.input_size[1]}×"
                f"{entry.input_size[2]}, {entry.num_classes} classes, built by {entry.source}." +
                (f"  \n{entry.note}" if entry.note else ""))
    with user_errors(f"{entry.title} cannot take a {h}×{w} input: "):
        data = model_summary(name, (entry.input_size[0], int(h), int(w)))
    pub = published(name)
    if pub and (h, w) == entry.input_size[1:]:
        ok = pub["params"] == data["params"] and round(data["macs"] / 1e9, 3) == pub["gmacs"]
        st.caption(f"torchvision publishes {pub['params']:,} parameters and {pub['gmacs']} GMACs for this model "
                   f"({entry.input_size[1]}×{entry.input_size[2]}): {'✓ matches' if ok else '✗ differs from'} the "
                   "table below.")
    show_summary(data, "one")


def compare_view() -> None:
    """Two to four zoo models side by side: their totals, then their stages lined up by resolution."""
    bound("arch_compare", COMPARED, options=zoo.list_models(), many=True, most=4)
    picks = st.multiselect("Models (2–4)", zoo.list_models(), default=COMPARED, max_selections=4, key="arch_compare",
                           format_func=lambda n: zoo.get_entry(n).title)
    if len(picks) < 2:
        st.info("Pick at least two models to compare.")
        return
    results = {zoo.get_entry(n).title: model_summary(n, zoo.get_entry(n).input_size) for n in picks}
    st.dataframe(pd.DataFrame([{
        "model": t, "input": _fmt(zoo.get_entry(n).input_size), "parameters": d["params"],
        "multiply-adds (G)": round(d["macs"] / 1e9, 3), "layers": len(d["rows"]), "stages": len(d["stages"]),
    } for n, (t, d) in zip(picks, results.items())]), hide_index=True, width="stretch",
        column_config={"parameters": COUNT, "layers": COUNT})
    show_figure(figures.totals_comparison_figure({t: d for t, d in results.items()}),
                width="stretch", key="cmp_totals")
    metric = _choice("Per stage", ["macs", "params", "layers"], "cmp_metric", "macs",
                     {"macs": "multiply-adds", "params": "parameters", "layers": "layers"}.get)
    show_figure(figures.stage_comparison_figure({t: d["stages"] for t, d in results.items()}, metric),
                width="stretch", key="cmp_stages")
    st.caption("A stage is a run of layers at one output resolution; the bars line up by resolution, so each "
               "model's stages at the same size stand side by side (hover a bar for its stage number).")


def custom_stack_view() -> str:
    """A stack typed one layer per line, built and checked as it goes, and its summary; returns the spec's text."""
    st.markdown("Type a stack, one layer per line. Channels flow from layer to layer; sizes are checked as it builds.")
    with st.expander("Spec grammar"):
        st.code(spec.GRAMMAR, language=None)
    text = st.text_area("Layers", spec.EXAMPLE, height=300, key="arch_spec")
    with user_errors("Cannot build this stack — "):
        data = spec_summary(text)
    st.success(f"Built: input {_fmt(data['input'])} → output {_fmt(data['output'])}")
    show_summary(data, "custom")
    st.caption("The same spec works from the command line: `python -m vizcore summary --spec my_stack.txt --json`.")
    return text


def own_weights_section(text: str) -> None:
    """Weights trained elsewhere for the typed stack: uploaded, the stack joins the inspection pages' model lists."""
    st.subheader("Your weights for this stack")
    st.markdown("Trained this stack elsewhere? Upload its weights: the file's tensors set the input channels and the "
                "number of classes (the `input` and last `fc` lines follow them), and the stack then appears in the "
                "model list of every inspection page (Receptive field, Features, Grad-CAM, Adversarial examples, and "
                "SE attention when it has an `se` layer) for this browser session. From the command line: "
                "`python -m vizcore cam --model spec:my_stack.txt --weights my_stack.safetensors --json`.")
    show_flash(st)
    upload_form(st, SPEC, "arch_spec_own", None, spec_text=text)


def lenet_section() -> None:
    """LeNet-5 as the paper's Fig. 2 draws it, with the paper's count of trainable parameters."""
    st.subheader("LeNet-5 (LeCun et al., 1998, Fig. 2)")
    lenet = model_summary("lenet5_paper", (1, 32, 32))
    st.dataframe(pd.DataFrame(classic_tables.lenet_paper_rows(lenet["rows"])), hide_index=True, width="stretch",
                 column_config={"params": COUNT})
    st.caption("32 → 28 → 14 → 10 → 5 → 1 with 6, 16 and 120 feature maps: each 5×5 conv without padding takes 4 "
               "pixels off, each 2×2 subsampling halves the size. C3's maps read 3, 4 or 6 of S2's maps (Table I), "
               "S2 and S4 have a trainable coefficient and bias per map, and the 10 outputs are RBF units with fixed "
               f"centres: {lenet['trainable']:,} trainable parameters, as the paper counts.")


def alexnet_widths_section() -> None:
    """AlexNet's widths: the paper's, in one stream and split over two GPUs, against torchvision's."""
    st.subheader("AlexNet: the paper's widths vs torchvision's")
    paper_w = model_summary("alexnet_paper", (3, 227, 227))
    grouped = model_summary("alexnet_paper_grouped", (3, 227, 227))
    tv_w = model_summary("alexnet", (3, 224, 224))
    st.dataframe(pd.DataFrame(classic_tables.alexnet_width_rows(paper_w["rows"], grouped["rows"], tv_w["rows"])),
                 hide_index=True, width="stretch", column_config={c: COUNT for c in (
                     "params (paper, one stream)", "params (paper, two GPUs)", "params (torchvision)")})
    st.caption(f"The paper: {paper_w['params']:,} parameters in one stream, {grouped['params']:,} with conv2, conv4 "
               f"and conv5 split over two GPUs (its \"60 million\"), local response normalisation after conv1 and "
               f"conv2. torchvision: {tv_w['params']:,}, no LRN.")


def _ksp(r: dict) -> str:
    """A layer's kernel, stride and padding as one cell: 'kernel / stride / padding'."""
    return f"{_fmt(r['kernel'])} / {_fmt(r['stride'])} / {_fmt(r['padding'])}"


def alexnet_input_section() -> None:
    """AlexNet's convolutions and pools at the paper's 227 input and at torchvision's 224 with padding 2."""
    st.subheader("AlexNet: the paper's 227 input vs torchvision's 224 with padding 2")
    paper = model_summary("alexnet_227", (3, 227, 227))
    tv = model_summary("alexnet", (3, 224, 224))
    sp = [r for r in paper["rows"] if r["type"] in ("Conv2d", "MaxPool2d")]
    stv = [r for r in tv["rows"] if r["type"] in ("Conv2d", "MaxPool2d")]
    st.dataframe(pd.DataFrame([{"layer": a["name"], "type": a["type"], "kernel/stride/pad (227)": _ksp(a),
                                "output (227, no pad)": _fmt(a["out_shape"]), "kernel/stride/pad (224)": _ksp(b),
                                "output (224, pad 2)": _fmt(b["out_shape"])} for a, b in zip(sp, stv)]),
                 hide_index=True, width="stretch")
    st.caption("(227 − 11)/4 + 1 = 55 exactly; (224 + 2·2 − 11)/4 + 1 = 55.25 → 55: both give 55, 27, 27, 13, 13, "
               "13, 13 → 6. torchvision uses 64 conv1 filters (the paper: 96, split over two GPUs).")


st.title("Architectures")
st.caption("Every number below comes from one forward pass traced by torch: shapes from torch itself, multiply-adds "
           "from torch's FLOP counter (MACs = FLOPs / 2, the convention of torchvision's published GFLOPS).")
view = _choice("View", VIEWS, "arch_view", VIEWS[0])
if view == "One model":
    one_model_view()
elif view == "Compare models":
    compare_view()
elif view == "Custom stack":
    own_weights_section(custom_stack_view())
else:  # Classic tables
    lenet_section()
    alexnet_widths_section()
    alexnet_input_section()
view_link()
