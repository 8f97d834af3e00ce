"""Adversarial examples through captum.robust: FGSM and PGD (Linf, L2), untargeted or targeted, and the noise
baseline of the same size.

FGSM: x' = x + ε sign(∇ₓ L(x, y)) (Goodfellow, Shlens & Szegedy, "Explaining and harnessing adversarial
examples", ICLR 2015). PGD: k such steps of size α, each projected back onto the ε ball (Madry et al., "Towards
deep learning models resistant to adversarial attacks", ICLR 2018). Targeted ("make this circle a star"): the
loss of the target class t is descended, x' = x − ε sign(∇ₓ L(x, t)) — what captum's ``targeted=True`` does.
The attack works on pixels in [0, 1] with the model's normalisation inside the forward function, so ε is in
pixel units (8/255 ≈ 0.031 is the usual Linf budget on 32x32 images), with bounds 0 and 1.

What captum 0.9's source does, and what is set here because of it:

- Its default loss is −log(output[target]), right only for a model that outputs probabilities: the summed
  cross-entropy of the logits (:func:`vizcore.robust.steps.ce_loss`) is passed as ``loss_func``.
- FGSM leaves a pixel alone when |gradient| ≤ ``zero_thresh`` (1e-6); a confident image's gradients are often
  that small, so the threshold is set to 0 (the textbook step: sign(0) = 0 moves nothing anyway).
- PGD always steps by the gradient's sign, whatever the norm; ``norm="L2"`` only changes its projection
  (``torch.renorm``) and random start. For L2 the step here is the L2 steepest ascent α · g / ‖g‖₂ (Madry et
  al.; torchattacks' PGDL2) by overriding FGSM's step; the projection stays captum's.
- Its random start draws from the global random generator (and, for L2, mixes a CPU tensor into a GPU
  computation): here it is drawn from an explicit seed (:func:`vizcore.robust.steps.unit_noise`).

Models are used in eval mode (their mode is restored afterwards) and not copied: a model shared between threads
must be used under its lock by the caller. Nothing here keeps state between calls.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from captum.robust import FGSM, PGD
from torch import nn

from vizcore.core.budget import check_memory
from vizcore.core.checks import check_choice, check_range
from vizcore.core.hooks import leaf_output_numel
from vizcore.models.preprocess import Preprocess, for_model
from vizcore.robust import steps as st

Method = Literal["fgsm", "pgd", "noise"]
METHODS: tuple[str, ...] = get_args(Method)
TOP_K = 5


@dataclass(frozen=True, eq=False)
class AttackResult:
    """One attack on a batch. Tensors stay on the batch's device until drawn."""

    method: str  # fgsm | pgd | noise
    norm: str  # linf | l2
    eps: float  # radius of the ball, in pixel units
    steps: int  # gradient steps taken (1 for FGSM, 0 for noise)
    step_size: float  # size of each step (ε for FGSM, 0 for noise)
    random_start: bool  # whether the attack started from a random point of the ball
    seed: int  # seed of the random start or of the noise
    targets: torch.Tensor | None  # (N,) int64 target classes of a targeted attack, else None
    labels: torch.Tensor  # (N,) int64 true classes
    clean: torch.Tensor  # (N, C, H, W) float in [0, 1]
    adversarial: torch.Tensor  # (N, C, H, W) float in [0, 1], inside the ε ball around clean
    clean_probs: torch.Tensor  # (N, k) top-k softmax probabilities on the clean images, largest first
    clean_top: torch.Tensor  # (N, k) int64 their classes
    adversarial_probs: torch.Tensor  # (N, k) the same on the adversarial images
    adversarial_top: torch.Tensor  # (N, k) int64
    target_prob_clean: torch.Tensor | None  # (N,) probability of the target class before (targeted only)
    target_prob_adversarial: torch.Tensor | None  # (N,) and after

    @property
    def clean_pred(self) -> torch.Tensor:
        return self.clean_top[:, 0]

    @property
    def adversarial_pred(self) -> torch.Tensor:
        return self.adversarial_top[:, 0]

    @property
    def clean_accuracy(self) -> float:
        return float((self.clean_pred == self.labels).double().mean())

    @property
    def adversarial_accuracy(self) -> float:
        return float((self.adversarial_pred == self.labels).double().mean())

    @property
    def target_rate(self) -> float | None:
        """Share of images now classified as their target (targeted attacks), else None."""
        return None if self.targets is None else float((self.adversarial_pred == self.targets).double().mean())

    def delta_norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(‖δ‖∞, ‖δ‖₂) per image, each (N,)."""
        d = (self.adversarial - self.clean).flatten(1)
        return d.abs().amax(1), d.norm(dim=1)


# ------------------------------------------------------------------------------------------- checks

def as_preprocess(prep: Preprocess | str) -> Preprocess:
    """A :class:`Preprocess`, or the one of zoo model ``prep`` (its channels, mean and std)."""
    return for_model(prep) if isinstance(prep, str) else prep


def check_batch(x: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (N, C, H, W) float in [0, 1], finite; labels: (N,) integers -> (x detached, labels int64 on x's device)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point() or x.shape[0] < 1:
        raise ValueError(f"expected images as a float tensor (N, C, H, W) with N ≥ 1, got {getattr(x, 'shape', type(x))}")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("expected pixels in [0, 1] (the attack works in pixel space, normalisation inside), got "
                         f"values in [{float(x.nan_to_num().min()):.3g}, {float(x.nan_to_num().max()):.3g}] or NaN")
    y = torch.as_tensor(labels).reshape(-1)
    if y.is_floating_point() or y.numel() != x.shape[0]:
        raise ValueError(f"expected one integer label per image ({x.shape[0]}), got {tuple(y.shape)} {y.dtype}")
    return x.detach(), y.to(device=x.device, dtype=torch.int64)


def check_attack(method: str, norm: str, eps: float, steps: int, step_size: float | None,
                 shape: tuple[int, ...]) -> None:
    """ValueError in one sentence for an unknown method or norm, ε outside [0, max], steps outside [1, 1000]."""
    check_choice("method", method, METHODS)
    st.check_eps(eps, norm, shape)
    st.check_steps(steps)
    if step_size is not None:
        check_range("step_size", step_size, 0.0, st.max_eps(norm, shape), lo_open=True)


def check_classes(name: str, classes: torch.Tensor, n_out: int) -> None:
    if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= n_out):
        raise ValueError(f"expected {name} in [0, {n_out}) (the model's classes), got {sorted(set(classes.tolist()))[:8]}")


def targets_of(target: int | Sequence[int] | torch.Tensor | None, n: int, n_out: int, device: torch.device
               ) -> torch.Tensor | None:
    """None, or the target class of each of ``n`` images as (n,) int64 (one int applies to all)."""
    if target is None:
        return None
    if isinstance(target, bool) or (isinstance(target, float)):
        raise ValueError(f"expected the target as a class index, got {target!r}")
    t = torch.as_tensor(target).reshape(-1)
    if t.is_floating_point() or t.numel() not in (1, n):
        raise ValueError(f"expected one target class or one per image ({n}), got {t.numel()}")
    t = t.to(device=device, dtype=torch.int64).expand(n).clone()
    check_classes("target classes", t, n_out)
    return t


# ------------------------------------------------------------------------------------------- model plumbing

@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block; its own mode (and its submodules') restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def pixel_forward(model: nn.Module, prep: Preprocess) -> st.Forward:
    """pixels (N, C, H, W) in [0, 1] -> logits (N, K): the model with its normalisation in front.

    When the input needs a gradient, 0 · sum(x) is added to the logits: a model whose graph is cut inside (a
    detached input) then gives a zero gradient instead of an autograd error, so a sweep reports it as gradient
    masking rather than failing. (One reduction over the pixels: nothing next to the convolutions.)"""

    def forward(x01: torch.Tensor) -> torch.Tensor:
        out = model(prep.normalize(x01))
        return out + 0.0 * x01.sum() if x01.requires_grad else out

    return forward


def check_budget(model: nn.Module, forward: st.Forward, x: torch.Tensor, what: str) -> int:
    """Refuse (MemoryBudgetError, a ValueError) a batch whose attack would not fit the memory budget; returns the
    model's number of outputs. One image is run forward first to measure the activations autograd keeps."""
    acts, logits = leaf_output_numel(model, lambda: forward(x[:1]))
    if logits.ndim != 2:
        raise ValueError(f"expected a classifier returning logits (N, K), got output shape {tuple(logits.shape)}")
    n, pixels = x.shape[0], math.prod(x.shape[1:])
    # kept activations, their gradients and a temporary each; ~10 image-sized buffers (clean, adversarial,
    # gradient, normalised input and its gradient, steps)
    need = 4 * n * (3 * acts + 10 * pixels)
    check_memory(f"{what} on {n} images of {'x'.join(map(str, x.shape[1:]))}", need, "use fewer images")
    return int(logits.shape[1])


