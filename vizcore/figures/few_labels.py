"""Figures of learning from few labels: the label-efficiency curve, the pseudo-label log over training, the
threshold's quantity/quality trade-off, the pseudo-labels' confusion matrix, confident wrong pseudo-labels and
Noisy Student's accuracy per round (see :mod:`vizcore.lab.few_labels` and :mod:`vizcore.inspect.pseudo_labels`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray

from vizcore.figures.images import image_grid
from vizcore.figures.palette import BLUE, GREEN, GREY, PALETTE, RED


def _k_label(k: int | None) -> str:
    return "all" if k is None else str(k)


def curve_figure(summary: Sequence[dict[str, Any]], titles: dict[str, str],
                 usb: dict[str, float] | None = None) -> go.Figure:
    """Validation accuracy (%) against labels per class, one line per method, error bars = the t-interval over
    seeds. summary: rows of :func:`vizcore.lab.few_labels.summarize_curve`."""
    order = sorted({r["k"] for r in summary}, key=lambda k: 10**9 if k is None else k)
    fig = go.Figure()
    for i, method in enumerate(dict.fromkeys(r["method"] for r in summary)):
        rows = sorted((r for r in summary if r["method"] == method), key=lambda r: order.index(r["k"]))
        low = [r["mean"] - r["low"] if r["n"] > 1 else 0.0 for r in rows]
        high = [r["high"] - r["mean"] if r["n"] > 1 else 0.0 for r in rows]
        fig.add_trace(go.Scatter(
            x=[_k_label(r["k"]) for r in rows], y=[r["mean"] for r in rows], mode="lines+markers",
            name=titles.get(method, method), line={"color": PALETTE[i % len(PALETTE)]},
            error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
            hovertext=[f"{titles.get(method, method)}, {_k_label(r['k'])} labels/class: {r['text']}" for r in rows],
            hoverinfo="text"))
    fig.update_layout(title="Label efficiency: validation accuracy against labels per class (mean, 95% interval "
                            "over seeds)", xaxis_title="labels per class",
                      yaxis_title="validation accuracy (%)", yaxis_range=[0, 100], height=440,
                      legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=[_k_label(k) for k in order])
    return fig


def ssl_log_figure(epochs: Sequence[dict[str, Any]], title: str) -> go.Figure:
    """Pass rate, pseudo-label accuracy and the (mean) threshold per epoch, in %, from a run's epoch events."""
    rows = [(e["epoch"], e["ssl"]) for e in epochs if e.get("ssl")]
    x = [e for e, _ in rows]
    fig = go.Figure()
    for key, name, colour in (("pass_rate", "pass rate (share of pool images over the threshold)", BLUE),
                              ("pseudo_label_accuracy", "pseudo-label accuracy (of those that pass)", GREEN),
                              ("threshold", "threshold (mean over classes)", GREY)):
        y = [None if s.get(key) is None else 100 * s[key] for _, s in rows]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, line={"color": colour},
                                 hovertemplate="epoch %{x}: %{y:.1f}%<extra></extra>"))
    val = [100 * e["val_acc"] for e in epochs if e.get("ssl")]
    fig.add_trace(go.Scatter(x=x, y=val, mode="lines", name="validation accuracy", line={"color": RED, "dash": "dot"}))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="%", yaxis_range=[0, 101], height=380,
                      legend={"orientation": "h", "y": -0.25}, xaxis_dtick=1 if len(x) <= 20 else None)
    return fig


def tradeoff_figure(tradeoff: Sequence[dict[str, Any]], tau: float) -> go.Figure:
    """Quantity (pass rate) and quality (accuracy of what passes), in %, against the threshold τ."""
    x = [t["tau"] for t in tradeoff]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=[100 * t["pass_rate"] for t in tradeoff], mode="lines+markers",
                             name="quantity: pass rate", line={"color": BLUE}))
    fig.add_trace(go.Scatter(x=x, y=[None if t["accuracy"] is None else 100 * t["accuracy"] for t in tradeoff],
                             mode="lines+markers", name="quality: accuracy of passed pseudo-labels",
                             line={"color": GREEN}))
    fig.add_vline(x=tau, line_dash="dash", line_color=GREY, annotation_text=f"τ = {tau:g}")
    fig.update_layout(title="The threshold's trade-off: more pseudo-labels, or better ones",
                      xaxis_title="threshold τ (top probability)", yaxis_title="%", yaxis_range=[0, 101], height=360,
                      legend={"orientation": "h", "y": -0.25})
    return fig


def confusion_figure(confusion: NDArray[np.integer], classes: Sequence[str], tau: float) -> go.Figure:
    """Counts of passed pseudo-labels: rows the hidden true class, columns the pseudo-label."""
    z = np.asarray(confusion)
    fig = go.Figure(go.Heatmap(z=z, x=list(classes), y=list(classes), colorscale="Blues", text=z,
                               texttemplate="%{text}", colorbar={"title": "images"},
                               hovertemplate="true %{y}, pseudo-label %{x}: %{z} images<extra></extra>"))
    fig.update_layout(title=f"Pseudo-labels over τ = {tau:g} against the hidden labels (off the diagonal: wrong)",
                      xaxis_title="pseudo-label", yaxis_title="true class (hidden, for this report only)",
                      yaxis_autorange="reversed", height=460)
    return fig


def wrong_gallery(images: NDArray[np.uint8], wrong: Sequence[dict[str, Any]]) -> go.Figure:
    """The most confident wrong pseudo-labels: 'pseudo (confidence)' over each image, the true class on hover."""
    titles = [f"{w['pseudo_label']} {100 * w['confidence']:.0f}%" for w in wrong]
    hover = [f"pseudo-label {w['pseudo_label']} at {100 * w['confidence']:.1f}%, truly {w['true_label']}"
             for w in wrong]
    return image_grid(images, titles=titles, hover=hover, cols=min(6, max(len(wrong), 1)),
                      title="Confident and wrong: pseudo-labels the model would teach itself (title: pseudo-label, "
                            "confidence)", cell_px=96)


def rounds_figure(chains: Sequence[Sequence[dict[str, Any]]]) -> go.Figure:
    """Noisy Student: validation accuracy (%) per round (0 = the teacher), one line per chain."""
    fig = go.Figure()
    for i, chain in enumerate(chains):
        done = [c for c in chain if c["val_acc"] is not None]
        fig.add_trace(go.Scatter(
            x=[c["round"] for c in done], y=[c["val_acc"] for c in done], mode="lines+markers",
            name=f"{done[0]['k'] if done else '?'} labels/class, seed {done[0]['seed'] if done else '?'}",
            text=[c["model"] for c in done], line={"color": PALETTE[i % len(PALETTE)]},
            hovertemplate="round %{x} (%{text}): %{y:.1f}%<extra></extra>"))
    fig.update_layout(title="Noisy Student: each student becomes the next teacher (round 0: the teacher on the "
                            "labels alone)", xaxis_title="round", yaxis_title="validation accuracy (%)",
                      yaxis_range=[0, 100], height=360, xaxis_dtick=1)
    return fig
