"""Compound model scaling (Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019, §3.3).

One coefficient φ scales depth, width and resolution together: d = α^φ, w = β^φ, r = γ^φ, with α·β²·γ² ≈ 2 so
that FLOPs grow by about 2^φ (the paper's grid search on B0 gave α = 1.2, β = 1.1, γ = 1.15). The published
B1–B7 use the hand-rounded multipliers of :data:`EFFICIENTNET_TABLE`; :func:`scale_b0` builds B0's layer table
(torchvision's ``MBConvConfig`` rounds channels to multiples of 8 and layers up) at any multipliers and counts
parameters and multiply-adds on the meta device (no memory, no arithmetic), so torchvision's published B1–B7
totals can be reproduced from B0.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vizcore.core.meta import on_meta

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # Tan & Le (2019), §3.3: depth, width, resolution bases
BASE_RESOLUTION = 224
MAX_PHI = 8.0  # B7 is about φ = 6; beyond 8 a model would not fit a classroom server
MAX_MULT = 6.0

# name -> (width multiplier, depth multiplier, resolution, dropout): the paper's Table and torchvision's builders
EFFICIENTNET_TABLE: dict[str, tuple[float, float, int, float]] = {
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
}
# B0's stages: (expand ratio, kernel, stride, input channels, output channels, layers) — Tan & Le (2019), Table 1
B0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
)


@dataclass(frozen=True)
class Scaled:
    """One scaled EfficientNet: its multipliers and what they cost."""

    name: str  # "φ=1.5" or "b3"
    width_mult: float  # channels × this (rounded to multiples of 8)
    depth_mult: float  # layers per stage × this (rounded up)
    resolution: int  # input side in pixels
    params: int  # parameters (1000 classes)
    macs: int  # multiply-adds of one forward pass at ``resolution``
    layers: tuple[int, ...]  # MBConv blocks per stage after rounding
    channels: tuple[int, ...]  # output channels per stage after rounding


def _check(name: str, v: float, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"expected {name} between {lo} and {hi}, got {v!r}")
    return float(v)


def multipliers(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA,
                base_resolution: int = BASE_RESOLUTION) -> tuple[float, float, int]:
    """(depth, width, resolution) for compound coefficient φ: (α^φ, β^φ, round(base · γ^φ))."""
    _check("phi", phi, 0.0, MAX_PHI)
    for n, v in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        _check(n, v, 1.0, 2.0)
    _check("base_resolution", base_resolution, 8, 1024)
    return alpha ** phi, beta ** phi, int(round(base_resolution * gamma ** phi))


MAX_RESOLUTION = 1024  # pixels: the largest input side this module counts


def out_of_range(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> str | None:
    """Why B0 scaled by φ with these bases cannot be built here, in words; None when it can.

    >>> out_of_range(7, 1.3)
    'depth ×6.27 is above ×6 (the largest this counts)'
    """
    d, w, r = multipliers(phi, alpha, beta, gamma)
    reasons = []
    if d > MAX_MULT:
        reasons.append(f"depth ×{d:.3g} is above ×{MAX_MULT:g}")
    if w > MAX_MULT:
        reasons.append(f"width ×{w:.3g} is above ×{MAX_MULT:g}")
    if r > MAX_RESOLUTION:
        reasons.append(f"resolution {r:,} px is above {MAX_RESOLUTION:,} px")
    return " and ".join(reasons) + " (the largest this counts)" if reasons else None


def flops_factor(alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> float:
    """α·β²·γ²: how much one step of φ multiplies FLOPs (≈ 2 for the paper's constants)."""
    return alpha * beta ** 2 * gamma ** 2


def build_b0_scaled(width_mult: float, depth_mult: float, num_classes: int = 1000, dropout: float = 0.2) -> nn.Module:
    """EfficientNet with B0's stage table at the given multipliers, built from torchvision's public classes."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    _check("width_mult", width_mult, 0.1, MAX_MULT)
    _check("depth_mult", depth_mult, 0.1, MAX_MULT)
    setting = [MBConvConfig(e, k, s, cin, cout, n, width_mult=width_mult, depth_mult=depth_mult)
               for e, k, s, cin, cout, n in B0_STAGES]
    return EfficientNet(setting, dropout, num_classes=num_classes)


# Layers whose work torch's flop counter does not count (it counts matrix products and convolutions): normalisation,
# activations, dropout. They keep every shape, so replacing them by identities before the counted forward changes
# no count, and spares the counter its slowest part: BatchNorm decomposed into elementary ops in Python (5× faster
# on ResNet-50; tests/vizcore/test_scaling.py compares with the full model's count).
_UNCOUNTED = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.ReLU, nn.ReLU6, nn.SiLU,
              nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.GELU, nn.Dropout)


def _without_uncounted(model: nn.Module) -> nn.Module:
    """``model`` with every :data:`_UNCOUNTED` layer replaced by an identity (in place)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _UNCOUNTED):
                setattr(parent, name, nn.Identity())
    return model


