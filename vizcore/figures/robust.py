"""Figures of adversarial examples (Goodfellow et al. 2015; Madry et al. 2018): the attack on one image, accuracy
against ε, the smallest ε that flips each image, and how an explanation drifts under attack against noise."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray
from plotly.subplots import make_subplots

from vizcore.figures.attribution import overlay_rgb
from vizcore.figures.images import image_grid
from vizcore.figures.palette import BLUE, GREEN, GREY, ORANGE, RED

METHOD_TITLES = {"fgsm": "FGSM", "pgd": "PGD", "noise": "random noise"}
_COLOURS = {"fgsm": ORANGE, "pgd": RED, "noise": GREY}


def eps_text(eps: float, norm: str) -> str:
    """ε in words: 8/255 (0.031) for Linf, 0.50 for L2."""
    if norm == "linf":
        return f"{eps * 255:.3g}/255 ({eps:.3f})"
    return f"{eps:.3g} (L2)"


def amplified(delta: NDArray, eps: float) -> tuple[NDArray[np.uint8], float]:
    """A perturbation (H, W, C) float in [-ε, ε] drawn visible: 0.5 + δ · k, k chosen so the largest |δ| reaches
    the edge of [0, 1]. Returns (image (H, W, 3) uint8, k)."""
    d = np.asarray(delta, dtype=np.float64)
    peak = float(np.abs(d).max()) if d.size else 0.0
    k = 0.5 / peak if peak > 0 else 1.0
    img = np.clip(0.5 + d * k, 0.0, 1.0)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return (img * 255).round().astype(np.uint8), k


def attack_figure(clean: NDArray, adversarial: NDArray, titles: Sequence[str], eps: float, norm: str,
                  cell_px: int = 220) -> go.Figure:
    """Clean | perturbation (amplified, its scale written) | adversarial, side by side.

    clean, adversarial: (H, W, C) float in [0, 1]. titles: three short captions (predictions)."""
    c, a = np.asarray(clean, dtype=np.float64), np.asarray(adversarial, dtype=np.float64)
    if c.shape != a.shape or c.ndim != 3:
        raise ValueError(f"expected two (H, W, C) images of one shape, got {c.shape} and {a.shape}")
    pert, k = amplified(a - c, eps)
    rgb = [np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x for x in (c, a)]
    images = np.stack([(rgb[0] * 255).round().astype(np.uint8), pert, (rgb[1] * 255).round().astype(np.uint8)])
    fig = image_grid(images, titles=list(titles), cols=3, cell_px=cell_px,
                     title=f"Clean, perturbation (× {k:.3g}, grey = 0) and adversarial image · ε = {eps_text(eps, norm)}")
    fig.update_xaxes(title_text=f"images of {c.shape[1]} x {c.shape[0]} pixels (the model's input)")
    return fig


def topk_pair_figure(clean: tuple[Sequence[float], Sequence[str]], adversarial: tuple[Sequence[float], Sequence[str]],
                     true_name: str) -> go.Figure:
    """Top-k probabilities before and after the attack, the true class in green."""
    fig = make_subplots(1, 2, subplot_titles=("clean image", "adversarial image"), horizontal_spacing=0.25)
    for col, (probs, names) in enumerate((clean, adversarial), start=1):
        colours = [GREEN if n == true_name else BLUE for n in names]
        fig.add_trace(go.Bar(x=[100 * float(p) for p in probs][::-1], y=list(names)[::-1], orientation="h",
                             marker_color=colours[::-1], showlegend=False,
                             hovertemplate="%{y}: %{x:.1f}%<extra></extra>"), 1, col)
        fig.update_xaxes(title_text="probability (%)", range=[0, 100], row=1, col=col)
    fig.update_layout(title=f"Top predictions (true class {true_name} in green)", height=300,
                      margin=dict(l=120, r=20, t=70, b=50))
    return fig


def sweep_figure(eps: Sequence[float], accuracy: Mapping[str, Sequence[float]], clean_accuracy: float, norm: str,
                 n: int, steps: int) -> go.Figure:
    """Accuracy (%) against ε for each method on the same n images; the clean accuracy dotted."""
    x = [e * 255 for e in eps] if norm == "linf" else list(eps)
    fig = go.Figure()
    for m, accs in accuracy.items():
        label = f"PGD-{steps}" if m == "pgd" else METHOD_TITLES.get(m, m)
        fig.add_trace(go.Scatter(x=x, y=[100 * a for a in accs], mode="lines+markers", name=label,
                                 line=dict(color=_COLOURS.get(m, BLUE)),
                                 hovertemplate=f"{label}: ε %{{x:.3g}} → %{{y:.1f}}%<extra></extra>"))
    fig.add_hline(y=100 * clean_accuracy, line=dict(color=GREEN, dash="dot"),
                  annotation_text=f"clean {100 * clean_accuracy:.1f}%")
    fig.update_layout(title=f"Accuracy against ε on {n} held-out images ({'L∞' if norm == 'linf' else 'L2'} ball)",
                      height=380, margin=dict(l=60, r=20, t=60, b=50), legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title_text="ε (pixel steps of 1/255)" if norm == "linf" else "ε (L2 norm of the perturbation)")
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 101])
    return fig


def min_eps_figure(eps: NDArray, norm: str, max_eps: float, method: str, never: int) -> go.Figure:
    """Histogram of the smallest ε that flipped each image (images never flipped are counted in the title)."""
    e = np.asarray(eps, dtype=np.float64)
    e = e[np.isfinite(e) & (e > 0)]
    scale = 255.0 if norm == "linf" else 1.0
    fig = go.Figure(go.Histogram(x=e * scale, marker_color=RED, nbinsx=30,
                                 hovertemplate="ε %{x}: %{y} images<extra></extra>"))
    if e.size:
        med = float(np.median(e)) * scale
        fig.add_vline(x=med, line=dict(color=GREY, dash="dot"), annotation_text=f"median {med:.3g}")
    tail = f"; {never} never flipped up to {max_eps * scale:.3g}" if never else ""
    fig.update_layout(title=f"Smallest ε that flips each image ({METHOD_TITLES.get(method, method)}{tail})",
                      height=340, margin=dict(l=60, r=20, t=60, b=50), bargap=0.05)
    fig.update_xaxes(title_text="smallest flipping ε (pixel steps of 1/255)" if norm == "linf"
                     else "smallest flipping ε (L2 norm)")
    fig.update_yaxes(title_text="images")
    return fig


def drift_figure(image: NDArray[np.uint8], maps: Sequence[NDArray], titles: Sequence[str], title: str) -> go.Figure:
    """One explanation on the clean, adversarial and noisy image, each laid over its image (H, W, 3) uint8."""
    if len(maps) != len(titles):
        raise ValueError(f"expected {len(maps)} titles, got {len(titles)}")
    over = np.stack([overlay_rgb(image, m, 0.5) for m in maps])
    fig = image_grid(over, titles=list(titles), cols=len(maps), cell_px=200, title=title)
    return fig


def robust_pair_figure(names: Sequence[str], clean: Sequence[float], robust: Sequence[float], eps: float,
                       steps: int) -> go.Figure:
    """Clean and PGD accuracy (%) of two or more models side by side."""
    fig = go.Figure([
        go.Bar(name="clean", x=list(names), y=[100 * c for c in clean], marker_color=GREEN,
               hovertemplate="%{x}: clean %{y:.1f}%<extra></extra>"),
        go.Bar(name=f"PGD-{steps} at ε {eps_text(eps, 'linf')}", x=list(names), y=[100 * r for r in robust],
               marker_color=RED, hovertemplate="%{x}: under attack %{y:.1f}%<extra></extra>")])
    fig.update_layout(barmode="group", title="What adversarial training costs and buys", height=360,
                      margin=dict(l=60, r=20, t=60, b=50))
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 100])
    fig.update_xaxes(title_text="model")
    return fig
