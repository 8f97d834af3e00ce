"""Plotly figure builders: plain data in, ``plotly.graph_objects.Figure`` out. Pure; no Streamlit.

Every figure has a title, axis labels and units. Sections follow the concepts they draw.
"""
from __future__ import annotations

import plotly.graph_objects as go

# ============================================================================ geometry & architectures


# ============================================================================ receptive fields


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
    fig = go.Figure(go.Image(z=mosaic, hoverinfo="skip" if hover is None else "text"))
    if hover is not None:
        if len(hover) != n:
            raise ValueError(f"expected {n} hover texts, got {len(hover)}")
        text = np.full(mosaic.shape[:2], "", dtype=object)
        for i in range(n):
            r, c = divmod(i, cols)
            text[r * (h + vgap) + vgap:r * (h + vgap) + vgap + h, c * (w + gap):c * (w + gap) + w] = hover[i]
        fig.data[0].update(text=text.tolist(), hovertemplate="%{text}<extra></extra>")
    if titles is not None:
        for i, t in enumerate(titles):
            r, c = divmod(i, cols)
            fig.add_annotation(x=c * (w + gap) + w / 2 - 0.5, y=r * (h + vgap) + vgap - 0.5, text=str(t),
                               showarrow=False, yanchor="bottom", font=dict(size=11), xref="x", yref="y")
    fig.update_layout(
        title=title, width=int(mosaic.shape[1] * scale) + 60, height=int(mosaic.shape[0] * scale) + 110,
        margin=dict(l=40, r=20, t=60, b=40))
    fig.update_xaxes(title_text=f"images of {w} x {h} pixels", showticklabels=False, showgrid=False)
    fig.update_yaxes(title_text=f"{rows} row(s)", showticklabels=False, showgrid=False)
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
            cap = pv.captions[i][j]
            titles.append(cap if len(cap) <= 18 else cap[:17] + "…")
            hover.append(cap)
        if mixed:
            cells.append(pv.mixed[i])
            w = pv.mixed_labels[i] if pv.mixed_labels is not None else None
            top = "" if w is None else ", ".join(f"{float(v):.2f}" for v in w[w > 0.005][:2])
            titles.append(f"mixed {top}")
            hover.append(pv.mix_caption + (f"; label weights {top}" if top else ""))
    stack = np.stack([c.detach().cpu().numpy() for c in cells])
    return image_grid(stack, titles, cols=r + 1 + int(mixed), title=title, cell_px=cell_px, hover=hover)


# ============================================================================ training & comparison
