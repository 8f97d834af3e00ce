"""Figures of model tweaks and model scaling: ResNet-A..D cost and accuracy, EfficientNet cost against φ, and the
small EfficientNet family's accuracy against cost on the embedded shapes."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.figures.palette import BLUE, LIGHT_GREY, ORANGE, PALETTE, RED


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


def scaling_figure(phi: Sequence[float], params: Sequence[int | None], macs: Sequence[int | None],
                   published: dict[str, tuple[int, float]], chosen: float | None = None) -> go.Figure:
    """Parameters (M) and multiply-adds (G) of B0 scaled by φ (lines), with torchvision's B0–B7 (markers).

    published: name -> (parameters, G multiply-adds) at torchvision's evaluation size. A None in ``params`` /
    ``macs`` is a member that cannot be built: left out of the line, and named in a note under the chart.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Parameters", "Multiply-adds per image"))
    ok = [i for i, p in enumerate(params) if p is not None and macs[i] is not None]
    fig.add_trace(go.Scatter(x=[phi[i] for i in ok], y=[params[i] / 1e6 for i in ok],  # type: ignore[operator]
                             mode="lines+markers", name="B0 scaled by φ", line=dict(color=BLUE)), 1, 1)
    fig.add_trace(go.Scatter(x=[phi[i] for i in ok], y=[macs[i] / 1e9 for i in ok],  # type: ignore[operator]
                             mode="lines+markers", name="B0 scaled by φ", line=dict(color=BLUE), showlegend=False),
                  1, 2)
    missing = [phi[i] for i in range(len(phi)) if i not in ok]
    if missing:
        fig.add_annotation(text=f"not built here (above the largest depth, width or resolution counted): φ = "
                                f"{', '.join(f'{p:g}' for p in missing)}", xref="paper", yref="paper", x=0.5,
                           y=-0.33, yanchor="top", showarrow=False, font=dict(color=ORANGE))
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
    fig.update_layout(title="EfficientNet compound scaling: cost grows about 2^φ", height=460 if missing else 420,
                      legend=dict(orientation="h", y=-0.2), margin=dict(l=60, r=20, t=80, b=120 if missing else 60))
    return fig


def family_figure(points: Sequence[Any]) -> go.Figure:
    """Final validation accuracy (mean and 95% interval over seeds, each seed a small marker) against multiply-adds
    of the small EfficientNet family (:class:`vizcore.lab.scaling.ScalingPoint`), log-scaled cost axis."""
    fig = go.Figure()
    done = [p for p in points if p.accuracy is not None]
    for p in points:  # every seed, so two seeds that disagree are visible as two dots
        if p.values:
            fig.add_trace(go.Scatter(x=[p.macs / 1e6] * len(p.values), y=list(p.values), mode="markers",
                                     marker=dict(color=LIGHT_GREY, size=7), name="one seed",
                                     showlegend=p is next(q for q in points if q.values), hoverinfo="y"))
    if done:
        fig.add_trace(go.Scatter(
            x=[p.macs / 1e6 for p in done], y=[p.accuracy.mean for p in done], mode="lines+markers+text",
            text=[p.arm.split(" ")[0] for p in done], textposition="top left", name="mean over seeds",
            marker=dict(color=BLUE, size=10), line=dict(color=BLUE),
            error_y=dict(type="data", symmetric=False, array=[p.accuracy.high - p.accuracy.mean for p in done],
                         arrayminus=[p.accuracy.mean - p.accuracy.low for p in done], color=BLUE),
            customdata=[[p.params, p.resolution] for p in done],
            hovertemplate="%{text}: %{y:.1f}% at %{x:.2f} M multiply-adds, %{customdata[0]:,} parameters, "
                          "%{customdata[1]} px<extra></extra>"))
    fig.update_xaxes(title_text="multiply-adds per image (millions, log scale)", type="log")
    fig.update_yaxes(title_text="final validation accuracy (%)")
    fig.update_layout(title="Small EfficientNet family on the embedded shapes: accuracy against cost", height=420,
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=60, r=20, t=60, b=60))
    return fig
