"""Figures of one unit's convolution on real numbers (CNN Explainer's convolution view, Wang et al., IEEE VIS 2020):
input patch, kernel and their products with every number written in its cell, each input channel's share of the
sum, and the pooling window the unit falls in."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.grid import axis_names, grid_layout, trace_axes
from vizcore.figures.palette import BLUE, GREY, LIGHT_GREY, ORANGE, RED
from vizcore.inspect.conv_trace import ConvTrace, PoolStep

_DIVERGING = "RdBu_r"  # negative blue, positive red, zero white


def _number(v: float) -> str:
    """Two decimals; exact zeros as 0 and tiny values as ±0.00 would hide their sign: ≈0."""
    if v == 0:
        return "0"
    return f"{v:.2f}" if abs(v) >= 0.005 else "≈0"


def _cells(values: np.ndarray, padded: np.ndarray | None = None) -> list[list[str]]:
    out = []
    for r, row in enumerate(values):
        out.append([("0<br>pad" if padded is not None and padded[r, c] else _number(float(v)))
                    for c, v in enumerate(row)])
    return out


def strongest_inputs(tr: ConvTrace, n: int = 3) -> list[int]:
    """Positions (within ``tr.in_channels``) of the n input channels whose products add most to the sum, in |Σ|."""
    share = np.abs(tr.products.reshape(len(tr.in_channels), -1).sum(1))
    return [int(k) for k in np.argsort(-share, kind="stable")[:n]]


def numbers_figure(tr: ConvTrace, rows: Sequence[int]) -> go.Figure:
    """For each input channel position in ``rows``: the patch, the kernel and their products, numbers in the cells.

    Padding cells read "0 pad". Colours: diverging around 0, one scale per panel kind over the rows shown.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("expected at least one input channel to show, got none")
    prods = tr.products
    titles = []
    for r in rows:
        ch = tr.in_channels[r]
        titles += [f"input channel {ch}: patch", f"kernel w[{tr.channel}, {ch}]",
                   f"patch × kernel: Σ = {prods[r].sum():.3f}"]
    layout = grid_layout(len(rows), 3, titles, horizontal_spacing=0.06,
                         vertical_spacing=0.3 / len(rows) if len(rows) > 1 else 0.0)
    for note in layout["annotations"]:  # the subplot titles
        note["font"] = {**note.get("font", {}), "size": 12}
    kh, kw = tr.kernel_size
    traces = []
    for kind, data in enumerate((tr.patch, tr.kernel, prods)):
        lim = float(np.abs(data[rows]).max()) or 1.0
        for n, r in enumerate(rows):
            text = _cells(data[r], tr.padded if kind == 0 else None)
            rr = [str(v) for v in tr.rows] if kind != 1 else [str(a) for a in range(kh)]
            cc = [str(v) for v in tr.cols] if kind != 1 else [str(b) for b in range(kw)]
            traces.append(go.Heatmap(z=data[r], x=cc, y=rr, text=text, texttemplate="%{text}", zmid=0, zmin=-lim,
                                     zmax=lim, colorscale=_DIVERGING, showscale=False, xgap=2, ygap=2,
                                     textfont=dict(size=11 if kh * kw <= 25 else 8),
                                     hovertemplate="row %{y}, column %{x}: %{z:.5g}<extra></extra>",
                                     **trace_axes(n + 1, kind + 1, 3)))
            xa, ya = axis_names(n + 1, kind + 1, 3)
            last = n == len(rows) - 1
            layout[ya].update(autorange="reversed", type="category")
            layout[xa].update(type="category")
            if last:
                layout[ya]["title"] = {"text": "input row" if kind != 1 else "kernel row"}
                layout[xa]["title"] = {"text": "input column" if kind != 1 else "kernel column"}
    layout.update(title={"text": f"{tr.module}, output channel {tr.channel}, unit {tr.unit}: what it reads, its "
                                 "weights and their products"},
                  height=290 * len(rows) + 120, margin=dict(l=60, r=20, t=90, b=50))
    return go.Figure(data=traces, layout=layout)  # one validation of the whole figure


def contributions_figure(tr: ConvTrace, shown: Sequence[int] = ()) -> go.Figure:
    """Σ of patch × kernel per input channel (they add up, with the bias, to the unit's output); ``shown``
    (positions in ``tr.in_channels``) are coloured."""
    sums = tr.products.reshape(len(tr.in_channels), -1).sum(1)
    colours = [ORANGE if k in set(shown) else (RED if v > 0 else BLUE) for k, v in enumerate(sums)]
    fig = go.Figure(go.Bar(x=list(tr.in_channels), y=sums, marker_color=colours,
                           hovertemplate="input channel %{x}: Σ %{y:.4g}<extra></extra>"))
    fig.add_hline(y=0, line_color=GREY, line_width=1)
    fig.update_xaxes(title_text="input channel (orange: shown cell by cell above)", type="category")
    fig.update_yaxes(title_text="Σ patch × kernel (activation units)")
    fig.update_layout(title=f"Each input channel's part of the sum: {len(sums)} parts, total {sums.sum():.4f}",
                      height=300, margin=dict(l=60, r=20, t=60, b=50), showlegend=False)
    return fig


def pool_figure(pool: PoolStep, unit: tuple[int, int]) -> go.Figure:
    """The pooling window (its input values, padding blank) with the traced unit outlined and the window's
    largest value marked."""
    if pool.window is None:
        raise ValueError(f"expected a pooling window of at most 16×16 values, got rows {pool.rows}, cols {pool.cols}")
    w = pool.window
    rows = [str(r) for r in range(pool.rows[0], pool.rows[1] + 1)]
    cols = [str(c) for c in range(pool.cols[0], pool.cols[1] + 1)]
    text = [["pad" if np.isnan(v) else f"{v:.2f}" for v in row] for row in w]
    fig = go.Figure(go.Heatmap(z=np.nan_to_num(w, nan=0.0), x=cols, y=rows, text=text, texttemplate="%{text}",
                               colorscale=[[0, "white"], [1, ORANGE]], showscale=False, xgap=2, ygap=2,
                               hovertemplate="row %{y}, column %{x}: %{z:.4g}<extra></extra>"))
    r, c = unit[0] - pool.rows[0], unit[1] - pool.cols[0]
    fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5, line=dict(color=RED, width=3))
    if pool.op.startswith(("Max", "AdaptiveMax")) and np.isfinite(w).any():
        mr, mc = np.unravel_index(int(np.nanargmax(w)), w.shape)
        fig.add_annotation(x=int(mc), y=int(mr), text="<b>max</b>", showarrow=False, yshift=-14,
                           font=dict(color=RED, size=11))
    fig.update_yaxes(autorange="reversed", type="category", title_text="row of the map")
    fig.update_xaxes(type="category", title_text="column of the map")
    kind = "largest" if "Max" in pool.op else "mean"
    fig.update_layout(title=f"{pool.module} ({pool.op}): window of pooled unit {pool.unit} → its {kind} = "
                            f"{pool.value:.4f}", height=max(260, 40 * len(rows) + 140),
                      margin=dict(l=60, r=20, t=60, b=50), plot_bgcolor=LIGHT_GREY)
    return fig
