"""Stacked small kernels versus one big kernel with the same receptive field (Simonyan & Zisserman, 2015)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from vizcore.arch.geometry import stacked_field

# ------------------------------------------------------------------------------------------- stacked kernels


@dataclass(frozen=True)
class KernelStack:
    """n stacked KxK stride-1 convolutions versus one convolution with the same field (Simonyan & Zisserman, 2015).

    VGG's argument (Sec. 2.3): three 3x3 layers see 7x7 like one 7x7 layer, with 27 C^2 instead of 49 C^2
    weights and three non-linearities instead of one.
    """

    n: int  # number of stacked layers
    k: int  # kernel size of each stacked layer
    channels: int  # C: input = output channels of every layer
    field: int  # receptive field of the stack = size of the single kernel: n (k-1) + 1
    params_stacked: int  # n k^2 C^2 weights (no biases)
    params_single: int  # field^2 C^2 weights
    nonlinearities_stacked: int  # n
    nonlinearities_single: int  # 1

    @property
    def saving(self) -> float:
        """Fraction of weights the stack saves against the single big kernel."""
        return 1.0 - self.params_stacked / self.params_single


def kernel_stack(n: int, k: int, channels: int) -> KernelStack:
    """Compare n stacked KxK convolutions (stride 1) with one convolution of the same receptive field."""
    for label, v, hi in (("n", n, 64), ("k", k, 31), ("channels", channels, 4096)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not (1 <= v <= hi):
            raise ValueError(f"expected {label} between 1 and {hi}, got {v!r}")
    if k < 2:
        raise ValueError(f"expected k of at least 2 (a 1x1 kernel does not grow the field), got {k}")
    f = stacked_field(n, k)
    c2 = channels * channels
    return KernelStack(n, k, channels, f, n * k * k * c2, f * f * c2, n, 1)


def sequential_stack(n: int, k: int, channels: int) -> nn.Sequential:
    """The stack of :func:`kernel_stack` as real layers (conv, ReLU) x n, for measuring it with torch."""
    kernel_stack(n, k, channels)
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [nn.Conv2d(channels, channels, k, bias=False), nn.ReLU()]
    return nn.Sequential(*layers)
