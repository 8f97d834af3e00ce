"""An exponential moving average (EMA) of a model's weights, for evaluation and as a mean teacher.

Polyak & Juditsky, *Acceleration of stochastic approximation by averaging*, 1992, in its exponential form; FixMatch
(Sohn et al., NeurIPS 2020) evaluates the EMA of its weights (decay 0.999); Tarvainen & Valpola, *Mean teachers are
better role models*, NeurIPS 2017, let the EMA model make the targets. After update t the decay used is
min(decay, (1 + t) / (10 + t)) (TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so a run of a
few hundred steps is not dominated by the initial weights: e_t = d_t · e_{t-1} + (1 − d_t) · w_t, e_0 = w_0.
Buffers (batch-norm running statistics) are copied from the model, not averaged: they are running averages already.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def decay_at(decay: float, updates: int) -> float:
    """The decay of update number ``updates`` (from 1): min(decay, (1 + t) / (10 + t))."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightEMA:
    """The EMA copy of ``model`` (eval mode, no gradients); call :meth:`update` after every optimizer step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"expected an EMA decay in (0, 1), got {decay!r}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """e ← d_t · e + (1 − d_t) · w for every parameter; buffers copied."""
        self.updates += 1
        d = decay_at(self.decay, self.updates)
        ema_p: list[torch.Tensor] = [p for p in self.module.parameters() if p.is_floating_point()]
        new_p = [p.detach() for p in model.parameters() if p.is_floating_point()]
        if len(ema_p) != len(new_p):
            raise ValueError(f"expected a model with {len(ema_p)} floating-point parameters, got {len(new_p)}")
        torch._foreach_lerp_(ema_p, new_p, 1.0 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)
