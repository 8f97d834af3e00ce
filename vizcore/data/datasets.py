"""Data sets by name: the embedded shapes and digits, torchvision's downloadable sets, and image folders.

Real data: torchvision's CIFAR-10 (Krizhevsky, 2009), MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao et al.,
2017) in the data directory (downloaded when the machine is online), scikit-learn's 8x8 handwritten digits
(Alpaydin & Kaynak, UCI, shipped offline), and any image folder in torchvision's ImageFolder layout.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vizcore.data.images import decode_image
from vizcore.data.imageset import (
    MAX_SHAPES_SIZE,
    MAX_SIZE,
    SPLITS,
    ImageSet,
    check_n_size,
    check_seed,
    resize_images,
)
from vizcore.data.shapes import make_shapes


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
    check_seed(seed, 2**60)  # room for the per-split seeds
    info = DATASETS[name]
    size = info.size if size is None else size
    if n is not None:
        check_n_size(n, size, MAX_SHAPES_SIZE if name.startswith("shapes") else MAX_SIZE, info.channels)
    else:
        check_n_size(1, size, MAX_SHAPES_SIZE if name.startswith("shapes") else MAX_SIZE, info.channels)
    if name in ("shapes", "shapes_cue_conflict"):
        return _shapes(_DEFAULT_N[split] if n is None else n, size, _split_seed(seed, split),
                       name == "shapes_cue_conflict")
    if name == "digits":
        return _load_digits(split, n, size, seed)
    if name in ("cifar10", "mnist", "fashion_mnist"):
        return _load_torchvision(name, split, n, size, seed, root, download)
    if name == "folder":
        return _load_folder(split, n, size, seed, root)
    raise AssertionError(name)


# Generated shapes sets kept per process, newest last, up to SHAPES_KEPT_BYTES: the runs of an A/B or a sweep, one
# after the other in a worker, train and validate on the same images (1.1 CPU-s to draw the default 10,000).
SHAPES_KEPT_BYTES = 64 * 2**20
_shapes_kept: OrderedDict[tuple[int, int, int, bool], ImageSet] = OrderedDict()
_shapes_lock = threading.Lock()


def _nbytes(s: ImageSet) -> int:
    return sum(t.numel() * t.element_size() for t in (s.images, s.labels, s.masks, s.texture_labels) if t is not None)


def _copy(s: ImageSet) -> ImageSet:
    return dataclasses.replace(s, **{f: getattr(s, f).clone() for f in ("images", "labels", "masks", "texture_labels")
                                     if getattr(s, f) is not None})


def _shapes(n: int, size: int, seed: int, cue_conflict: bool) -> ImageSet:
    """:func:`make_shapes`, drawn once per process for the same arguments (each caller gets tensors of its own)."""
    key = (n, size, seed, cue_conflict)
    with _shapes_lock:
        kept = _shapes_kept.get(key)
        if kept is not None:
            _shapes_kept.move_to_end(key)
            return _copy(kept)
    made = make_shapes(n, size, seed, cue_conflict=cue_conflict)
    if _nbytes(made) <= SHAPES_KEPT_BYTES:
        with _shapes_lock:
            _shapes_kept[key] = _copy(made)
            while sum(_nbytes(v) for v in _shapes_kept.values()) > SHAPES_KEPT_BYTES:
                _shapes_kept.popitem(last=False)
    return made


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
    from vizcore.core import paths

    return paths.sub_dir("datasets")


def _open_torchvision(name: str, train: bool, root: Path, download: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TV_CLASS[name])
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise
    _fetch_archives(cls, root)  # with a timeout; torchvision's own download has none
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(str(root), train=train, download=True)  # finds the archives (checksums match) and extracts


def _fetch_archives(cls: type, root: Path) -> None:
    """Download the archive files a torchvision data set class needs into the folder it looks in."""
    from vizcore.core import download

    if hasattr(cls, "resources") and hasattr(cls, "mirrors"):  # MNIST, FashionMNIST: raw/<file>.gz per resource
        raw = root / cls.__name__ / "raw"
        for filename, md5 in cls.resources:
            if (raw / filename).is_file():
                continue
            errors: list[str] = []
            for mirror in cls.mirrors:
                try:
                    download.fetch(f"{mirror}{filename}", raw / filename, timeout_s=DOWNLOAD_TIMEOUT_S, md5=md5)
                    break
                except (OSError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}")
            else:
                raise OSError(f"could not download {filename} ({', '.join(errors)})")
    elif hasattr(cls, "url") and hasattr(cls, "filename"):  # CIFAR-10: one archive
        if not (root / cls.filename).is_file():
            download.fetch(cls.url, root / cls.filename, timeout_s=DOWNLOAD_TIMEOUT_S, md5=getattr(cls, "tgz_md5", None))


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
MAX_FILES_SCANNED = 100_000  # directory entries visited at most: a root at "/" must not walk the file system


def _scan_folder(base: Path, label: str) -> tuple[list[str], list[tuple[str, int]]]:
    """Class folders (sorted, hidden ones skipped) and (image path, class index) pairs below ``base``.

    Symbolic links to folders are not followed and at most ``MAX_FILES_SCANNED`` entries are visited; messages
    name the folder by ``label`` and never list what it holds.
    """
    seen = 0

    def entries(d: Path) -> list[os.DirEntry]:
        nonlocal seen
        try:
            with os.scandir(d) as it:
                out = []
                for e in it:
                    seen += 1
                    if seen > MAX_FILES_SCANNED:
                        raise ValueError(f"expected an image folder of at most {MAX_FILES_SCANNED:,} files, got a "
                                         f"larger one ({label}); choose a smaller folder")
                    out.append(e)
                return out
        except PermissionError:
            return []

    classes = sorted(e.name for e in entries(base) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
    samples: list[tuple[str, int]] = []
    for idx, cls in enumerate(classes):
        stack = [base / cls]
        while stack:
            for e in sorted(entries(stack.pop()), key=lambda e: e.name):
                if e.name.startswith("."):
                    continue
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file():
                    samples.append((e.path, idx))
    samples.sort()
    return classes, samples


def _load_folder(split: str, n: int | None, size: int, seed: int, root: str | Path | None) -> ImageSet:
    from vizcore.data.images import fit_image

    if root is None:
        raise ValueError("expected root= the path of an image folder (root/<class>/<image>), got None")
    root = Path(root).expanduser()
    label = f"folder {root.name or str(root)!r}"
    if not root.is_dir():
        raise ValueError(f"expected an existing image folder, got {label} (not a folder)")
    split_dir = root / split
    presplit = (root / SPLITS[0]).is_dir() and split_dir.is_dir()
    base = split_dir if presplit else root
    all_classes, samples = _scan_folder(base, label)
    used = sorted({c for _, c in samples})  # class folders holding at least one image
    if len(used) < 2:
        raise ValueError(f"expected at least 2 class folders with images (.png, .jpg, ...) in {label}, got "
                         f"{len(used)}")
    remap = {old: new for new, old in enumerate(used)}
    classes = [all_classes[i] for i in used]
    samples = [(p, remap[c]) for p, c in samples]
    idx = torch.arange(len(samples))
    if not presplit:
        idx = _partition(len(samples), split, (0.1, 0.1), seed).sort().values
    idx = _take(idx, n, seed)
    if idx.numel() == 0:
        raise ValueError(f"expected images in split {split!r} of {label}, got none (too few images to split)")
    check_n_size(int(idx.numel()), size, MAX_SIZE)
    imgs = []
    for i in idx.tolist():
        path, _ = samples[i]
        try:
            arr = decode_image(Path(path).read_bytes())
        except (ValueError, OSError) as exc:
            msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"expected a readable image at {Path(path).relative_to(base)} in {label}, got: {msg}"
                             ) from None
        imgs.append(torch.from_numpy(fit_image(arr, size)).permute(2, 0, 1))
    labels = torch.tensor([samples[i][1] for i in idx.tolist()], dtype=torch.int64)
    return ImageSet(torch.stack(imgs).contiguous(), labels, tuple(classes), "folder")
