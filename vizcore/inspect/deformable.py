"""Deformable convolution: where a trained offset field makes a 3×3 kernel sample.

Dai et al., "Deformable Convolutional Networks", ICCV 2017: a plain convolution reads its k×k inputs on a regular
grid; a deformable one adds to each of the k² sampling points a learned, fractional offset (Δy, Δx), predicted
for every output position by an ordinary convolution over the same input, and reads the input there by bilinear
interpolation. ``torchvision.ops.DeformConv2d`` computes it; its offset tensor has ``2·k·k`` channels per offset
group, ordered (Δy₀, Δx₀, Δy₁, Δx₁, …) over the kernel points in row-major order.

The task here has a known answer, so the trained field can be checked by eye and by number: a deformable 3×3
convolution whose kernel is fixed must reproduce, on one picture, the same kernel applied with dilation ``d``.
Its offset predictor starts at zero (the paper's initialisation: a regular grid) and is trained by Adam on the
squared error; the ideal offsets move kernel point (a, b) ∈ {−1, 0, 1}² by (a·(d−1), b·(d−1)), spreading the
grid to the dilated one. :func:`train_offsets` returns the learned sampling points of every output position.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn
from torchvision.ops import DeformConv2d

from vizcore.core.budget import check_memory

K = 3  # kernel size of the demonstration (the paper's 3×3)
MAX_SIZE = 128  # picture side in pixels
MAX_STEPS = 1000


@dataclass(frozen=True)
class DeformConfig:
    size: int = 48  # side of the square grey picture the layer is trained on, pixels (16..128)
    dilation: int = 2  # the target kernel's dilation: the spread the offsets must learn (1..4; 1 = no change)
    steps: int = 200  # Adam steps on the offset predictor (10..1000)
    lr: float = 0.05  # Adam step size
    seed: int = 0  # draws the fixed 3×3 kernel

    def __post_init__(self) -> None:
        if not 16 <= self.size <= MAX_SIZE:
            raise ValueError(f"expected size between 16 and {MAX_SIZE} pixels, got {self.size}")
        if not 1 <= self.dilation <= 4:
            raise ValueError(f"expected dilation between 1 and 4, got {self.dilation}")
        if not 10 <= self.steps <= MAX_STEPS:
            raise ValueError(f"expected steps between 10 and {MAX_STEPS}, got {self.steps}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"expected a learning rate in (0, 1], got {self.lr}")


@dataclass(frozen=True)
class DeformResult:
    image: NDArray[np.float32]  # (H, W) the grey picture in [0, 1]
    offsets: NDArray[np.float32]  # (2·K·K, H, W) trained offsets, DeformConv2d's layout (Δy, Δx per kernel point)
    points: NDArray[np.float32]  # (H, W, K·K, 2) sampling positions (row, col) in input pixels of every output
    loss_curve: list[float]  # mean squared error per step
    loss_regular: float  # error of the plain 3×3 grid (offsets zero)
    loss_ideal: float  # error with the ideal (dilated) offsets: the floor bilinear sampling allows
    mean_offset: NDArray[np.float32]  # (K·K, 2) learned offset of each kernel point, averaged over the interior
    ideal_offset: NDArray[np.float32]  # (K·K, 2) the offsets that turn the grid into the dilated one
    dilation: int


def grid_offsets() -> torch.Tensor:
    """(K·K, 2) the kernel points' positions (row, col) relative to the centre, row-major: (−1, −1) … (1, 1)."""
    r = torch.arange(K, dtype=torch.float32) - (K - 1) / 2
    return torch.stack(torch.meshgrid(r, r, indexing="ij"), dim=-1).reshape(K * K, 2)


