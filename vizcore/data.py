"""Image data: an embedded synthetic shapes data set, real data sets where the user has them, sample photos.

The shapes data set is generated from a seed with no download: ten shape classes drawn at a random position,
scale, rotation and colour, filled with one of ten textures, on a cluttered background, with an object mask
per image. In the normal set each class has a *typical* texture (used with probability ``texture_prob``), so a
network can solve the task from either cue. The cue-conflict variant draws the outline of one class filled
with the typical texture of another, as in Geirhos et al., "ImageNet-trained CNNs are biased towards texture;
increasing shape bias improves accuracy and robustness" (ICLR 2019): a classifier's *shape bias* is the
fraction of cue-conflict images it classifies by shape among those it classifies by shape or by texture.

Rendering is vectorised: every shape is a signed distance function (formulas after Inigo Quilez's 2D distance
functions) evaluated on a batched coordinate grid, so 20k 32x32 images take a few seconds on one core
(``bench/data_gen.py`` compares with torchvision's FakeData).

Real data: torchvision's CIFAR-10 (Krizhevsky, 2009), MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao et al.,
2017) in the data directory (downloaded when the machine is online), scikit-learn's 8x8 handwritten digits
(Alpaydin & Kaynak, UCI, shipped offline), and any image folder in torchvision's ImageFolder layout.

Upper bounds (checked, ``ValueError`` otherwise): ``n <= MAX_N`` images, image side in
``[MIN_SIZE, MAX_SIZE]`` pixels, and at most ``MAX_BYTES`` bytes of uint8 pixels in one set.
"""
from __future__ import annotations

import io
import math
import socket
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

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
    name: str  # data set name, e.g. "shapes"
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


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # registry key
    title: str  # display name
    channels: int  # 1 (grey) or 3 (RGB)
    size: int  # default image side in pixels
    num_classes: int | None  # None when it depends on the files (image folder)
    offline: bool  # available with no download
    description: str  # one or two sentences for the pages


DATASETS: dict[str, DatasetInfo] = {
    "shapes": DatasetInfo(
        "shapes", "Synthetic shapes", 3, 32, 10, True,
        "Ten shape classes with random position, scale, rotation, colour, textured fill and background clutter, "
        "generated from a seed; each class has a typical texture, and each image an object mask."),
    "shapes_cue_conflict": DatasetInfo(
        "shapes_cue_conflict", "Shapes, cue conflict", 3, 32, 10, True,
        "The outline of one class filled with the typical texture of another (Geirhos et al., 2019): measures "
        "whether a model decides by shape or by texture."),
    "digits": DatasetInfo(
        "digits", "Handwritten digits 8x8 (scikit-learn)", 1, 32, 10, True,
        "1,797 grey 8x8 handwritten digits shipped with scikit-learn, upsampled to the requested size."),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10", 3, 32, 10, False,
        "60,000 32x32 colour photos in 10 classes (Krizhevsky, 2009), via torchvision."),
    "mnist": DatasetInfo(
        "mnist", "MNIST", 1, 28, 10, False,
        "70,000 28x28 grey handwritten digits (LeCun et al., 1998), via torchvision."),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST", 1, 28, 10, False,
        "70,000 28x28 grey clothing images in 10 classes (Xiao et al., 2017), via torchvision."),
    "folder": DatasetInfo(
        "folder", "Image folder", 3, 64, None, True,
        "Your own images in ImageFolder layout: root/<class>/<image>, or root/{train,val,test}/<class>/<image>."),
}


def list_datasets() -> list[str]:
    return list(DATASETS)


# ------------------------------------------------------------------------------------------- shapes

SHAPE_CLASSES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross", "ring", "crescent", "heart", "arrow", "ellipse",
)
TEXTURES: tuple[str, ...] = (
    "solid", "h_stripes", "v_stripes", "diag_stripes", "anti_diag_stripes", "checker", "dots", "grid", "noise",
    "waves",
)
# The typical texture of each class (index into TEXTURES): class k -> texture k. Fixed so a model trained on one
# seed can be tested for texture bias on another.
TYPICAL_TEXTURE: tuple[int, ...] = tuple(range(len(SHAPE_CLASSES)))
_CHUNK_PIXELS = 1 << 19  # pixels rendered at once: working maps of 2 MB stay in cache (2x faster than 8 MB)


