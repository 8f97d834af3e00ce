"""Plotly figure builders: plain data in, ``plotly.graph_objects.Figure`` out. Pure; no Streamlit.

Every figure has a title, axis labels and units. Sections follow the concepts they draw.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from vizcore.geometry import ConvGeometry, Explained

# ============================================================================ geometry & architectures

MAX_FRAMES = 240  # animation frames at most; larger outputs are sampled evenly


def sliding_window_figure(g: "ConvGeometry", e: "Explained", max_frames: int = MAX_FRAMES) -> go.Figure:
    """Animated kernel sliding over the padded input (left) with the output cell it produces (right).

    One frame per output position (sampled evenly above ``max_frames``). Input pixels are blue, padding grey,
    and pixels no window ever covers (dropped by the floor) red. Dilation shows as spaced kernel taps.
    """
    import numpy as np
    from plotly.subplots import make_subplots

    top, bottom, left, right = e.pad
    ph, pw = g.height + top + bottom, g.width + left + right
    k_eff = g.dilation * (g.kernel - 1) + 1
    grid = np.zeros((ph, pw))
    grid[top:top + g.height, left:left + g.width] = 1.0
    rows = sorted({w[2] for w in e.windows})
    cols = sorted({w[3] for w in e.windows})
    row_cov = np.zeros(ph, dtype=bool)
    col_cov = np.zeros(pw, dtype=bool)
    for r in rows:
        row_cov[r:r + k_eff] = True
    for c in cols:
        col_cov[c:c + k_eff] = True
    covered = row_cov[:, None] & col_cov[None, :]
    grid[(grid == 1.0) & ~covered] = 2.0  # input pixels no window reaches
    colorscale = [[0.0, "#d0d0d0"], [0.33, "#d0d0d0"], [0.34, "#9ecae1"], [0.66, "#9ecae1"], [0.67, "#fb6a4a"],
                  [1.0, "#fb6a4a"]]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.08,
                        subplot_titles=(f"Padded input {ph}×{pw} (input {g.height}×{g.width})",
                                        f"Output {e.out_height}×{e.out_width}"))
    hover = np.where(grid == 0, "padding", np.where(grid == 1, "input pixel", "input pixel never covered"))
    fig.add_trace(go.Heatmap(z=grid, zmin=0, zmax=2, colorscale=colorscale, showscale=False, xgap=1, ygap=1,
                             text=hover, hovertemplate="row %{y}, col %{x}: %{text}<extra></extra>"), 1, 1)
    fig.add_trace(go.Heatmap(z=np.zeros((e.out_height, e.out_width)), colorscale=[[0, "#fdd0a2"], [1, "#fdd0a2"]],
                             showscale=False, xgap=1, ygap=1, hovertemplate="output (%{y}, %{x})<extra></extra>"), 1, 2)
    windows = e.windows
    if len(windows) > max_frames:
        idx = np.linspace(0, len(windows) - 1, max_frames).round().astype(int)
        windows = [windows[i] for i in idx]
    taps = np.arange(g.kernel) * g.dilation

    def tap_xy(top_: int, left_: int) -> tuple[list[int], list[int]]:
        yy, xx = np.meshgrid(top_ + taps, left_ + taps, indexing="ij")
        return xx.ravel().tolist(), yy.ravel().tolist()

    r0, c0, t0, l0 = windows[0]
    x0, y0 = tap_xy(t0, l0)
    fig.add_trace(go.Scatter(x=x0, y=y0, mode="markers", marker=dict(size=max(4, min(14, 240 // max(ph, pw))),
                  color="#08306b", symbol="square"), name="kernel taps", hoverinfo="skip"), 1, 1)
    fig.add_trace(go.Scatter(x=[c0], y=[r0], mode="markers", marker=dict(size=max(6, min(22, 260 // max(e.out_height, e.out_width))),
                  color="#d94801", symbol="square"), name="output value", hoverinfo="skip"), 1, 2)

    def box(t: int, l_: int) -> dict:
        return dict(type="rect", xref="x", yref="y", x0=l_ - 0.5, x1=l_ + k_eff - 0.5, y0=t - 0.5, y1=t + k_eff - 0.5,
                    line=dict(color="#08306b", width=2))

    frames = []
    for i, (r, c, t, l_) in enumerate(windows):
        xs, ys = tap_xy(t, l_)
        frames.append(go.Frame(name=str(i), data=[go.Scatter(x=xs, y=ys), go.Scatter(x=[c], y=[r])], traces=[2, 3],
                               layout=dict(shapes=[box(t, l_)])))
    fig.frames = frames
    fig.update_layout(shapes=[box(t0, l0)])
    steps = [dict(method="animate", label=f"({r},{c})", args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                  transition=dict(duration=0))]) for i, (r, c, _, _) in enumerate(windows)]
    sampled = "" if len(windows) == len(e.windows) else f" — {len(windows)} of {len(e.windows)} positions shown"
    fig.update_layout(
        title=f"Sliding window: {g.kernel}×{g.kernel} kernel, stride {g.stride}, dilation {g.dilation}{sampled}",
        height=620, showlegend=False, margin=dict(t=90, b=170, l=50, r=20),
        updatemenus=[dict(type="buttons", x=0, y=-0.3, xanchor="left", yanchor="top", direction="left", buttons=[
            dict(label="▶ Play", method="animate", args=[None, dict(frame=dict(duration=250, redraw=True), fromcurrent=True,
                                                                   transition=dict(duration=0))]),
            dict(label="❚❚ Pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))]),
        ])],
        sliders=[dict(active=0, steps=steps, x=0.18, len=0.82, y=-0.2, yanchor="top",
                      currentvalue=dict(prefix="output position (row, col): "))],
    )
    for col, (h, w) in ((1, (ph, pw)), (2, (e.out_height, e.out_width))):
        fig.update_xaxes(title_text="column (pixels)", range=[-0.5, w - 0.5], constrain="domain", row=1, col=col)
        fig.update_yaxes(title_text="row (pixels)", range=[h - 0.5, -0.5], scaleanchor="x" if col == 1 else "x2",
                         row=1, col=col)
    return fig


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
    fig.update_xaxes(showticklabels=len(names) <= 40)
    if metric in ("params", "macs") and values and max(values) > 0:
        fig.update_yaxes(type="log" if max(values) / max(min(v for v in values if v > 0) if any(values) else 1, 1) > 1e3 else "linear")
    return fig


def stage_comparison_figure(stages: dict[str, list[dict]], metric: str) -> go.Figure:
    """Grouped bars of per-stage (per output resolution) params or MACs for 2-4 models."""
    if metric not in ("params", "macs", "layers"):
        raise ValueError(f"expected metric 'params', 'macs' or 'layers', got {metric!r}")
    label = {"params": "parameters (count)", "macs": "multiply-adds (MACs)", "layers": "layers (count)"}[metric]
    fig = go.Figure()
    for name, st in stages.items():
        fig.add_trace(go.Bar(name=name, x=[f"stage {i + 1}<br>{s['resolution']}" for i, s in enumerate(st)],
                             y=[s[metric] for s in st]))
    fig.update_layout(barmode="group", title=f"{label.split(' (')[0].capitalize()} per stage (stages = runs of layers at one output resolution)",
                      xaxis_title="stage (output resolution)", yaxis_title=label, height=420)
    return fig


def totals_comparison_figure(totals: dict[str, dict]) -> go.Figure:
    """Side-by-side bars of total parameters (millions) and multiply-adds (GMACs) per model."""
    from plotly.subplots import make_subplots

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



# ============================================================================ receptive fields


def rf_image_figure(image, box: tuple[int, int, int, int], clipped: tuple[int, int, int, int],
                    centre: tuple[float, float], erf=None, title: str = "Receptive field on the input") -> go.Figure:
    """The input image with one unit's theoretical field and, optionally, its effective field.

    image: (H, W, 3) uint8 as the model sees it. box / clipped: (top, left, bottom, right) inclusive input
    pixels before / after clipping to the image; the part of ``box`` outside the image is zero padding,
    drawn dashed over the grey margin. erf: (H, W) non-negative weights (any scale) drawn as a red overlay.
    """
    import numpy as np

    img = np.asarray(image)
    h, w = img.shape[:2]
    fig = go.Figure(go.Image(z=img, hovertemplate="row %{y}, column %{x}<extra></extra>"))
    if erf is not None:
        e = np.asarray(erf, dtype=float)
        peak = float(e.max()) if e.size else 0.0
        z = np.sqrt(e / peak) if peak > 0 else e  # sqrt: the tails of a Gaussian-like ERF stay visible
        fig.add_trace(go.Heatmap(
            z=z, x0=0, dx=1, y0=0, dy=1, zmin=0, zmax=1, showscale=True, name="effective field",
            colorscale=[[0, "rgba(255,0,0,0)"], [0.1, "rgba(255,40,0,0.35)"], [1, "rgba(255,230,0,0.9)"]],
            colorbar=dict(title=dict(text="√ ERF<br>(share of peak)", side="right"), len=0.6),
            hovertemplate="row %{y}, column %{x}<br>√ERF %{z:.2f}<extra></extra>"))
    t, l, b, r = box
    ct, cl, cb, cr = clipped
    # theoretical box, including the part in the padding (dashed); then the part on the image (solid)
    fig.add_shape(type="rect", x0=l - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                  line=dict(color="#ff9900", width=2, dash="dash"), fillcolor="rgba(255,153,0,0.07)")
    fig.add_shape(type="rect", x0=cl - 0.5, x1=cr + 0.5, y0=ct - 0.5, y1=cb + 0.5,
                  line=dict(color="#00d5ff", width=3))
    fig.add_shape(type="rect", x0=-0.5, x1=w - 0.5, y0=-0.5, y1=h - 0.5, line=dict(color="#444", width=1))
    fig.add_trace(go.Scatter(x=[centre[1]], y=[centre[0]], mode="markers", name="centre",
                             marker=dict(symbol="x", size=11, color="#00d5ff", line=dict(width=1, color="black")),
                             hovertemplate="centre (%{y:.1f}, %{x:.1f})<extra></extra>"))
    pad = max(8, int(0.04 * max(h, w)))
    x_lo, x_hi = min(l, 0) - pad, max(r, w - 1) + pad
    y_lo, y_hi = min(t, 0) - pad, max(b, h - 1) + pad
    fig.update_xaxes(range=[x_lo, x_hi], title_text="input column (pixels)", showgrid=False, zeroline=False,
                     constrain="domain")
    fig.update_yaxes(range=[y_hi, y_lo], title_text="input row (pixels)", showgrid=False, zeroline=False,
                     scaleanchor="x", scaleratio=1)
    fig.update_layout(title=title, plot_bgcolor="#d9d9d9", showlegend=False, height=520,
                      margin=dict(l=60, r=20, t=60, b=50))
    fig.add_annotation(x=0.0, y=-0.16, xref="paper", yref="paper", showarrow=False, xanchor="left",
                       text="solid cyan: field on the image · dashed orange: full theoretical field "
                            "(outside the image = zero padding)", font=dict(size=11))
    return fig


def feature_grid_figure(fmap, unit: tuple[int, int], title: str = "Feature map",
                        max_markers: int = 4096) -> go.Figure:
    """A layer's feature map (h, w) as a grid (mean |activation| over channels), the selected unit outlined.

    One near-invisible marker per cell (a regular subset when the map has more than ``max_markers`` cells)
    makes the grid clickable: the selected point's (x, y) is the unit's (column, row).
    """
    import numpy as np

    z = np.asarray(fmap, dtype=float)
    h, w = z.shape
    fig = go.Figure(go.Heatmap(z=z, colorscale="Viridis", colorbar=dict(title=dict(text="mean |activation|",
                                                                                  side="right")),
                               hovertemplate="unit (%{y}, %{x})<br>mean |activation| %{z:.3g}<extra></extra>"))
    step = 1
    while (h // step) * (w // step) > max_markers:
        step += 1
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", name="units",
                             marker=dict(size=max(4, min(18, int(360 / max(h, w) * step))), opacity=0.01,
                                         color="white"),
                             hovertemplate="unit (%{y}, %{x}): click to inspect<extra></extra>"))
    i, j = unit
    fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color="#ff3355", width=3))
    fig.update_xaxes(title_text="unit column j", range=[-0.5, w - 0.5], showgrid=False, constrain="domain")
    fig.update_yaxes(title_text="unit row i", range=[h - 0.5, -0.5], showgrid=False, scaleanchor="x", scaleratio=1)
    fig.update_layout(title=title, showlegend=False, height=520, margin=dict(l=60, r=20, t=60, b=50),
                      clickmode="event+select", dragmode=False)
    return fig


_GEOMETRY_OPS = {"Conv2d", "MaxPool2d", "AvgPool2d", "max_pool2d", "avg_pool2d", "conv2d"}


def rf_growth_figure(series: dict[str, list[dict]], log: bool = True) -> go.Figure:
    """Field size and stride per layer through several networks.

    series: model name -> the CLI records of ``python -m vizcore rf`` (``op``, ``size``, ``stride``...); only
    convolution and pooling nodes are plotted (the others keep the field), x = their order in the network.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Receptive field size", "Effective stride (jump)"))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
    for n, (name, recs) in enumerate(series.items()):
        rows = [r for r in recs if r["op"] in _GEOMETRY_OPS and len(r["out_shape"]) == 3]
        x = list(range(1, len(rows) + 1))
        color = palette[n % len(palette)]
        labels = [f"{r['module'] or r['node']} ({r['op']})" for r in rows]
        fig.add_trace(go.Scatter(x=x, y=[r["size"][0] for r in rows], mode="lines+markers", name=name,
                                 legendgroup=name, line=dict(color=color), marker=dict(size=4), text=labels,
                                 hovertemplate="%{text}<br>layer %{x}: field %{y} px<extra>" + name + "</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=[r["stride"][0] for r in rows], mode="lines+markers", name=name,
                                 legendgroup=name, showlegend=False, line=dict(color=color), marker=dict(size=4),
                                 text=labels, hovertemplate="%{text}<br>layer %{x}: stride %{y} px<extra>"
                                 + name + "</extra>"), row=1, col=2)
    for col, label in ((1, "field size (input pixels, height)"), (2, "stride (input pixels per unit)")):
        fig.update_xaxes(title_text="conv / pooling layer, in order", row=1, col=col)
        fig.update_yaxes(title_text=label, type="log" if log else "linear", row=1, col=col,
                         tickvals=[2 ** e for e in range(13)] if log else None)
    fig.update_layout(title="How the receptive field grows through the network", height=430,
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=60, r=20, t=70, b=60))
    return fig


