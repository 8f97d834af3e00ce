"""Learning-rate schedules: linear warmup, then constant, step or cosine decay, in closed form and as torch schedulers.

Goyal et al., *Accurate, Large Minibatch SGD*, 2017 (warmup, linear scaling); Loshchilov & Hutter, *SGDR*,
ICLR 2017 (cosine).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from vizcore.train.config import TrainConfig

# ---------------------------------------------------------------------------------------- LR schedule


def _warmup_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    return int(round(config.warmup_epochs * steps_per_epoch))


def lr_at(step: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """Closed-form LR used by optimizer step ``step`` (0-based) of a run; the head's LR in transfer runs.

    With η = ``config.effective_lr``, W warmup steps, N = epochs · steps_per_epoch total steps and
    m = max(W − 1, 0) the step the decay starts at:

    * warmup (t < m): η · (t + 1) / W — the "gradual warmup" of Goyal et al. (2017), reaching η at t = W − 1;
    * cosine: η · (1 + cos(π · (t − m) / (N − m))) / 2 (SGDR without restarts, Loshchilov & Hutter, 2017);
    * step:   η · γ^⌊(t − m) / (step_size · steps_per_epoch)⌋;
    * constant: η.

    This is exactly what :func:`make_scheduler` (``SequentialLR`` of ``LinearLR`` and ``CosineAnnealingLR`` /
    ``StepLR``) makes the optimizer use, which the tests check.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"expected steps_per_epoch >= 1, got {steps_per_epoch}")
    total = config.epochs * steps_per_epoch
    if not 0 <= step < total:
        raise ValueError(f"expected a step in [0, {total}), got {step}")
    eta = config.effective_lr
    w = _warmup_steps(config, steps_per_epoch)
    m = max(w - 1, 0)
    if step < m:
        return eta * (step + 1) / w
    k = step - m
    if config.schedule == "cosine":
        return eta * (1.0 + math.cos(math.pi * k / (total - m))) / 2.0
    if config.schedule == "step":
        size = max(1, int(round(config.step_size * steps_per_epoch)))
        return eta * config.gamma ** (k // size)
    return eta


def lr_schedule(config: TrainConfig, steps_per_epoch: int | None = None) -> np.ndarray:
    """Per-step LRs of a run, shape (epochs · steps_per_epoch,), float64 — for previews and plots."""
    spe = config.steps_per_epoch() if steps_per_epoch is None else steps_per_epoch
    return np.array([lr_at(t, config, spe) for t in range(config.epochs * spe)], dtype=np.float64)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The scheduler that realises :func:`lr_at`; call ``.step()`` after every optimizer step.

    Groups may have different base LRs (transfer with a lower backbone LR): each is scaled by the same factor.
    """
    from torch.optim import lr_scheduler as S

    total = config.epochs * steps_per_epoch
    w = _warmup_steps(config, steps_per_epoch)
    m = max(w - 1, 0)
    if config.schedule == "cosine":
        main: S.LRScheduler | None = S.CosineAnnealingLR(optimizer, T_max=total - m, eta_min=0.0)
    elif config.schedule == "step":
        main = S.StepLR(optimizer, step_size=max(1, int(round(config.step_size * steps_per_epoch))),
                        gamma=config.gamma)
    else:
        main = None
    if m == 0:
        return main
    warm = S.LinearLR(optimizer, start_factor=1.0 / w, end_factor=1.0, total_iters=m)
    if main is None:
        return warm  # LinearLR holds factor 1 after total_iters: warmup then constant
    return S.SequentialLR(optimizer, [warm, main], milestones=[m])