def _length(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x * x + y * y)


def _sd_box(x: torch.Tensor, y: torch.Tensor, bx: float, by: float) -> torch.Tensor:
    qx, qy = x.abs() - bx, y.abs() - by
    return _length(qx.clamp(min=0), qy.clamp(min=0)) + torch.maximum(qx, qy).clamp(max=0)


def _sd_star(x: torch.Tensor, y: torch.Tensor, r: float, n: int, m: float) -> torch.Tensor:
    """Signed distance to an n-pointed star of outer radius r (m = 2: regular n-gon; larger m: sharper points)."""
    an, en = math.pi / n, math.pi / m
    acx, acy = math.cos(an), math.sin(an)
    ecx, ecy = math.cos(en), math.sin(en)
    bn = torch.remainder(torch.atan2(x, y), 2 * an) - an
    ln = _length(x, y)
    px, py = ln * torch.cos(bn) - r * acx, ln * torch.sin(bn).abs() - r * acy
    t = (-(px * ecx + py * ecy)).clamp(0.0, r * acy / ecy)
    px, py = px + ecx * t, py + ecy * t
    return _length(px, py) * torch.sign(px)


def _sd_polygon(x: torch.Tensor, y: torch.Tensor, r: float, n: int) -> torch.Tensor:
    """Signed distance to a regular n-gon with circumradius r, a vertex on +y."""
    an = math.pi / n
    acx, acy = math.cos(an), math.sin(an)
    bn = torch.remainder(torch.atan2(x, y), 2 * an) - an
    ln = _length(x, y)
    px, py = ln * torch.cos(bn) - r * acx, ln * torch.sin(bn).abs() - r * acy
    py = py + (-py).clamp(0.0, r * acy)
    return _length(px, py) * torch.sign(px)


