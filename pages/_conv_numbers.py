"""Network overview's second section: one unit of a convolution worked out on the network's own numbers, with
arrow buttons to step to the neighbouring units. Apart from the page script to keep both short."""
from __future__ import annotations

import numpy as np
import streamlit as st

from pages._common import show_figure, user_errors
from pages._weights import model_input, traced_model
from vizcore.arch.receptive_field import FieldTable
from vizcore.figures import conv_trace as figures
from vizcore.figures import receptive_field as rf_figures
from vizcore.inspect import conv_trace as ct

_MOVES = {"←": (0, -1), "↑": (-1, 0), "↓": (1, 0), "→": (0, 1)}


@st.cache_data(show_spinner="Tracing the unit through the layer…", max_entries=64)
def trace(name: str, weights: str, stamp: float, node: str, channel: int, unit: tuple[int, int], digest: str,
          _image: np.ndarray) -> ct.ConvTrace:
    model, table, lock = traced_model(name, weights, stamp)
    x = model_input(name, _image, model)
    with lock:
        return ct.trace_unit(model, table, x, node, channel, unit)


def _move(ki: str, kj: str, h: int, w: int, di: int, dj: int) -> None:
    st.session_state[ki] = min(max(int(st.session_state.get(ki, 0)) + di, 0), h - 1)
    st.session_state[kj] = min(max(int(st.session_state.get(kj, 0)) + dj, 0), w - 1)


def _steps_text(tr: ct.ConvTrace) -> list[str]:
    lines = []
    for s in tr.steps:
        if s.params:
            p = s.params
            lines.append(f"**{s.module}** ({s.op}, running statistics): ({s.value_in:.4f} − {p['mean']:.4f}) / "
                         f"√({p['var']:.4f} + {p['eps']:g}) × {p['weight']:.4f} + {p['bias']:.4f} = **{s.value:.4f}**")
        elif s.op == "ReLU":
            lines.append(f"**{s.module}** (ReLU): max(0, {s.value_in:.4f}) = **{s.value:.4f}**")
        elif s.op == "ReLU6":
            lines.append(f"**{s.module}** (ReLU6): min(max(0, {s.value_in:.4f}), 6) = **{s.value:.4f}**")
        else:
            lines.append(f"**{s.module}** ({s.op}): {s.op}({s.value_in:.4f}) = **{s.value:.4f}**")
    return lines


def conv_numbers(name: str, weights: str, stamp: float, table: FieldTable, digest: str, image: np.ndarray,
                 shown: np.ndarray) -> None:
    """The section: convolution, output channel and unit pickers, arrows, the numbers and what follows them."""
    convs = ct.conv_nodes(table)
    if not convs:
        st.info("This network has no Conv2d layer to trace.")
        return
    by = {n.node: n for n in convs}
    c1, c2 = st.columns([3, 1])
    node = c1.selectbox("Convolution", list(by), key=f"ov_conv_{name}",
                        format_func=lambda n: f"{by[n].module} · {by[n].out_shape[0]} maps of "
                                              f"{by[n].out_shape[1]}×{by[n].out_shape[2]}")
    nf = by[node]
    c_out, h, w = nf.out_shape
    channel = int(c2.number_input(f"Output channel (0–{c_out - 1})", 0, c_out - 1, 0, key=f"ov_ch_{name}_{node}"))
    ki, kj = f"ov_ci_{name}_{node}", f"ov_cj_{name}_{node}"
    st.session_state.setdefault(ki, 0)  # the top-left unit: it shows the zero padding at once
    st.session_state.setdefault(kj, 0)
    u1, u2, *arrows = st.columns([3, 3, 1, 1, 1, 1], vertical_alignment="bottom")
    i = int(u1.number_input(f"Unit row (0–{h - 1})", 0, h - 1, key=ki))
    j = int(u2.number_input(f"Unit column (0–{w - 1})", 0, w - 1, key=kj))
    for box, (label, (di, dj)) in zip(arrows, _MOVES.items(), strict=True):
        box.button(label, key=f"ov_move_{label}", on_click=_move, args=(ki, kj, h, w, di, dj),
                   help="step to the neighbouring unit", width="stretch")
    with user_errors("Could not trace this unit: "):
        tr = trace(name, weights, stamp, node, channel, (i, j), digest, image)
    _show(tr, table, shown, f"ov_inputs_{name}_{node}")


