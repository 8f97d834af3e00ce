"""Attack steps in pixel space: the ε ball, random starts, and a plain-autograd FGSM / PGD for training loops.

An adversarial example (Szegedy et al., ICLR 2014) is x' = x + δ with δ in a small ball (‖δ‖∞ ≤ ε or ‖δ‖₂ ≤ ε)
and x' in the pixel box [0, 1], chosen to raise the loss of the true class (untargeted) or lower the loss of a
chosen class (targeted). FGSM (Goodfellow et al., ICLR 2015) takes one step of size ε; PGD (Madry et al.,
ICLR 2018) takes k steps of size α, projecting back onto the ball after each; FGSM-RS (Wong, Rice & Kolter,
ICLR 2020, "Fast is better than free") is one step of α = 1.25 ε from a uniform random start in the ball.

:func:`perturb` is the fast path a training loop calls (adversarial training): one ``autograd.grad`` per step,
no hooks, the caller's forward in whatever mode it is (train-mode BatchNorm updates its running statistics on
every attack forward, as in Madry et al.'s training). It computes the same images as the captum attacks of
:mod:`vizcore.robust.attacks` (tested equal to float rounding): the same loss (summed cross-entropy of the
logits), the same step (sign of the gradient for Linf; gradient / ‖gradient‖₂ per image for L2), the same
projection (clamp for Linf, ``torch.renorm``'s rescaling for L2), then the same clamp to [0, 1]. ``eps`` may be
one number or one per image, which the batched minimal-ε search needs.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from vizcore.core.checks import check_choice, check_range

Norm = Literal["linf", "l2"]
StepMethod = Literal["fgsm", "fgsm_rs", "pgd"]
NORMS: tuple[str, ...] = get_args(Norm)
STEP_METHODS: tuple[str, ...] = get_args(StepMethod)
MAX_STEPS = 1000  # more PGD steps than this teach nothing a page can wait for
FGSM_RS_STEP = 1.25  # Wong et al. 2020: α = 1.25 ε from a random start (larger α brings catastrophic overfitting)
PGD_STEP = 2.5  # Madry et al. 2018: α = 2.5 ε / k, so k steps can cross the ball and back

Forward = Callable[[torch.Tensor], torch.Tensor]  # pixels (N, C, H, W) in [0, 1] -> logits (N, K)
EpsArg = float | torch.Tensor  # one ε for all images, or (N,) one per image


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of the logits, shape (1,) (captum's gradient helper needs a 1-element output).

    Summed, not averaged: each image's gradient is then its own loss's gradient, whatever the batch size."""
    return F.cross_entropy(logits, labels, reduction="sum").reshape(1)


def max_eps(norm: str, shape: tuple[int, ...]) -> float:
    """The largest meaningful ε: 1 for Linf (the whole pixel range), the box's diagonal √(C·H·W) for L2."""
    return 1.0 if norm == "linf" else math.sqrt(math.prod(shape[1:]))


def check_eps(eps: float, norm: str, shape: tuple[int, ...]) -> None:
    """ValueError unless ``eps`` is a finite number in [0, :func:`max_eps`]."""
    check_choice("norm", norm, NORMS)
    check_range("eps", eps, 0.0, max_eps(norm, shape))


def check_steps(steps: int) -> None:
    check_range("steps", steps, 1, MAX_STEPS, integer=True)


def _per_image(eps: EpsArg, x: torch.Tensor) -> torch.Tensor:
    """ε as an (N, 1, 1, 1) tensor of x's dtype and device (broadcasts over an image)."""
    e = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    return e.reshape(-1, *([1] * (x.ndim - 1))) if e.ndim else e.expand(x.shape[0]).reshape(-1, *([1] * (x.ndim - 1)))


def _scaled(eps: EpsArg, factor: float, x: torch.Tensor) -> EpsArg:
    """factor · ε, as a Python number when ε is one (the captum attacks get the same float)."""
    return factor * _per_image(eps, x) if isinstance(eps, torch.Tensor) else factor * float(eps)


