"""Conv Arithmetic: how kernel, stride, padding and dilation set a layer's output size, parameters and cost.

Impossible settings are explained where the result would be (the inputs stay in view) with what would work
instead: the largest kernel, the smallest padding, the group counts that divide the channels.
"""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

from dataclasses import dataclass

import streamlit as st

from pages._common import (
    bound,
    show_figure,
    view_link,
)
from pages._deformable import deformable_section
from vizcore.arch import fixes
from vizcore.arch.geometry import ConvGeometry, Explained, explain, separable_cost
from vizcore.arch.memory import decimal_bytes
from vizcore.figures import geometry as figures

through_app()  # a fresh server's first deep links rerun through app.py's navigation

COUNT = st.column_config.NumberColumn(format="localized")  # 225,000,000: thousands separators
LATEX = {
    "conv": r"O = \left\lfloor \frac{I + 2P - D(K-1) - 1}{S} \right\rfloor + 1",
    "pool": r"O = \left\lfloor \frac{I + 2P - D(K-1) - 1}{S} \right\rfloor + 1",
    "pool_ceil": r"O = \left\lceil \frac{I + 2P - D(K-1) - 1}{S} \right\rceil + 1",
    "transposed": r"O = (I - 1)\,S - 2P + D(K-1) + \text{output\_padding} + 1",
}
KINDS = {"Convolution": "conv", "Pooling": "pool", "Transposed convolution": "transposed"}
# the numbers a link carries: key -> (smallest, largest, default)
NUMBERS = {"ca_h": (1, 4096, 7), "ca_w": (1, 4096, 7), "ca_k": (1, 64, 3), "ca_s": (1, 64, 1), "ca_d": (1, 16, 1),
           "ca_p": (0, 64, 0), "ca_op": (0, 63, 0),
           "ca_cin": (1, 4096, 3), "ca_cout": (1, 4096, 16), "ca_g": (1, 4096, 1), "ca_batch": (1, 100_000, 1)}


def _bound_number(key: str, default: int | None = None) -> int:
    """Bind the number input ``key`` to the URL; returns its default."""
    lo, hi, d = NUMBERS[key]
    d = d if default is None else default
    bound(key, d, lo=lo, hi=hi)
    return d


def _hands_on_ml() -> None:
    """Géron's memory example (Hands-On ML, ch. 14): set in a callback, before the widgets are drawn."""
    st.session_state.update(ca_kind="Convolution", ca_h=150, ca_w=100, ca_k=5, ca_s=1, ca_d=1, ca_pmode="same",
                            ca_cin=3, ca_cout=200, ca_g=1, ca_bias=True, ca_batch=100)


@dataclass
class _Layer:
    """The layer as set on the left, the widgets' values as they come; the channels are filled in last."""

    kind: str  # "conv", "pool" or "transposed"
    height: int
    width: int
    kernel: int
    stride: int
    dilation: int
    padding: int | str  # pixels per side, or "same" / "valid"
    pool_mode: str
    ceil_mode: bool
    out_pad: int
    cin: int = 1
    cout: int = 1
    groups: int = 1
    bias: bool = True
    batch: int = 1

    @property
    def latex(self) -> str:
        """The general formula of the output size for this kind of layer (rounding up with ceil_mode)."""
        return LATEX[self.kind if not (self.kind == "pool" and self.ceil_mode) else "pool_ceil"]


def settings() -> _Layer:
    """The left column: the preset, the kind of layer, its window and padding, its channels and the batch."""
    st.button("Preset: Hands-On ML's memory example", on_click=_hands_on_ml, key="ca_preset_homl",
              help="A 5×5 convolution with 200 maps on a 150×100 RGB image, padding 'same', batch of 100")
    bound("ca_kind", "Convolution", options=KINDS)
    kind = KINDS[st.radio("Layer", list(KINDS), horizontal=True, key="ca_kind")]
    layer = _window(kind)
    _channels(layer)
    return layer


