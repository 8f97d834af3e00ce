"""Adversarial training and the robust accuracy a run logs every epoch.

Each training batch is replaced by its adversarial version before the optimizer step: min over the weights of
max over the ε ball of the loss (Madry et al., "Towards deep learning models resistant to adversarial attacks",
ICLR 2018). ``pgd`` finds the inner max with k projected steps from a random start (PGD-k, k + 1 forward and
backward passes per batch); ``fgsm_rs`` with one step of 1.25 ε from a random start, about as cheap as two
ordinary steps (Wong, Rice & Kolter, "Fast is better than free: revisiting adversarial training", ICLR 2020).
The attack runs with the model in training mode, as both papers' code does.

FGSM training can suddenly lose all robustness to PGD while its clean and FGSM accuracy keep improving —
"catastrophic overfitting" (Wong et al. §5). So a run with ``robust_eval`` attacks a fixed set of validation
images with PGD-10 after every epoch, and :func:`catastrophic_overfitting` says when that accuracy collapsed.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from vizcore.robust.steps import perturb

EVAL_STEPS = 10  # PGD-10 for the per-epoch robust accuracy
EVAL_SEED = 1234  # the random start of the evaluation attack: the same every epoch, so epochs compare
COLLAPSE_RATIO = 0.5  # robust accuracy below half its best ...
COLLAPSE_POINTS = 0.10  # ... and at least 10 points below it is a collapse


def adv_eps_at(eps: float, warmup_epochs: float, step: int, steps_per_epoch: int) -> float:
    """ε of the attack at optimizer step ``step`` (0-based): growing linearly to ``eps`` over ``warmup_epochs``
    epochs, then ``eps``. Measured on 2 CPU cores (the default recipe with FGSM-RS, seeds 0-2): the full ε from
    the first step at the recipe's fast LR left 43-84% clean and 25-62% PGD-10 accuracy; a one-epoch ramp
    96.4-97.1% clean and 77.3-81.6% under PGD-10 at 8/255 (standard training: 1.6-4.7%)."""
    ramp = warmup_epochs * steps_per_epoch
    return eps if ramp <= 0 else eps * min(1.0, (step + 1) / ramp)


def adversarial_batch(model: nn.Module, to_input: Callable[[torch.Tensor], torch.Tensor], x01: torch.Tensor,
                      labels: torch.Tensor, method: str, eps: float, steps: int,
                      generator: torch.Generator) -> torch.Tensor:
    """The training batch's adversarial version (N, C, H, W) in [0, 1], without a graph.

    model: in the mode the caller left it (training). to_input: pixels -> the model's normalised input.
    x01: (N, C, H, W) float in [0, 1]; labels (N,) int64. method: "fgsm_rs" or "pgd" (random start, ``steps``
    steps of 2.5 ε / steps). generator: CPU generator of the random starts (the run's augmentation draws)."""
    def forward(p: torch.Tensor) -> torch.Tensor:
        return model(to_input(p)).float()

    return perturb(forward, x01, labels, eps, method="fgsm_rs" if method == "fgsm_rs" else "pgd", norm="linf",
                   steps=steps, random_start=True, generator=generator)


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, to_input: Callable[[torch.Tensor], torch.Tensor],
                    eps: float, autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
                    batch: int = 256) -> float:
    """Accuracy under PGD-10 at ``eps`` (L∞, random start from :data:`EVAL_SEED`) of ``model`` in eval mode.

    x: (N, C, H, W) uint8 validation images; y: (N,) labels. The model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(EVAL_SEED)
    correct = 0

    def forward(p: torch.Tensor) -> torch.Tensor:
        with autocast():
            return model(to_input(p)).float()

    try:
        for i in range(0, len(y), batch):
            xb, yb = x[i:i + batch].float().div(255.0), y[i:i + batch]
            adv = perturb(forward, xb, yb, eps, method="pgd", norm="linf", steps=EVAL_STEPS, random_start=True,
                          generator=gen)
            with torch.no_grad():
                correct += int((forward(adv).argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return correct / max(len(y), 1)


def catastrophic_overfitting(history: Sequence[dict[str, Any]]) -> str | None:
    """A sentence when the PGD accuracy of the epoch events in ``history`` fell to under half its best (and by at
    least 10 points) while the clean validation accuracy did not fall as much; None otherwise."""
    rows = [h for h in history if h.get("robust_acc") is not None]
    if len(rows) < 2:
        return None
    best = max(rows, key=lambda h: h["robust_acc"])
    last = rows[-1]
    drop = best["robust_acc"] - last["robust_acc"]
    if last is best or last["robust_acc"] >= COLLAPSE_RATIO * best["robust_acc"] or drop < COLLAPSE_POINTS:
        return None
    if best["val_acc"] - last["val_acc"] >= drop:  # everything fell: divergence, not this
        return None
    return (f"catastrophic overfitting: PGD accuracy fell from {100 * best['robust_acc']:.1f}% (epoch "
            f"{best['epoch']}) to {100 * last['robust_acc']:.1f}% (epoch {last['epoch']}) while clean accuracy "
            f"stayed at {100 * last['val_acc']:.1f}% — the model learned to defeat its own one-step attack, not "
            "to be robust (Wong et al. 2020 §5): use a random start with a smaller step, or PGD")
