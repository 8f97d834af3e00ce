"""An in-memory labelled image set (:class:`ImageSet`), the bounds every data set obeys, and batch resizing.

Upper bounds (checked, ``ValueError`` otherwise): ``n <= MAX_N`` images, image side in
``[MIN_SIZE, MAX_SIZE]`` pixels, and at most ``MAX_BYTES`` bytes of uint8 pixels in one set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

# ------------------------------------------------------------------------------------------- bounds

MAX_N = 100_000  # images in one set (memory: 100k x 3 x 32 x 32 uint8 = 307 MB)
MIN_SIZE = 8  # smallest image side in pixels
MAX_SIZE = 256  # largest image side in pixels
MAX_SHAPES_SIZE = 128  # largest side for generated shapes
MAX_BYTES = 1 << 30  # uint8 pixel bytes in one set (1 GiB)
SPLITS = ("train", "val", "test")
Split = Literal["train", "val", "test"]


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no truth value; identity equality and hashing
class ImageSet:
    """A labelled image set held in memory.

    images: (N, C, H, W) uint8; labels: (N,) int64 class indices into ``classes``.
    masks: (N, H, W) bool object masks (shapes only). texture_labels: (N,) int64, cue-conflict only: the class
    whose typical texture fills the object (differs from ``labels``, which is the class of the outline).
    """

    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    classes: tuple[str, ...]  # class names, index = label
    name: str = "data"  # data set name, e.g. "shapes"
    masks: torch.Tensor | None = None  # (N, H, W) bool object masks (shapes only)
    texture_labels: torch.Tensor | None = None  # (N,) int64, cue-conflict only: the class the fill texture says

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"expected images (N, C, H, W) uint8, got {tuple(self.images.shape)} {self.images.dtype}")
        n = self.images.shape[0]
        if self.labels.shape != (n,) or self.labels.dtype != torch.int64:
            raise ValueError(f"expected labels ({n},) int64, got {tuple(self.labels.shape)} {self.labels.dtype}")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(f"expected labels in [0, {len(self.classes)}), got values outside")
        if self.masks is not None and (self.masks.shape != (n, *self.images.shape[2:]) or self.masks.dtype != torch.bool):
            raise ValueError(f"expected masks ({n}, H, W) bool, got {tuple(self.masks.shape)} {self.masks.dtype}")
        if self.texture_labels is not None and self.texture_labels.shape != (n,):
            raise ValueError(f"expected texture_labels ({n},), got {tuple(self.texture_labels.shape)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        """Image side in pixels (H; sets here are square)."""
        return int(self.images.shape[2])

    def subset(self, index: torch.Tensor | slice) -> ImageSet:
        """The images at ``index`` (a slice, index tensor or bool mask), with their masks and labels."""
        return ImageSet(
            images=self.images[index], labels=self.labels[index], classes=self.classes, name=self.name,
            masks=None if self.masks is None else self.masks[index],
            texture_labels=None if self.texture_labels is None else self.texture_labels[index],
        )

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.labels, minlength=self.num_classes)
        return {c: int(k) for c, k in zip(self.classes, counts)}

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and (sample) std of the pixels in [0, 1] (for normalisation).

        Exact, from each channel's 256-bin histogram: no float copy of the whole set."""
        levels = torch.arange(256, dtype=torch.float64) / 255.0
        means, stds = [], []
        for c in range(self.channels):
            hist = torch.bincount(self.images[:, c].reshape(-1), minlength=256).to(torch.float64)
            total = float(hist.sum())
            mean = float((hist * levels).sum()) / total
            var = float((hist * (levels - mean) ** 2).sum()) / max(total - 1.0, 1.0)
            means.append(mean)
            stds.append(math.sqrt(var))
        return tuple(means), tuple(stds)


def check_seed(seed: int, limit: int = 2**63) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < limit:
        raise ValueError(f"expected a non-negative integer seed, got {seed!r}")


def check_n_size(n: int, size: int, max_size: int, channels: int = 3) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_N:
        raise ValueError(f"expected a number of images between 1 and {MAX_N:,}, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= max_size:
        raise ValueError(f"expected an image size between {MIN_SIZE} and {max_size} pixels, got {size!r}")
    if n * channels * size * size > MAX_BYTES:
        raise ValueError(
            f"expected at most {MAX_BYTES >> 20} MiB of pixels (n x {channels} x size x size), got "
            f"{n * channels * size * size / 2**20:.0f} MiB for n={n}, size={size}; use fewer or smaller images")


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 batch (N, C, H, W) to (N, C, size, size): shorter side to ``size``, then centre crop.

    Antialiased bilinear when shrinking (torchvision.transforms.v2.functional.resize).
    """
    from torchvision.transforms.v2 import functional as TF

    if images.shape[-2:] == (size, size):
        return images
    out = TF.resize(images, size, antialias=True)
    return TF.center_crop(out, [size, size])


def summarize(ds: ImageSet) -> dict:
    """Plain-data summary of a set: name, size, counts per class, tensor shapes, per-channel mean/std in [0, 1]."""
    mean, std = ds.channel_stats()
    out = {
        "name": ds.name, "n": len(ds), "num_classes": ds.num_classes, "classes": list(ds.classes),
        "counts": ds.class_counts(), "images_shape": list(ds.images.shape), "images_dtype": str(ds.images.dtype),
        "labels_shape": list(ds.labels.shape), "mean": list(mean), "std": list(std),
        "masks_shape": None if ds.masks is None else list(ds.masks.shape),
        "mask_fraction": None if ds.masks is None else float(ds.masks.float().mean()),
    }
    if ds.texture_labels is not None:
        out["texture_counts"] = {c: int(k) for c, k in
                                 zip(ds.classes, torch.bincount(ds.texture_labels, minlength=ds.num_classes))}
    return out