def kernel_stack_figure(k: int, channels: int, n_max: int = 6) -> go.Figure:
    """Weights of n stacked k x k convolutions vs one convolution with the same field, for n = 1..n_max."""
    ns = list(range(1, n_max + 1))
    fields = [n * (k - 1) + 1 for n in ns]
    stacked = [n * k * k * channels * channels for n in ns]
    single = [f * f * channels * channels for f in fields]
    names = [f"n={n}<br>field {f}×{f}" for n, f in zip(ns, fields)]
    fig = go.Figure([
        go.Bar(x=names, y=stacked, name=f"{'n'} stacked {k}×{k} (n non-linearities)", marker_color="#1f77b4",
               hovertemplate="%{x}<br>%{y:,} weights<extra>stacked</extra>"),
        go.Bar(x=names, y=single, name="one big kernel (1 non-linearity)", marker_color="#ff7f0e",
               hovertemplate="%{x}<br>%{y:,} weights<extra>single</extra>"),
    ])
    fig.update_layout(title=f"Weights for the same receptive field, C = {channels} channels in and out",
                      barmode="group", height=380, legend=dict(orientation="h", y=-0.3),
                      margin=dict(l=60, r=20, t=60, b=60))
    fig.update_xaxes(title_text="number of stacked layers n and the field they reach")
    fig.update_yaxes(title_text="weights (count, no biases)")
    return fig


