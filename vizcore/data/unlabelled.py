"""The unlabelled pool of semi-supervised learning: images without labels, and the label budget that makes one.

Semi-supervised methods (pseudo-labels, Lee 2013; FixMatch, Sohn et al., NeurIPS 2020; Noisy Student, Xie et al.,
CVPR 2020) train on a few labelled images and many unlabelled ones. :func:`split_labelled` keeps K labelled
images per class (stratified, from a seed) and turns the rest of the training pool into an
:class:`UnlabelledPool`, which holds images only: its labels are dropped. They are handed back apart, as
:class:`HiddenLabels`, which may only be used to *report* how often pseudo-labels are right (never in a loss).
:func:`load_unlabelled_folder` reads ``root/unlabelled/`` (images, no class folders) of an image folder, with
the same checks as every image folder (size bounds, readable images, a capped directory walk).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vizcore.data.imageset import MAX_N, MAX_SIZE, ImageSet, check_n_size, check_seed

UNLABELLED_DIR = "unlabelled"  # root/unlabelled/...: images without class folders


@dataclass(frozen=True, eq=False)
class UnlabelledPool:
    """Images without labels. images: (N, C, H, W) uint8. There is deliberately no ``labels`` field."""

    images: torch.Tensor  # (N, C, H, W) uint8
    name: str = "unlabelled"

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.ndim != 4 or self.images.dtype != torch.uint8:
            got = (f"{tuple(self.images.shape)} {self.images.dtype}" if isinstance(self.images, torch.Tensor)
                   else type(self.images).__name__)
            raise ValueError(f"expected unlabelled images (N, C, H, W) uint8, got {got}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def cat(self, other: UnlabelledPool) -> UnlabelledPool:
        """This pool followed by ``other`` (same image shape)."""
        if other.images.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"expected unlabelled images of shape {tuple(self.images.shape[1:])}, got "
                             f"{tuple(other.images.shape[1:])}")
        return UnlabelledPool(torch.cat([self.images, other.images]), self.name)


@dataclass(frozen=True, eq=False)
class HiddenLabels:
    """The true labels of a pool's images, index-aligned with it; ``None`` entries are unknown (a folder's
    ``unlabelled/``). For reports only: pseudo-label accuracy, confusion matrix, gallery."""

    labels: torch.Tensor  # (N,) int64; -1 where unknown

    @property
    def known(self) -> bool:
        """True when every image's label is known."""
        return bool(len(self.labels)) and bool((self.labels >= 0).all())


def stratified_indices(labels: torch.Tensor, num_classes: int, k: int, seed: int) -> torch.Tensor:
    """Indices of ``k`` images per class, drawn from ``seed``, sorted. labels: (N,) int64.

    Raises ValueError when ``k`` is below 1 or above what the smallest class has."""
    counts = torch.bincount(labels, minlength=num_classes)
    fewest = int(counts.min()) if num_classes else 0
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"expected labelled_per_class of at least 1, got {k!r}")
    if k > fewest:
        raise ValueError(f"expected labelled_per_class of at most {fewest} (the fewest training images a class "
                         f"has), got {k}")
    g = torch.Generator().manual_seed(int(seed))
    picks = []
    for c in range(num_classes):
        idx = (labels == c).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    return torch.cat(picks).sort().values


def split_labelled(train: ImageSet, k: int, seed: int) -> tuple[ImageSet, UnlabelledPool, HiddenLabels]:
    """Keep ``k`` labelled images per class of ``train``; the rest become an unlabelled pool.

    Returns (labelled set (C·k images), pool (N − C·k images, no labels), the pool's hidden labels)."""
    check_seed(seed)
    keep = stratified_indices(train.labels, train.num_classes, k, seed)
    rest = torch.ones(len(train), dtype=torch.bool)
    rest[keep] = False
    pool = UnlabelledPool(train.images[rest].contiguous(), f"{train.name} (labels dropped)")
    return train.subset(keep), pool, HiddenLabels(train.labels[rest].clone())


