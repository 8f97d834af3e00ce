"""What a model's pseudo-labels on the unlabelled pool look like: quantity against quality, errors, confirmation bias.

A semi-supervised learner (Lee 2013; Sohn et al., *FixMatch*, NeurIPS 2020) trains on its own confident
predictions. The threshold τ trades quantity (the share of the pool that passes) against quality (the share of
passed pseudo-labels that are right); the confident *wrong* ones are confirmation bias made visible (Arazo et
al., *Pseudo-Labeling and Confirmation Bias in Deep Semi-Supervised Learning*, IJCNN 2020): the model learns
its own mistakes with full confidence. Here the pool's hidden labels are read to *report* this, never to train.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from vizcore.models.preprocess import for_model

TAU_GRID: tuple[float, ...] = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
MAX_POOL = 20_000  # pool images scored at most (the rest: a seeded subset)


@dataclass(frozen=True)
class PseudoLabelReport:
    """Pseudo-labels of one model on a pool. Arrays are numpy; classes index them."""

    classes: list[str]
    tau: float  # the threshold the counts below use
    n: int  # pool images scored
    pass_rate: float  # share with top probability ≥ τ
    accuracy: float | None  # share of passed pseudo-labels that are right (None without hidden labels / passes)
    accuracy_all: float | None  # share of all pseudo-labels that are right, whatever their confidence
    confusion: npt.NDArray[np.int64] | None  # (K, K): rows true class, columns pseudo-label, passed images only
    tradeoff: list[dict[str, Any]]  # per τ of TAU_GRID (and τ): {"tau", "pass_rate", "accuracy"}
    wrong: list[dict[str, Any]] = field(default_factory=list)  # the most confident wrong pseudo-labels
    wrong_images: npt.NDArray[np.uint8] | None = None  # (G, H, W, C) uint8, the gallery's images


@torch.no_grad()
def predict(model: nn.Module, model_name: str, images: torch.Tensor, batch: int = 512
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(top probability (N,), pseudo-label (N,)) of ``model`` (eval) on uint8 ``images`` (N, C, H, W)."""
    pre = for_model(model_name)
    model.eval()
    confs, labels = [], []
    for i in range(0, len(images), batch):
        p = model(pre.normalize(images[i:i + batch].float() / 255.0)).float().softmax(1)
        c, y = p.max(1)
        confs.append(c)
        labels.append(y)
    return torch.cat(confs), torch.cat(labels)


def report(model: nn.Module, model_name: str, pool: torch.Tensor, hidden: torch.Tensor | None, classes: list[str],
           tau: float, gallery: int = 12) -> PseudoLabelReport:
    """Pass rate, pseudo-label accuracy, confusion matrix, τ trade-off and the most confident wrong pseudo-labels.

    pool: (N, C, H, W) uint8; hidden: (N,) int64 true labels (-1 unknown) or None."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"expected τ in (0, 1], got {tau!r}")
    if not 0 <= gallery <= 64:
        raise ValueError(f"expected a gallery of 0 to 64 images, got {gallery!r}")
    if len(pool) == 0:
        raise ValueError("expected a pool with images, got none")
    conf, pseudo = predict(model, model_name, pool)
    known = hidden is not None and bool((hidden >= 0).all())
    k = len(classes)

    def at(t: float) -> dict[str, Any]:
        m = conf >= t
        acc = float((pseudo[m] == hidden[m]).float().mean()) if known and hidden is not None and m.any() else None
        return {"tau": t, "pass_rate": float(m.float().mean()), "accuracy": acc}

    taus = sorted(set(TAU_GRID) | {float(tau)})
    here = at(tau)
    confusion = wrong_images = None
    wrong: list[dict[str, Any]] = []
    acc_all = None
    if known and hidden is not None:
        m = conf >= tau
        confusion = torch.bincount(hidden[m] * k + pseudo[m], minlength=k * k).reshape(k, k).numpy()
        acc_all = float((pseudo == hidden).float().mean())
        bad = (m & (pseudo != hidden)).nonzero().flatten()
        order = bad[conf[bad].argsort(descending=True)][:gallery]
        wrong = [{"index": int(i), "pseudo_label": classes[int(pseudo[i])], "true_label": classes[int(hidden[i])],
                  "confidence": float(conf[i])} for i in order]
        wrong_images = pool[order].permute(0, 2, 3, 1).numpy()
    return PseudoLabelReport(classes, float(tau), len(pool), here["pass_rate"], here["accuracy"], acc_all,
                             confusion, [at(t) for t in taus], wrong, wrong_images)
