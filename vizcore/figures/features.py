"""Figures of what a network's channels do: filters, activation maps, statistics, top patches, maximisation."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from vizcore.figures.images import image_grid, image_trace, unit_markers
from vizcore.figures.palette import BLUE, ORANGE, RED


def _lut(name: str = "Viridis") -> np.ndarray:
    cols = sample_colorscale(name, list(np.linspace(0, 1, 256)), colortype="rgb")
    return np.array([[int(float(v)) for v in c[4:-1].split(",")] for c in cols], np.uint8)


_VIRIDIS = _lut()


def colorize(maps: np.ndarray, per_map: bool = True) -> np.ndarray:
    """maps: (N, h, w) float -> (N, h, w, 3) uint8 viridis, scaled per map (or over all maps) to its min–max."""
    m = np.asarray(maps, dtype=np.float64)
    lo = m.min(axis=(1, 2), keepdims=True) if per_map else np.full((len(m), 1, 1), m.min())
    hi = m.max(axis=(1, 2), keepdims=True) if per_map else np.full((len(m), 1, 1), m.max())
    z = np.where(hi > lo, (m - lo) / np.where(hi > lo, hi - lo, 1), 0.0)
    return _VIRIDIS[(z * 255).round().astype(np.int64)]


def _upscale(images: np.ndarray, min_side: int = 24) -> np.ndarray:
    f = max(1, int(np.ceil(min_side / max(images.shape[1:3]))))
    return np.repeat(np.repeat(images, f, axis=1), f, axis=2)


# ---------------------------------------------------------------------------------------- filters


def filters_figure(images: np.ndarray, low: np.ndarray, high: np.ndarray, labels: Sequence[str],
                   title: str, cols: int = 16) -> go.Figure:
    """Filters as pictures: images (n, k, k, 3) or (n, k, k) in [0, 1], each min–max scaled from [low, high]
    (its own weight range, shown on hover)."""
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    img = _upscale((arr * 255).round().astype(np.uint8))
    hover = [f"{t}: black = {lo:+.3g}, white = {hi:+.3g}" for t, lo, hi in zip(labels, low, high, strict=True)]
    fig = image_grid(img, titles=list(labels), cols=cols, title=title, cell_px=48, hover=hover)
    fig.update_xaxes(title_text=f"{arr.shape[2]}×{arr.shape[1]} kernels, each scaled to its own min–max "
                                "(hover for the weight range)")
    return fig


def filter_norms_figure(norms: np.ndarray, dead: Sequence[int], duplicated: Sequence[int],
                        title: str = "Filter norms, sorted") -> go.Figure:
    """Bar per output filter, sorted by L2 norm; dead filters red, filters with a near-copy orange."""
    order = np.argsort(-np.asarray(norms), kind="stable")
    colours = [RED if i in set(dead) else ORANGE if i in set(duplicated) else BLUE for i in order]
    fig = go.Figure(go.Bar(x=list(range(len(order))), y=np.asarray(norms)[order], marker_color=colours,
                           customdata=order, hovertemplate="filter %{customdata}<br>norm %{y:.4f}<extra></extra>"))
    fig.update_layout(title=title, height=320, margin=dict(l=60, r=20, t=50, b=50), showlegend=False)
    fig.update_xaxes(title_text="filters, largest norm first (red: dead, orange: near-duplicate)")
    fig.update_yaxes(title_text="L2 norm of the weights")
    return fig


# ---------------------------------------------------------------------------------------- activation maps


def channel_grid_figure(act: np.ndarray, order: Sequence[int], title: str, n_show: int = 32,
                        cols: int = 8) -> go.Figure:
    """The first ``n_show`` channels of act (C, h, w) in ``order``, each coloured by its own min–max."""
    idx = [int(i) for i in list(order)[:n_show]]
    img = _upscale(colorize(np.asarray(act)[idx]), 48)
    a = np.asarray(act)
    hover = [f"channel {i}: min {a[i].min():.3g}, max {a[i].max():.3g}, mean {a[i].mean():.3g}" for i in idx]
    fig = image_grid(img, titles=[f"ch {i}" for i in idx], cols=cols, title=title, cell_px=80, hover=hover)
    fig.update_xaxes(title_text=f"maps of {a.shape[2]}×{a.shape[1]} units, each scaled to its own min–max")
    return fig


def overlay_figure(image: np.ndarray, fmap: np.ndarray, centres_y: np.ndarray, centres_x: np.ndarray,
                   box: tuple[int, int, int, int] | None, title: str, max_markers: int = 4096) -> go.Figure:
    """One channel over the input: fmap (h, w) drawn at its units' field centres (input pixels) over image
    (H, W, 3); ``box`` (top, left, bottom, right) is the chosen unit's receptive field.

    Near-invisible markers on the units' centres (:func:`vizcore.figures.images.unit_markers`) make the map
    clickable: a click selects the nearest, and its (y, x) is that unit's centre in input pixels."""
    h, w = image.shape[:2]
    shapes = []
    if box is not None:
        t, lft, b, r = box
        shapes.append(dict(type="rect", x0=lft - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                           line=dict(color="#00d5ff", width=3)))
    # one figure call: plotly's per-call updates (add_trace, add_shape, update_xaxes, ...) validate again each time
    return go.Figure(data=[
        image_trace(image, hoverinfo="skip"),
        go.Heatmap(z=fmap, x=centres_x, y=centres_y, colorscale="Viridis", opacity=0.55,
                   colorbar=dict(title=dict(text="activation", side="right"), len=0.7),
                   hovertemplate="unit centre (%{y:.1f}, %{x:.1f})<br>activation %{z:.3f}<extra></extra>"),
        unit_markers(centres_y, centres_x, 420, "unit centre (%{y:.1f}, %{x:.1f}): click to draw its field"
                                                "<extra></extra>", max_markers)],
        layout=dict(shapes=shapes, title=title, height=460, margin=dict(l=60, r=20, t=60, b=50),
                    xaxis=dict(range=[-0.5, w - 0.5], title_text="input column (pixels)", showgrid=False,
                               zeroline=False),
                    yaxis=dict(range=[h - 0.5, -0.5], title_text="input row (pixels)", showgrid=False,
                               zeroline=False, scaleanchor="x"),
                    clickmode="event+select", dragmode=False))


