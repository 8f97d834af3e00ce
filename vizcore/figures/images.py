"""Figures of images and data sets: grids, examples per class, augmentation previews, masks, histograms."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


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


def image_grid(images, titles=None, cols: int = 8, title: str = "Images", cell_px: int = 96,
               hover=None) -> go.Figure:
    """A grid of images with a short title over each (class names, predictions, augmentation captions).

    images: (N, C, H, W) uint8 tensor/array (C = 1 or 3) or (N, H, W, 3) uint8; float input is read as [0, 1].
    titles: N strings (short; shown above the cells), hover: N longer strings shown on hover.
    One ``go.Image`` mosaic (fast to send) with 2-pixel gaps; axes in pixels of the mosaic.
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

    pv: ``vizcore.data.augment.Preview``. When it holds a mixed batch, a last column shows each mixed image.
    """


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
