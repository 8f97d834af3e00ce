"""Figures of the Augmentation Lab: mixed images' label vectors, pixel statistics with and without a pipeline,
and a trained model's accuracy / confidence per augmentation operation."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray
from plotly.subplots import make_subplots

from vizcore.figures.palette import BLUE, GREEN, PALETTE, RED, rgba


def draw_box(image: NDArray[np.uint8], box: tuple[int, int, int, int], colour: tuple[int, int, int] = (255, 0, 0),
             width: int = 1) -> NDArray[np.uint8]:
    """A copy of ``image`` (H, W, 3) uint8 with the outline of ``box`` = (x1, y1, x2, y2) drawn in ``colour``."""
    out = image.copy()
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return out
    c = np.array(colour, np.uint8)
    out[y1:y1 + width, x1:x2] = c
    out[max(y2 - width, y1):y2, x1:x2] = c
    out[y1:y2, x1:x1 + width] = c
    out[y1:y2, max(x2 - width, x1):x2] = c
    return out


def mixed_labels_figure(soft: NDArray[np.float64], classes: Sequence[str], names: Sequence[str],
                        title: str = "Mixed label vectors") -> go.Figure:
    """One bar chart per mixed image: the weight of each class in its target. soft: (K, num_classes)."""
    k = len(names)
    fig = make_subplots(rows=1, cols=k, subplot_titles=list(names), shared_yaxes=True, horizontal_spacing=0.03)
    for i in range(k):
        colours = [PALETTE[j % len(PALETTE)] if soft[i, j] > 0 else "#dddddd" for j in range(len(classes))]
        fig.add_trace(go.Bar(x=list(classes), y=soft[i], marker_color=colours, showlegend=False,
                             hovertemplate="%{x}: %{y:.2f}<extra></extra>"), row=1, col=i + 1)
        fig.update_xaxes(title_text="class", tickangle=-60, row=1, col=i + 1)
    fig.update_yaxes(title_text="label weight (sums to 1)", range=[0, 1.05], row=1, col=1)
    fig.update_layout(title=title, height=360, margin=dict(l=60, r=20, t=70, b=90))
    return fig


def channel_histogram_figure(hist_before: NDArray[np.float64], hist_after: NDArray[np.float64],
                             edges: NDArray[np.float64], channel_names: Sequence[str],
                             title: str = "Pixel histogram per channel, without and with the pipeline") -> go.Figure:
    """Histograms (C, bins) of a batch before (solid) and after (dashed) augmentation; x in [0, 1] pixel value."""
    centres = (edges[:-1] + edges[1:]) / 2
    colours = [RED, GREEN, BLUE] if len(channel_names) == 3 else ["#444444"]
    fig = go.Figure()
    for c, name in enumerate(channel_names):
        fig.add_trace(go.Scatter(x=centres, y=100 * hist_before[c], mode="lines", name=f"{name}, original",
                                 line=dict(color=colours[c], width=2)))
        fig.add_trace(go.Scatter(x=centres, y=100 * hist_after[c], mode="lines", name=f"{name}, augmented",
                                 line=dict(color=colours[c], width=2, dash="dash")))
    fig.update_layout(title=title, height=380, xaxis_title="pixel value (0 = black, 1 = full intensity)",
                      yaxis_title="pixels in the bin (%)", margin=dict(l=60, r=20, t=60, b=50))
    return fig


def effect_figure(labels: Sequence[str], acc_original: float, acc_augmented: Sequence[float],
                  conf_original: float, conf_augmented: Sequence[float],
                  title: str = "The default model on augmented validation images, per operation") -> go.Figure:
    """Accuracy and mean true-class confidence (%) per operation, with the originals' values as a line."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=["accuracy (%)", "confidence in the true class (%)"])
    y = list(labels)
    for col, base, vals in ((1, acc_original, acc_augmented), (2, conf_original, conf_augmented)):
        drop = [100 * (base - v) for v in vals]
        fig.add_trace(go.Bar(y=y, x=[100 * v for v in vals], orientation="h", showlegend=col == 1, name="augmented",
                             marker_color=[rgba(RED, 0.8) if d > 5 else rgba(BLUE, 0.8) for d in drop],
                             customdata=drop, hovertemplate="%{y}: %{x:.1f}% (drop %{customdata:.1f} points)"
                                                            "<extra></extra>"), row=1, col=col)
        fig.add_vline(x=100 * base, line=dict(color="black", dash="dash"), row=1, col=col)
        fig.update_xaxes(title_text="% of validation images" if col == 1 else "mean softmax probability (%)",
                         range=[0, 102], row=1, col=col)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color="black", dash="dash"),
                             name="original images"), row=1, col=1)
    fig.update_yaxes(autorange="reversed", title_text="operation (applied with p = 1)", row=1, col=1)
    fig.update_layout(title=title, height=160 + 26 * len(y), margin=dict(l=60, r=20, t=80, b=50),
                      legend=dict(orientation="h", y=-0.12 if len(y) > 6 else -0.3))
    return fig