# ============================================================================ data & augmentation


def _to_hwc_uint8(images) -> "np.ndarray":
    """(N, C, H, W) uint8 tensor/array or (N, H, W, 3) array -> (N, H, W, 3) uint8 numpy."""
    import numpy as np

    arr = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"expected a batch of images (N, C, H, W) or (N, H, W, 3), got shape {arr.shape}")
    if arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return arr


def image_grid(images, titles=None, cols: int = 8, title: str = "Images", cell_px: int = 96,
               hover=None) -> go.Figure:
    """A grid of images with a short title over each (class names, predictions, augmentation captions).

    images: (N, C, H, W) uint8 tensor/array (C = 1 or 3) or (N, H, W, 3) uint8; float input is read as [0, 1].
    titles: N strings (short; shown above the cells), hover: N longer strings shown on hover.
    One ``go.Image`` mosaic (fast to send) with 2-pixel gaps; axes in pixels of the mosaic.
    """
    import numpy as np

    arr = _to_hwc_uint8(images)
    n, h, w, _ = arr.shape
    if n == 0:
        raise ValueError("expected at least one image, got none")
    if titles is not None and len(titles) != n:
        raise ValueError(f"expected {n} titles, got {len(titles)}")
    cols = max(1, min(int(cols), n))
    rows = -(-n // cols)
    scale = cell_px / max(h, w)  # screen pixels per image pixel
    gap = max(1, h // 16)
    # Rows leave room for a title line of ~16 screen pixels above each image.
    vgap = max(gap, int(np.ceil(16 / scale))) if titles is not None else gap
    mosaic = np.full((rows * (h + vgap), cols * (w + gap) - gap, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        mosaic[r * (h + vgap) + vgap:r * (h + vgap) + vgap + h, c * (w + gap):c * (w + gap) + w] = arr[i]
    fig = go.Figure(go.Image(z=mosaic, hoverinfo="skip"))
    if hover is not None:
        if len(hover) != n:
            raise ValueError(f"expected {n} hover texts, got {len(hover)}")
        # One invisible square marker per cell carries its hover text (per-pixel text would weigh megabytes).
        rc = [divmod(i, cols) for i in range(n)]
        fig.add_trace(go.Scatter(
            x=[c * (w + gap) + w / 2 - 0.5 for _, c in rc], y=[r * (h + vgap) + vgap + h / 2 - 0.5 for r, _ in rc],
            mode="markers", marker=dict(symbol="square", size=cell_px * 0.95, opacity=0), hovertext=list(hover),
            hoverinfo="text", showlegend=False))
    if titles is not None:
        for i, t in enumerate(titles):
            r, c = divmod(i, cols)
            fig.add_annotation(x=c * (w + gap) + w / 2 - 0.5, y=r * (h + vgap) + vgap - 0.5, text=str(t),
                               showarrow=False, yanchor="bottom", font=dict(size=11), xref="x", yref="y")
    fig.update_layout(
        title=title, width=int(mosaic.shape[1] * scale) + 60, height=int(mosaic.shape[0] * scale) + 110,
        margin=dict(l=40, r=20, t=60, b=40))
    fig.update_xaxes(title_text=f"images of {w} x {h} pixels", showticklabels=False, showgrid=False, zeroline=False,
                     range=[-0.5, mosaic.shape[1] - 0.5])
    fig.update_yaxes(title_text=f"{rows} row(s)", showticklabels=False, showgrid=False, zeroline=False,
                     range=[mosaic.shape[0] - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(plot_bgcolor="white")
    return fig


def class_examples(images, labels, classes, per_class: int = 6, title: str = "Examples per class",
                   cell_px: int = 72) -> go.Figure:
    """One row per class with its first ``per_class`` images; the class name titles each row's first cell."""
    import numpy as np

    lab = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
    arr = _to_hwc_uint8(images)
    rows, titles = [], []
    for k, name in enumerate(classes):
        idx = np.flatnonzero(lab == k)[:per_class]
        if idx.size == 0:
            continue
        pad = np.full((per_class - idx.size, *arr.shape[1:]), 255, np.uint8)
        rows.append(np.concatenate([arr[idx], pad]))
        titles += [str(name)] + [""] * (per_class - 1)
    if not rows:
        raise ValueError("expected images of at least one class, got none")
    return image_grid(np.concatenate(rows), titles, cols=per_class, title=title, cell_px=cell_px)


def augment_preview_figure(pv, title: str = "Augmentation preview: original, then augmented copies",
                           cell_px: int = 96) -> go.Figure:
    """Rows: one original followed by its augmented copies (captions say what was drawn, hover shows it whole).

    pv: ``vizcore.augment.Preview``. When it holds a mixed batch, a last column shows each mixed image.
    """
    import numpy as np

    k, r = pv.augmented.shape[:2]
    cells, titles, hover = [], [], []
    mixed = pv.mixed is not None
    for i in range(k):
        cells.append(pv.originals[i])
        titles.append("original")
        hover.append("original")
        for j in range(r):
            cells.append(pv.augmented[i, j])
            short = pv.short_captions[i][j]
            titles.append(short if len(short) <= 18 else short[:17] + "…")
            hover.append(pv.captions[i][j])
        if mixed:
            cells.append(pv.mixed[i])
            w = pv.mixed_labels[i] if pv.mixed_labels is not None else None
            top = "" if w is None else ", ".join(f"{float(v):.2f}" for v in w[w > 0.005][:2])
            titles.append(f"mixed {top}")
            hover.append(pv.mix_caption + (f"; label weights {top}" if top else ""))
    stack = np.stack([c.detach().cpu().numpy() for c in cells])
    return image_grid(stack, titles, cols=r + 1 + int(mixed), title=title, cell_px=cell_px, hover=hover)



def overlay_masks(images, masks, color: tuple[int, int, int] = (255, 0, 0), alpha: float = 0.45):
    """Images with their object masks tinted: (N, C, H, W) uint8 + (N, H, W) bool -> (N, H, W, 3) uint8."""
    import numpy as np

    arr = _to_hwc_uint8(images).astype(np.float32)
    m = masks.detach().cpu().numpy() if hasattr(masks, "detach") else np.asarray(masks)
    if m.shape != arr.shape[:3]:
        raise ValueError(f"expected masks of shape {arr.shape[:3]}, got {m.shape}")
    tint = np.asarray(color, np.float32)
    out = np.where(m[..., None], (1 - alpha) * arr + alpha * tint, arr)
    return out.round().astype(np.uint8)


def class_counts_figure(counts: dict[str, int], title: str = "Images per class") -> go.Figure:
    """Bar chart of images per class (class balance)."""
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color="#4c78a8",
                           hovertemplate="%{x}: %{y} images<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="class", yaxis_title="images (count)", height=320,
                      margin=dict(l=50, r=20, t=50, b=50))
    return fig


def pixel_histogram_figure(images, title: str = "Pixel values per channel") -> go.Figure:
    """Histogram of uint8 pixel values per channel (R, G, B or grey) of a set: (N, C, H, W) uint8 tensor."""
    import torch

    names = ("red", "green", "blue") if images.shape[1] == 3 else ("grey",)
    colors = ("#d62728", "#2ca02c", "#1f77b4") if images.shape[1] == 3 else ("#555555",)
    fig = go.Figure()
    for c, (name, col) in enumerate(zip(names, colors)):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        fig.add_trace(go.Scatter(x=list(range(256)), y=(hist / hist.sum()).tolist(), name=name, mode="lines",
                                 line=dict(color=col)))
    fig.update_layout(title=title, xaxis_title="pixel value (0-255)", yaxis_title="fraction of pixels",
                      height=320, margin=dict(l=50, r=20, t=50, b=50))
    return fig

# ============================================================================ training & comparison
# Figures for the Training Lab: the LR schedule a config will use, live curves of one run, mean curves with a
# band over seeds, final metrics with error bars, the paper's deltas beside the measured ones, shape bias.

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def lr_schedule_figure(lrs, steps_per_epoch: int | None = None, warmup_steps: int = 0,
                       title: str = "Learning-rate schedule") -> go.Figure:
    """Per-step learning rate (lrs: shape (n_steps,)), warmup shaded, x in steps with epochs on hover."""
    lrs = [float(v) for v in lrs]
    steps = list(range(len(lrs)))
    hover = "step %{x}<br>LR %{y:.4g}<extra></extra>"
    if steps_per_epoch:
        epochs = [s / steps_per_epoch for s in steps]
        fig = go.Figure(go.Scatter(x=steps, y=lrs, mode="lines", name="LR", customdata=epochs,
                                   hovertemplate="step %{x} (epoch %{customdata:.2f})<br>LR %{y:.4g}<extra></extra>"))
    else:
        fig = go.Figure(go.Scatter(x=steps, y=lrs, mode="lines", name="LR", hovertemplate=hover))
    if warmup_steps > 0:
        fig.add_vrect(x0=0, x1=warmup_steps, fillcolor="orange", opacity=0.15, line_width=0,
                      annotation_text="warmup", annotation_position="top left")
    fig.update_layout(title=title, xaxis_title="optimizer step (count)", yaxis_title="learning rate (per step)",
                      height=300, margin=dict(l=60, r=20, t=50, b=50), showlegend=False)
    return fig


def live_curves_figure(steps=(), step_loss=(), step_lr=(), step_throughput=(), epochs=(), train_loss=(),
                       val_loss=(), train_acc=(), val_acc=(), title: str = "Training curves") -> go.Figure:
    """Four panels of one run: loss (per step and per epoch), accuracy % (per epoch), LR and throughput.

    steps / step_*: shape (n_steps,) sampled per optimizer step; epochs / train_* / val_*: shape (n_epochs,).
    Built from one layout dict rather than ``plotly.subplots.make_subplots``, and not re-validated: this figure is
    redrawn every second while a run trains, and both cost far more than the data.
    """
    import numpy as np

    steps, epochs = list(steps), list(epochs)
    # Per-epoch points are drawn at the step where the epoch ended, so both scales share one x axis.
    epoch_x = epochs
    if steps and epochs:
        spe = max(steps) / max(max(epochs), 1)
        epoch_x = [e * spe for e in epochs]
    traces = []

    def add(x, y, name, axis, colour, mode="lines", dash=None, width=2):
        if len(y):
            # numpy arrays: plotly validates them in one step (lists element by element) and sends them packed
            traces.append(dict(type="scatter", x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float),
                               name=name, mode=mode, xaxis=f"x{axis}",
                               yaxis=f"y{axis}", line=dict(color=colour, dash=dash, width=width)))

    add(steps, step_loss, "train loss (step)", "", _rgba(_PALETTE[0], 0.45), width=1)
    add(epoch_x, train_loss, "train loss (epoch)", "", _PALETTE[0], "lines+markers")
    add(epoch_x, val_loss, "val loss (epoch)", "", _PALETTE[1], "lines+markers", "dot")
    add(epochs, train_acc, "train accuracy", "2", _PALETTE[0], "lines+markers")
    add(epochs, val_acc, "val accuracy", "2", _PALETTE[1], "lines+markers")
    add(steps, step_lr, "LR", "3", _PALETTE[2])
    add(steps, step_throughput, "throughput", "4", _PALETTE[3])
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

    bands: {config name: vizcore.compare.Band} (x = epochs; mean/low/high shape (n_epochs,)).
    """
    fig = go.Figure()
    for i, (name, b) in enumerate(bands.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        x = [float(v) for v in b.x]
        n_max = int(max(b.n)) if len(b.n) else 0
        fig.add_trace(go.Scatter(x=x + x[::-1], y=[float(v) for v in b.high] + [float(v) for v in b.low][::-1],
                                 fill="toself", fillcolor=_rgba(colour, 0.18), line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, name=f"{name} band"))
        fig.add_trace(go.Scatter(x=x, y=[float(v) for v in b.mean], mode="lines+markers", name=f"{name} (n={n_max})",
                                 line=dict(color=colour), customdata=[int(k) for k in b.n],
                                 hovertemplate="epoch %{x}<br>mean %{y:.2f}<br>seeds %{customdata}<extra></extra>"))
    fig.update_layout(title=title or f"Mean {metric} over seeds with 95% band",
                      xaxis_title="epoch (count)", yaxis_title=f"{metric} ({unit})", height=380,
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig


def comparison_bar_figure(names, means, half_widths, values=None, metric: str = "final validation accuracy",
                          unit: str = "%", title: str | None = None) -> go.Figure:
    """Mean per configuration with its 95% interval as error bars; optional per-seed values as dots.

    names, means, half_widths: shape (n_configs,); half width NaN (one seed) draws no bar.
    values: optional list of per-seed value lists, one per configuration.
    """
    names = [str(n) for n in names]
    err = [0.0 if (h is None or h != h) else float(h) for h in half_widths]
    fig = go.Figure(go.Bar(x=names, y=[float(m) for m in means], error_y=dict(type="data", array=err, visible=True),
                           marker_color=[_PALETTE[i % len(_PALETTE)] for i in range(len(names))], name="mean",
                           hovertemplate="%{x}<br>mean %{y:.2f} ± %{error_y.array:.2f}<extra></extra>"))
    if values is not None:
        xs, ys = [], []
        for n, vs in zip(names, values):
            xs += [n] * len(vs)
            ys += [float(v) for v in vs]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="one seed",
                                 marker=dict(color="black", size=7, symbol="circle-open")))
    seed_values = [float(v) for vs in (values or []) for v in vs]
    ends = [float(m) - e for m, e in zip(means, err)] + [float(m) + e for m, e in zip(means, err)] + seed_values
    lo, hi = (min(ends), max(ends)) if ends else (0.0, 1.0)
    pad = max((hi - lo) * 0.3, 0.5)
    fig.update_layout(title=title or f"{metric.capitalize()}: mean ± 95% interval over seeds",
                      xaxis_title="configuration", yaxis_title=f"{metric} ({unit})", height=360,
                      yaxis_range=[lo - pad, hi + pad], margin=dict(l=60, r=20, t=50, b=50))
    return fig


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
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=[float(p) for p in paper], name="paper (ImageNet, ResNet-50)",
                         orientation="h", marker_color="#7f7f7f"))
    fig.add_trace(go.Bar(y=labels, x=[None if m is None else float(m) for m in measured], name="measured here",
                         orientation="h", marker_color=_PALETTE[0], error_x=err))
    fig.add_vline(x=0, line_color="black", line_width=1)
    fig.update_layout(title=title, barmode="group", yaxis_title="trick", yaxis_autorange="reversed",
                      xaxis_title="accuracy change (percentage points)", height=160 + 45 * len(labels),
                      margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.15))
    return fig


def shape_bias_figure(names, shape_counts, texture_counts, other_counts,
                      title: str = "Shape vs texture decisions on cue-conflict images") -> go.Figure:
    """Stacked horizontal bars per run: fraction of shape / texture / neither decisions (shape bias on hover)."""
    names = [str(n) for n in names]
    totals = [max(int(s) + int(t) + int(o), 1) for s, t, o in zip(shape_counts, texture_counts, other_counts)]
    fig = go.Figure()
    for counts, label, colour in ((shape_counts, "shape", _PALETTE[0]), (texture_counts, "texture", _PALETTE[4]),
                                  (other_counts, "neither", "#c7c7c7")):
        fig.add_trace(go.Bar(y=names, x=[100.0 * int(c) / t for c, t in zip(counts, totals)], name=label,
                             orientation="h", marker_color=colour, customdata=[int(c) for c in counts],
                             hovertemplate=f"{label}: %{{x:.1f}}% (%{{customdata}} images)<extra></extra>"))
    fig.update_layout(title=title, barmode="stack", xaxis_title="share of cue-conflict images (%)",
                      yaxis_title="run", height=140 + 50 * len(names), xaxis_range=[0, 100],
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig
