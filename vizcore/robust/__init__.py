"""Adversarial robustness: attacks (FGSM, PGD, FGSM-RS through captum.robust, and the noise baseline), the
plain-autograd attack step a training loop uses, accuracy against ε with a gradient-masking check, the smallest
ε that flips each image, and how explanations drift under attack compared with noise of the same size.

Modules for use from outside (``__all__``):

* ``steps`` — the ε ball, random starts, and :func:`~vizcore.robust.steps.perturb` for adversarial training
* ``attacks`` — :func:`~vizcore.robust.attacks.attack` -> ``AttackResult`` (FGSM, PGD through captum.robust; noise)
* ``evaluate`` — :func:`~vizcore.robust.evaluate.sweep` (accuracy against ε) and ``min_eps`` (flipping radii)
* ``drift`` — :func:`~vizcore.robust.drift.drift`: explanations before and after, against same-size noise

Pixels are in [0, 1] and ε in pixel units; the model's normalisation sits inside the forward. The modules are
imported on use, never here.

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.arch, vizcore.inspect (never train, lab,
figures, cli or pages: adversarial training in train/ imports from here, not the reverse).
"""

__all__ = ["attacks", "drift", "evaluate", "steps"]
