"""Measuring robustness: accuracy against ε (with a gradient-masking check) and the smallest ε that flips each
image.

A sweep attacks the same images at each ε with FGSM, PGD and same-size random noise. Its numbers count as
robustness only if the gradient attacks behave as attacks: PGD never weaker than FGSM, accuracy falling as ε
grows and reaching about zero at a large ε, gradient attacks stronger than noise. When one of these fails the
model's gradient is likely uninformative — "gradient masking" (Papernot et al., 2017; Athalye, Carlini &
Wagner, "Obfuscated gradients give a false sense of security", ICML 2018; the checklist of Carlini et al., "On
evaluating adversarial robustness", 2019) — and :class:`SweepResult` says so instead of presenting the number.

The minimal ε is found by bisection over ε with the chosen method, batched: every image carries its own ε, all
images are attacked in one batch per bisection step (:func:`vizcore.robust.steps.perturb`, equal to the captum
attacks, accepts one ε per image). captum's ``MinParamPerturbation`` was not used: it judges a whole batch at
once (its default ``correct_fn`` is "all predictions correct"), so per-image ε would need one search per image,
N times the cost, and captum's L2 projection takes only one radius. No random start: the search is
deterministic, so each ε found reproduces (an image's attack does not depend on the other images in the batch).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vizcore.core.checks import check_range
from vizcore.models.preprocess import Preprocess
from vizcore.robust import attacks as at
from vizcore.robust import steps as st

PROBE_EPS = 0.5  # Linf radius of the masking probe (L2: 0.5 · √(C·H·W), a ball holding that Linf ball)
PROBE_ACCURACY = 0.10  # an honest gradient attack leaves under 10% accuracy at the probe's ε
MAX_EPS_LIST = 32  # ε values in one sweep
DEFAULT_MAX_EPS = {"linf": 0.3, "l2": 3.0}  # where the minimal-ε search stops


@dataclass(frozen=True)
class SweepResult:
    """Accuracy against ε for each method, and whether the gradient attacks look masked."""

    norm: str  # linf | l2
    steps: int  # PGD steps
    n: int  # images
    eps: tuple[float, ...]  # radii, increasing
    clean_accuracy: float  # accuracy on the clean images
    accuracy: dict[str, list[float]]  # method -> accuracy at each ε
    probe_eps: float | None  # ε of the large-ε PGD probe (None when no gradient method ran)
    probe_accuracy: float | None  # PGD accuracy there
    problems: list[str] = field(default_factory=list)  # each failed sanity check, in words

    @property
    def masking_suspected(self) -> bool:
        return bool(self.problems)

    @property
    def message(self) -> str:
        """"" when the checks pass, else "gradient masking suspected: ..." (the accuracies are not robustness)."""
        if not self.problems:
            return ""
        return ("gradient masking suspected: " + "; ".join(self.problems) +
                " — these accuracies are not evidence of robustness")

    def rows(self) -> list[dict[str, Any]]:
        """[{"method", "eps", "accuracy"}] for a table or a figure."""
        return [{"method": m, "eps": e, "accuracy": a} for m, accs in self.accuracy.items()
                for e, a in zip(self.eps, accs)]


def _check_eps_list(eps: Sequence[float], norm: str, shape: tuple[int, ...]) -> tuple[float, ...]:
    values = list(eps)
    if not 1 <= len(values) <= MAX_EPS_LIST:
        raise ValueError(f"expected between 1 and {MAX_EPS_LIST} ε values, got {len(values)}")
    for e in values:
        st.check_eps(e, norm, shape)
    return tuple(sorted({float(e) for e in values}))


def _accuracy(forward: st.Forward, x: torch.Tensor, labels: torch.Tensor) -> float:
    return float((at.predict(forward, x) == labels).double().mean())


def masking_problems(acc: dict[str, list[float]], eps: Sequence[float], probe: float | None, probe_eps: float,
                     n: int) -> list[str]:
    """The sanity checks of a sweep, each failure in words (empty: none failed). Tolerance: one image + 2 points."""
    tol = 1.0 / n + 0.02
    out = []
    fg, pg, no = acc.get("fgsm"), acc.get("pgd"), acc.get("noise")
    if fg is not None and pg is not None:
        weaker = [e for e, a, b in zip(eps, pg, fg) if a > b + tol]
        if weaker:
            out.append(f"PGD is weaker than FGSM at ε {', '.join(f'{e:g}' for e in weaker)}")
    for m in ("pgd", "fgsm"):
        a = acc.get(m)
        if a is not None and any(later > earlier + tol for earlier, later in zip(a, a[1:])):
            out.append(f"{m.upper()} accuracy rises as ε grows")
            break
    grad = pg if pg is not None else fg
    if grad is not None and no is not None:
        beaten = [e for e, a, b in zip(eps, grad, no) if a > b + tol]
        if beaten:
            out.append(f"random noise of the same size hurts more than the gradient attack at ε "
                       f"{', '.join(f'{e:g}' for e in beaten)}")
    if probe is not None and probe > max(PROBE_ACCURACY, tol):
        out.append(f"PGD at ε {probe_eps:g} still leaves {100 * probe:.0f}% accuracy (it should fall to about 0)")
    return out


def sweep(model: nn.Module, prep: Preprocess | str, x: torch.Tensor, labels: torch.Tensor, eps: Sequence[float], *,
          methods: Sequence[str] = ("fgsm", "pgd", "noise"), norm: st.Norm = "linf", steps: int = 10,
          random_start: bool = False, seed: int = 0, probe: bool = True) -> SweepResult:
    """Accuracy of each method at each ε on the same images, with the gradient-masking checks.

    x: (N, C, H, W) float in [0, 1]; labels (N,) int. eps: up to 32 radii in pixel units (sorted, duplicates
    dropped). methods: from "fgsm", "pgd", "noise". probe: also run PGD at a large ε (0.5 Linf; 0.5·√(C·H·W)
    L2), where an honest gradient must leave about zero accuracy. Other arguments as :func:`attack`.
    """
    p = at.as_preprocess(prep)
    x, labels = at.check_batch(x, labels)
    ms = list(dict.fromkeys(methods))
    if not ms:
        raise ValueError(f"expected methods from {', '.join(at.METHODS)}, got none")
    for m in ms:
        at.check_attack(m, norm, 0.0, steps, None, tuple(x.shape))
    values = _check_eps_list(eps, norm, tuple(x.shape))
    probe_eps = PROBE_EPS * (1.0 if norm == "linf" else math.sqrt(math.prod(x.shape[1:])))
    run_probe = probe and any(m != "noise" for m in ms)
    with at.eval_mode(model):
        forward = at.pixel_forward(model, p)
        at.check_classes("labels", labels, at.check_budget(model, forward, x, "an ε sweep"))
        clean = _accuracy(forward, x, labels)
        acc: dict[str, list[float]] = {m: [] for m in ms}
        for m in ms:
            k = 1 if m == "fgsm" else steps
            for e in values:
                if e == 0.0:  # a ball of radius 0 holds the images alone: every method leaves them as they are
                    acc[m].append(clean)
                    continue
                adv = at.adversarial(forward, x, labels, method=m, eps=e, norm=norm, steps=k,
                                     step_size=at.default_step_size(m, e, k, random_start), random_start=random_start,
                                     targeted=False, seed=seed)
                acc[m].append(_accuracy(forward, adv, labels))
        probe_acc = None
        if run_probe:
            adv = at.adversarial(forward, x, labels, method="pgd", eps=probe_eps, norm=norm, steps=steps,
                                 step_size=at.default_step_size("pgd", probe_eps, steps, False), random_start=False,
                                 targeted=False, seed=seed)
            probe_acc = _accuracy(forward, adv, labels)
    problems = masking_problems(acc, values, probe_acc, probe_eps, x.shape[0])
    return SweepResult(norm, steps, x.shape[0], values, clean, acc, probe_eps if run_probe else None, probe_acc,
                       problems)


# ------------------------------------------------------------------------------------------- minimal ε

@dataclass(frozen=True)
class MinEpsResult:
    """The smallest ε that flips each image, found by bisection."""

    method: str  # fgsm | pgd | noise
    norm: str  # linf | l2
    steps: int  # PGD steps
    max_eps: float  # where the search stopped
    tol: float  # width of the final bracket: each image flips at eps and not at eps - tol (or at below)
    eps: NDArray[np.float64]  # (N,) smallest ε found to flip; 0 already wrong; inf never flipped up to max_eps
    below: NDArray[np.float64]  # (N,) largest ε checked that did not flip (NaN for images already wrong)
    already_wrong: NDArray[np.bool_]  # (N,) misclassified (or already the target) before any attack
    never: NDArray[np.bool_]  # (N,) not flipped even at max_eps

    def summary(self) -> dict[str, float | int]:
        """Median and quartiles of ε over the images that flipped, and the share of the images searched
        (those right before the attack) that never flipped up to max_eps."""
        searched = ~self.already_wrong
        found = self.eps[searched & ~self.never]
        q1, med, q3 = (np.quantile(found, [0.25, 0.5, 0.75]).tolist() if found.size else [math.nan] * 3)
        n = int(searched.sum())
        return {"n": int(self.eps.size), "searched": n, "already_wrong": int(self.already_wrong.sum()),
                "median": med, "q1": q1, "q3": q3, "max_eps": self.max_eps, "tol": self.tol,
                "never_flipped": int(self.never.sum()), "share_never_flipped": float(self.never.sum() / n) if n else
                math.nan}


def _flipped(pred: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    return pred == labels if targeted else pred != labels


def min_eps(model: nn.Module, prep: Preprocess | str, x: torch.Tensor, labels: torch.Tensor, *,
            method: at.Method = "pgd", norm: st.Norm = "linf", steps: int = 10, max_eps: float | None = None,
            tol: float | None = None, target: int | Sequence[int] | torch.Tensor | None = None,
            seed: int = 0) -> MinEpsResult:
    """The smallest ε (within ``tol``) at which ``method`` flips each image: bisection on [0, max_eps].

    x: (N, C, H, W) float in [0, 1]; labels (N,) int. max_eps: default 0.3 (Linf) or 3.0 (L2). tol: default
    max_eps / 256. target: flip towards this class (one, or one per image) instead of away from the label.
    seed: of the noise direction (method "noise": one direction per image, scaled by ε).
    """
    p = at.as_preprocess(prep)
    x, labels = at.check_batch(x, labels)
    top = DEFAULT_MAX_EPS.get(norm, 1.0) if max_eps is None else max_eps
    at.check_attack(method, norm, top, steps, None, tuple(x.shape))
    check_range("max_eps", top, 0.0, st.max_eps(norm, tuple(x.shape)), lo_open=True)
    tol = top / 256 if tol is None else tol
    check_range("tol", tol, 0.0, top, lo_open=True)
    with at.eval_mode(model):
        forward = at.pixel_forward(model, p)
        n_out = at.check_budget(model, forward, x, "a minimal-ε search")
        at.check_classes("labels", labels, n_out)
        targets = at.targets_of(target, x.shape[0], n_out, x.device)
        goal, targeted = (labels, False) if targets is None else (targets, True)
        unit = st.unit_noise(tuple(x.shape), norm, torch.Generator().manual_seed(seed), "noise").to(x)

        def flips(idx: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
            xs, ys = x[idx], goal[idx]
            if method == "noise":
                adv = (xs + unit[idx] * e.to(x).reshape(-1, 1, 1, 1)).clamp(0.0, 1.0)
            else:
                adv = st.perturb(forward, xs, ys, e.to(x), method="fgsm" if method == "fgsm" else "pgd", norm=norm,
                                 steps=steps, targeted=targeted)
            return _flipped(at.predict(forward, adv), ys, targeted).cpu()

        wrong = _flipped(at.predict(forward, x), goal, targeted).cpu()
        lo = torch.zeros(x.shape[0], dtype=torch.float64)
        hi = torch.full((x.shape[0],), float(top), dtype=torch.float64)
        idx = torch.nonzero(~wrong).flatten()
        at_top = flips(idx.to(x.device), hi[idx]) if idx.numel() else torch.zeros(0, dtype=torch.bool)
        never = torch.zeros_like(wrong)
        never[idx[~at_top]] = True
        idx = idx[at_top]
        while idx.numel() and float((hi[idx] - lo[idx]).max()) > tol:
            mid = (lo[idx] + hi[idx]) / 2
            f = flips(idx.to(x.device), mid)
            hi[idx[f]], lo[idx[~f]] = mid[f], mid[~f]
    eps = hi.clone()
    eps[wrong], eps[never] = 0.0, math.inf
    below = lo.clone()
    below[wrong] = math.nan
    below[never] = float(top)
    return MinEpsResult(method, norm, 1 if method == "fgsm" else steps, float(top), float(tol), eps.numpy(),
                        below.numpy(), wrong.numpy(), never.numpy())
