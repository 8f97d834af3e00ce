"""Figures of one image's journey through a network (CNN Explainer's overview, Wang et al., IEEE VIS 2020): each
layer's strongest activation maps in a column, left to right, and the class probabilities at the end."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.palette import BLUE, GREY, ORANGE, RED
from vizcore.inspect.overview import Column, Overview

MAX_DISPLAY_SIDE = 56  # maps larger than this are averaged down for display (hover says which units a cell holds)


def _stack(col: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(z, y, x, customdata, gap, f) of one column: its maps stacked top to bottom in unit coordinates (map m's row
    i at y = m·(H + gap) + i), each scaled to [0, 1] by its own min–max, NaN rows between maps; maps wider than
    MAX_DISPLAY_SIDE averaged over f×f units. customdata: (value, channel, first unit row, first unit column)."""
    k, h, w = col.maps.shape
    f = max(1, -(-max(h, w) // MAX_DISPLAY_SIDE))
    whole = (float(col.maps.min()), float(col.maps.max()))  # 1×1 maps: scaled together, not each to itself
    hd, wd = -(-h // f), -(-w // f)
    gap = max(1, h // 6)
    step = hd + 1  # display rows per map, one NaN row between maps
    z = np.full((k * step - 1, wd), np.nan)
    custom = np.full((k * step - 1, wd, 4), np.nan)
    ys = np.zeros(k * step - 1)
    for m in range(k):
        a = np.asarray(col.maps[m], dtype=np.float64)
        pad = np.pad(a, ((0, hd * f - h), (0, wd * f - w)), constant_values=np.nan)
        d = np.nanmean(pad.reshape(hd, f, wd, f), axis=(1, 3))
        lo, hi = whole if h * w == 1 else (float(a.min()), float(a.max()))
        rows = slice(m * step, m * step + hd)
        z[rows] = (d - lo) / (hi - lo) if hi > lo else 0.5
        custom[rows, :, 0], custom[rows, :, 1] = d, col.channels[m]
        custom[rows, :, 2] = (np.arange(hd) * f)[:, None]
        custom[rows, :, 3] = (np.arange(wd) * f)[None, :]
        ys[rows] = m * (h + gap) + np.arange(hd) * f + (f - 1) / 2
        if m < k - 1:
            ys[m * step + hd] = m * (h + gap) + h - 0.5 + gap / 2
    xs = np.arange(wd) * f + (f - 1) / 2
    return z.astype(np.float32), ys, xs, custom.astype(np.float32), gap, f


def overview_figure(res: Overview, selected: int | None = None, unit: tuple[int, int] | None = None,
                    reads: tuple[tuple[int, int], tuple[int, int]] | None = None, top_k: int = 10,
                    title: str = "One image through the network") -> go.Figure:
    """Every column's maps (each scaled to its own min–max, strongest channel on top) and the top-k probabilities.

    selected / unit: the column index and unit (row, column) outlined on each of its maps; reads: the window of
    units of the column before it that the unit reads ((first row, last row), (first col, last col)).
    """
    cols = res.columns
    n = len(cols)
    probs = res.top(top_k)
    widths = [1.0] * n + ([2.5] if probs else [])
    space = 0.012
    unit_w = (1 - space * (len(widths) - 1)) / sum(widths)
    starts = np.concatenate([[0.0], np.cumsum([w * unit_w + space for w in widths])])
    layout: dict = {}  # axes, titles and boxes set in one update: plotly's per-axis updates cost ~25 ms each
    traces: list = []
    notes: list[dict] = []
    shapes: list[dict] = []
    for k, c in enumerate(cols):
        z, ys, xs, custom, gap, f = _stack(c)
        what = "activation" if f == 1 else f"mean activation of {f}×{f} units from"
        ax = "" if k == 0 else str(k + 1)
        traces.append(go.Heatmap(z=z, x=xs, y=ys, customdata=custom, colorscale="Viridis", zmin=0, zmax=1,
                                 showscale=False, hoverongaps=False, xaxis=f"x{ax}", yaxis=f"y{ax}",
                                 hovertemplate=f"{c.label}, channel %{{customdata[1]}}<br>{what} unit "
                                               "(%{customdata[2]}, %{customdata[3]})<br>"
                                               "%{customdata[0]:.3g}<extra></extra>"))
        h, w = c.shape[1:]
        dom = [float(starts[k]), float(starts[k] + widths[k] * unit_w)]
        layout[f"xaxis{ax}"] = dict(domain=dom, anchor=f"y{ax}", showticklabels=False, showgrid=False, ticks="",
                                    zeroline=False, range=[-0.5, w - 0.5], constrain="domain")
        layout[f"yaxis{ax}"] = dict(domain=[0, 1], anchor=f"x{ax}", showticklabels=False, showgrid=False, ticks="",
                                    zeroline=False, autorange="reversed", scaleanchor=f"x{ax}", scaleratio=1,
                                    constrain="domain")
        notes.append(dict(text=f"{c.label}<br>{c.op}<br>{c.shape[0]}×{h}×{w}", x=sum(dom) / 2, y=1.0,
                          xref="paper", yref="paper", xanchor="center", yanchor="bottom", showarrow=False,
                          font=dict(size=10)))
        boxes = []
        if selected == k and unit is not None:
            boxes.append(((unit[0], unit[0]), (unit[1], unit[1]), RED))
        if selected is not None and selected - 1 == k and reads is not None:
            boxes.append((reads[0], reads[1], ORANGE))
        for (r0, r1), (c0, c1), colour in boxes:
            for m in range(len(c.channels)):
                off = m * (h + gap)
                shapes.append(dict(type="rect", x0=c0 - 0.5, x1=c1 + 0.5, y0=off + r0 - 0.5, y1=off + r1 + 0.5,
                                   line=dict(color=colour, width=2), xref=f"x{ax}", yref=f"y{ax}"))
    if probs:
        names = [p[0] for p in probs][::-1]
        vals = [100 * p[1] for p in probs][::-1]
        ax = str(n + 1)
        traces.append(go.Bar(x=vals, y=names, orientation="h", marker_color=[GREY] * (len(vals) - 1) + [BLUE],
                             text=[f"{v:.1f}%" for v in vals], cliponaxis=False, xaxis=f"x{ax}", yaxis=f"y{ax}",
                             # inside a long bar (its label would run into the class names), outside a short one
                             textposition=["inside" if v > 60 else "outside" for v in vals],
                             insidetextanchor="end", insidetextfont=dict(color="white"),
                             hovertemplate="%{y}: %{x:.2f}%<extra></extra>"))
        dom = [float(starts[n]), 1.0]
        layout[f"xaxis{ax}"] = dict(domain=dom, anchor=f"y{ax}", title_text="probability (%)", range=[0, 100])
        layout[f"yaxis{ax}"] = dict(domain=[0, 1], anchor=f"x{ax}", title_text=f"class (top {len(vals)})",
                                    side="right", automargin=True)
        notes.append(dict(text="class probability", x=sum(dom) / 2, y=1.0, xref="paper", yref="paper",
                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=10)))
    notes.append(dict(x=0, y=0, yshift=-(75 if probs else 10), xref="paper", yref="paper", showarrow=False,
                      xanchor="left", yanchor="top", align="left", font=dict(size=11),
                      text="each column: the layer's strongest channels (by mean activation), top to bottom, each "
                           "map coloured by its own min–max (1×1 maps: together) in viridis;<br>red: the chosen unit; "
                           "orange: the units it reads"))
    k_maps = max((len(c.channels) for c in cols), default=1)
    height = int(np.clip(k_maps * 1.25 * 1000 / (n + 2.5) + 260, 450, 970))  # about as tall as the columns need
    fig = go.Figure(data=traces, layout=dict(layout, title=title, height=height, showlegend=False, annotations=notes,
                                             shapes=shapes, margin=dict(l=10, r=10, t=110, b=120 if probs else 60)))
    return fig
