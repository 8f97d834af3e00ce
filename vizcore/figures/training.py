"""Figures of training: LR schedules, live curves, bands over seeds, comparisons, paper vs measured, shape bias."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.palette import PALETTE, rgba

MARKERS_UP_TO = 60  # steps: a short schedule is drawn with a marker per step (one step would be no line at all)


def lr_schedule_figure(lrs, steps_per_epoch: int | None = None, warmup_steps: int = 0,
                       title: str = "Learning-rate schedule") -> go.Figure:
    """Per-step learning rate (lrs: shape (n_steps,)), warmup shaded, x in steps with epochs on hover.

    Short schedules get a marker per step, so a run of one or a few steps still shows its LR.
    """
    lrs = [float(v) for v in lrs]
    steps = list(range(len(lrs)))
    hover = "step %{x}<br>LR %{y:.4g}<extra></extra>"
    mode = "lines+markers" if len(lrs) <= MARKERS_UP_TO else "lines"
    if steps_per_epoch:
        epochs = [s / steps_per_epoch for s in steps]
        trace = go.Scatter(x=steps, y=lrs, mode=mode, name="LR", customdata=epochs,
                           hovertemplate="step %{x} (epoch %{customdata:.2f})<br>LR %{y:.4g}<extra></extra>")
    else:
        trace = go.Scatter(x=steps, y=lrs, mode=mode, name="LR", hovertemplate=hover)
    # one layout, shapes and notes written out: plotly's add_vrect and per-call updates cost milliseconds apiece
    xaxis: dict = dict(title=dict(text="optimizer step (count)"))
    shapes, notes = [], []
    if len(lrs) == 1:
        xaxis.update(range=[-1, 1], tickvals=[0])
        notes.append(dict(x=0, y=lrs[0], text=f"the whole run is one step at LR {lrs[0]:.4g}", showarrow=True,
                          arrowhead=2, ax=0, ay=-40))
    if warmup_steps > 0:
        shapes.append(dict(type="rect", x0=0, x1=warmup_steps, xref="x", y0=0, y1=1, yref="y domain",
                           fillcolor="orange", opacity=0.15, line=dict(width=0)))
        notes.append(dict(text="warmup", x=0, xref="x", y=1, yref="y domain", xanchor="left", yanchor="top",
                          showarrow=False))
    layout = dict(title=dict(text=title), xaxis=xaxis, yaxis=dict(title=dict(text="learning rate (per step)")),
                  height=300, margin=dict(l=60, r=20, t=50, b=50), showlegend=False)
    if shapes:
        layout["shapes"] = shapes
    if notes:
        layout["annotations"] = notes
    return go.Figure(data=[trace], layout=layout)


def live_curves_figure(steps=(), step_loss=(), step_lr=(), step_throughput=(), epochs=(), train_loss=(),
                       val_loss=(), train_acc=(), val_acc=(), title: str = "Training curves",
                       robust_acc=()) -> go.Figure:
    """Four panels of one run: loss (per step and per epoch), accuracy % (per epoch), LR and throughput.

    steps / step_*: shape (n_steps,) sampled per optimizer step; epochs / train_* / val_* / robust_acc (validation
    accuracy under PGD-10, when the run measures it): shape (n_epochs,).
    Built from one layout dict rather than ``plotly.subplots.make_subplots``, and not re-validated: this figure is
    redrawn every second while a run trains, and both cost far more than the data.
    """


    steps, epochs = list(steps), list(epochs)
    # Per-epoch points are drawn at the step where the epoch ended, so both scales share one x axis.
    epoch_x = epochs
    if steps and epochs:
        spe = max(steps) / max(max(epochs), 1)
        epoch_x = [e * spe for e in epochs]
    traces = []

    def add(x, y, name, axis, colour, mode="lines", dash=None, width=2):
        if mode == "lines" and len(y) <= MARKERS_UP_TO:  # a line through one point draws nothing: an empty panel
            mode = "lines+markers"
        if len(y):
            # numpy arrays: plotly validates them in one step (lists element by element) and sends them packed
            traces.append(dict(type="scatter", x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float),
                               name=name, mode=mode, xaxis=f"x{axis}",
                               yaxis=f"y{axis}", line=dict(color=colour, dash=dash, width=width)))

    add(steps, step_loss, "train loss (step)", "", rgba(PALETTE[0], 0.45), width=1)
    add(epoch_x, train_loss, "train loss (epoch)", "", PALETTE[0], "lines+markers")
    add(epoch_x, val_loss, "val loss (epoch)", "", PALETTE[1], "lines+markers", "dot")
    add(epochs, train_acc, "train accuracy", "2", PALETTE[0], "lines+markers")
    add(epochs, val_acc, "val accuracy", "2", PALETTE[1], "lines+markers")
    add(epochs, robust_acc, "val accuracy under PGD-10", "2", PALETTE[4], "lines+markers", "dash")
    add(steps, step_lr, "LR", "3", PALETTE[2])
    add(steps, step_throughput, "throughput", "4", PALETTE[3])
    left, right, top, bottom = [0.0, 0.45], [0.55, 1.0], [0.62, 1.0], [0.0, 0.38]

    def axes(i: str, xdom, ydom, xtitle, ytitle):
        return {f"xaxis{i}": dict(domain=xdom, anchor=f"y{i}", title=dict(text=xtitle)),
                f"yaxis{i}": dict(domain=ydom, anchor=f"x{i}", title=dict(text=ytitle))}

    layout = dict(title=dict(text=title), height=620, margin=dict(l=60, r=20, t=80, b=50),
                  legend=dict(orientation="h", y=-0.14), **axes("", left, top, "optimizer step (count)",
                                                               "cross-entropy (nats)"),
                  **axes("2", right, top, "epoch (count)", "accuracy (%)"),
                  **axes("3", left, bottom, "optimizer step (count)", "learning rate"),
                  **axes("4", right, bottom, "optimizer step (count)", "images / s"),
                  annotations=[dict(text=t, x=sum(xd) / 2, y=yd[1], xref="paper", yref="paper", xanchor="center",
                                    yanchor="bottom", showarrow=False, font=dict(size=14))
                               for t, xd, yd in (("Loss", left, top), ("Accuracy", right, top),
                                                 ("Learning rate", left, bottom), ("Throughput", right, bottom))])
    # Validation of a plotly figure costs ~40 ms per redraw here (per-property checks), more than everything
    # else in a live update; the spec above is fixed by this function and validated once in its test.
    return go.Figure(dict(data=traces, layout=layout), _validate=False)


def band_curves_figure(bands: dict, metric: str = "validation accuracy", unit: str = "%",
                       title: str | None = None) -> go.Figure:
    """Overlaid mean curve per configuration with its confidence band over seeds.

    bands: {config name: vizcore.lab.bands.Band} (x = epochs; mean/low/high shape (n_epochs,)).
    """
    traces = []
    for i, (name, b) in enumerate(bands.items()):
        colour = PALETTE[i % len(PALETTE)]
        x = [float(v) for v in b.x]
        n_max = int(max(b.n)) if len(b.n) else 0
        traces.append(go.Scatter(x=x + x[::-1], y=[float(v) for v in b.high] + [float(v) for v in b.low][::-1],
                                 fill="toself", fillcolor=rgba(colour, 0.18), line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, name=f"{name} band"))
        traces.append(go.Scatter(x=x, y=[float(v) for v in b.mean], mode="lines+markers", name=f"{name} (n={n_max})",
                                 line=dict(color=colour), customdata=[int(k) for k in b.n],
                                 hovertemplate="epoch %{x}<br>mean %{y:.2f}<br>seeds %{customdata}<extra></extra>"))
    return go.Figure(data=traces, layout=dict(  # one call: plotly's per-call updates cost milliseconds apiece
        title=dict(text=title or f"Mean {metric} over seeds with 95% band"),
        xaxis=dict(title=dict(text="epoch (count)")), yaxis=dict(title=dict(text=f"{metric} ({unit})")), height=380,
        margin=dict(l=60, r=20, t=50, b=50)))


def comparison_figure(names, means, half_widths, values=None, metric: str = "final validation accuracy",
                          unit: str = "%", title: str | None = None, lows=None, highs=None,
                          bounds: tuple[float, float] | None = None) -> go.Figure:
    """Mean per configuration (a dot) with its 95% interval as error bars; optional per-seed values as rings.

    Dots, not bars: the axis is zoomed to the values (accuracies of 98.1% and 98.6% on an axis from 0 would look
    equal), and a bar's length on a zoomed axis makes a half-point difference look like a factor of two.

    names, means, half_widths: shape (n_configs,); half width NaN (one seed) draws no bar.
    lows, highs: optional interval ends (an interval cut at a bound is asymmetric); they win over half_widths.
    values: optional list of per-seed value lists, one per configuration.
    bounds: the range the metric can take (accuracy: (0, 100)); the axis never shows past it.
    """
    names = [str(n) for n in names]
    mus = [float(m) for m in means]

    def ok(v) -> bool:
        return v is not None and v == v

    if lows is not None and highs is not None:
        up = [float(h) - m if ok(h) else 0.0 for h, m in zip(highs, mus)]
        down = [m - float(lo) if ok(lo) else 0.0 for lo, m in zip(lows, mus)]
    else:
        up = down = [float(h) if ok(h) else 0.0 for h in half_widths]
    err = up
    ends_lo = [m - d for m, d in zip(mus, down)]
    ends_hi = [m + u for m, u in zip(mus, up)]
    fig = go.Figure(go.Scatter(x=names, y=mus, mode="markers",
                               error_y=dict(type="data", array=up, arrayminus=down, symmetric=False, visible=True,
                                            thickness=2, width=10),
                               marker=dict(color=[PALETTE[i % len(PALETTE)] for i in range(len(names))], size=13),
                               name="mean", customdata=[[lo, hi] for lo, hi in zip(ends_lo, ends_hi)],
                               hovertemplate="%{x}<br>mean %{y:.2f}, 95% interval %{customdata[0]:.2f} to "
                                             "%{customdata[1]:.2f}<extra></extra>"))
    if values is not None:
        xs, ys = [], []
        for n, vs in zip(names, values):
            xs += [n] * len(vs)
            ys += [float(v) for v in vs]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="one seed",
                                 marker=dict(color="black", size=7, symbol="circle-open")))
    seed_values = [float(v) for vs in (values or []) for v in vs]
    ends = ends_lo + ends_hi + seed_values
    lo, hi = (min(ends), max(ends)) if ends else (0.0, 1.0)
    pad = max((hi - lo) * 0.3, 0.5)
    lo, hi = lo - pad, hi + pad
    if bounds is not None:
        margin = 0.02 * (bounds[1] - bounds[0])  # room for the error bar's cap at a bound
        lo, hi = max(lo, bounds[0] - margin), min(hi, bounds[1] + margin)
    del err
    fig.update_layout(title=title or f"{metric.capitalize()}: mean and 95% interval over seeds",
                      xaxis_title="configuration", yaxis_title=f"{metric} ({unit})", height=360,
                      yaxis_range=[lo, hi], margin=dict(l=60, r=20, t=50, b=50))
    return fig


def difference_figure(names, diffs, lows, highs, unit: str = "points",
                      title: str = "Difference against the baseline, with its 95% interval") -> go.Figure:
    """Each configuration's difference from the baseline (B − A) with its 95% interval, around a zero line: an
    interval that crosses zero is a difference the seeds cannot tell from noise.

    names: "B vs A" labels; diffs, lows, highs: shape (n,); an interval end that is NaN (one seed) draws none.
    """
    ys = [str(n) for n in names]
    d = [float(x) for x in diffs]
    ok = [math.isfinite(lo) and math.isfinite(hi) for lo, hi in zip(lows, highs)]
    plus = [float(hi) - x if k else 0.0 for hi, x, k in zip(highs, d, ok)]
    minus = [x - float(lo) if k else 0.0 for lo, x, k in zip(lows, d, ok)]
    span = max([abs(x) + max(p, m) for x, p, m in zip(d, plus, minus)] + [0.5]) * 1.15
    return go.Figure(  # one call, the zero line written out: plotly's add_vline and updates cost milliseconds apiece
        data=[go.Scatter(x=d, y=ys, mode="markers", marker=dict(size=12, color=PALETTE[1]), name="B − A",
                         error_x=dict(type="data", array=plus, arrayminus=minus, symmetric=False, visible=True,
                                      thickness=2, width=10),
                         hovertemplate="%{y}: %{x:+.2f} " + unit + "<extra></extra>")],
        layout=dict(shapes=[dict(type="line", x0=0.0, x1=0.0, xref="x", y0=0, y1=1, yref="y domain",
                                 line=dict(color="grey", dash="dash"))],
                    title=dict(text=title), xaxis=dict(title=dict(text=f"B − A ({unit})"), range=[-span, span]),
                    yaxis=dict(title=dict(text="comparison")), height=160 + 50 * len(ys),
                    margin=dict(l=60, r=20, t=50, b=50)))


def paper_vs_measured_figure(labels, paper, measured, measured_half_widths=None,
                             title: str = "Paper says vs you measured: accuracy change from the trick") -> go.Figure:
    """Grouped horizontal bars per trick: the paper's ImageNet delta and the delta measured here (with its 95%
    interval as an error bar).

    labels, paper, measured: shape (n_tricks,), points of top-1 accuracy; measured entries may be None.
    """
    labels = [str(x) for x in labels]
    err = None
    if measured_half_widths is not None:
        err = dict(type="data", visible=True,
                   array=[0.0 if (h is None or h != h) else float(h) for h in measured_half_widths])
    return go.Figure(  # one call, the zero line written out: plotly's add_vline and updates cost milliseconds apiece
        data=[go.Bar(y=labels, x=[float(p) for p in paper], name="paper (ImageNet, ResNet-50)", orientation="h",
                     marker_color="#7f7f7f"),
              go.Bar(y=labels, x=[None if m is None else float(m) for m in measured], name="measured here",
                     orientation="h", marker_color=PALETTE[0], error_x=err)],
        layout=dict(shapes=[dict(type="line", x0=0, x1=0, xref="x", y0=0, y1=1, yref="y domain",
                                 line=dict(color="black", width=1))],
                    title=dict(text=title), barmode="group",
                    yaxis=dict(title=dict(text="trick"), autorange="reversed"),
                    xaxis=dict(title=dict(text="accuracy change (percentage points)")),
                    height=160 + 45 * len(labels), margin=dict(l=60, r=20, t=50, b=50),
                    legend=dict(orientation="h", y=-0.15)))


def shape_bias_figure(names, shape_counts, texture_counts, other_counts,
                      title: str = "Shape vs texture decisions on cue-conflict images") -> go.Figure:
    """Stacked horizontal bars per run: fraction of shape / texture / neither decisions (shape bias on hover)."""
    names = [str(n) for n in names]
    totals = [max(int(s) + int(t) + int(o), 1) for s, t, o in zip(shape_counts, texture_counts, other_counts)]
    fig = go.Figure()
    for counts, label, colour in ((shape_counts, "shape", PALETTE[0]), (texture_counts, "texture", PALETTE[4]),
                                  (other_counts, "neither", "#c7c7c7")):
        fig.add_trace(go.Bar(y=names, x=[100.0 * int(c) / t for c, t in zip(counts, totals)], name=label,
                             orientation="h", marker_color=colour, customdata=[int(c) for c in counts],
                             hovertemplate=f"{label}: %{{x:.1f}}% (%{{customdata}} images)<extra></extra>"))
    fig.update_layout(title=title, barmode="stack", xaxis_title="share of cue-conflict images (%)",
                      yaxis_title="run", height=140 + 50 * len(names), xaxis_range=[0, 100],
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig
