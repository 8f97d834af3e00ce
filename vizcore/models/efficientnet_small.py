"""A small EfficientNet for 32x32 images and its compound-scaled family (Tan & Le, ICML 2019, §3.3).

EfficientNet-B0 is sized for 224x224 ImageNet images: trained on two CPU cores it would take hours per epoch.
``efficientnet_s0`` keeps B0's design — MBConv blocks with depthwise convolutions, squeeze-and-excitation and
SiLU, built from torchvision's own ``EfficientNet`` and ``MBConvConfig`` — with a shorter stage table (4 stages,
expand ratio 4, at most 80 channels) for 32x32 inputs. ``efficientnet_s1`` .. ``s3`` scale it as the paper
scales B0: depth × α^φ, width × β^φ, resolution × γ^φ with α = 1.2, β = 1.1, γ = 1.15, so each step of φ
costs about twice the multiply-adds. torchvision's rounding applies (channels to multiples of 8, layers up),
so the family steps as B1–B7 do. Train them in the Training Lab on the embedded shapes, each at its own
resolution, to see accuracy against cost.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# (expand ratio, kernel, stride, input channels, output channels, layers) of efficientnet_s0; after B0's Table 1
# (stage 1 as in B0, then 3 strided/plain stages; the stem strides 2, so 32 -> 16 -> 8 -> 4 -> 4).
S0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 16, 1), (4, 3, 2, 16, 24, 2), (4, 5, 2, 24, 40, 2), (4, 3, 1, 40, 80, 2),
)
S0_RESOLUTION = 32  # pixels
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # Tan & Le (2019), §3.3
FAMILY_PHIS: tuple[int, ...] = (0, 1, 2, 3)  # registered as efficientnet_s0 .. efficientnet_s3
# B0 uses head dropout 0.2 and stochastic depth 0.2 for its 350 ImageNet epochs; runs of a few thousand images
# underfit instead, and both cost efficientnet_s0 about 4 points here (61.5% against 65.1% after 4 epochs of
# 4,000 shapes), so the family trains without them (either is a constructor argument).
DROPOUT = 0.0
STOCHASTIC_DEPTH = 0.0


@dataclass(frozen=True)
class SmallScale:
    """One member of the small family: compound coefficient and the multipliers it gives."""

    phi: int  # compound coefficient
    depth_mult: float  # α^φ
    width_mult: float  # β^φ
    resolution: int  # round(32 · γ^φ) pixels

    @property
    def name(self) -> str:
        return f"efficientnet_s{self.phi}"


def small_scale(phi: int) -> SmallScale:
    """The multipliers of ``efficientnet_s<phi>``: (α^φ, β^φ, round(32 · γ^φ))."""
    if isinstance(phi, bool) or not isinstance(phi, int) or phi not in FAMILY_PHIS:
        raise ValueError(f"expected phi in {', '.join(map(str, FAMILY_PHIS))}, got {phi!r}")
    return SmallScale(phi, ALPHA ** phi, BETA ** phi, int(round(S0_RESOLUTION * GAMMA ** phi)))


def efficientnet_small(width_mult: float = 1.0, depth_mult: float = 1.0, num_classes: int = 10,
                       dropout: float = DROPOUT, stochastic_depth_prob: float = STOCHASTIC_DEPTH) -> nn.Module:
    """The small EfficientNet at these multipliers (torchvision's ``EfficientNet`` with :data:`S0_STAGES`)."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    setting = [MBConvConfig(e, k, s, cin, cout, n, width_mult=width_mult, depth_mult=depth_mult)
               for e, k, s, cin, cout, n in S0_STAGES]
    return EfficientNet(setting, dropout, stochastic_depth_prob=stochastic_depth_prob, num_classes=num_classes)


def family_member(phi: int, num_classes: int = 10) -> nn.Module:
    """``efficientnet_s<phi>``: the small EfficientNet scaled by compound coefficient ``phi``."""
    s = small_scale(phi)
    return efficientnet_small(s.width_mult, s.depth_mult, num_classes=num_classes)
