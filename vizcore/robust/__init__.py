"""Adversarial robustness: attacks (FGSM, PGD, FGSM-RS through captum.robust, and the noise baseline), the
plain-autograd attack step a training loop uses, accuracy against ε with a gradient-masking check, the smallest
ε that flips each image, and how explanations drift under attack compared with noise of the same size.

Modules: ``steps`` (the ε ball, random starts, :func:`perturb` for adversarial training), ``attacks``
(:func:`attack` -> :class:`AttackResult`), ``evaluate`` (:func:`sweep`, :func:`min_eps`), ``drift``
(:func:`drift`). Pixels are in [0, 1] and ε in pixel units; the model's normalisation sits inside the forward.

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.arch, vizcore.inspect (never train, lab,
figures, cli or pages: adversarial training in train/ imports from here, not the reverse).
"""
from __future__ import annotations

from vizcore.robust.attacks import METHODS, AttackResult, Method, attack
from vizcore.robust.drift import DriftResult, MapDrift, drift, spearman, top_iou
from vizcore.robust.evaluate import MinEpsResult, SweepResult, min_eps, sweep
from vizcore.robust.steps import NORMS, Norm, perturb

__all__ = ["METHODS", "NORMS", "AttackResult", "DriftResult", "MapDrift", "Method", "MinEpsResult", "Norm",
           "SweepResult", "attack", "drift", "min_eps", "perturb", "spearman", "sweep", "top_iou"]
