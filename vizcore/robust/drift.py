"""Explanation drift: how much an attribution map changes when the image is attacked, against noise of the
same size.

An adversarial perturbation invisible to us can move the explanation as much as the prediction (Ghorbani, Abid &
Zou, "Interpretation of neural networks is fragile", AAAI 2019; Dombrowski et al., "Explanations can be
manipulated and geometry is to blame", NeurIPS 2019). Two measures per image, between the map of the clean image
and the map of the perturbed one: Spearman's rank correlation of all pixels, and the overlap (intersection over
union) of their top 20% pixels. Each is set against the same measures for random noise of the same size
(:func:`vizcore.robust.attacks.adversarial` with method "noise"), so a page can tell drift caused by the attack
from drift any perturbation of that size causes. The maps are the project's own
(:func:`vizcore.inspect.attribution.attribute`): Grad-CAM and one captum pixel method (saliency by default).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import spearmanr
from torch import nn

from vizcore.core.checks import check_choice, check_range
from vizcore.inspect import attribution as attr
from vizcore.models.preprocess import Preprocess
from vizcore.robust import attacks as at

Explain = Literal["predicted", "label"]


def spearman(a: torch.Tensor | NDArray, b: torch.Tensor | NDArray) -> float:
    """Spearman rank correlation of two maps of the same shape (all pixels; ties get their mean rank).

    Two constant maps: 1 when equal, else 0; one constant map has no ranks to compare: 0."""
    u = np.asarray(torch.as_tensor(a).detach().cpu().double()).ravel()
    v = np.asarray(torch.as_tensor(b).detach().cpu().double()).ravel()
    if u.shape != v.shape:
        raise ValueError(f"expected two maps of the same shape, got {u.size} and {v.size} values")
    if np.ptp(u) == 0 or np.ptp(v) == 0:
        return 1.0 if np.array_equal(u, v) else 0.0
    return float(spearmanr(u, v).statistic)


def top_mask(m: torch.Tensor, fraction: float) -> torch.Tensor:
    """The ceil(fraction · H·W) highest pixels of map m (H, W) as a bool mask (ties: the first in row order)."""
    flat = m.detach().flatten()
    k = max(1, math.ceil(fraction * flat.numel()))
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    keep[torch.argsort(flat, descending=True, stable=True)[:k]] = True
    return keep.reshape(m.shape)


def top_iou(a: torch.Tensor, b: torch.Tensor, fraction: float = 0.2) -> float:
    """Intersection over union of the top ``fraction`` pixels of maps a and b (H, W)."""
    check_range("fraction", fraction, 0.0, 1.0, lo_open=True)
    if a.shape != b.shape:
        raise ValueError(f"expected two maps of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    ma, mb = top_mask(a, fraction), top_mask(b, fraction)
    return float((ma & mb).sum()) / float((ma | mb).sum())


@dataclass(frozen=True, eq=False)
class MapDrift:
    """One attribution method's maps and their drift. Maps (N, H, W), non-negative, on the model's device."""

    method: str  # key of vizcore.inspect.attribution.METHODS
    clean: torch.Tensor  # (N, H, W) map of the clean image
    adversarial: torch.Tensor  # (N, H, W) map of the adversarial image
    noisy: torch.Tensor  # (N, H, W) map of the image with same-size noise
    spearman_adversarial: NDArray[np.float64]  # (N,) rank correlation clean vs adversarial
    spearman_noise: NDArray[np.float64]  # (N,) clean vs noise
    iou_adversarial: NDArray[np.float64]  # (N,) top-fraction overlap clean vs adversarial
    iou_noise: NDArray[np.float64]  # (N,) clean vs noise

    def summary(self) -> dict[str, float]:
        """Medians of the four measures over the images."""
        return {k: float(np.median(getattr(self, k))) for k in
                ("spearman_adversarial", "spearman_noise", "iou_adversarial", "iou_noise")}


@dataclass(frozen=True, eq=False)
class DriftResult:
    """Drift of each attribution method under one attack, against noise of the same size."""

    eps: float  # the attack's radius (and the noise's size)
    norm: str  # linf | l2
    fraction: float  # share of top pixels compared by the overlap
    explain: str  # predicted: each image's own prediction is explained; label: the true class
    noisy: torch.Tensor  # (N, C, H, W) the noise images compared with, in [0, 1]
    maps: dict[str, MapDrift]  # method -> its maps and measures


def _maps(model: nn.Module, prep: Preprocess, x01: torch.Tensor, method: str, targets: torch.Tensor,
          layer: str | None) -> torch.Tensor:
    lay = layer if method in attr.LAYER_METHODS else None
    return attr.attribute(model, prep.normalize(x01), method, targets, lay).maps  # type: ignore[arg-type]


def drift(model: nn.Module, prep: Preprocess | str, result: at.AttackResult, *, layer: str | None = None,
          methods: Sequence[str] = ("gradcam", "saliency"), fraction: float = 0.2, explain: Explain = "predicted",
          seed: int | None = None) -> DriftResult:
    """Attribution maps of the clean, adversarial and same-size-noise images of ``result`` and how far they drift.

    model: the attacked classifier (a private prepared copy is used: in-place activations off). prep: its
    :class:`Preprocess` or zoo name. layer: module path for the Grad-CAM family (e.g. the zoo entry's
    ``cam_layer``). methods: attribution methods (default Grad-CAM and saliency). fraction: top share of pixels
    for the overlap. explain: "predicted" (each image's own top class, what a user is shown) or "label".
    seed: of the noise (default: the attack's seed).
    """
    p = at.as_preprocess(prep)
    check_choice("explain", explain, ("predicted", "label"))
    check_range("fraction", fraction, 0.0, 1.0, lo_open=True)
    ms = list(dict.fromkeys(methods))
    for m in ms:
        check_choice("attribution method", m, tuple(attr.METHODS))
        if m in attr.LAYER_METHODS and layer is None:
            raise ValueError(f"expected a layer for {attr.METHODS[m].title}, got none")
    private = attr.prepare(model)
    forward = at.pixel_forward(private, p)
    x, adv = result.clean, result.adversarial
    noisy = at.adversarial(forward, x, result.labels, method="noise", eps=result.eps, norm=result.norm, steps=0,
                           step_size=0.0, random_start=False, targeted=False,
                           seed=result.seed if seed is None else seed)
    if explain == "label":
        tc = ta = tn = result.labels
    else:
        tc, ta, tn = result.clean_pred, result.adversarial_pred, at.predict(forward, noisy)
    out: dict[str, MapDrift] = {}
    for m in ms:
        mc, ma, mn = (_maps(private, p, imgs, m, t, layer) for imgs, t in ((x, tc), (adv, ta), (noisy, tn)))
        out[m] = MapDrift(
            m, mc, ma, mn,
            np.array([spearman(a, b) for a, b in zip(mc, ma)]), np.array([spearman(a, b) for a, b in zip(mc, mn)]),
            np.array([top_iou(a, b, fraction) for a, b in zip(mc, ma)]),
            np.array([top_iou(a, b, fraction) for a, b in zip(mc, mn)]))
    return DriftResult(result.eps, result.norm, fraction, explain, noisy, out)
