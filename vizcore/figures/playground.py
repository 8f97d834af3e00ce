"""Figures of the training playground: the loss as it trains and the confusion matrix on held-out images.

The filters and activation maps reuse :mod:`vizcore.figures.features`. These figures are redrawn on every tick
of a running playground, so they are built from plain dicts and not re-validated by plotly (as
``training.live_curves_figure``); their tests build them once with validation.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.palette import BLUE, GREY, RED, rgba

MAX_POINTS = 2000  # points per line of the live loss curve


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start): (n,) -> (n,)."""
    v = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise ValueError(f"expected a window of at least 1, got {window}")
    c = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(1, len(v) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def loss_curve_figure(losses: Sequence[float], held_out: Sequence[tuple[int, float]] = (),
                      chance: float | None = None, title: str = "Loss while it trains",
                      validate: bool = False) -> go.Figure:
    """Batch loss per step (faint), its moving average over 20 steps, and held-out loss points (step, loss);
    ``chance``: the loss of a uniform guess, ln K, as a dotted line. Long runs are drawn with at most
    ``MAX_POINTS`` points per line (every k-th step), so a redraw stays cheap."""
    steps = np.arange(1, len(losses) + 1, dtype=float)
    traces: list[dict] = []
    if len(losses):
        every = -(-len(losses) // MAX_POINTS)
        traces.append(dict(type="scatter", x=steps[::every], y=np.asarray(losses, float)[::every], mode="lines",
                           name="batch loss" if every == 1 else f"batch loss (one step in {every})",
                           line=dict(color=rgba(BLUE, 0.35), width=1)))
        traces.append(dict(type="scatter", x=steps[::every], y=moving_average(losses, 20)[::every], mode="lines",
                           name="mean of the last 20 batches", line=dict(color=BLUE, width=2)))
    held_out = list(held_out)[-MAX_POINTS:]
    if held_out:
        xs, ys = zip(*held_out, strict=True)
        traces.append(dict(type="scatter", x=np.asarray(xs, float), y=np.asarray(ys, float), mode="markers",
                           name="held-out loss", marker=dict(color=RED, size=7)))
    shapes = []
    if chance is not None:
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=chance, y1=chance,
                           line=dict(color=GREY, dash="dot")))
    layout = dict(title=dict(text=title), height=330, margin=dict(l=60, r=20, t=50, b=50),
                  xaxis=dict(title=dict(text="optimizer step (count)"), rangemode="tozero"),
                  yaxis=dict(title=dict(text="cross-entropy (nats)"), rangemode="tozero"),
                  legend=dict(orientation="h", y=-0.25), shapes=shapes,
                  annotations=[dict(text=f"chance: ln {round(np.exp(chance))} = {chance:.2f}", xref="paper",
                                    x=1, y=chance, xanchor="right", yanchor="bottom", showarrow=False,
                                    font=dict(color=GREY))] if chance is not None else [])
    return go.Figure(dict(data=traces, layout=layout), _validate=validate)


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], title: str = "Confusion matrix",
                     validate: bool = False) -> go.Figure:
    """confusion: (K, K) counts, row = true class, column = predicted class; each cell coloured by its share of
    its row (the recall of that class on the diagonal) and labelled with its count."""
    cm = np.asarray(confusion, dtype=np.int64)
    k = len(classes)
    if cm.shape != (k, k):
        raise ValueError(f"expected a ({k}, {k}) matrix, got {cm.shape}")
    rows = cm.sum(1, keepdims=True)
    share = np.where(rows > 0, cm / np.maximum(rows, 1), 0.0) * 100
    names = list(classes)
    trace = dict(type="heatmap", z=share, x=names, y=names, colorscale="Blues", zmin=0, zmax=100,
                 text=cm.astype(str), texttemplate="%{text}", customdata=cm,
                 colorbar=dict(title=dict(text="% of the true class", side="right")),
                 hovertemplate="true %{y}, predicted %{x}: %{customdata} images (%{z:.0f}% of the row)"
                               "<extra></extra>")
    layout = dict(title=dict(text=title), height=420, margin=dict(l=90, r=20, t=50, b=90),
                  xaxis=dict(title=dict(text="predicted class"), tickangle=-40),
                  yaxis=dict(title=dict(text="true class (images)"), autorange="reversed"))
    return go.Figure(dict(data=[trace], layout=layout), _validate=validate)


def maps_figure(act: np.ndarray, title: str, cols: int = 8, validate: bool = False) -> go.Figure:
    """act: (C, h, w) activation maps tiled as one heatmap (channel 0 top left, row by row), each scaled to its
    own min–max so a weak channel's pattern shows too; hover gives the channel and the unit's real value.

    One heatmap with gaps of one blank unit: far cheaper to build and send on every tick than a grid of images."""
    a = np.asarray(act, dtype=np.float64)
    if a.ndim != 3 or a.shape[0] < 1:
        raise ValueError(f"expected maps (C, h, w), got shape {a.shape}")
    c, h, w = a.shape
    cols = max(1, min(cols, c))
    rows = -(-c // cols)
    lo, hi = a.min(axis=(1, 2), keepdims=True), a.max(axis=(1, 2), keepdims=True)
    scaled = np.where(hi > lo, (a - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    z = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    raw = np.full_like(z, np.nan)
    chan = np.full(z.shape, -1, dtype=np.int64)
    for i in range(c):
        r, q = divmod(i, cols)
        sl = np.s_[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w]
        z[sl], raw[sl], chan[sl] = scaled[i], a[i], i
    trace = dict(type="heatmap", z=z, customdata=np.stack([chan, raw], -1), colorscale="Viridis", zmin=0, zmax=1,
                 showscale=False, hoverongaps=False,
                 hovertemplate="channel %{customdata[0]}<br>activation %{customdata[1]:.3f}<extra></extra>")
    layout = dict(title=dict(text=title), height=max(160, 60 + rows * 90), margin=dict(l=20, r=20, t=50, b=40),
                  xaxis=dict(title=dict(text=f"{c} channels of {h}×{w} units, row by row from the top left; each "
                                             "scaled to its own min–max"), showticklabels=False, showgrid=False,
                             zeroline=False, constrain="domain"),
                  yaxis=dict(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False,
                             scaleanchor="x"),
                  plot_bgcolor="white")
    return go.Figure(dict(data=[trace], layout=layout), _validate=validate)