MAX_POOL_FILES = 100_000  # directory entries visited at most in unlabelled/


def _image_paths(base: Path, label: str) -> list[Path]:
    from vizcore.data.datasets import IMAGE_EXTENSIONS

    found: list[Path] = []
    seen = 0
    stack = [base]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            continue
        for e in entries:
            seen += 1
            if seen > MAX_POOL_FILES:
                raise ValueError(f"expected an unlabelled folder of at most {MAX_POOL_FILES:,} files, got a larger "
                                 f"one ({label}); choose a smaller folder")
            if e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file():
                found.append(Path(e.path))
    return sorted(found)


def has_unlabelled_folder(root: str | Path | None) -> bool:
    """True when the image folder ``root`` has an ``unlabelled/`` folder."""
    return root is not None and (Path(root).expanduser() / UNLABELLED_DIR).is_dir()


def check_unlabelled_folder(root: str | Path) -> int:
    """The number of images in ``root/unlabelled/``, after reading each file's header (no decoding): a quick
    refusal, in one sentence, of a missing or empty folder or a file that is not an image, before a run is made."""
    from PIL import Image, UnidentifiedImageError

    base = Path(root).expanduser() / UNLABELLED_DIR
    label = f"folder {UNLABELLED_DIR!r} of {Path(root).name or str(root)!r}"
    if not base.is_dir():
        raise ValueError(f"expected an image folder with an {UNLABELLED_DIR}/ folder, got none in "
                         f"{Path(root).name or str(root)!r}")
    paths = _image_paths(base, label)
    if not paths:
        raise ValueError(f"expected images (.png, .jpg, ...) in the {label}, got none")
    for path in paths:
        try:
            with Image.open(path) as im:
                im.size  # noqa: B018 — the header is read here
        except (UnidentifiedImageError, OSError, ValueError):
            raise ValueError(f"expected a readable image at {path.relative_to(base)} in the {label}, got a file "
                             "that is not one") from None
    return len(paths)


def load_unlabelled_folder(root: str | Path, size: int, n: int | None = None, seed: int = 0,
                           channels: int = 3) -> UnlabelledPool:
    """The images of ``root/unlabelled/`` (any depth, no class folders) as a pool of (N, C, size, size) uint8.

    n: at most this many (a seeded subset). Raises ValueError, in one sentence, for a missing or empty folder,
    too many images for the memory bounds, or a file that is not a readable image."""
    from vizcore.data.images import decode_image, fit_image

    check_seed(seed)
    base = Path(root).expanduser() / UNLABELLED_DIR
    label = f"folder {UNLABELLED_DIR!r} of {Path(root).name or str(root)!r}"
    if not base.is_dir():
        raise ValueError(f"expected an image folder with an {UNLABELLED_DIR}/ folder, got none in "
                         f"{Path(root).name or str(root)!r}")
    paths = _image_paths(base, label)
    if not paths:
        raise ValueError(f"expected images (.png, .jpg, ...) in the {label}, got none")
    if n is not None and n < len(paths):
        pick = torch.randperm(len(paths), generator=torch.Generator().manual_seed(int(seed)))[:n].sort().values
        paths = [paths[i] for i in pick.tolist()]
    if len(paths) > MAX_N:
        raise ValueError(f"expected at most {MAX_N:,} unlabelled images, got {len(paths):,} in the {label}")
    check_n_size(len(paths), size, MAX_SIZE, channels)  # the pixel budget, before decoding anything
    out = torch.empty(len(paths), channels, size, size, dtype=torch.uint8)
    for i, path in enumerate(paths):
        try:
            arr = decode_image(path.read_bytes())
        except (ValueError, OSError) as exc:
            msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"expected a readable image at {path.relative_to(base)} in the {label}, got: {msg}"
                             ) from None
        img = torch.from_numpy(fit_image(arr, size)).permute(2, 0, 1)
        if img.shape[0] != channels:
            img = img[:1] if channels == 1 else img.expand(channels, -1, -1)
        out[i] = img
    return UnlabelledPool(out, "unlabelled folder")
