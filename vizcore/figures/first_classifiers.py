"""Figures of the first lecture's classifiers: the linear classifier's class templates and its training curve,
and k-nearest-neighbour accuracy against k in pixel and feature space."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray

from vizcore.figures.images import image_grid
from vizcore.figures.palette import BLUE, GREY, RED


def template_pictures(templates: NDArray[np.floating]) -> NDArray[np.uint8]:
    """(K, C, H, W) weights -> (K, H, W, 3) pictures. One channel: a diverging map, red where a bright pixel raises
    the class's score, blue where it lowers it, white at zero (one scale for all classes, so they compare).
    Three channels: each template stretched to [0, 1] on its own (the colours a bright pixel there would add)."""
    t = np.asarray(templates, dtype=np.float64)
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError(f"expected templates (K, 1 or 3, H, W), got shape {t.shape}")
    if t.shape[1] == 1:
        m = t[:, 0] / max(float(np.abs(t).max()), 1e-12)  # in [-1, 1]
        pos, neg = np.clip(m, 0, 1), np.clip(-m, 0, 1)
        rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=-1)  # white -> red (positive) / blue (negative)
        return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    lo = t.min(axis=(1, 2, 3), keepdims=True)
    hi = t.max(axis=(1, 2, 3), keepdims=True)
    return (((t - lo) / np.maximum(hi - lo, 1e-12)).transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)


def templates_figure(templates: NDArray[np.floating], classes: Sequence[str], title: str) -> go.Figure:
    """Each class's weight vector as a picture (see :func:`template_pictures`)."""
    pics = template_pictures(templates)
    fig = image_grid(pics, titles=list(classes), cols=min(10, len(classes)), title=title, cell_px=72)
    return fig


def loss_figure(curve: Sequence[float]) -> go.Figure:
    """The training objective after each full-batch step."""
    fig = go.Figure(go.Scatter(x=list(range(1, len(curve) + 1)), y=list(curve), mode="lines",
                               line=dict(color=BLUE), name="objective"))
    fig.update_layout(title="Training the linear classifier: objective per step", height=300,
                      xaxis_title="step (one full pass over the training images)",
                      yaxis_title="cross-entropy + L2 penalty (nats)", margin=dict(l=60, r=20, t=50, b=50))
    return fig


def knn_figure(ks: Sequence[int], curves: dict[str, Sequence[float]], chance: float, title: str) -> go.Figure:
    """Test accuracy (%) against k, one line per space; ``chance`` (a fraction) as a dotted line."""
    fig = go.Figure()
    colours = [RED, BLUE, GREY]
    for i, (name, acc) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(ks), y=[100 * a for a in acc], mode="lines+markers", name=name,
                                 line=dict(color=colours[i % len(colours)])))
    fig.add_hline(y=100 * chance, line_dash="dot", line_color=GREY,
                  annotation_text=f"chance {100 * chance:.0f}%", annotation_position="bottom right")
    fig.update_layout(title=title, height=360, xaxis_title="k (neighbours that vote)",
                      yaxis_title="test accuracy (%)", yaxis_range=[0, 101],
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=60, r=20, t=50, b=60))
    return fig


def neighbours_figure(query: NDArray[np.floating], neighbours: NDArray[np.floating], titles: Sequence[str],
                      title: str) -> go.Figure:
    """One test image followed by its nearest training images: query (C, H, W), neighbours (n, C, H, W) in [0, 1]."""
    imgs = np.concatenate([np.asarray(query)[None], np.asarray(neighbours)])
    return image_grid(imgs, titles=list(titles), cols=len(imgs), title=title, cell_px=64)
