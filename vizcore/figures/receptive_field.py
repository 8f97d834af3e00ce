"""Figures of receptive fields: the field on the image, the feature-map grid, growth with depth, stacked kernels."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vizcore.arch.geometry import stacked_field
from vizcore.figures.grid import axis_names, grid_layout, trace_axes
from vizcore.figures.images import image_trace, unit_markers
from vizcore.figures.palette import PALETTE


def rf_image_figure(image, box: tuple[int, int, int, int], clipped: tuple[int, int, int, int],
                    centre: tuple[float, float], erf=None, title: str = "Receptive field on the input") -> go.Figure:
    """The input image with one unit's theoretical field and, optionally, its effective field.

    image: (H, W, 3) uint8 as the model sees it. box / clipped: (top, left, bottom, right) inclusive input
    pixels before / after clipping to the image; the part of ``box`` outside the image is zero padding,
    drawn dashed over the grey margin. erf: (H, W) non-negative weights (any scale) drawn as a red overlay.
    """


    img = np.asarray(image)
    h, w = img.shape[:2]
    traces: list = [image_trace(img, hovertemplate="row %{y}, column %{x}<extra></extra>")]  # a PNG, not numbers
    if erf is not None:
        e = np.asarray(erf, dtype=float)
        peak = float(e.max()) if e.size else 0.0
        z = np.sqrt(e / peak) if peak > 0 else e  # sqrt: the tails of a Gaussian-like ERF stay visible
        traces.append(go.Heatmap(
            z=z, x0=0, dx=1, y0=0, dy=1, zmin=0, zmax=1, showscale=True, name="effective field",
            colorscale=[[0, "rgba(255,0,0,0)"], [0.1, "rgba(255,40,0,0.35)"], [1, "rgba(255,230,0,0.9)"]],
            colorbar=dict(title=dict(text="√ ERF<br>(share of peak)", side="right"), len=0.6),
            hovertemplate="row %{y}, column %{x}<br>√ERF %{z:.2f}<extra></extra>"))
    t, l, b, r = box
    ct, cl, cb, cr = clipped
    traces.append(go.Scatter(x=[centre[1]], y=[centre[0]], mode="markers", name="centre",
                             marker=dict(symbol="x", size=11, color="#00d5ff", line=dict(width=1, color="black")),
                             hovertemplate="centre (%{y:.1f}, %{x:.1f})<extra></extra>"))
    # theoretical box, including the part in the padding (dashed); then the part on the image (solid)
    shapes = [dict(type="rect", x0=l - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                   line=dict(color="#ff9900", width=2, dash="dash"), fillcolor="rgba(255,153,0,0.07)"),
              dict(type="rect", x0=cl - 0.5, x1=cr + 0.5, y0=ct - 0.5, y1=cb + 0.5,
                   line=dict(color="#00d5ff", width=3)),
              dict(type="rect", x0=-0.5, x1=w - 0.5, y0=-0.5, y1=h - 0.5,
                   line=dict(color="#444", width=1))]
    pad = max(8, int(0.04 * max(h, w)))
    x_lo, x_hi = min(l, 0) - pad, max(r, w - 1) + pad
    y_lo, y_hi = min(t, 0) - pad, max(b, h - 1) + pad
    # one layout: plotly's per-call updates (add_shape, update_xaxes, ...) cost milliseconds apiece
    return go.Figure(data=traces, layout=dict(
        xaxis=dict(range=[x_lo, x_hi], title_text="input column (pixels)", showgrid=False, zeroline=False,
                   constrain="domain"),
        yaxis=dict(range=[y_hi, y_lo], title_text="input row (pixels)", showgrid=False, zeroline=False,
                   scaleanchor="x", scaleratio=1),
        title=title, plot_bgcolor="#d9d9d9", showlegend=False, height=540, margin=dict(l=60, r=20, t=60, b=80),
        shapes=shapes,
        annotations=[dict(x=0.0, y=-0.2, xref="paper", yref="paper", showarrow=False, xanchor="left",
                          text="solid cyan: field on the image · dashed orange: full theoretical field "
                               "(outside the image = zero padding)", font=dict(size=11))]))


def feature_grid_figure(fmap, unit: tuple[int, int], title: str = "Feature map",
                        max_markers: int = 4096) -> go.Figure:
    """A layer's feature map (h, w) as a grid (mean |activation| over channels), the selected unit outlined.

    One near-invisible marker per cell (a regular subset when the map has more than ``max_markers`` cells)
    makes the grid clickable: the selected point's (x, y) is the unit's (column, row).
    """
    z = np.asarray(fmap, dtype=float)
    h, w = z.shape
    i, j = unit
    # one figure call: plotly's per-call updates (add_shape, update_xaxes, ...) cost milliseconds apiece
    return go.Figure(data=[
        go.Heatmap(z=z, colorscale="Viridis", colorbar=dict(title=dict(text="mean |activation|", side="right")),
                   hovertemplate="unit (%{y}, %{x})<br>mean |activation| %{z:.3g}<extra></extra>"),
        unit_markers(np.arange(h), np.arange(w), 360, "unit (%{y}, %{x}): click to inspect<extra></extra>",
                     max_markers)],
        layout=dict(shapes=[dict(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                                 line=dict(color="#ff3355", width=3))],
                    xaxis=dict(title_text="unit column j", range=[-0.5, w - 0.5], showgrid=False, constrain="domain"),
                    yaxis=dict(title_text="unit row i", range=[h - 0.5, -0.5], showgrid=False, scaleanchor="x",
                               scaleratio=1),
                    title=title, showlegend=False, height=520, margin=dict(l=60, r=20, t=60, b=50),
                    clickmode="event+select", dragmode=False))


_GEOMETRY_OPS = {"Conv2d", "MaxPool2d", "AvgPool2d", "max_pool2d", "avg_pool2d", "conv2d"}


def rf_growth_figure(series: dict[str, list[dict]], log: bool = True) -> go.Figure:
    """Field size and stride per layer through several networks.

    series: model name -> the CLI records of ``python -m vizcore rf`` (``op``, ``size``, ``stride``...); only
    convolution and pooling nodes are plotted (the others keep the field), x = their order in the network.
    """


    layout = grid_layout(1, 2, ("Receptive field size", "Effective stride (jump)"))
    traces = []
    palette = PALETTE
    for n, (name, recs) in enumerate(series.items()):
        rows = [r for r in recs if r["op"] in _GEOMETRY_OPS and len(r["out_shape"]) == 3]
        x = list(range(1, len(rows) + 1))
        color = palette[n % len(palette)]
        labels = [f"{r['module'] or r['node']} ({r['op']})" for r in rows]
        traces.append(go.Scatter(x=x, y=[r["size"][0] for r in rows], mode="lines+markers", name=name,
                                 legendgroup=name, line=dict(color=color), marker=dict(size=4), text=labels,
                                 hovertemplate="%{text}<br>layer %{x}: field %{y} px<extra>" + name + "</extra>",
                                 **trace_axes(1, 1, 2)))
        traces.append(go.Scatter(x=x, y=[r["stride"][0] for r in rows], mode="lines+markers", name=name,
                                 legendgroup=name, showlegend=False, line=dict(color=color), marker=dict(size=4),
                                 text=labels, hovertemplate="%{text}<br>layer %{x}: stride %{y} px<extra>"
                                 + name + "</extra>", **trace_axes(1, 2, 2)))
    for col, label in ((1, "field size (input pixels, height)"), (2, "stride (input pixels per unit)")):
        xa, ya = axis_names(1, col, 2)
        layout[xa]["title"] = {"text": "conv / pooling layer, in order"}
        layout[ya].update(title={"text": label}, type="log" if log else "linear",
                          **({"tickvals": [2 ** e for e in range(13)]} if log else {}))
    layout.update(title={"text": "How the receptive field grows through the network"}, height=430,
                  legend=dict(orientation="h", y=-0.25), margin=dict(l=60, r=20, t=70, b=60))
    return go.Figure(data=traces, layout=layout)  # one validation of the whole figure


def kernel_stack_figure(k: int, channels: int, n_max: int = 6) -> go.Figure:
    """Weights of n stacked k x k convolutions vs one convolution with the same field, for n = 1..n_max."""
    ns = list(range(1, n_max + 1))
    fields = [stacked_field(n, k) for n in ns]
    stacked = [n * k * k * channels * channels for n in ns]
    single = [f * f * channels * channels for f in fields]
    names = [f"n={n}<br>field {f}×{f}" for n, f in zip(ns, fields)]
    fig = go.Figure([
        go.Bar(x=names, y=stacked, name=f"{'n'} stacked {k}×{k} (n non-linearities)", marker_color="#1f77b4",
               hovertemplate="%{x}<br>%{y:,} weights<extra>stacked</extra>"),
        go.Bar(x=names, y=single, name="one big kernel (1 non-linearity)", marker_color="#ff7f0e",
               hovertemplate="%{x}<br>%{y:,} weights<extra>single</extra>"),
    ])
    fig.update_layout(title=f"Weights for the same receptive field, C = {channels} channels in and out",
                      barmode="group", height=380, legend=dict(orientation="h", y=-0.3),
                      margin=dict(l=60, r=20, t=60, b=60))
    fig.update_xaxes(title_text="number of stacked layers n and the field they reach")
    fig.update_yaxes(title_text="weights (count, no biases)")
    return fig