def _sd_ellipse(x: torch.Tensor, y: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (semi-axes a, b): the level set scaled by its
    gradient, exact on the boundary, which is all the anti-aliased coverage needs."""
    k0 = _length(x / a, y / b)
    k1 = _length(x / (a * a), y / (b * b))
    return k0 * (k0 - 1.0) / k1.clamp(min=1e-6)


def _sd_heart(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Quilez's heart spans x in [-0.6, 0.6], y in [0, 1.1] (tip at the origin); centre and scale it to ~radius 1.
    k = 0.62
    x, y = (x * k).abs(), y * k + 0.5
    upper = _length(x - 0.25, y - 0.75) - math.sqrt(2.0) / 4.0
    s = (x + y).clamp(min=0) * 0.5
    lower = torch.sqrt(torch.minimum((x * x + (y - 1.0) ** 2), (x - s) ** 2 + (y - s) ** 2)) * torch.sign(x - y)
    return torch.where(x + y > 1.0, upper, lower) / k


def _shape_sdf(k: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Signed distance (in object radii; < 0 inside) of class ``SHAPE_CLASSES[k]`` at local coordinates x, y."""
    name = SHAPE_CLASSES[k]
    if name == "circle":
        return _length(x, y) - 0.9
    if name == "square":
        return _sd_box(x, y, 0.72, 0.72)
    if name == "triangle":
        return _sd_polygon(x, y + 0.15, 1.1, 3)
    if name == "star":
        return _sd_star(x, y, 1.05, 5, 3.2)
    if name == "cross":
        return torch.minimum(_sd_box(x, y, 0.95, 0.3), _sd_box(x, y, 0.3, 0.95))
    if name == "ring":
        return (_length(x, y) - 0.72).abs() - 0.24
    if name == "crescent":
        return torch.maximum(_length(x, y) - 0.95, -(_length(x - 0.5, y) - 0.75))
    if name == "heart":
        return _sd_heart(x, y)
    if name == "arrow":
        return torch.minimum(_sd_polygon(x, y - 0.35, 0.65, 3), _sd_box(x, y + 0.35, 0.2, 0.6))
    if name == "ellipse":
        return _sd_ellipse(x, y, 1.0, 0.5)
    raise AssertionError(name)


def _texture(t: int, x: torch.Tensor, y: torch.Tensor, phase: torch.Tensor, period: float,
             noise: torch.Tensor) -> torch.Tensor:
    """Texture ``TEXTURES[t]`` in [0, 1] at pixel coordinates (x, y); phase: (B, 1, 1) in [0, 1)."""
    name = TEXTURES[t]
    w = 2 * math.pi / period
    ph = phase * 2 * math.pi
    if name == "solid":
        return torch.zeros_like(x)
    if name == "h_stripes":
        return (torch.sin(y * w + ph) > 0).float()
    if name == "v_stripes":
        return (torch.sin(x * w + ph) > 0).float()
    if name == "diag_stripes":
        return (torch.sin((x + y) * (w / math.sqrt(2)) + ph) > 0).float()
    if name == "anti_diag_stripes":
        return (torch.sin((x - y) * (w / math.sqrt(2)) + ph) > 0).float()
    if name == "checker":
        s = period / 2
        o = phase * period
        return torch.remainder(torch.floor((x + o) / s) + torch.floor((y + o) / s), 2)
    if name == "dots":
        o = phase * period
        dx = torch.remainder(x + o, period) - period / 2
        dy = torch.remainder(y + o, period) - period / 2
        return (dx * dx + dy * dy < (0.3 * period) ** 2).float()
    if name == "grid":
        o = phase * period
        return ((torch.remainder(x + o, period) < 1.0) | (torch.remainder(y + o, period) < 1.0)).float()
    if name == "noise":
        return noise
    if name == "waves":
        return (torch.sin(y * w + 1.8 * torch.sin(x * (w / 1.5)) + ph) > 0).float()
    raise AssertionError(name)


def _check_seed(seed: int, limit: int = 2**63) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < limit:
        raise ValueError(f"expected a non-negative integer seed, got {seed!r}")


def _check_n_size(n: int, size: int, max_size: int, channels: int = 3) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_N:
        raise ValueError(f"expected a number of images between 1 and {MAX_N:,}, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= max_size:
        raise ValueError(f"expected an image size between {MIN_SIZE} and {max_size} pixels, got {size!r}")
    if n * channels * size * size > MAX_BYTES:
        raise ValueError(
            f"expected at most {MAX_BYTES >> 20} MiB of pixels (n x {channels} x size x size), got "
            f"{n * channels * size * size / 2**20:.0f} MiB for n={n}, size={size}; use fewer or smaller images")


def make_shapes(n: int, size: int = 32, seed: int = 0, cue_conflict: bool = False,
                texture_prob: float = 0.7) -> ImageSet:
    """Render ``n`` synthetic shape images, deterministic in ``seed``.

    Classes are balanced (``n // 10`` or one more each) in a seeded random order. Each image: a background colour
    with faint noise and up to four small clutter items (dots, line segments) that keep ~2 pixels away from
    the object, then one object of radius 25-38% of the
    side, anywhere it fits, rotated uniformly, filled with two contrasting colours in a texture. In the normal set
    the texture is the class's typical one (``TYPICAL_TEXTURE``) with probability ``texture_prob``, otherwise
    uniform over all ten. With ``cue_conflict`` the texture is always the typical texture of another class,
    recorded in ``texture_labels``.

    Returns an ImageSet with images (n, 3, size, size) uint8, masks (n, size, size) bool (coverage > 0.5).
    """
    _check_n_size(n, size, MAX_SHAPES_SIZE)
    _check_seed(seed)
    if not 0.0 <= texture_prob <= 1.0:
        raise ValueError(f"expected texture_prob in [0, 1], got {texture_prob!r}")
    n = int(n)
    size = int(size)
    k = len(SHAPE_CLASSES)
    nt = len(TEXTURES)
    g = torch.Generator().manual_seed(int(seed))

    # Per-image parameters drawn up front: the images depend only on (seed, n), not on the chunking.
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    u = torch.rand(n, 16, generator=g)
    radius = (0.25 + 0.13 * u[:, 0]) * size
    # Keep the object inside the image: its extent is at most ~1.05 radii from the centre.
    margin = radius * 1.05 + 0.5
    cx = margin + (size - 2 * margin) * u[:, 1]
    cy = margin + (size - 2 * margin) * u[:, 2]
    theta = 2 * math.pi * u[:, 3]
    bg = torch.rand(n, 3, generator=g)
    # Both fill colours differ from the background by a circular distance >= 0.25 per channel (the outline is
    # always visible) and from each other by >= 0.2 (the texture is visible); which one is brighter is random.
    off = torch.stack([0.25 + 0.15 * torch.rand(n, 3, generator=g), 0.6 + 0.15 * torch.rand(n, 3, generator=g)])
    swap = torch.rand(n, 3, generator=g) < 0.5
    c1 = torch.remainder(bg + torch.where(swap, off[1], off[0]), 1.0)
    c2 = torch.remainder(bg + torch.where(swap, off[0], off[1]), 1.0)
    phase = u[:, 4]
    if cue_conflict:
        texture_labels = torch.remainder(labels + torch.randint(1, k, (n,), generator=g), k)
        textures = torch.tensor(TYPICAL_TEXTURE)[texture_labels]
    else:
        texture_labels = None
        typical = torch.tensor(TYPICAL_TEXTURE)[labels]
        textures = torch.where(u[:, 5] < texture_prob, typical, torch.randint(0, nt, (n,), generator=g))
    # Clutter: two dots and two short line segments, each present with probability 0.8.
    n_dots, n_segs = 2, 2
    cl_pos = torch.rand(n, n_dots + n_segs, 4, generator=g) * size  # dot centre (x, y) / segment start, end
    cl_on = (torch.rand(n, n_dots + n_segs, generator=g) < 0.8).float()
    cl_col = torch.rand(n, n_dots + n_segs, 3, generator=g)
    cl_r = (0.03 + 0.04 * torch.rand(n, n_dots + n_segs, generator=g)) * size
    # Pixel noise comes from a bank of noise tiles, each image taking one tile, flipped and transposed at random:
    # drawing a fresh random number per pixel was the slowest single step.
    n_tiles = min(n, 257)
    tiles = torch.rand(n_tiles, size, size, generator=g)
    tile_of = torch.randint(0, n_tiles, (n,), generator=g)
    tile_ops = torch.randint(0, 8, (n,), generator=g)

    period = max(5.0, size / 6.0)
    ys = (torch.arange(size, dtype=torch.float32) + 0.5).view(1, size, 1)  # broadcast grids: no (N, H, W) copies
    xs = (torch.arange(size, dtype=torch.float32) + 0.5).view(1, 1, size)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    masks = torch.empty(n, size, size, dtype=torch.bool)
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    n_layers = 1 + n_dots + n_segs + 2  # background, clutter items, the two fill colours
    for s in range(0, n, chunk):
        # Images of a chunk are rendered sorted by class, so each class's distance function runs on a contiguous
        # slice (no pixel-level gather); the result is scattered back to the images' places at the end.
        e = min(n, s + chunk)
        b = e - s
        order = s + torch.argsort(labels[s:e], stable=True)
        lab, tx = labels[order], textures[order]
        u01 = tiles[tile_of[order]]
        ops = tile_ops[order]
        u01 = torch.where((ops & 1).bool()[:, None, None], u01.flip(-1), u01)
        u01 = torch.where((ops & 2).bool()[:, None, None], u01.flip(-2), u01)
        u01 = torch.where((ops & 4).bool()[:, None, None], u01.transpose(-1, -2), u01)
        # Object: local coordinates in radii, rotated by -theta.
        th = theta[order]
        ct, st = torch.cos(th)[:, None, None], torch.sin(th)[:, None, None]
        r = radius[order, None, None]  # object radius in pixels
        dx, dy = xs - cx[order, None, None], ys - cy[order, None, None]
        lx, ly = (ct * dx + st * dy) / r, (-st * dx + ct * dy) / r
        sd = torch.empty(b, size, size)
        bounds = torch.searchsorted(lab, torch.arange(k + 1)).tolist()
        for c in range(k):
            lo, hi = bounds[c], bounds[c + 1]
            if hi > lo:
                sd[lo:hi] = _shape_sdf(c, lx[lo:hi], ly[lo:hi])
        cover = (0.5 - sd * r).clamp_(0, 1)  # anti-aliased coverage: signed distance in pixels
        # The image is a per-pixel mix of per-image colours (background, clutter, two fill colours): compute each
        # layer's weight as a one-channel map ("over" compositing, back to front), then mix all three channels
        # in one batched matrix product instead of blending the RGB image layer by layer.
        weights = torch.empty(b, n_layers, size, size)
        # Clutter keeps a gap of 2-3 pixels from the object, so it never changes the object's silhouette.
        halo = (sd * r - 2.0).clamp_(0, 1)
        pos, r_cl, on = cl_pos[order], cl_r[order], cl_on[order]
        covs = []
        for j in range(n_dots + n_segs):
            p = pos[:, j, :, None, None]
            rc = r_cl[:, j, None, None]
            if j < n_dots:
                d = _length(xs - p[:, 0], ys - p[:, 1]) - rc * 1.5
            else:
                # Segments are short: the end point is pulled to within 30% of the side of the start.
                ax, ay = (p[:, 2] - p[:, 0]) * 0.3, (p[:, 3] - p[:, 1]) * 0.3
                qx, qy = xs - p[:, 0], ys - p[:, 1]
                h = ((qx * ax + qy * ay) / (ax * ax + ay * ay + 1e-6)).clamp_(0, 1)
                d = _length(qx - h * ax, qy - h * ay) - rc * 0.5
            covs.append((0.5 - d).clamp_(0, 1).mul_(on[:, j, None, None]).mul_(halo))
        above = 1.0 - cover  # transmittance of everything above the current layer
        for j in reversed(range(n_dots + n_segs)):
            torch.mul(covs[j], above, out=weights[:, 1 + j])
            above = above * (1.0 - covs[j])
        weights[:, 0] = above
        noise = (u01 >= 0.5).float()
        tex = torch.empty(b, size, size)
        ph = phase[order]
        for t in range(nt):
            idx = (tx == t).nonzero().squeeze(1)
            if idx.numel():
                tex[idx] = _texture(t, xs, ys, ph[idx, None, None], period, noise[idx]).expand(idx.numel(), size, size)
        torch.mul(cover, tex, out=weights[:, -1])
        torch.sub(cover, weights[:, -1], out=weights[:, -2])
        colours = torch.cat([bg[order, :, None], cl_col[order].transpose(1, 2), c1[order, :, None],
                             c2[order, :, None]], dim=2).mul_(255.0)  # (b, 3, layers)
        img = torch.bmm(colours, weights.view(b, n_layers, -1)).view(b, 3, size, size)
        img.add_((above * (0.06 * 255.0) * (u01 - 0.5)).unsqueeze(1))  # background grain
        images[order] = img.round_().clamp_(0, 255).to(torch.uint8)
        masks[order] = cover > 0.5
    name = "shapes_cue_conflict" if cue_conflict else "shapes"
    return ImageSet(images, labels.to(torch.int64), SHAPE_CLASSES, name, masks, texture_labels)


def _split_seed(seed: int, split: str) -> int:
    # Disjoint seeds per split: the split index sits in the low bits, so no (seed, split) pair shares a stream.
    return int(seed) * len(SPLITS) + SPLITS.index(split)


# ------------------------------------------------------------------------------------------- load_dataset

_DEFAULT_N = {"train": 10_000, "val": 2_000, "test": 2_000}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"expected split 'train', 'val' or 'test', got {split!r}")


def load_dataset(name: str, split: str = "train", n: int | None = None, size: int | None = None,
                 seed: int = 0, root: str | Path | None = None, download: bool = True) -> ImageSet:
    """Load data set ``name`` (a key of ``DATASETS``) as an in-memory ImageSet.

    split: "train", "val" or "test" (disjoint). shapes: each split is generated from its own seed; default n
    10,000 / 2,000 / 2,000. digits: a seeded 70/15/15 partition of the 1,797 images. cifar10 / mnist /
    fashion_mnist: "test" is the official test set, "val" a seeded 10% of the official training set, "train"
    the other 90%. folder: ``root/<split>/<class>/...`` if those folders exist, else a seeded 80/10/10 partition
    of ``root/<class>/...``.
    n: at most this many images (a seeded random subset); None: all (shapes: the default above).
    size: image side in pixels (resized; None: the data set's default). root: where the files are (torchvision
    sets: default ``<data dir>/datasets``; folder: required). download: try a download (with a socket timeout)
    when torchvision files are missing.
    """
    if name not in DATASETS:
        raise ValueError(f"expected a data set name in {', '.join(DATASETS)}, got {name!r}")
    _check_split(split)
    _check_seed(seed, 2**60)  # room for the per-split seeds
    info = DATASETS[name]
    size = info.size if size is None else size
    if n is not None:
        _check_n_size(n, size, MAX_SHAPES_SIZE if name.startswith("shapes") else MAX_SIZE, info.channels)
    else:
        _check_n_size(1, size, MAX_SHAPES_SIZE if name.startswith("shapes") else MAX_SIZE, info.channels)
    if name in ("shapes", "shapes_cue_conflict"):
        return make_shapes(_DEFAULT_N[split] if n is None else n, size, _split_seed(seed, split),
                           cue_conflict=name == "shapes_cue_conflict")
    if name == "digits":
        return _load_digits(split, n, size, seed)
    if name in ("cifar10", "mnist", "fashion_mnist"):
        return _load_torchvision(name, split, n, size, seed, root, download)
    if name == "folder":
        return _load_folder(split, n, size, seed, root)
    raise AssertionError(name)


def _partition(total: int, split: str, fractions: tuple[float, float], seed: int) -> torch.Tensor:
    """Indices of ``split`` in a seeded partition of range(total): val and test take the given fractions."""
    perm = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))
    n_val, n_test = int(round(total * fractions[0])), int(round(total * fractions[1]))
    if split == "val":
        return perm[:n_val]
    if split == "test":
        return perm[n_val:n_val + n_test]
    return perm[n_val + n_test:]


