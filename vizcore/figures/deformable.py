"""Figures of deformable convolution (Dai et al., 2017): where the trained 3×3 kernel samples on the picture, against
the regular grid and the dilated grid it was asked to imitate, and the training error."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.images import image_trace
from vizcore.figures.palette import BLUE, GREEN, GREY, RED
from vizcore.inspect.deformable import DeformResult, grid_offsets


def sampling_figure(res: DeformResult, units: Sequence[tuple[int, int]], title: str = "") -> go.Figure:
    """The grey picture with, for each output unit (row, col) of ``units``: the regular 3×3 grid (blue circles),
    the dilated target grid (green diamonds) and where the trained kernel reads (red crosses, joined to their
    regular point by a line: the learned offset). Axes in input pixels."""
    h, w = res.image.shape
    img = (np.clip(res.image, 0, 1) * 255).astype(np.uint8)
    fig = go.Figure(image_trace(np.stack([img] * 3, axis=-1), hovertemplate="row %{y}, column %{x}<extra></extra>"))
    base = grid_offsets().numpy()
    for n, (i, j) in enumerate(units):
        if not (0 <= i < h and 0 <= j < w):
            raise ValueError(f"expected units inside the {h}×{w} map, got ({i}, {j})")
        reg = base + np.array([i, j], dtype=np.float32)
        ideal = reg + res.ideal_offset
        learned = res.points[i, j]
        first = n == 0
        xs: list[float | None] = []
        ys: list[float | None] = []
        for (r0, c0), (r1, c1) in zip(reg, learned):
            xs += [float(c0), float(c1), None]
            ys += [float(r0), float(r1), None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=RED, width=1), showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=reg[:, 1], y=reg[:, 0], mode="markers", name="regular 3×3 grid",
                                 legendgroup="reg", showlegend=first,
                                 marker=dict(color="rgba(0,0,0,0)", size=9, line=dict(color=BLUE, width=2)),
                                 hovertemplate="regular: row %{y:.1f}, col %{x:.1f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=ideal[:, 1], y=ideal[:, 0], mode="markers", name=f"target (dilation {res.dilation})",
                                 legendgroup="ideal", showlegend=first,
                                 marker=dict(symbol="diamond-open", color=GREEN, size=11, line=dict(width=2)),
                                 hovertemplate="target: row %{y:.1f}, col %{x:.1f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=learned[:, 1], y=learned[:, 0], mode="markers", name="learned sampling point",
                                 legendgroup="learned", showlegend=first,
                                 marker=dict(symbol="x", color=RED, size=9),
                                 hovertemplate="learned: row %{y:.2f}, col %{x:.2f}<extra></extra>"))
    fig.update_layout(title=title or f"Where the trained 3×3 kernel samples on the {h}×{w} picture",
                      height=540, margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.16))  # below the axis title
    fig.update_xaxes(title="column (input pixels)", range=[-4.5, w + 3.5])
    fig.update_yaxes(title="row (input pixels)", range=[h + 3.5, -4.5])
    return fig


def loss_figure(res: DeformResult) -> go.Figure:
    """Mean squared error against the dilated target per Adam step, log scale, with the regular grid's error."""
    steps = list(range(1, len(res.loss_curve) + 1))
    fig = go.Figure(go.Scatter(x=steps, y=res.loss_curve, mode="lines", name="deformable (trained offsets)",
                               line=dict(color=RED)))
    fig.add_trace(go.Scatter(x=[1, len(steps)], y=[res.loss_regular] * 2, mode="lines", name="regular grid",
                             line=dict(color=GREY, dash="dash")))
    fig.update_layout(title="Training the offset field:<br>error against the dilated convolution", height=340,
                      margin=dict(l=10, r=10, t=70, b=10), legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="Adam step")
    fig.update_yaxes(title="mean squared error (picture units²)", type="log")
    return fig
