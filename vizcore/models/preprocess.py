"""One preprocessing path per zoo entry: pixels in [0, 1] -> the model's channels -> its normalisation.

Training, evaluation, shape bias, receptive-field views and uploads all call :func:`for_model` (or
:class:`Preprocess`) so a model always sees its input exactly as it was trained on it.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vizcore.models.registry import get_entry


def adapt_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Match the model's input channels: grey -> RGB repeats the channel; RGB -> grey takes ITU-R BT.601 luma.

    x: (N, C, H, W) float. Any other mismatch raises ValueError.
    """
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        w = _stat((0.299, 0.587, 0.114), x.device, x.dtype)
        return (x * w).sum(dim=1, keepdim=True)
    raise ValueError(f"expected images with 1 or 3 channels for a {channels}-channel model, got {c}")


@functools.lru_cache(maxsize=64)
def _stat(values: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # cached per device: building it per batch would copy host -> device (and sync) on every step
    return torch.tensor(values, device=device, dtype=dtype).view(1, -1, 1, 1)


@dataclass(frozen=True)
class Preprocess:
    """How one model wants its input: ``channels`` (1 or 3) and per-channel ``mean``/``std`` of [0, 1] pixels."""

    channels: int  # input channels of the model (1 grey, 3 RGB)
    mean: tuple[float, ...]  # per-channel mean subtracted from pixels in [0, 1]
    std: tuple[float, ...]  # per-channel std the centred pixels are divided by

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"expected channels 1 or 3, got {self.channels!r}")
        if len(self.mean) not in (1, self.channels) or len(self.std) not in (1, self.channels):
            raise ValueError(f"expected mean and std of length {self.channels} (or 1), "
                             f"got {len(self.mean)} and {len(self.std)}")
        if any(not s > 0 for s in self.std):
            raise ValueError(f"expected positive std, got {list(self.std)}")

    def normalize(self, x01: torch.Tensor) -> torch.Tensor:
        """x01: (N, C, H, W) float in [0, 1] with 1 or 3 channels -> (N, channels, H, W) normalised."""
        x = adapt_channels(x01, self.channels)
        return (x - _stat(tuple(self.mean), x.device, x.dtype)) / _stat(tuple(self.std), x.device, x.dtype)

    def batch(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, C, H, W) uint8 (or float already in [0, 1]) -> normalised float32 model input."""
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        return self.normalize(x)

    def image(self, image: np.ndarray, size: int | tuple[int, int]) -> torch.Tensor:
        """Photo (H, W, 3) or (H, W) uint8 -> (1, channels, h, w) float32: resized as :func:`fit_image` does."""
        from vizcore.data.images import fit_image

        fitted = torch.from_numpy(fit_image(image, size)).permute(2, 0, 1)[None]
        return self.batch(fitted).contiguous()


def for_model(name: str) -> Preprocess:
    """The preprocessing of zoo entry ``name`` (its input channels and normalisation)."""
    e = get_entry(name)
    return Preprocess(e.input_size[0], tuple(e.mean), tuple(e.std))


def to_model_input(image: np.ndarray, size: int | tuple[int, int], mean: Sequence[float], std: Sequence[float],
                   channels: int = 3) -> torch.Tensor:
    """Photo -> normalised model input (1, C, H, W) float32.

    image: (H, W, 3) or (H, W) uint8. size: int -> shorter side resized to it then centre-cropped square (as
    torchvision's classification presets do); (h, w) -> plain resize. channels: 3, or 1 for grey models
    (ITU-R 601 luma). mean/std: per-channel, length ``channels`` (or 1), applied to pixels scaled to [0, 1].
    """
    mean_t = tuple(float(v) for v in np.asarray(mean, dtype=np.float64).reshape(-1))
    std_t = tuple(float(v) for v in np.asarray(std, dtype=np.float64).reshape(-1))
    return Preprocess(channels, mean_t, std_t).image(image, size)