def meta_cost(build: Callable[[], nn.Module], input_size: tuple[int, int, int]) -> tuple[int, int]:
    """(parameters, multiply-adds) of ``build()`` for one input of ``input_size`` = (C, H, W), counted on the meta
    device with ``torch.utils.flop_counter`` (FLOPs / 2), the layers it does not count taken out first."""
    from torch.utils.flop_counter import FlopCounterMode

    with on_meta():
        model = build().eval()
        x = torch.empty(1, *input_size)
    params = sum(p.numel() for p in model.parameters())
    model = _without_uncounted(model)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():  # (batch norm already taken out: vizcore.core.meta.shape_only not needed)
        model(x)
    return params, int(counter.get_total_flops()) // 2


def _conv_cost(cin: int, cout: int, k: int, stride: int, side: int, groups: int = 1, bias: bool = False,
               bn: bool = True) -> tuple[int, int, int]:
    """(parameters, multiply-adds, output side) of a k×k conv with padding (k - 1) // 2 on a side×side map,
    followed by BatchNorm (its weight and bias) when ``bn``."""
    out = (side + 2 * ((k - 1) // 2) - k) // stride + 1
    weights = cout * (cin // groups) * k * k
    return weights + (cout if bias else 0) + (2 * cout if bn else 0), weights * out * out, out


@functools.lru_cache(maxsize=256)
def _b0_cost(width_mult: float, depth_mult: float, resolution: int, num_classes: int = 1000) -> tuple[int, int]:
    """(parameters, multiply-adds) of :func:`build_b0_scaled`, counted from its layer table: the stem, each
    MBConv block (1×1 expansion, k×k depthwise, squeeze-and-excitation to a quarter of the block's input
    channels, 1×1 projection), the 1×1 head to 4× the last stage's channels and the classifier. Equal to
    :func:`meta_cost` of the built model (tests/vizcore/test_scaling.py), and 1000× faster: the φ chart asks
    for a dozen members, and building a large one takes a second even on the meta device."""
    from torchvision.models.efficientnet import MBConvConfig

    stages = [MBConvConfig(e, k, s, cin, cout, n, width_mult=width_mult, depth_mult=depth_mult)
              for e, k, s, cin, cout, n in B0_STAGES]
    params, macs, side = _conv_cost(3, stages[0].input_channels, 3, 2, resolution)
    for cnf in stages:
        cin = cnf.input_channels
        for i in range(cnf.num_layers):
            stride = cnf.stride if i == 0 else 1
            exp = MBConvConfig.adjust_channels(cin, cnf.expand_ratio)
            squeeze = max(1, cin // 4)
            p = m = 0
            if exp != cin:
                p, m, _ = _conv_cost(cin, exp, 1, 1, side)
            dp, dm, out = _conv_cost(exp, exp, cnf.kernel, stride, side, groups=exp)
            se = 2 * exp * squeeze  # two 1×1 convs on the pooled 1×1 map
            pp, pm, _ = _conv_cost(exp, cnf.out_channels, 1, 1, out)
            params += p + dp + se + squeeze + exp + pp
            macs += m + dm + se + pm
            cin, side = cnf.out_channels, out
    last = 4 * stages[-1].out_channels
    hp, hm, _ = _conv_cost(stages[-1].out_channels, last, 1, 1, side)
    return params + hp + last * num_classes + num_classes, macs + hm + last * num_classes


def scale_b0(width_mult: float, depth_mult: float, resolution: int, name: str = "") -> Scaled:
    """Parameters and multiply-adds of B0 scaled by these multipliers, at ``resolution``."""
    from torchvision.models.efficientnet import MBConvConfig

    _check("resolution", resolution, 32, MAX_RESOLUTION)
    params, macs = _b0_cost(float(width_mult), float(depth_mult), int(resolution))
    layers = tuple(MBConvConfig.adjust_depth(n, depth_mult) for *_, n in B0_STAGES)
    channels = tuple(MBConvConfig.adjust_channels(cout, width_mult) for *_, cout, _n in B0_STAGES)
    return Scaled(name or f"w×{width_mult:g}, d×{depth_mult:g}, {resolution}px", float(width_mult),
                  float(depth_mult), int(resolution), params, macs, layers, channels)


def scale_phi(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> Scaled:
    """B0 scaled by compound coefficient φ (unrounded multipliers, as in §3.3)."""
    d, w, r = multipliers(phi, alpha, beta, gamma)
    return scale_b0(w, d, r, name=f"φ={phi:g}")


def published(name: str) -> Scaled:
    """B0–B7 from the paper's multipliers (:data:`EFFICIENTNET_TABLE`)."""
    if name not in EFFICIENTNET_TABLE:
        raise ValueError(f"expected an EfficientNet name in {', '.join(EFFICIENTNET_TABLE)}, got {name!r}")
    w, d, r, _ = EFFICIENTNET_TABLE[name]
    return scale_b0(w, d, r, name=name.upper())


def torchvision_totals(name: str) -> tuple[int, float, int]:
    """torchvision's published (parameters, GFLOPS = billions of multiply-adds, evaluation crop in pixels) of
    ``efficientnet_<name>`` (torchvision evaluates B2 at 288 px where the paper lists 260)."""
    from torchvision.models import get_model_weights

    if name not in EFFICIENTNET_TABLE:
        raise ValueError(f"expected an EfficientNet name in {', '.join(EFFICIENTNET_TABLE)}, got {name!r}")
    weights = get_model_weights(f"efficientnet_{name}").DEFAULT
    crop = int(weights.transforms().crop_size[0])
    return int(weights.meta["num_params"]), float(weights.meta["_ops"]), crop