def _window(kind: str) -> _Layer:
    """Input size, kernel, stride, dilation and padding; pooling's mode and rounding, or the output padding."""
    c1, c2 = st.columns(2)
    height = c1.number_input("Input height (px)", 1, 4096, _bound_number("ca_h"), key="ca_h")
    width = c2.number_input("Input width (px)", 1, 4096, _bound_number("ca_w"), key="ca_w")
    kernel = c1.number_input("Kernel size K", 1, 64, _bound_number("ca_k"), key="ca_k")
    stride = c2.number_input("Stride S", 1, 64, _bound_number("ca_s", 2 if kind == "pool" else 1), key="ca_s")
    dilation = c1.number_input("Dilation D", 1, 16, _bound_number("ca_d"), key="ca_d")
    pad_modes = ["number", "same", "valid"] if kind == "conv" else ["number"]
    bound("ca_pmode", "number", options=pad_modes)
    pad_mode = c2.selectbox("Padding", pad_modes, key="ca_pmode",
                            help="'same' keeps O = ceil(I/S); 'valid' means no padding")
    padding: int | str = pad_mode
    if pad_mode == "number":
        padding = st.number_input("Padding P (px per side)", 0, 64, _bound_number("ca_p", 1 if kind == "conv" else 0),
                                  key="ca_p")
    pool_mode, ceil_mode, out_pad = "max", False, 0
    if kind == "pool":
        bound("ca_pool", "max", options=["max", "avg"])
        pool_mode = st.radio("Pooling", ["max", "avg"], horizontal=True, key="ca_pool")
        bound("ca_ceil", False)
        ceil_mode = st.checkbox("ceil_mode (round the output size up)", key="ca_ceil")
    if kind == "transposed":
        out_pad = st.number_input("Output padding", 0, 63, _bound_number("ca_op"), key="ca_op")
    return _Layer(kind, height, width, kernel, stride, dilation, padding, pool_mode, ceil_mode, out_pad)


def _channels(layer: _Layer) -> None:
    """C_in, C_out, groups and bias (the last three off for pooling), and the batch; sets them on ``layer``."""
    pool = layer.kind == "pool"
    c1, c2, c3 = st.columns(3)
    layer.cin = c1.number_input("C_in", 1, 4096, _bound_number("ca_cin"), key="ca_cin")
    layer.cout = c2.number_input("C_out", 1, 4096, _bound_number("ca_cout"), key="ca_cout", disabled=pool)
    layer.groups = c3.number_input("Groups", 1, 4096, _bound_number("ca_g"), key="ca_g", disabled=pool)
    bound("ca_bias", True)
    layer.bias = st.checkbox("Bias", value=True, key="ca_bias", disabled=pool)
    layer.batch = st.number_input("Batch (instances)", 1, 100_000, _bound_number("ca_batch"), key="ca_batch",
                                  help="for the memory of the batch's output maps")


def geometry(layer: _Layer) -> tuple[ConvGeometry, Explained] | str:
    """The layer's geometry and its explanation, or why the settings are impossible, in words."""
    try:
        geo = ConvGeometry(int(layer.height), int(layer.width), int(layer.kernel), int(layer.stride), layer.padding,
                           int(layer.dilation), layer.kind, layer.pool_mode, layer.ceil_mode, int(layer.out_pad),
                           int(layer.cin), int(layer.cout), int(layer.groups), layer.bias)
        return geo, explain(geo)
    except (ValueError, TypeError) as exc:
        return fixes.reason(exc)


@st.cache_data(show_spinner="Drawing the animation…", max_entries=8)  # figures are bounded (~3 MB each)
def _animation(g: ConvGeometry):
    fig = figures.sliding_window_figure(g, explain(g))
    # Play/Pause on a row of their own, the position slider (and its label) on the row below: side by side they
    # overlapped the slider's label as soon as the chart was narrower than the page
    fig.update_layout(height=(fig.layout.height or 620) + 60, margin=dict(b=230))
    if fig.layout.updatemenus:
        fig.layout.updatemenus[0].update(x=0, xanchor="left", y=-0.2, yanchor="top", pad=dict(t=0, r=0, b=0, l=0))
    if fig.layout.sliders:
        fig.layout.sliders[0].update(x=0, len=1.0, y=-0.32, yanchor="top", pad=dict(t=30, b=10))
    return fig


def impossible(layer: _Layer, error: str) -> None:
    """Why the settings are impossible, what would work instead, and the general formula."""
    st.error(f"Impossible settings: {error}")
    hints = fixes.what_would_work(layer.kind, min(int(layer.height), int(layer.width)), int(layer.kernel),
                                  int(layer.stride), layer.padding, int(layer.dilation), int(layer.cin),
                                  int(layer.cout), int(layer.groups), int(layer.out_pad))
    if hints:
        st.markdown("**What would work** (everything else as set on the left):\n" +
                    "\n".join(f"- {h}" for h in hints))
    st.latex(layer.latex)
    st.caption("Change a setting on the left: the output size, the formula with your numbers and the "
               "animation come back as soon as the layer is possible.")


