"""Figures of images: the grid every page draws images with, and the image trace every figure draws pixels with.

An image goes to the browser as a PNG (``go.Image(source=...)``), not as plotly's ``z`` array of numbers: plotly.js
paints a ``z`` image one ``fillRect`` per pixel on every redraw (seconds of the browser's CPU for a grid of draws)
and sends it as JSON numbers (several times the PNG's bytes), while a PNG source is shown as it is, pixelated.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go

PNG_PREFIX = "data:image/png;base64,"


def png_source(rgb) -> str:
    """A ``data:image/png;base64,...`` URI of an image (H, W, 3) or (H, W, 4) uint8: what ``go.Image(source=)``
    takes. Lossless: :func:`pixels_of_source` gives the same array back."""
    from PIL import Image

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an image (H, W, 3) or (H, W, 4) of uint8, got shape {arr.shape} of {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), "RGB" if arr.shape[2] == 3 else "RGBA").save(buf, "PNG",
                                                                                          compress_level=1)
    return PNG_PREFIX + base64.b64encode(buf.getvalue()).decode("ascii")


def pixels_of_source(source: str) -> np.ndarray:
    """The pixels (H, W, 3 or 4) uint8 of a PNG data URI made by :func:`png_source`."""
    from PIL import Image

    if not isinstance(source, str) or not source.startswith(PNG_PREFIX):
        raise ValueError(f"expected a data URI starting with {PNG_PREFIX!r}, got {str(source)[:40]!r}")
    with Image.open(io.BytesIO(base64.b64decode(source[len(PNG_PREFIX):]))) as im:
        return np.asarray(im.convert("RGBA" if im.mode == "RGBA" else "RGB"))


def image_trace(rgb, **kwargs) -> go.Image:
    """A ``go.Image`` of an image (H, W, 3) uint8 sent as a PNG; kwargs go to ``go.Image`` (hoverinfo, ...)."""
    return go.Image(source=png_source(rgb), **kwargs)


def _to_hwc_uint8(images) -> np.ndarray:
    """(N, C, H, W) uint8 tensor/array or (N, H, W, 3) array -> (N, H, W, 3) uint8 numpy."""


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


def unit_markers(ys, xs, plot_px: int, hovertemplate: str, max_markers: int = 4096) -> dict:
    """A near-invisible marker on every point (ys[i], xs[j]) of a map's units, as a scatter trace (a dict): a
    heatmap cannot be selected in the browser, so these make the map clickable, and the clicked point's (y, x) is
    a unit's. A regular subset of the units when there are more than ``max_markers``; markers sized for a plot
    about ``plot_px`` screen pixels across."""
    step = 1
    while (len(ys) // step) * (len(xs) // step) > max_markers:
        step += 1
    my, mx = np.meshgrid(np.asarray(ys, dtype=float)[::step], np.asarray(xs, dtype=float)[::step], indexing="ij")
    size = max(4, min(18, int(plot_px / max(len(ys), len(xs), 1) * step)))
    return dict(type="scatter", x=mx.ravel(), y=my.ravel(), mode="markers", name="units", showlegend=False,
                marker=dict(size=size, opacity=0.01, color="white"), hovertemplate=hovertemplate)


def image_grid(images, titles=None, cols: int = 8, title: str = "Images", cell_px: int = 96,
               hover=None) -> go.Figure:
    """A grid of images with a short title over each (class names, predictions, augmentation captions).

    images: (N, C, H, W) uint8 tensor/array (C = 1 or 3) or (N, H, W, 3) uint8; float input is read as [0, 1].
    titles: N strings (short; shown above the cells), hover: N longer strings shown on hover.
    One PNG ``go.Image`` mosaic (fast to send and to draw) with 2-pixel gaps; axes in pixels of the mosaic.
    """
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
    traces = [image_trace(mosaic, hoverinfo="skip")]
    if hover is not None:
        if len(hover) != n:
            raise ValueError(f"expected {n} hover texts, got {len(hover)}")
        # One invisible square marker per cell carries its hover text (per-pixel text would weigh megabytes).
        rc = [divmod(i, cols) for i in range(n)]
        traces.append(go.Scatter(
            x=[c * (w + gap) + w / 2 - 0.5 for _, c in rc], y=[r * (h + vgap) + vgap + h / 2 - 0.5 for r, _ in rc],
            mode="markers", marker=dict(symbol="square", size=cell_px * 0.95, opacity=0), hovertext=list(hover),
            hoverinfo="text", showlegend=False))
    # one figure call with the titles written out: plotly's add_annotation validates every note so far again
    # (48 titles took 0.29 s), and each update_* call validates its part again
    notes = [dict(x=c * (w + gap) + w / 2 - 0.5, y=r * (h + vgap) + vgap - 0.5, text=str(t), showarrow=False,
                  yanchor="bottom", font=dict(size=11), xref="x", yref="y")
             for (r, c), t in ((divmod(i, cols), t) for i, t in enumerate(titles or ()))]
    axis = dict(showticklabels=False, showgrid=False, zeroline=False)
    return go.Figure(traces, layout=dict(
        title=title, width=int(mosaic.shape[1] * scale) + 60, height=int(mosaic.shape[0] * scale) + 110,
        margin=dict(l=40, r=20, t=60, b=40), annotations=notes, plot_bgcolor="white",
        xaxis=dict(axis, title_text=f"images of {w} x {h} pixels", range=[-0.5, mosaic.shape[1] - 0.5]),
        yaxis=dict(axis, title_text=f"{rows} row(s)", range=[mosaic.shape[0] - 0.5, -0.5], scaleanchor="x")))