@torch.no_grad()
def predict(forward: st.Forward, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted class (N,) int64 of pixels x, in batches."""
    return torch.cat([forward(x[i:i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])


def own_answers(model: nn.Module, prep: Preprocess | str, x: torch.Tensor) -> torch.Tensor:
    """The model's own predicted class (N,) int64 for clean pixels x (N, C, H, W) in [0, 1]: the labels an attack
    must change when the model was not trained on the images' classes (its answers are all there is to flip)."""
    with eval_mode(model):
        return predict(pixel_forward(model, as_preprocess(prep)), x)


# ------------------------------------------------------------------------------------------- captum

class _FGSM(FGSM):
    """captum's FGSM with cross-entropy, no gradient threshold, and for L2 the step α · g / ‖g‖₂."""

    def __init__(self, forward: st.Forward, norm: str, bounded: bool) -> None:
        lo, hi = (0.0, 1.0) if bounded else (-math.inf, math.inf)  # inside PGD the bounds come after projecting
        super().__init__(forward, st.ce_loss, lo, hi)
        self.norm = norm
        self.zero_thresh = 0.0

    def _perturb(self, inputs: tuple, grads: tuple, epsilon: float, targeted: bool, masks: tuple) -> tuple:
        if self.norm == "linf":
            return super()._perturb(inputs, grads, epsilon, targeted, masks)
        sign = -1.0 if targeted else 1.0
        return tuple(x + sign * st.ascent_step(g * m, epsilon, "l2") for g, x, m in zip(grads, inputs, masks))


class _PGD(PGD):
    """captum's PGD with :class:`_FGSM` steps and a random start drawn from ``generator``."""

    def __init__(self, forward: st.Forward, norm: str, generator: torch.Generator) -> None:
        super().__init__(forward, st.ce_loss, 0.0, 1.0)
        self.fgsm = _FGSM(forward, norm, bounded=False)
        self.norm, self.generator = norm, generator

    def _random_point(self, center: torch.Tensor, radius: float, norm: str, mask: Any) -> torch.Tensor:
        u = st.unit_noise(tuple(center.shape), self.norm, self.generator, "start")
        return center + u.to(device=center.device, dtype=center.dtype) * torch.as_tensor(
            radius, dtype=center.dtype, device=center.device) * mask


def adversarial(forward: st.Forward, x: torch.Tensor, labels: torch.Tensor, *, method: str, eps: float,
                norm: str, steps: int, step_size: float, random_start: bool, targeted: bool, seed: int) -> torch.Tensor:
    """Perturbed pixels (N, C, H, W) in [0, 1] of one method (checked arguments; see :func:`attack`).

    labels are the true classes, or the target classes when ``targeted``. "fgsm" with a random start is
    FGSM-RS: captum's PGD with one step of ``step_size`` from a random start."""
    gen = torch.Generator().manual_seed(seed)
    if method == "noise":
        u = st.unit_noise(tuple(x.shape), norm, gen, "noise").to(device=x.device, dtype=x.dtype)
        return (x + eps * u).clamp(0.0, 1.0)
    with warnings.catch_warnings():  # captum says it turned on the input's gradient: expected here
        warnings.filterwarnings("ignore", message=".*did not already require grad.*")
        if method == "fgsm" and not random_start:
            return _FGSM(forward, norm, bounded=True).perturb(x, eps, labels, targeted=targeted).detach()
        pgd = _PGD(forward, norm, gen)
        return pgd.perturb(x, radius=eps, step_size=step_size, step_num=steps, target=labels, targeted=targeted,
                           random_start=random_start, norm="Linf" if norm == "linf" else "L2").detach()


def default_step_size(method: str, eps: float, steps: int, random_start: bool) -> float:
    """ε for FGSM, 1.25 ε for FGSM-RS (Wong et al. 2020), 2.5 ε / steps for PGD (Madry et al. 2018)."""
    if method == "fgsm":
        return st.FGSM_RS_STEP * eps if random_start else eps
    return st.PGD_STEP * eps / steps if method == "pgd" else 0.0


def attack(model: nn.Module, prep: Preprocess | str, x: torch.Tensor, labels: torch.Tensor, *,
           method: Method = "pgd", eps: float = 8 / 255, norm: st.Norm = "linf", steps: int = 10,
           step_size: float | None = None, random_start: bool = False,
           target: int | Sequence[int] | torch.Tensor | None = None, seed: int = 0) -> AttackResult:
    """Attack a batch and report predictions before and after.

    model: a classifier on x's device (used in eval mode, not copied: hold its lock if it is shared).
    prep: the model's :class:`Preprocess` or its zoo name (normalisation applied inside, so ε is in pixels).
    x: (N, C, H, W) float in [0, 1]. labels: (N,) int true classes. method: "fgsm", "pgd" or "noise" (random
    signs of size ε, the baseline). norm: "linf" or "l2". eps: ball radius in pixel units ([0, 1] for Linf).
    steps: PGD steps (1..1000; FGSM takes one). step_size: default ε (FGSM), 1.25 ε (FGSM with random start),
    2.5 ε / steps (PGD). target: a class (or one per image) to push the images towards; None: untargeted.
    seed: of the random start and of the noise.

    >>> r = attack(model, "small_cnn", x, y, method="pgd", eps=0.03)  # doctest: +SKIP
    >>> r.clean_accuracy, r.adversarial_accuracy  # doctest: +SKIP
    """
    p = as_preprocess(prep)
    x, labels = check_batch(x, labels)
    check_attack(method, norm, eps, steps, step_size, tuple(x.shape))
    steps = 1 if method == "fgsm" else 0 if method == "noise" else steps
    size = step_size if step_size is not None and method != "noise" else default_step_size(method, eps, steps,
                                                                                          random_start)
    with eval_mode(model):
        forward = pixel_forward(model, p)
        n_out = check_budget(model, forward, x, f"a {method} attack")
        check_classes("labels", labels, n_out)
        targets = targets_of(target, x.shape[0], n_out, x.device)
        adv = adversarial(forward, x, labels if targets is None else targets, method=method, eps=float(eps),
                          norm=norm, steps=steps, step_size=float(size), random_start=random_start,
                          targeted=targets is not None, seed=seed)
        with torch.no_grad():
            pc, pa = forward(x).softmax(1), forward(adv).softmax(1)
    k = min(TOP_K, n_out)
    (cp, ct), (ap, at) = pc.topk(k, dim=1), pa.topk(k, dim=1)
    tc, ta = (None, None) if targets is None else (pc.gather(1, targets[:, None])[:, 0],
                                                   pa.gather(1, targets[:, None])[:, 0])
    return AttackResult(method, norm, float(eps), steps, float(size), bool(random_start and method != "noise"),
                        seed, targets, labels, x, adv, cp, ct, ap, at, tc, ta)