def results(layer: _Layer, geo: ConvGeometry, result: Explained) -> None:
    """Output size, parameters, cost and memory; the formula with the numbers; the separable form; the caveats;
    the animation."""
    m1, m2, m3 = st.columns(3)
    m1.metric("Output (C×H×W)", f"{result.out_channels}×{result.out_height}×{result.out_width}")
    m2.metric("Parameters", f"{result.params:,}")
    m3.metric("Multiply-adds", f"{result.macs:,}" if layer.kind != "pool" else "— (no MACs)")
    m1.metric("Output memory / instance", f"{result.output_bytes:,} bytes", help="C×H×W float32 values × 4 bytes")
    m2.metric(f"Output memory × {int(layer.batch)}", decimal_bytes(int(layer.batch) * result.output_bytes),
              help="Training keeps this output until the backward pass has used it; inference can free it as soon "
                   "as the next layer has read it.")
    st.latex(layer.latex)
    st.code("\n".join(result.filled), language=None)
    if layer.kind == "conv":
        st.caption(f"Parameters = (K·K·C_in/groups + bias)·C_out = ({layer.kernel}·{layer.kernel}·{layer.cin}/"
                   f"{layer.groups} + {int(layer.bias)})·{layer.cout} = {result.params:,}.  "
                   "Multiply-adds = K·K·C_in/groups · C_out · O_h · O_w.")
    if layer.kind == "conv" and int(layer.groups) == 1:
        _separable(layer, result)
    if result.pad[0] != result.pad[1] or result.pad[2] != result.pad[3]:
        st.info(f"Uneven padding: top {result.pad[0]}, bottom {result.pad[1]}, left {result.pad[2]}, "
                f"right {result.pad[3]} pixels.")
    for w in result.warnings:
        st.warning(w)
    if layer.kind == "transposed":
        st.info("A transposed convolution spreads each input pixel over a K×K patch of the output (stride "
                "spaces the patches); the animation is shown for convolution and pooling.")
    elif (too_large := figures.animation_limit(geo, result)) is not None:
        st.info(too_large)
    else:
        show_figure(_animation(geo), width="stretch", key="ca_anim")


def _separable(layer: _Layer, result: Explained) -> None:
    """The depthwise-separable form of the convolution (MobileNets): its parameters and cost against the layer's."""
    k, cin, cout = layer.kernel, layer.cin, layer.cout
    sep = separable_cost(int(cin), int(cout), int(k), result.out_height, result.out_width)
    verdict = (f"{sep.ratio:.1f}× cheaper" if sep.ratio >= 1 else
               f"{(1 / sep.ratio - 1) * 100:.0f}% dearer")
    st.markdown(f"**Depthwise-separable form** ({k}×{k} depthwise on {cin} maps, then 1×1 to {cout}): {verdict}.")
    st.dataframe({"": ["standard", "depthwise-separable"],
                  "parameters (no bias)": [sep.standard_params, sep.separable_params],
                  "multiply-adds": [sep.standard_macs, sep.separable_macs]}, hide_index=True,
                 column_config={"parameters (no bias)": COUNT, "multiply-adds": COUNT})
    st.caption("Cost ratio = 1 / (1/C_out + 1/K²) (MobileNets, §3.1): it does not depend on C_in. Close to K² "
               "for wide layers (8.7× at 256 maps with 3×3), below 1 when the output has very few maps.")


st.title("Conv Arithmetic")
st.caption("Set a layer and see its output size, the formula with your numbers, its parameters and cost, "
           "and the kernel sliding over the padded input.")
settings_col, results_col = st.columns([1, 2], gap="large")
below = st.container()  # the deformable section, under both columns whatever happens in them
with settings_col:
    ca_layer = settings()
ca_outcome = geometry(ca_layer)
with results_col:
    if isinstance(ca_outcome, str):
        impossible(ca_layer, ca_outcome)
        with below:
            deformable_section()
        view_link()
        st.stop()
    results(ca_layer, *ca_outcome)
with below:
    deformable_section()
view_link()
