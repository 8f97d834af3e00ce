"""What input a channel wants: activation maximisation by gradient ascent on the image.

Erhan et al. (2009) and Simonyan et al. (ICLR workshop 2014) optimise the input to excite a unit; alone that
gives high-frequency noise. The regularisers that make it work follow Olah, Mordvintsev, Schubert, "Feature
Visualization" (Distill 2017) and Mahendran & Vedaldi (CVPR 2015): small random translations (jitter) each
step, a total-variation penalty, and a decorrelated parameterisation — the image is the inverse FFT of a
spectrum scaled by 1/frequency, with colours mixed by the square root of natural images' colour covariance —
which works at 32×32 as at 224×224.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from vizcore.models.preprocess import Preprocess

MAX_STEPS = 1024
MAX_SIZE = 512

# sqrt of the colour covariance of ImageNet pixels (Lucid's color_correlation_svd_sqrt), column-normalised
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


@dataclass(frozen=True)
class MaximizeConfig:
    """How to optimise the input image."""

    steps: int = 128  # gradient-ascent steps (Adam)
    lr: float = 0.05  # Adam step size on the parameterisation
    jitter: int = 2  # random translation in pixels each step (both axes), 0 = off
    tv_weight: float = 1e-3  # weight of the total-variation penalty
    fourier: bool = True  # decorrelated Fourier parameterisation (False: raw pixels)
    seed: int = 0  # draws the initial spectrum and the jitter

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"expected steps between 1 and {MAX_STEPS}, got {self.steps}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"expected lr in (0, 1], got {self.lr}")
        if not 0 <= self.jitter <= 32:
            raise ValueError(f"expected jitter between 0 and 32 pixels, got {self.jitter}")
        if not 0 <= self.tv_weight <= 10:
            raise ValueError(f"expected tv_weight between 0 and 10, got {self.tv_weight}")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"expected a seed between 0 and 2**31 - 1, got {self.seed}")


class _Image(torch.nn.Module):
    """A (1, 3, H, W) image in [0, 1] from trainable parameters (Fourier + colour decorrelation, or pixels)."""

    def __init__(self, h: int, w: int, fourier: bool, gen: torch.Generator) -> None:
        super().__init__()
        self.h, self.w, self.fourier = h, w, fourier
        if fourier:
            fy = torch.fft.fftfreq(h)[:, None]
            fx = torch.fft.rfftfreq(w)[None, :]
            freq = torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / max(h, w))
            self.register_buffer("scale", (1.0 / freq) / max(h, w) ** 0.5)
            self.spec = torch.nn.Parameter(0.01 * torch.randn(3, h, w // 2 + 1, 2, generator=gen))
        else:
            self.pix = torch.nn.Parameter(0.01 * torch.randn(1, 3, h, w, generator=gen))

    def forward(self) -> torch.Tensor:
        if not self.fourier:
            return torch.sigmoid(self.pix)
        scale = self.get_buffer("scale")
        spec = torch.view_as_complex(self.spec) * scale
        img = torch.fft.irfft2(spec, s=(self.h, self.w), norm="ortho")
        img = torch.einsum("cd,dhw->chw", _COLOR.to(img.device), img)
        return torch.sigmoid(img)[None]


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels of x (N, C, H, W)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


@dataclass(frozen=True)
class Maximized:
    image: NDArray[np.uint8]  # (H, W, 3) the optimised input
    activation: list[float]  # mean channel activation at every step
    seed: int


def maximize(forward: Callable[[torch.Tensor], torch.Tensor], channel: int, size: tuple[int, int],
             prep: Preprocess, config: MaximizeConfig = MaximizeConfig(), device: torch.device | str = "cpu",
             progress: Callable[[float, str], None] | None = None) -> Maximized:
    """Optimise an input so that channel ``channel`` of forward(x) (N, C, h, w) is large on average.

    forward: normalised model input (1, C_in, H, W) -> node output, differentiable (e.g. ``NodeRunner.sub`` in
    eval mode; the model's own parameters receive no gradient); size: (H, W) of the image; prep: the model's
    preprocessing (the image lives in [0, 1] pixels, the model sees them normalised).
    """
    h, w = size
    if not (8 <= h <= MAX_SIZE and 8 <= w <= MAX_SIZE):
        raise ValueError(f"expected an image side between 8 and {MAX_SIZE}, got {h}x{w}")
    gen = torch.Generator().manual_seed(config.seed)
    param = _Image(h, w, config.fourier, gen).to(device)
    opt = torch.optim.Adam(param.parameters(), lr=config.lr)
    trace: list[float] = []
    for step in range(config.steps):
        img = param()
        x = img
        if config.jitter:
            dy, dx = (int(v) for v in torch.randint(-config.jitter, config.jitter + 1, (2,), generator=gen))
            x = torch.roll(img, shifts=(dy, dx), dims=(2, 3))
        act = forward(prep.normalize(x))
        if act.ndim != 4 or not 0 <= channel < act.shape[1]:
            raise ValueError(f"expected a channel in 0..{act.shape[1] - 1} of a spatial node, got {channel}")
        obj = act[:, channel].mean()
        loss = -obj + config.tv_weight * total_variation(img) * (h * w) ** 0.5
        params = list(param.parameters())
        # gradients for the image only: the (shared) model's parameters get no .grad
        for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
            p.grad = g
        opt.step()
        trace.append(float(obj.detach()))
        if progress and (step % 8 == 7 or step == config.steps - 1):
            progress((step + 1) / config.steps, f"step {step + 1}/{config.steps}: activation {trace[-1]:.3f}")
    with torch.no_grad():
        final = (param()[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()
    return Maximized(final, trace, config.seed)
