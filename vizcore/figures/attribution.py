"""Figures of attribution maps: overlays, top-k predictions, localisation against chance (also per epoch of a
run: CAM over training), deletion/insertion curves and the cascading-randomisation sanity check (Adebayo et al.,
NeurIPS 2018)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from vizcore.figures.images import image_trace
from vizcore.figures.palette import GREY, PALETTE

COLORSCALE = "Jet"
_LUT = np.array([[int(v) for v in c[c.index("(") + 1:-1].split(",")]
                 for c in sample_colorscale(COLORSCALE, np.linspace(0, 1, 256))], dtype=np.float64)


def resize_map(cam: NDArray, h: int, w: int) -> NDArray[np.float64]:
    """Bilinear resize of a (h0, w0) map to (h, w) (half-pixel centres, like torch's align_corners=False)."""
    cam = np.asarray(cam, dtype=np.float64)
    h0, w0 = cam.shape
    if (h0, w0) == (h, w):
        return cam
    ys = np.clip((np.arange(h) + 0.5) * h0 / h - 0.5, 0, h0 - 1)
    xs = np.clip((np.arange(w) + 0.5) * w0 / w - 0.5, 0, w0 - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h0 - 1), np.minimum(x0 + 1, w0 - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = cam[y0][:, x0] * (1 - fx) + cam[y0][:, x1] * fx
    bottom = cam[y1][:, x0] * (1 - fx) + cam[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def overlay_rgb(image: NDArray[np.uint8], cam: NDArray, alpha: float = 0.5) -> NDArray[np.uint8]:
    """Blend a map over an image: image (H, W, 3) uint8, cam (h, w) >= 0 (resized, scaled by its maximum),
    alpha in [0, 1] the map's opacity -> (H, W, 3) uint8. Colours: the Jet scale (blue low, red high)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"expected an opacity in [0, 1], got {alpha}")
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an image (H, W, 3), got shape {img.shape}")
    m = resize_map(cam, img.shape[0], img.shape[1])
    peak = m.max()
    m = np.clip(m / peak, 0, 1) if peak > 0 else np.zeros_like(m)
    colour = _LUT[np.round(m * 255).astype(int)]
    return np.clip((1 - alpha) * img + alpha * colour, 0, 255).round().astype(np.uint8)


def _outline(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    m = np.asarray(mask, dtype=bool)
    inner = m.copy()
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def overlay_figure(image: NDArray[np.uint8], cam: NDArray, alpha: float, title: str,
                   mask: NDArray[np.bool_] | None = None, peak: tuple[float, float] | None = None) -> go.Figure:
    """One overlay with a colour bar (relative importance 0-1); optional object-mask outline (white) and the
    map's peak (a cross), both in the image's pixels."""
    rgb = overlay_rgb(image, cam, alpha)
    h, w = rgb.shape[:2]
    if mask is not None:
        edge = _outline(resize_map(mask.astype(float), h, w) > 0.5)
        rgb[edge] = 255
    fig = go.Figure(image_trace(rgb, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip", marker=dict(
        colorscale=COLORSCALE, cmin=0, cmax=1, color=[0], showscale=True,
        colorbar=dict(title=dict(text="relative<br>importance", side="right"), thickness=12, len=0.8))))
    if peak is not None:
        fig.add_trace(go.Scatter(x=[peak[1]], y=[peak[0]], mode="markers", name="maximum", hoverinfo="name",
                                 marker=dict(symbol="x", size=12, color="white", line=dict(width=1, color="black")),
                                 showlegend=False))
    fig.update_layout(title=title, height=380, margin=dict(l=40, r=10, t=50, b=40), plot_bgcolor="white")
    fig.update_xaxes(title_text=f"x (pixels, 0–{w - 1})", showgrid=False, zeroline=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(title_text="y (pixels)", showgrid=False, zeroline=False, range=[h - 0.5, -0.5], scaleanchor="x")
    return fig


def topk_figure(probs: Sequence[float], names: Sequence[str], title: str = "Top predictions") -> go.Figure:
    """Horizontal bars of the top-k class probabilities (best on top)."""
    fig = go.Figure(go.Bar(x=[100 * p for p in probs][::-1], y=list(names)[::-1], orientation="h",
                           marker_color=PALETTE[0], text=[f"{100 * p:.1f}%" for p in probs][::-1],
                           textposition="auto"))
    fig.update_layout(title=title, height=60 + 40 * len(probs), margin=dict(l=10, r=10, t=50, b=40))
    fig.update_xaxes(title_text="softmax probability (%)", range=[0, 100])
    return fig


def localisation_figure(results: Mapping[str, Any], titles: Mapping[str, str], layer: str,
                        n: int) -> go.Figure:
    """Pointing game and energy in the mask per method (bars, %) with each one's chance level (grey ticks).

    results: method -> Localisation (fields pointing, pointing_chance, energy, energy_chance)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Pointing game: peak inside the object",
                                                        "Energy inside the object"))
    names = [titles.get(m, m) for m in results]
    for col, (field, chance) in enumerate((("pointing", "pointing_chance"), ("energy", "energy_chance")), start=1):
        vals = [100 * getattr(r, field) for r in results.values()]
        fig.add_trace(go.Bar(x=names, y=vals, marker_color=PALETTE[:len(names)], showlegend=False,
                             text=[f"{v:.0f}%" for v in vals], textposition="outside"), row=1, col=col)
        fig.add_trace(go.Scatter(x=names, y=[100 * getattr(r, chance) for r in results.values()], mode="markers",
                                 marker=dict(symbol="line-ew-open", size=60, color="black", line=dict(width=3, color="black")),
                                 name="chance (mask area)", showlegend=col == 1), row=1, col=col)
        fig.update_yaxes(title_text="% of images" if col == 1 else "% of map mass", range=[0, 110], row=1, col=col)
        fig.update_xaxes(title_text="method", row=1, col=col)
    fig.update_layout(title=f"Localisation on {n} embedded shapes images (layer {layer})", height=420,
                      margin=dict(l=50, r=10, t=80, b=50), legend=dict(orientation="h", y=-0.25))
    return fig


def cam_epochs_figure(scores: Sequence[Any], method: str, layer: str, n: int,
                      current: int | None = None) -> go.Figure:
    """Localisation per kept epoch: pointing game and energy in the mask (%), the run's validation accuracy (%)
    and the chance level (the objects' mean area, %); a vertical line at epoch ``current``.

    scores: EpochScore-like objects (epoch, val_acc, localisation with pointing, energy and their chances)."""
    epochs = [int(s.epoch) for s in scores]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs, y=[100 * s.localisation.pointing for s in scores], mode="lines+markers",
                             name="pointing game (% of images, peak inside the object)", line=dict(color=PALETTE[0])))
    fig.add_trace(go.Scatter(x=epochs, y=[100 * s.localisation.energy for s in scores], mode="lines+markers",
                             name="energy inside the object (% of map mass)", line=dict(color=PALETTE[1])))
    if any(s.val_acc is not None for s in scores):
        fig.add_trace(go.Scatter(x=epochs, y=[None if s.val_acc is None else 100 * s.val_acc for s in scores],
                                 mode="lines+markers", name="validation accuracy (%)",
                                 line=dict(color=GREY, dash="dot")))
    chance = [100 * s.localisation.energy_chance for s in scores]
    if chance:  # a legend entry, not an annotation: text on the plot collides with the epoch marker
        level = float(np.mean(chance))
        fig.add_trace(go.Scatter(x=[min(epochs) - 0.3, max(epochs) + 0.3], y=[level, level], mode="lines",
                                 name=f"chance: the object's area ({level:.0f}% of the image)", hoverinfo="name",
                                 line=dict(color="black", dash="dash", width=1)))
    if current is not None:
        fig.add_vline(x=current, line=dict(color="black", width=1))
    fig.update_xaxes(title_text="epoch (kept weights)", tickmode="array", tickvals=epochs,
                     range=[min(epochs, default=1) - 0.3, max(epochs, default=1) + 0.3])
    fig.update_yaxes(title_text="score (%)", range=[0, 105])
    fig.update_layout(title=f"Localisation over training: {method} at {layer}, {n} held-out shapes images",
                      height=420, margin=dict(l=50, r=10, t=60, b=50), legend=dict(orientation="h", y=-0.22))
    return fig