def _take(idx: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    if n is None or n >= idx.numel():
        return idx
    pick = torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(int(seed) + 1))[:n]
    return idx[pick.sort().values]


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 batch (N, C, H, W) to (N, C, size, size): shorter side to ``size``, then centre crop.

    Antialiased bilinear when shrinking (torchvision.transforms.v2.functional.resize).
    """
    from torchvision.transforms.v2 import functional as TF

    if images.shape[-2:] == (size, size):
        return images
    out = TF.resize(images, size, antialias=True)
    return TF.center_crop(out, [size, size])


def _load_digits(split: str, n: int | None, size: int, seed: int) -> ImageSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float()  # (1797, 8, 8) in [0, 16]
    y = torch.from_numpy(d.target).to(torch.int64)
    idx = _take(_partition(len(y), split, (0.15, 0.15), seed), n, seed)
    x = x[idx].unsqueeze(1)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    imgs = (x * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8)
    return ImageSet(imgs, y[idx], tuple(str(i) for i in range(10)), "digits")


_TV_CLASS = {"cifar10": "CIFAR10", "mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_TV_FILES = {
    "cifar10": "cifar-10-batches-py/ (or cifar-10-python.tar.gz)",
    "mnist": "MNIST/raw/ (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
             "t10k-labels-idx1-ubyte)",
    "fashion_mnist": "FashionMNIST/raw/ (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                     "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)",
}
DOWNLOAD_TIMEOUT_S = 10.0  # socket timeout for data set downloads: an offline machine fails fast


def dataset_root() -> Path:
    """Where torchvision data sets live: ``<data dir>/datasets``."""
    from vizcore import paths

    return paths.sub_dir("datasets")


def _open_torchvision(name: str, train: bool, root: Path, download: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TV_CLASS[name])
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(old)


def _load_torchvision(name: str, split: str, n: int | None, size: int, seed: int, root: str | Path | None,
                      download: bool) -> ImageSet:
    root = dataset_root() if root is None else Path(root)
    try:
        ds = _open_torchvision(name, split != "test", root, download)
    except Exception as exc:  # offline (URLError, timeouts), missing or corrupt files
        how = "download was not attempted" if not download else f"the download failed: {type(exc).__name__}"
        raise ValueError(
            f"{DATASETS[name].title} is not in {root} ({how}); put {_TV_FILES[name]} in that folder "
            "or choose an offline data set (shapes, digits)") from None
    data = ds.data
    images = torch.from_numpy(np.ascontiguousarray(data)) if isinstance(data, np.ndarray) else torch.as_tensor(data)
    images = images.permute(0, 3, 1, 2) if images.ndim == 4 else images.unsqueeze(1)  # HWC -> CHW; grey -> 1 ch
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    if split == "test":
        idx = torch.arange(len(labels))
    else:
        idx = _partition(len(labels), split, (0.1, 0.0), seed).sort().values
    idx = _take(idx, n, seed)
    imgs = resize_images(images[idx].contiguous(), size)
    classes = tuple(str(c) for c in ds.classes)
    return ImageSet(imgs.contiguous(), labels[idx], classes, name)


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _load_folder(split: str, n: int | None, size: int, seed: int, root: str | Path | None) -> ImageSet:
    from torchvision.datasets.folder import find_classes, make_dataset

    if root is None:
        raise ValueError("expected root= the path of an image folder (root/<class>/<image>), got None")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"expected an existing image folder, got {str(root)!r}")
    split_dir = root / split
    presplit = all((root / s).is_dir() for s in SPLITS[:1]) and split_dir.is_dir()
    base = split_dir if presplit else root
    try:
        classes, class_to_idx = find_classes(str(base))
        samples = make_dataset(str(base), class_to_idx, extensions=IMAGE_EXTENSIONS)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ValueError(f"expected class folders with images (.png, .jpg, ...) in {base}, got none ({exc})") from None
    if len(classes) < 2:
        raise ValueError(f"expected at least 2 class folders in {base}, got {len(classes)}")
    idx = torch.arange(len(samples))
    if not presplit:
        idx = _partition(len(samples), split, (0.1, 0.1), seed).sort().values
    idx = _take(idx, n, seed)
    if idx.numel() == 0:
        raise ValueError(f"expected images in split {split!r} of {base}, got none (too few images to split)")
    _check_n_size(int(idx.numel()), size, MAX_SIZE)
    imgs = []
    for i in idx.tolist():
        path, _ = samples[i]
        try:
            arr = decode_image(Path(path).read_bytes())
        except ValueError as exc:
            raise ValueError(f"expected a readable image at {path}, got: {exc}") from None
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
        imgs.append(resize_images(t, size)[0])
    labels = torch.tensor([samples[i][1] for i in idx.tolist()], dtype=torch.int64)
    return ImageSet(torch.stack(imgs).contiguous(), labels, tuple(classes), "folder")


# ------------------------------------------------------------------------------------------- photos & uploads

PHOTO_NAMES: tuple[str, ...] = (
    "chelsea", "astronaut", "coffee", "rocket", "camera", "coins", "hubble_deep_field", "immunohistochemistry",
    "retina", "colorwheel",
)


@lru_cache(maxsize=1)
def _photos() -> dict[str, np.ndarray]:
    import skimage.data

    out: dict[str, np.ndarray] = {}
    for name in PHOTO_NAMES:
        img = np.asarray(getattr(skimage.data, name)())
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        img = np.ascontiguousarray(img[:, :, :3]).astype(np.uint8, copy=False)
        img.setflags(write=False)  # shared between callers: read-only so nobody edits the cache
        out[name] = img
    return out


def sample_photos() -> dict[str, np.ndarray]:
    """Sample photos that ship with scikit-image (offline): name -> (H, W, 3) uint8, read-only arrays."""
    return dict(_photos())


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        return np.nan_to_num(scaled * 255.0).round().astype(np.uint8)
    # Integer modes wider than 8 bits (16-bit PNG/TIFF): keep the top 8 bits of the 16-bit range.
    return (np.clip(arr.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)


def decode_image(data: bytes, max_bytes: int = 20_000_000, max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode image file bytes (PNG, JPEG, GIF, WebP, BMP, TIFF, ...) to an (H, W, 3) uint8 RGB array.

    EXIF orientation is applied; grey, 16-bit, palette and CMYK images are converted; transparency is
    composited over white; animated images give their first frame. ValueError, in words, for empty or
    oversized input, bytes that are not an image, truncated files and images of more than ``max_pixels``
    pixels (checked from the header before decoding, so decompression bombs are never expanded).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected image file bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValueError("expected image file bytes, got an empty file")
    if len(data) > max_bytes:
        raise ValueError(f"expected an image file of at most {max_bytes / 1e6:.0f} MB, got {len(data) / 1e6:.1f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"expected an image of at most {max_pixels:,} pixels, got a larger one "
                         "(a possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ValueError("expected an image file (PNG, JPEG, GIF, WebP, BMP, TIFF), got bytes that are not an image") from None
    except Exception as exc:  # other parser errors on malformed headers
        raise ValueError(f"expected a readable image file, got one that cannot be opened ({exc})") from None
    w, h = im.size
    if w < 1 or h < 1:
        raise ValueError(f"expected an image with pixels, got size {w}x{h}")
    if w * h > max_pixels:
        raise ValueError(f"expected an image of at most {max_pixels:,} pixels, got {w}x{h} = {w * h:,} "
                         "(too large, or a decompression bomb)")
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # animated GIF/WebP/APNG: the first frame
        im.load()
        im = ImageOps.exif_transpose(im) or im
    except Exception as exc:  # truncated files raise OSError on load
        raise ValueError(f"expected a complete image file, got a truncated or corrupt one ({exc})") from None
    mode = im.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8).copy()
    if mode in ("RGB",):
        return np.asarray(im, dtype=np.uint8).copy()
    if mode in ("L", "P", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    # 16/32-bit integer and float modes ("I;16", "I", "F"): scale to 8 bits ourselves (Pillow would clip).
    arr = _to_uint8(np.asarray(im))
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def fit_image(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """What the model sees, as uint8: (H, W, 3) -> (size, size, 3) by shorter side + centre crop (int size), or
    (h, w, 3) by a plain resize (tuple size). Antialiased bilinear. Pages overlay maps on this image."""
    t = _hwc_to_tensor(image)
    if isinstance(size, (tuple, list)):
        from torchvision.transforms.v2 import functional as TF

        size = tuple(size)
        _check_hw(size)
        out = TF.resize(t, list(size), antialias=True)
    else:
        _check_hw((size, size))
        out = resize_images(t, int(size))
    return out[0].permute(1, 2, 0).contiguous().numpy()


def _check_hw(hw: tuple[int, int]) -> None:
    if len(hw) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not MIN_SIZE <= v <= 1024
                           for v in hw):
        raise ValueError(f"expected an input size between {MIN_SIZE} and 1024 pixels, got {hw!r}")


def _hwc_to_tensor(image: np.ndarray) -> torch.Tensor:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {arr.shape} {arr.dtype}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    arr = np.array(arr, copy=True) if not arr.flags.writeable else np.ascontiguousarray(arr)  # torch needs writable
    return torch.from_numpy(arr).permute(2, 0, 1)[None]


def to_model_input(image: np.ndarray, size: int | tuple[int, int], mean, std, channels: int = 3) -> torch.Tensor:
    """Photo -> normalised model input (1, C, H, W) float32.

    image: (H, W, 3) or (H, W) uint8. size: int -> shorter side resized to it then centre-cropped square (as
    torchvision's classification presets do); (h, w) -> plain resize. channels: 3, or 1 for grey models
    (ITU-R 601 luma, as ``torchvision.transforms.v2.Grayscale``). mean/std: per-channel, length ``channels``
    (or 1), applied to pixels scaled to [0, 1].
    """
    from torchvision.transforms.v2 import functional as TF

    if channels not in (1, 3):
        raise ValueError(f"expected channels 1 or 3, got {channels!r}")
    mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
    std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
    if mean_t.numel() not in (1, channels) or std_t.numel() not in (1, channels):
        raise ValueError(f"expected mean and std of length {channels} (or 1), got {mean_t.numel()} and {std_t.numel()}")
    if bool((std_t <= 0).any()):
        raise ValueError(f"expected positive std, got {std_t.tolist()}")
    fitted = torch.from_numpy(fit_image(image, size)).permute(2, 0, 1)[None]
    x = fitted.float().div_(255.0)
    if channels == 1:
        x = TF.rgb_to_grayscale(x, num_output_channels=1)
    x = (x - mean_t.view(1, -1, 1, 1)) / std_t.view(1, -1, 1, 1)
    return x.contiguous()


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
