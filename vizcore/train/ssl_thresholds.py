"""Confidence thresholds for pseudo-labels: fixed, FlexMatch's class-wise and FreeMatch's self-adaptive one.

* fixed: τ for every class (FixMatch, Sohn et al., NeurIPS 2020: τ = 0.95).
* flexmatch: Zhang et al., *FlexMatch: Boosting Semi-Supervised Learning with Curriculum Pseudo Labeling*,
  NeurIPS 2021. σ(c) counts the pool images whose last confident (≥ τ) prediction is c; the class's learning
  effect β(c) = σ(c) / max(max σ, unused) (with the threshold warm-up: images never yet confident count as
  ``unused``), and τ(c) = M(β(c)) · τ with the convex mapping M(x) = x / (2 − x). Classes the model has not
  learnt get a low threshold, so they receive pseudo-labels too.
* freematch: Wang et al., *FreeMatch: Self-adaptive Thresholding for Semi-supervised Learning*, ICLR 2023. A
  global τ_t = EMA of the batch's mean top probability (from 1/C), a local p̃_t = EMA of the mean probability
  vector, and τ_t(c) = τ_t · p̃_t(c) / max p̃_t (momentum 0.999). It does not use the fixed τ.
"""
from __future__ import annotations

import torch

THRESHOLDS = ("fixed", "flexmatch", "freematch")
FREEMATCH_MOMENTUM = 0.999


class Threshold:
    """Per-class thresholds (C,) that may learn from each batch of weak-view probabilities."""

    def __init__(self, kind: str, tau: float, num_classes: int, pool_size: int, device: torch.device) -> None:
        if kind not in THRESHOLDS:
            raise ValueError(f"expected a threshold from {', '.join(THRESHOLDS)}, got {kind!r}")
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"expected τ in (0, 1], got {tau!r}")
        self.kind, self.tau, self.num_classes = kind, float(tau), int(num_classes)
        # flexmatch: the last confident prediction of every pool image (-1: never confident yet)
        self.selected = torch.full((pool_size,), -1, dtype=torch.long, device=device) if kind == "flexmatch" else None
        self.global_tau = torch.tensor(1.0 / num_classes, device=device)
        self.local_p = torch.full((num_classes,), 1.0 / num_classes, device=device)

    def per_class(self) -> torch.Tensor:
        """The current thresholds, (C,) float on the device."""
        if self.kind == "fixed":
            return torch.full((self.num_classes,), self.tau, device=self.global_tau.device)
        if self.kind == "flexmatch":
            assert self.selected is not None
            sigma = torch.bincount(self.selected[self.selected >= 0], minlength=self.num_classes).float()
            unused = (self.selected < 0).sum().float()
            beta = sigma / torch.maximum(sigma.max(), unused).clamp(min=1.0)
            return beta / (2.0 - beta) * self.tau
        return self.global_tau * self.local_p / self.local_p.max()

    @torch.no_grad()
    def mask(self, probs: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Which pseudo-labels pass, then learn from this batch.

        probs: (B, C) weak-view probabilities; idx: (B,) their pool indices. Returns (mask (B,) bool, pseudo
        (B,) int64, top probability (B,))."""
        conf, pseudo = probs.max(1)
        passed = conf >= self.per_class()[pseudo]
        if self.kind == "flexmatch":
            assert self.selected is not None
            sure = conf >= self.tau
            self.selected[idx[sure]] = pseudo[sure]
        elif self.kind == "freematch":
            m = FREEMATCH_MOMENTUM
            self.global_tau = m * self.global_tau + (1 - m) * conf.mean()
            self.local_p = m * self.local_p + (1 - m) * probs.mean(0)
        return passed, pseudo, conf