def _show(tr: ct.ConvTrace, table: FieldTable, shown: np.ndarray, pick_key: str) -> None:
    """The traced unit's numbers: what it reads, its weights and products, the sum, what follows, its field."""
    (i, j), channel = tr.unit, tr.channel
    n_in = len(tr.in_channels)
    st.markdown(
        f"Unit ({i}, {j}) of output channel {channel}: a {tr.kernel_size[0]}×{tr.kernel_size[1]} kernel over "
        f"{n_in} input channel{'s' if n_in > 1 else ''}"
        f"{f' (group {tr.in_channels[0] // n_in} of {tr.groups})' if tr.groups > 1 else ''}, stride {tr.stride[0]}, "
        f"padding {tr.padding[0]}, dilation {tr.dilation[0]}: it reads input rows {tr.rows[0]}…{tr.rows[-1]} and "
        f"columns {tr.cols[0]}…{tr.cols[-1]}" + (f" — {int(tr.padded.sum())} of its {tr.padded.size} positions "
                                                 f"fall in the {tr.padding_mode} padding" if tr.padded.any() else "")
        + ".")
    default = list(range(n_in)) if n_in <= 3 else figures.strongest_inputs(tr, 3)
    rows = default
    if n_in > 3:
        rows = st.multiselect("Input channels shown cell by cell (at most 4; default: the 3 that add most)",
                              list(range(n_in)), default=default, max_selections=4, key=pick_key,
                              format_func=lambda k: f"channel {tr.in_channels[k]}") or default
    show_figure(figures.numbers_figure(tr, rows), width="stretch", key="ov_numbers")
    if n_in > 1:
        show_figure(figures.contributions_figure(tr, rows), width="stretch", key="ov_contrib")

    s = tr.products.sum()
    m = st.columns(4)
    m[0].metric(f"Σ of {tr.products.size} products", f"{s:.4f}")
    m[1].metric("+ bias", f"{tr.bias:.4f}")
    m[2].metric("= sum (pre-activation)", f"{tr.sum:.4f}")
    m[3].metric("The layer's own output", f"{tr.output:.4f}")
    arithmetic = "TF32 (CUDA's default for convolutions)" if tr.tf32 else "float32"
    st.caption(f"The sum by hand (float64) and the layer's own output (caught by a hook in the forward pass) differ "
               f"by {abs(tr.sum - tr.output):.1e}, within {arithmetic} rounding ({tr.rounding:.0e}). Bias is 0 when the "
               "layer has none (a BatchNorm that follows adds its own shift).")
    lines = _steps_text(tr)
    if lines:
        st.markdown("**What follows the convolution at this unit:**\n\n" + "\n\n".join(f"{k + 1}. {t}" for k, t
                                                                                      in enumerate(lines)))
    if tr.activation is not None:
        st.markdown(f"Activation after the non-linearity: **{tr.activation:.4f}**"
                    + (" — this unit is off for this image." if tr.activation == 0 else "."))
    else:
        st.caption("No activation layer follows this convolution directly (a residual addition, a gate or an "
                   "activation written as a function comes first), so the trace stops at the value above.")
    if tr.pool is not None:
        if tr.pool.window is not None:
            show_figure(figures.pool_figure(tr.pool, (i, j)), width="stretch", key="ov_pool")
        else:
            st.markdown(f"**{tr.pool.module}** ({tr.pool.op}) pools rows {tr.pool.rows[0]}–{tr.pool.rows[1]} and "
                        f"columns {tr.pool.cols[0]}–{tr.pool.cols[1]} into pooled unit {tr.pool.unit}: "
                        f"**{tr.pool.value:.4f}**.")
    ub = tr.field
    _, in_h, in_w = table.input_size
    show_figure(rf_figures.rf_image_figure(shown, ub.box, ub.clipped, ub.centre,
                                           title=f"Unit ({i}, {j}) of {tr.module}: its receptive field on the "
                                                 f"{in_h}×{in_w} input"),
                width="stretch", key="ov_conv_rf")
    if abs(tr.sum - tr.output) > tr.rounding:
        st.warning("The hand-computed sum differs from the layer's output: this layer does more than a plain "
                   "convolution.")