def unit_noise(shape: tuple[int, ...], norm: str, generator: torch.Generator, kind: Literal["start", "noise"]
               ) -> torch.Tensor:
    """Random perturbations of unit size, drawn on the CPU from ``generator`` (so CPU and GPU runs draw alike).

    kind "start" (a PGD random start, uniform in the ball, as captum draws it): Linf U(-1, 1) per pixel; L2 a
    uniform direction times U^(1/d). kind "noise" (the baseline of the same size as the attack): Linf random
    signs ±1 per pixel; L2 a uniform direction of norm 1. Returns (N, ...) float32 on the CPU.
    """
    n, d = shape[0], math.prod(shape[1:])
    if norm == "linf":
        if kind == "start":
            return torch.rand(shape, generator=generator) * 2 - 1
        return torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
    u = F.normalize(torch.randn(shape, generator=generator).reshape(n, -1)).reshape(shape)
    if kind == "noise":
        return u
    r = torch.rand(n, generator=generator) ** (1.0 / d)
    return u * r.reshape(-1, *([1] * (len(shape) - 1)))


def project(x: torch.Tensor, x_adv: torch.Tensor, eps: EpsArg, norm: str) -> torch.Tensor:
    """x_adv moved back into the ε ball around x, then into [0, 1] (the order captum's PGD uses).

    x, x_adv: (N, C, H, W). L2 rescales as ``torch.renorm(δ, 2, 0, ε)`` does: δ · ε / (‖δ‖₂ + 1e-7) when ‖δ‖₂ > ε."""
    e = _per_image(eps, x)
    delta = x_adv - x
    if norm == "linf":
        delta = torch.maximum(torch.minimum(delta, e), -e)
    else:
        n = delta.flatten(1).norm(dim=1).reshape_as(e)
        delta = delta * torch.where(n > e, e / (n + 1e-7), torch.ones_like(n))
    return (x + delta).clamp(0.0, 1.0)


def ascent_step(grad: torch.Tensor, size: EpsArg, norm: str) -> torch.Tensor:
    """The steepest-ascent step of length ``size`` in ``norm``: size · sign(g) (Linf) or size · g / ‖g‖₂ (L2).

    An image whose gradient is all zero does not move (sign(0) = 0; for L2 the norm is floored at 1e-12)."""
    s = _per_image(size, grad)
    if norm == "linf":
        return s * grad.sign()
    return s * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).reshape_as(s)


def perturb(forward: Forward, x: torch.Tensor, labels: torch.Tensor, eps: EpsArg, *, method: StepMethod = "pgd",
            norm: Norm = "linf", steps: int = 10, step_size: EpsArg | None = None, random_start: bool = False,
            targeted: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial pixels for a batch, by plain autograd: the training engine's attack step.

    forward: pixels (N, C, H, W) in [0, 1] -> logits (N, K), normalisation inside (so ε is in pixel units); used
    as it is (train or eval mode: the caller decides). x: (N, C, H, W) float in [0, 1]. labels: (N,) int64, the
    true classes (untargeted) or the target classes (``targeted``: the loss of the target is descended).
    eps: one ε or (N,) one per image. method: "fgsm" (one step of ε, ``steps`` ignored), "fgsm_rs" (a random
    start, one step of 1.25 ε), "pgd" (``steps`` steps of ``step_size``, default 2.5 ε / steps). random_start:
    for "pgd" (always on for "fgsm_rs"), drawn from ``generator`` (default seed 0). Returns (N, C, H, W) in
    [0, 1], inside the ε ball, without a graph.
    """
    check_choice("method", method, STEP_METHODS)
    check_choice("norm", norm, NORMS)
    if not isinstance(eps, torch.Tensor):
        check_eps(eps, norm, tuple(x.shape))
    if method == "fgsm":
        steps, size, start = 1, eps, False
    elif method == "fgsm_rs":
        steps, size, start = 1, _scaled(eps, FGSM_RS_STEP, x), True
    else:
        check_steps(steps)
        size = step_size if step_size is not None else _scaled(eps, PGD_STEP / steps, x)
        start = random_start
    x = x.detach()
    x_adv = x
    if start:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        u = unit_noise(tuple(x.shape), norm, gen, "start").to(device=x.device, dtype=x.dtype)
        x_adv = (x + u * _per_image(eps, x)).clamp(0.0, 1.0)
    sign = -1.0 if targeted else 1.0
    for _ in range(steps):
        x_adv = x_adv.clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(ce_loss(forward(x_adv), labels), x_adv)
        stepped = x_adv.detach() + sign * ascent_step(grad, size, norm)
        # plain FGSM has no ball to project onto (its step is the ball's radius); captum only clamps it
        x_adv = stepped.clamp(0.0, 1.0) if method == "fgsm" else project(x, stepped, eps, norm)
    return x_adv.detach()
