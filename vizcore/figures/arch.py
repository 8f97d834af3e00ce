"""Figures of architectures: per-layer metrics, per-stage and total comparisons."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

_METRIC_LABELS = {
    "spatial": ("Spatial size per layer", "output height (pixels)"),
    "channels": ("Channels per layer", "output channels"),
    "params": ("Parameters per layer", "parameters (count)"),
    "macs": ("Multiply-adds per layer", "multiply-adds (MACs, batch of 1)"),
}


def layer_metric_figure(rows: list[dict], metric: str, title_prefix: str = "") -> go.Figure:
    """Bar chart of one per-layer quantity ("spatial", "channels", "params", "macs") in execution order."""
    if metric not in _METRIC_LABELS:
        raise ValueError(f"expected metric in {sorted(_METRIC_LABELS)}, got {metric!r}")
    names, values, types = [], [], []
    for r in rows:
        shp = r["out_shape"]
        if metric == "spatial":
            if len(shp) < 3:
                continue
            v = shp[1]
        elif metric == "channels":
            if not shp:
                continue
            v = shp[0]
        else:
            v = r[metric]
        names.append(f"{r['index']}: {r['name']}")
        values.append(v)
        types.append(r["type"])
    title, ylab = _METRIC_LABELS[metric]
    fig = go.Figure(go.Bar(x=names, y=values, customdata=types,
                           hovertemplate="%{x}<br>%{customdata}<br>%{y:,}<extra></extra>", marker_color="#3182bd"))
    fig.update_layout(title=f"{title_prefix}{title}", xaxis_title="layer (execution order)", yaxis_title=ylab,
                      height=380, margin=dict(t=60, b=40))
    fig.update_yaxes(separatethousands=True)
    fig.update_xaxes(showticklabels=len(names) <= 40)
    if metric in ("params", "macs") and values and max(values) > 0:
        fig.update_yaxes(type="log" if max(values) / max(min(v for v in values if v > 0) if any(values) else 1, 1) > 1e3 else "linear")
    return fig


def _resolution(res: str) -> str:
    return "vector" if res == "vector" else res.replace("x", "×")


def _pixels(res: str) -> int:
    if res == "vector":
        return -1
    prod = 1
    for d in res.split("x"):
        prod *= int(d)
    return prod


def stage_comparison_figure(stages: dict[str, list[dict]], metric: str) -> go.Figure:
    """Grouped bars of per-stage params, MACs or layer counts for 2-4 models, aligned by output resolution.

    Each category is one output resolution (largest first, the flattened "vector" last), so the stages of
    different models at the same resolution stand side by side: VGG's 224×224 stage comes first instead of
    being appended on the right, and ResNet's 1×1 stage and MobileNet's vector no longer share a "stage 6".
    A resolution a model visits twice (rare) adds up; the stage numbers are on hover.
    """
    if metric not in ("params", "macs", "layers"):
        raise ValueError(f"expected metric 'params', 'macs' or 'layers', got {metric!r}")
    label = {"params": "parameters (count)", "macs": "multiply-adds (MACs)", "layers": "layers (count)"}[metric]
    resolutions = sorted({s["resolution"] for st in stages.values() for s in st}, key=_pixels, reverse=True)
    fig = go.Figure()
    for name, st in stages.items():
        merged: dict[str, list] = {}
        for i, s in enumerate(st):
            m = merged.setdefault(s["resolution"], [0, []])
            m[0] += s[metric]
            m[1].append(str(i + 1))
        xs = [r for r in resolutions if r in merged]
        fig.add_trace(go.Bar(name=name, x=[_resolution(r) for r in xs], y=[merged[r][0] for r in xs],
                             customdata=[", ".join(merged[r][1]) for r in xs],
                             hovertemplate=f"{name}<br>%{{x}} (stage %{{customdata}})<br>%{{y:,}}<extra></extra>"))
    fig.update_layout(barmode="group", title=f"{label.split(' (')[0].capitalize()} per stage (stages = runs of layers at one output resolution)",
                      xaxis_title="stage, by output resolution (largest first)", yaxis_title=label, height=420)
    fig.update_xaxes(categoryorder="array", categoryarray=[_resolution(r) for r in resolutions])
    fig.update_yaxes(separatethousands=True)
    return fig


def totals_comparison_figure(totals: dict[str, dict]) -> go.Figure:
    """Side-by-side bars of total parameters (millions) and multiply-adds (GMACs) per model."""


    names = list(totals)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Parameters", "Multiply-adds per image"))
    fig.add_trace(go.Bar(x=names, y=[totals[n]["params"] / 1e6 for n in names], marker_color="#6baed6",
                         hovertemplate="%{x}: %{y:.2f} M<extra></extra>"), 1, 1)
    fig.add_trace(go.Bar(x=names, y=[totals[n]["macs"] / 1e9 for n in names], marker_color="#fd8d3c",
                         hovertemplate="%{x}: %{y:.3f} G<extra></extra>"), 1, 2)
    fig.update_yaxes(title_text="parameters (millions)", row=1, col=1)
    fig.update_yaxes(title_text="multiply-adds (GMACs)", row=1, col=2)
    fig.update_xaxes(title_text="model", row=1, col=1)
    fig.update_xaxes(title_text="model", row=1, col=2)
    fig.update_layout(title="Model totals", showlegend=False, height=380)
    return fig
