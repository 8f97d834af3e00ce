"""The data a run trains on: train/validation sets as uint8 tensors, cached across runs that differ only in tricks."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from vizcore.data.imageset import ImageSet
from vizcore.train.config import TrainConfig

# ---------------------------------------------------------------------------------------- data


def to_tensor_data(obj: Any) -> ImageSet:
    """An :class:`~vizcore.data.imageset.ImageSet` from anything with ``images``, ``labels`` and ``classes``."""
    if isinstance(obj, ImageSet):
        return obj
    images = torch.as_tensor(np.asarray(obj.images))
    labels = torch.as_tensor(np.asarray(obj.labels)).long()
    return ImageSet(images, labels, tuple(obj.classes), getattr(obj, "name", "data"))


_DATA_CACHE: dict[tuple, tuple[ImageSet, ImageSet]] = {}
_DATA_CACHE_LOCK = threading.Lock()
_DATA_CACHE_SIZE = 4  # a comparison of tricks reuses the same data; four 10k-image 32x32 sets are ~120 MB


def load_data(config: TrainConfig) -> tuple[ImageSet, ImageSet]:
    """Train and validation sets of ``config.dataset`` at ``config.image_size`` (vizcore.data.load_dataset).

    The images come from ``config.effective_data_seed`` (``data_seed``, or ``seed`` when it is None): runs that
    share a data seed train and validate on the same images, whatever their own seed. The last few distinct
    requests are kept in memory (read-only tensors), so runs that differ only in tricks or seed do not generate
    or decode the same images again.
    """
    from vizcore.data import datasets as vdata

    seed = config.effective_data_seed
    key = (config.dataset, config.train_size, config.val_size, config.image_size, seed, config.data_root)
    with _DATA_CACHE_LOCK:
        hit = _DATA_CACHE.get(key)
    if hit is not None:
        return hit
    train = vdata.load_dataset(config.dataset, split="train", n=config.train_size, size=config.image_size,
                               seed=seed, root=config.data_root)
    val = vdata.load_dataset(config.dataset, split="val", n=config.val_size, size=config.image_size,
                             seed=seed, root=config.data_root)
    out = (to_tensor_data(train), to_tensor_data(val))
    with _DATA_CACHE_LOCK:
        _DATA_CACHE[key] = out
        while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
    return out


def augment_config(config: TrainConfig) -> Any:
    """The :class:`vizcore.data.augment.AugmentConfig` of a run (preset, RandAugment N/M, mixup/cutmix)."""
    from vizcore.data.augment import AugmentConfig

    return AugmentConfig(preset=config.augment, randaugment_n=config.randaugment_n,
                         randaugment_m=config.randaugment_m, mixup_alpha=config.mixup_alpha,
                         cutmix_alpha=config.cutmix_alpha, mix_prob=config.mix_prob)


def augment_pipeline(config: TrainConfig) -> Any:
    """The per-image :class:`vizcore.data.pipeline.Pipeline` of a run: its ``augment_pipeline``, else its preset
    as a named pipeline (the same draws and pixels as the preset)."""
    from vizcore.data.pipeline import Pipeline, preset_pipeline

    if config.augment_pipeline is not None:
        return Pipeline.from_json(config.augment_pipeline)
    return preset_pipeline(config.augment, config.randaugment_n, config.randaugment_m)


def uses_pool(config: TrainConfig) -> bool:
    """True when a run trains on a label budget or with a semi-supervised method (a labelled set and a pool)."""
    return config.labelled_per_class is not None or config.ssl != "none"


def split_pool(config: TrainConfig, train: ImageSet) -> tuple[ImageSet, Any, Any]:
    """(labelled set, unlabelled pool or None, its hidden labels or None) of a run.

    ``labelled_per_class`` K keeps K images per class of ``train`` (stratified, from the data seed) and drops the
    others' labels (:func:`vizcore.data.unlabelled.split_labelled`). An image folder's ``unlabelled/`` joins the
    pool with a semi-supervised method (its hidden labels are unknown). A method without any pool is refused.
    """
    from vizcore.data.unlabelled import (
        HiddenLabels,
        has_unlabelled_folder,
        load_unlabelled_folder,
        split_labelled,
    )

    if not uses_pool(config):
        return train, None, None
    pool = hidden = None
    labelled = train
    if config.labelled_per_class is not None:
        labelled, pool, hidden = split_labelled(train, config.labelled_per_class, config.effective_data_seed)
    if config.ssl != "none" and config.dataset == "folder" and has_unlabelled_folder(config.data_root):
        assert config.data_root is not None
        extra = load_unlabelled_folder(config.data_root, config.image_size, seed=config.effective_data_seed,
                                       channels=train.channels)
        unknown = HiddenLabels(torch.full((len(extra),), -1, dtype=torch.long))
        if pool is None:
            pool, hidden = extra, unknown
        else:
            assert hidden is not None  # made with the pool by split_labelled
            pool, hidden = pool.cat(extra), HiddenLabels(torch.cat([hidden.labels, unknown.labels]))
    if config.ssl != "none" and (pool is None or len(pool) == 0):
        raise ValueError(f"expected an unlabelled pool for ssl={config.ssl!r}: set labelled_per_class below what "
                         "each class has, or use an image folder with an unlabelled/ folder; got none")
    return labelled, pool, hidden
