"""Figures of model tweaks and model scaling: ResNet-A..D cost and accuracy, EfficientNet cost against φ."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.figures.palette import BLUE, ORANGE, PALETTE, RED


def tweaks_figure(forms: Sequence[str], gmacs: Sequence[float], top1: Sequence[float]) -> go.Figure:
    """ResNet-50 forms: multiply-adds (bars, left axis) and the paper's ImageNet top-1 (line, right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=list(forms), y=list(gmacs), name="multiply-adds (G)", marker_color=BLUE,
                         text=[f"{v:.2f} G" for v in gmacs], textposition="outside"), secondary_y=False)
    fig.add_trace(go.Scatter(x=list(forms), y=list(top1), name="ImageNet top-1 (%, Table 5)", mode="lines+markers",
                             marker=dict(size=10, color=RED), line=dict(color=RED)), secondary_y=True)
    fig.update_yaxes(title_text="multiply-adds per 224×224 image (G)", secondary_y=False,
                     range=[0, max(gmacs) * 1.25])
    fig.update_yaxes(title_text="top-1 accuracy (%)", secondary_y=True, dtick=0.25, tickformat=".2f",
                     range=[min(top1) - 0.6, max(top1) + 0.4], showgrid=False)
    fig.update_layout(title="ResNet-50 tweaks: cost and accuracy (He et al., 2019, Table 5)",
                      xaxis_title="form", height=380, legend=dict(orientation="h", y=-0.25),
                      margin=dict(l=60, r=60, t=60, b=60))
    return fig


def scaling_figure(phi: Sequence[float], params: Sequence[int], macs: Sequence[int],
                   published: dict[str, tuple[int, float]], chosen: float | None = None) -> go.Figure:
    """Parameters (M) and multiply-adds (G) of B0 scaled by φ (lines), with torchvision's B0–B7 (markers).

    published: name -> (parameters, G multiply-adds) at torchvision's evaluation size.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Parameters", "Multiply-adds per image"))
    fig.add_trace(go.Scatter(x=list(phi), y=[p / 1e6 for p in params], mode="lines+markers", name="B0 scaled by φ",
                             line=dict(color=BLUE)), 1, 1)
    fig.add_trace(go.Scatter(x=list(phi), y=[m / 1e9 for m in macs], mode="lines+markers", name="B0 scaled by φ",
                             line=dict(color=BLUE), showlegend=False), 1, 2)
    names = list(published)
    # B_k sits near φ = k on the paper's grid; the markers show torchvision's published totals
    xs = [float(n[1:]) for n in names]
    fig.add_trace(go.Scatter(x=xs, y=[published[n][0] / 1e6 for n in names], mode="markers+text", text=names,
                             textposition="top left", name="torchvision B0–B7", marker=dict(color=ORANGE, size=9,
                                                                                             symbol="diamond")), 1, 1)
    fig.add_trace(go.Scatter(x=xs, y=[published[n][1] for n in names], mode="markers+text", text=names,
                             textposition="top left", name="torchvision B0–B7", showlegend=False,
                             marker=dict(color=ORANGE, size=9, symbol="diamond")), 1, 2)
    if chosen is not None:
        for col in (1, 2):
            fig.add_vline(x=chosen, line=dict(color=PALETTE[2], dash="dash"), row=1, col=col)
    fig.update_xaxes(title_text="compound coefficient φ")
    ticks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]
    fig.update_yaxes(title_text="parameters (millions, log scale)", type="log", tickvals=ticks, row=1, col=1)
    fig.update_yaxes(title_text="multiply-adds (G, log scale)", type="log", tickvals=ticks, row=1, col=2)
    fig.update_layout(title="EfficientNet compound scaling: cost grows about 2^φ", height=420,
                      legend=dict(orientation="h", y=-0.2), margin=dict(l=60, r=20, t=80, b=60))
    return fig