def sampling_points(offsets: torch.Tensor, padding: int = 1, stride: int = 1) -> torch.Tensor:
    """Where a stride-``stride`` 3×3 DeformConv2d reads the input, in input pixel coordinates (row, col).

    offsets: (2·K·K, Ho, Wo) one offset group as DeformConv2d takes it. Returns (Ho, Wo, K·K, 2): output (i, j)'s
    kernel point p is read at (i·s − pad + 1 + a_p + Δy_p, j·s − pad + 1 + b_p + Δx_p), (a_p, b_p) ∈ {−1, 0, 1}².
    """
    if offsets.ndim != 3 or offsets.shape[0] != 2 * K * K:
        raise ValueError(f"expected offsets of shape ({2 * K * K}, Ho, Wo), got {tuple(offsets.shape)}")
    _, ho, wo = offsets.shape
    d = offsets.reshape(K * K, 2, ho, wo).permute(2, 3, 0, 1)  # (Ho, Wo, K·K, 2)
    ii = torch.arange(ho, dtype=offsets.dtype) * stride - padding + (K - 1) / 2
    jj = torch.arange(wo, dtype=offsets.dtype) * stride - padding + (K - 1) / 2
    centre = torch.stack(torch.meshgrid(ii, jj, indexing="ij"), dim=-1)  # (Ho, Wo, 2)
    return centre[:, :, None, :] + grid_offsets().to(offsets.dtype)[None, None] + d


def ideal_offsets(dilation: int) -> torch.Tensor:
    """(K·K, 2) offsets that move the regular grid onto the grid of dilation ``dilation``."""
    return grid_offsets() * (dilation - 1)


class DeformableLayer(nn.Module):
    """A 3×3 DeformConv2d with its offset predictor (a 3×3 conv, zero-initialised: it starts as a regular grid).

    forward(x): x (N, 1, H, W) -> (output (N, 1, H, W), offsets (N, 2·K·K, H, W))."""

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.offset = nn.Conv2d(1, 2 * K * K, K, padding=1)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)  # type: ignore[arg-type]  # built with bias=True
        self.conv = DeformConv2d(1, 1, K, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(kernel.reshape(1, 1, K, K))
        self.conv.weight.requires_grad_(False)  # the kernel is fixed: only where it samples is learnt

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        off = self.offset(x)
        return self.conv(x, off), off


def _kernel(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(K, K, generator=g)
    return w / w.norm()


def train_offsets(image: NDArray, cfg: DeformConfig = DeformConfig(),
                  progress: Callable[[float, str], None] | None = None) -> DeformResult:
    """Train the offset predictor so the deformable 3×3 conv matches the same kernel dilated by ``cfg.dilation``.

    image: (H, W) or (H, W, 3), uint8 or float in [0, 1]; resized to ``cfg.size`` square and made grey. The error is
    taken away from a border of ``dilation`` pixels (where the two convolutions see different zero padding)."""
    from vizcore.data.images import fit_image

    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or min(arr.shape[:2]) < 1:
        raise ValueError(f"expected an image of shape (H, W) or (H, W, 3), got {arr.shape}")
    n = cfg.size
    check_memory(f"training a deformable 3×3 layer on a {n}×{n} picture", 200 * 4 * n * n * 2 * K * K)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float64), 0, 1) * 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    grey = fit_image(arr[:, :, :3], n).astype(np.float32).mean(axis=2) / 255.0
    x = torch.from_numpy(grey)[None, None]
    kernel = _kernel(cfg.seed)
    d = cfg.dilation
    target = F.conv2d(x, kernel.reshape(1, 1, K, K), padding=d, dilation=d)
    inner = (slice(None), slice(None), slice(d, n - d), slice(d, n - d))
    layer = DeformableLayer(kernel)
    with torch.no_grad():
        zero = torch.zeros(1, 2 * K * K, n, n)
        loss_regular = float(F.mse_loss(layer.conv(x, zero)[inner], target[inner]))
        ideal = ideal_offsets(d).reshape(2 * K * K, 1, 1).expand(2 * K * K, n, n)[None]
        loss_ideal = float(F.mse_loss(layer.conv(x, ideal)[inner], target[inner]))
    opt = torch.optim.Adam(layer.offset.parameters(), lr=cfg.lr)
    curve: list[float] = []
    for step in range(cfg.steps):
        out, _ = layer(x)
        loss = F.mse_loss(out[inner], target[inner])
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(float(loss.detach()))
        if progress and (step % 20 == 0 or step == cfg.steps - 1):
            progress((step + 1) / cfg.steps, f"step {step + 1}/{cfg.steps}, error {curve[-1]:.2e}")
    with torch.no_grad():
        _, off = layer(x)
    off = off[0]
    mean = off[:, d:n - d, d:n - d].mean(dim=(1, 2)).reshape(K * K, 2)
    return DeformResult(grey, off.numpy(), sampling_points(off).numpy(), curve, loss_regular, loss_ideal,
                        mean.numpy(), ideal_offsets(d).numpy(), d)