def faithfulness_figure(results: Mapping[str, Any], titles: Mapping[str, str]) -> go.Figure:
    """Deletion and insertion curves per method (target probability vs share of pixels, AUC in the legend)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Deletion (lower is better)", "Insertion (higher is better)"))
    for i, (m, r) in enumerate(results.items()):
        c = PALETTE[i % len(PALETTE)]
        for col, (curve, auc) in enumerate((("deletion", "deletion_auc"), ("insertion", "insertion_auc")), start=1):
            fig.add_trace(go.Scatter(x=100 * r.fractions, y=getattr(r, curve), mode="lines+markers", line=dict(color=c),
                                     name=f"{titles.get(m, m)} (AUC {getattr(r, auc):.2f})", legendgroup=m),
                          row=1, col=col)
    for col, verb in ((1, "removed"), (2, "inserted")):
        fig.update_xaxes(title_text=f"pixels {verb}, most important first (%)", row=1, col=col)
        fig.update_yaxes(title_text="probability of the class", range=[0, 1.02], row=1, col=col)
    fig.update_layout(title="Faithfulness: does removing what the map points at change the decision?", height=420,
                      margin=dict(l=50, r=10, t=80, b=50))
    return fig


def sanity_figure(results: Mapping[str, Any], titles: Mapping[str, str], threshold: float,
                  current: int | None = None) -> go.Figure:
    """Spearman rank correlation (solid) and SSIM (dotted) with the original map vs randomised layer groups."""
    fig = go.Figure()
    blocks: tuple[str, ...] = ()
    for i, (m, r) in enumerate(results.items()):
        c = PALETTE[i % len(PALETTE)]
        steps = list(range(len(r.spearman)))
        blocks = r.blocks
        fig.add_trace(go.Scatter(x=steps, y=r.spearman, mode="lines+markers", line=dict(color=c),
                                 name=f"{titles.get(m, m)}: rank correlation", legendgroup=m))
        fig.add_trace(go.Scatter(x=steps, y=r.ssim, mode="lines+markers", line=dict(color=c, dash="dot"),
                                 name=f"{titles.get(m, m)}: SSIM", legendgroup=m))
    fig.add_hline(y=threshold, line=dict(color=GREY, dash="dash"), annotation_text="pass below this")
    if current is not None:
        fig.add_vline(x=current, line=dict(color="black", width=1))
    ticks = ["trained"] + [f"+{b}" for b in blocks]
    fig.update_xaxes(title_text="layer groups re-initialised, from the logits down", tickvals=list(range(len(ticks))),
                     ticktext=ticks)
    low = min([-0.2] + [float(np.nanmin(np.r_[r.spearman, r.ssim])) - 0.05 for r in results.values()])
    fig.update_yaxes(title_text="similarity to the original map", range=[low, 1.05])
    fig.update_layout(title="Sanity check: cascading randomisation (Adebayo et al., 2018)", height=440,
                      margin=dict(l=50, r=10, t=60, b=60))
    return fig