def channel_stats_figure(stats: dict[str, np.ndarray], order: Sequence[int], title: str) -> go.Figure:
    """Mean and max activation per channel (bars, left axis) and fraction of zeros (line, right axis)."""
    o = [int(i) for i in order]
    x = list(range(len(o)))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=x, y=stats["max"][o], name="max", marker_color="#aec7e8", customdata=o,
                         hovertemplate="channel %{customdata}: max %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Bar(x=x, y=stats["mean"][o], name="mean", marker_color=BLUE, customdata=o,
                         hovertemplate="channel %{customdata}: mean %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=stats["zero_fraction"][o], name="fraction of zeros", mode="lines",
                             line=dict(color=RED), customdata=o,
                             hovertemplate="channel %{customdata}: %{y:.0%} zeros<extra></extra>"),
                  secondary_y=True)
    fig.update_layout(title=title, barmode="overlay", height=340, margin=dict(l=60, r=60, t=50, b=50),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(title_text="channels in the grid's order")
    fig.update_yaxes(title_text="activation", secondary_y=False)
    fig.update_yaxes(title_text="fraction of units = 0", range=[0, 1], secondary_y=True)
    return fig


def depth_figure(profile: Sequence[dict], title: str = "Map size and channels with depth") -> go.Figure:
    """Spatial side (left, log) and channel count (right) of every spatial layer, in execution order."""
    x = list(range(len(profile)))
    names = [f"{p['module']} ({p['op']})" for p in profile]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=x, y=[p["height"] for p in profile], name="map height (units)", mode="lines+markers",
                             line=dict(color=BLUE, shape="hv"), text=names,
                             hovertemplate="%{text}<br>%{y} units high<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=[p["channels"] for p in profile], name="channels", mode="lines+markers",
                             line=dict(color=ORANGE, shape="hv"), text=names,
                             hovertemplate="%{text}<br>%{y} channels<extra></extra>"), secondary_y=True)
    fig.update_layout(title=title, height=340, margin=dict(l=60, r=60, t=50, b=50),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(title_text="spatial layers in execution order")
    def pow2(values: list[int]) -> list[int]:
        top = max(values) if values else 1
        return [2 ** i for i in range(int(np.log2(max(top, 1))) + 2)]

    hs = pow2([int(p["height"]) for p in profile])
    cs = pow2([int(p["channels"]) for p in profile])
    fig.update_yaxes(title_text="map height (units, log scale)", type="log", tickvals=hs, ticktext=[str(v) for v in hs],
                     secondary_y=False)
    fig.update_yaxes(title_text="channels (log scale)", type="log", tickvals=cs, ticktext=[str(v) for v in cs],
                     showgrid=False, secondary_y=True)
    return fig


# ---------------------------------------------------------------------------------------- top patches, maximisation


def patches_figure(patches: Sequence[np.ndarray], values: Sequence[float], title: str, cols: int = 9) -> go.Figure:
    """Input patches (R, R, 3) uint8 under the top units, largest activation first."""
    img = _upscale(np.stack(patches), 64)
    fig = image_grid(img, titles=[f"{v:.2f}" for v in values], cols=cols, title=title, cell_px=96,
                     hover=[f"rank {i + 1}: activation {v:.4f}" for i, v in enumerate(values)])
    r = patches[0].shape[0]
    fig.update_xaxes(title_text=f"receptive-field patches of {r}×{r} input pixels (black: zero padding), "
                                "activation above each")
    return fig


def maximize_figure(image: np.ndarray, trace: Sequence[float], title: str) -> go.Figure:
    """The optimised input (left) and the channel's mean activation per step (right)."""
    fig = make_subplots(1, 2, column_widths=[0.45, 0.55], subplot_titles=("optimised input", "objective"))
    fig.add_trace(image_trace(_upscale(image[None], 128)[0], hoverinfo="skip"), 1, 1)
    fig.add_trace(go.Scatter(y=list(trace), mode="lines", line=dict(color=BLUE), name="activation"), 1, 2)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_yaxes(showticklabels=False, row=1, col=1)
    fig.update_xaxes(title_text="optimisation step", row=1, col=2)
    fig.update_yaxes(title_text="mean activation of the channel", row=1, col=2)
    fig.update_layout(title=title, height=380, showlegend=False, margin=dict(l=40, r=20, t=70, b=50))
    return fig

