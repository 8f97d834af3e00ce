"""What a channel responds to: the top-activating units over a data set, each shown as the input patch under
its receptive field (Zeiler & Fergus, ECCV 2014, Fig. 2; Yosinski et al., Deep Visualization Toolbox, 2015).

One pass over the data set keeps, for every channel of the chosen node at once, the k units (image, row,
column) with the highest activation, so switching channels costs nothing. The patch of unit (i, j) is the
theoretical receptive field from :mod:`vizcore.arch.receptive_field`, clipped to the image.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from vizcore.arch.receptive_field import NodeField
from vizcore.data.imageset import ImageSet

MAX_K = 64
MAX_IMAGES = 20_000
MAX_BATCH = 512

Progress = Callable[[float, str], None]
PATCH_SETS = ("shapes", "digits", "photos", "folder")  # data sets the search runs over


def photo_crops(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``n`` random square crops of the scikit-image sample photos, resized to ``size``: (n, 3, size, size) uint8.

    Crop sides are drawn between a quarter and the whole of each photo's shorter side, photos in turn."""
    from vizcore.data.images import fit_image, sample_photos

    if not 1 <= n <= MAX_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_IMAGES} crops, got {n}")
    photos = list(sample_photos().values())
    gen = torch.Generator().manual_seed(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        side = int(torch.randint(max(8, min(h, w) // 4), min(h, w) + 1, (1,), generator=gen))
        top = int(torch.randint(0, h - side + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - side + 1, (1,), generator=gen))
        out[i] = fit_image(img[top:top + side, left:left + side], (size, size))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def load_images(dataset: str, n: int, size: int, seed: int = 0, root: str | None = None) -> torch.Tensor:
    """The images searched for top patches: (n, C, size, size) uint8 from ``dataset`` in :data:`PATCH_SETS`
    (shapes and digits: their validation split; photos: :func:`photo_crops`; folder: images under ``root``)."""
    if dataset not in PATCH_SETS:
        raise ValueError(f"expected a data set from {', '.join(PATCH_SETS)}, got {dataset!r}")
    if not 1 <= n <= MAX_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_IMAGES} images, got {n}")
    if dataset == "photos":
        return photo_crops(n, size, seed)
    return load_labelled(dataset, n, size, seed, root, per_class=False).images


def load_labelled(dataset: str, n: int, size: int, seed: int = 0, root: str | None = None,
                  per_class: bool = True) -> ImageSet:
    """A labelled validation set at ``size`` pixels: ``n`` images per class (``per_class``) or in all.

    Shapes are rendered at most 128 pixels wide and upsampled beyond (for 224-pixel ImageNet models)."""
    from vizcore.data.datasets import DATASETS, load_dataset
    from vizcore.data.imageset import MAX_SHAPES_SIZE, resize_images

    if dataset not in DATASETS:
        raise ValueError(f"expected a data set from {', '.join(DATASETS)}, got {dataset!r}")
    classes = DATASETS[dataset].num_classes or 1
    total = n * classes if per_class else n
    if not 1 <= total <= MAX_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_IMAGES} images in all, got {total}")
    render = min(size, MAX_SHAPES_SIZE) if dataset.startswith("shapes") else size
    draw = min(int(total * 1.5) + 20, MAX_IMAGES) if per_class else total  # labels are random: draw spare
    ds = load_dataset(dataset, split="val", n=draw, size=render, seed=seed, root=root)
    if per_class:
        keep = torch.cat([torch.nonzero(ds.labels == k).flatten()[:n] for k in range(len(ds.classes))]).sort().values
        ds = ImageSet(ds.images[keep], ds.labels[keep], ds.classes, ds.name)
    if render == size:
        return ds
    return ImageSet(resize_images(ds.images, size), ds.labels, ds.classes, ds.name)


@dataclass(frozen=True)
class TopUnits:
    """The k most active units of every channel of one node over a set of images."""

    values: torch.Tensor  # (C, k) activations, largest first
    image: torch.Tensor  # (C, k) int64 index of the image in the data set
    unit: torch.Tensor  # (C, k, 2) int64 (row, column) of the unit in the node's map
    map_size: tuple[int, int]  # (h, w) of the node's map
    n_images: int  # images searched

    def channel(self, c: int) -> list[dict[str, object]]:
        """The top units of channel ``c``: [{"rank", "value", "image", "unit"}]."""
        if not 0 <= c < self.values.shape[0]:
            raise ValueError(f"expected a channel in 0..{self.values.shape[0] - 1}, got {c}")
        return [{"rank": r, "value": float(self.values[c, r]), "image": int(self.image[c, r]),
                 "unit": [int(v) for v in self.unit[c, r]]} for r in range(self.values.shape[1])]


def top_units(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, k: int = 9,
              batch_size: int = 128, progress: Progress | None = None,
              prepare: Callable[[torch.Tensor], torch.Tensor] | None = None) -> TopUnits:
    """The ``k`` highest activations of every channel over ``images``, computed batch by batch.

    forward: model input (B, C_in, H, W) -> node output (B, C, h, w) (e.g. a :class:`~vizcore.inspect.capture.
    NodeRunner`). images: (N, C_in, H, W), uint8 or float, on any device; ``prepare`` turns a batch into model
    input (normalisation, device). Each batch's candidates are merged with the running top k, so memory stays
    O(C·(k + B·h·w)) for any N. Equal activations (e.g. zeros of a dead channel) are ranked in no set order.
    """
    n = int(images.shape[0])
    if not 1 <= k <= MAX_K:
        raise ValueError(f"expected k between 1 and {MAX_K}, got {k}")
    if not 1 <= n <= MAX_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_IMAGES} images, got {n}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"expected batch_size between 1 and {MAX_BATCH}, got {batch_size}")
    best_v: torch.Tensor | None = None
    best_i: torch.Tensor | None = None  # flat index image * h*w + row * w + column
    hw = (0, 0)
    for start in range(0, n, batch_size):
        xb = images[start:start + batch_size]
        act = forward(prepare(xb) if prepare else xb)
        if act.ndim != 4:
            raise ValueError(f"expected a spatial node output (B, C, h, w), got {tuple(act.shape)}")
        b, c, h, w = act.shape
        hw = (h, w)
        flat = act.detach().float().permute(1, 0, 2, 3).reshape(c, b * h * w)
        v, pos = torch.topk(flat, min(k, flat.shape[1]), dim=1)  # this batch's candidates only
        idx = pos + start * h * w
        if best_v is not None and best_i is not None:
            v, idx = torch.cat([best_v, v], 1), torch.cat([best_i, idx], 1)
        kk = min(k, v.shape[1])
        v, pos = torch.topk(v, kk, dim=1)
        best_v, best_i = v, idx.gather(1, pos)
        if progress:
            done = min(start + b, n)
            progress(done / n, f"searched {done:,} of {n:,} images")
    assert best_v is not None and best_i is not None
    h, w = hw
    img = best_i // (h * w)
    rem = best_i % (h * w)
    unit = torch.stack([rem // w, rem % w], -1)
    return TopUnits(best_v.cpu(), img.cpu(), unit.cpu(), hw, n)


def patch(image: NDArray[np.uint8], nf: NodeField, unit: tuple[int, int]) -> NDArray[np.uint8]:
    """The input patch under unit (i, j) of node ``nf``: image (H, W, 3) -> (R, R, 3) with the parts of the field
    outside the image (zero padding) left black, so every patch of a node has the same size and alignment."""
    hgt, wid = image.shape[:2]
    ub = nf.unit_box(int(unit[0]), int(unit[1]), (hgt, wid))
    t, lft, b, r = ub.box
    out = np.zeros((b - t + 1, r - lft + 1, *image.shape[2:]), dtype=image.dtype)
    ct, cl, cb, cr = ub.clipped
    if cb >= ct and cr >= cl:
        out[ct - t:cb - t + 1, cl - lft:cr - lft + 1] = image[ct:cb + 1, cl:cr + 1]
    return out


def channel_patches(images: NDArray[np.uint8], nf: NodeField, top: TopUnits, c: int) -> list[NDArray[np.uint8]]:
    """Patches of the top units of channel ``c``; images: (N, H, W, 3) uint8, the searched set in order."""
    top.channel(c)  # checks c
    return [patch(images[int(top.image[c, r])], nf, (int(top.unit[c, r, 0]), int(top.unit[c, r, 1])))
            for r in range(top.values.shape[1])]
