"""Figures of squeeze-and-excitation gates (Hu et al., TPAMI 2019, §7.2): per image, per class, per block."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.figures.palette import BLUE, GREY, PALETTE, RED


def gates_heatmap(gates: dict[str, np.ndarray], title: str = "Excitation of every SE block") -> go.Figure:
    """Blocks (rows, forward order) × channels; blocks with fewer channels leave the rest blank."""
    names = list(gates)
    width = max(len(v) for v in gates.values())
    z = np.full((len(names), width), np.nan)
    for r, n in enumerate(names):
        z[r, :len(gates[n])] = gates[n]
    fig = go.Figure(go.Heatmap(z=z, y=names, zmin=0, zmax=1, colorscale="Viridis",
                               colorbar=dict(title=dict(text="gate s_c", side="right")),
                               hovertemplate="%{y}<br>channel %{x}: gate %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=max(260, 22 * len(names) + 120), margin=dict(l=160, r=20, t=50, b=50))
    fig.update_xaxes(title_text="channel")
    fig.update_yaxes(title_text="SE block (input to output)", autorange="reversed")
    return fig


def gates_bar(vector: np.ndarray, block: str) -> go.Figure:
    """One block's gates per channel, sorted, with the identity level 1 and the untrained level 0.5 marked."""
    v = np.asarray(vector)
    order = np.argsort(-v, kind="stable")
    fig = go.Figure(go.Bar(x=list(range(len(v))), y=v[order], customdata=order, marker_color=BLUE,
                           hovertemplate="channel %{customdata}: gate %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0.5, line=dict(color=GREY, dash="dot"), annotation_text="0.5 (untrained)")
    fig.update_layout(title=f"Gates of {block}, largest first", height=300, margin=dict(l=60, r=20, t=50, b=50))
    fig.update_xaxes(title_text="channels sorted by gate")
    fig.update_yaxes(title_text="gate s_c (0 = off, 1 = passed)", range=[0, 1.02])
    return fig


def before_after_figure(before: np.ndarray, after: np.ndarray, gate: float, title: str) -> go.Figure:
    """One channel's map entering the SE block and after scaling by its gate (same colour scale)."""
    lo, hi = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
    fig = make_subplots(1, 2, subplot_titles=("before the gate", f"after × {gate:.3f}"), horizontal_spacing=0.08)
    for c, m in enumerate((before, after), start=1):
        fig.add_trace(go.Heatmap(z=m, zmin=lo, zmax=hi, colorscale="Viridis", showscale=c == 2,
                                 colorbar=dict(title=dict(text="activation", side="right")),
                                 hovertemplate="unit (%{y}, %{x}): %{z:.3f}<extra></extra>"), 1, c)
        fig.update_yaxes(autorange="reversed", title_text="row (units)" if c == 1 else None, row=1, col=c)
        fig.update_xaxes(title_text="column (units)", row=1, col=c)
    fig.update_layout(title=title, height=360, margin=dict(l=60, r=20, t=70, b=50))
    return fig


def class_means_figure(blocks: Sequence[dict], classes: Sequence[str],
                       title: str = "Mean gate per class (Hu et al. Fig. 6, on these data)") -> go.Figure:
    """One panel per block: the mean gate of every class along the channels (channels sorted by their mean)."""
    n = len(blocks)
    fig = make_subplots(1, n, subplot_titles=[f"{b['block']} · stage {b['stage']} · specificity "
                                              f"{b['specificity']:.0%}" for b in blocks], horizontal_spacing=0.04)
    for c, b in enumerate(blocks, start=1):
        cm = np.asarray(b["class_means"], dtype=np.float64)
        order = np.argsort(-np.nanmean(cm, axis=0), kind="stable")
        for k, name in enumerate(classes):
            fig.add_trace(go.Scatter(y=cm[k, order], mode="lines", name=name, legendgroup=name, showlegend=c == 1,
                                     line=dict(width=1.2, color=PALETTE[k % len(PALETTE)],
                                               dash="solid" if k < len(PALETTE) else "dot"),
                                     hovertemplate=f"{name}<br>gate %{{y:.3f}}<extra></extra>"), 1, c)
        fig.update_xaxes(title_text="channels (by mean gate)", row=1, col=c)
        fig.update_yaxes(range=[0, 1.02], showticklabels=c == 1, row=1, col=c)
    fig.update_yaxes(title_text="mean gate", row=1, col=1)
    fig.update_layout(title=title, height=380, margin=dict(l=60, r=20, t=80, b=50))
    fig.update_annotations(font=dict(size=11))
    return fig


def specificity_figure(blocks: Sequence[dict], title: str = "Class specificity and saturation per SE block"
                       ) -> go.Figure:
    """Share of gate variance explained by the class (bars) and share of gates above 0.9 (line), per block."""
    x = [b["block"] for b in blocks]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=[b["specificity"] for b in blocks], name="class specificity (η²)",
                         marker_color=[BLUE if b.get("last") else "#aec7e8" for b in blocks],
                         hovertemplate="%{x}<br>%{y:.1%} of the variance explained by the class<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=[b["saturated"] for b in blocks], name="gates > 0.9", mode="lines+markers",
                             line=dict(color=RED), hovertemplate="%{x}<br>%{y:.1%} of gates > 0.9<extra></extra>"))
    fig.update_layout(title=title, height=340, margin=dict(l=60, r=20, t=50, b=90),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(title_text="SE block (dark bars: last block of a stage)", tickangle=-30)
    fig.update_yaxes(title_text="share", range=[0, 1])
    return fig
