"""What an augmentation does to the data and to a trained model.

To the data: per-channel mean / std and the pixel histogram of a batch with and without the pipeline (a
pipeline that shifts the statistics far from the originals trains on a different distribution than it is
tested on). To a model: accuracy and confidence of a trained classifier on augmented versus original
validation images, one operation at a time (p = 1) -- which transformations it is already invariant to,
and which change its prediction (the test-time view of Hendrycks & Dietterich, "Benchmarking neural network
robustness to common corruptions and perturbations", ICLR 2019).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vizcore.data.pipeline import Pipeline, check_images

MAX_EFFECT_IMAGES = 5000  # validation images for the per-operation effect
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of a uint8 batch, pixels in [0, 1]."""

    mean: tuple[float, ...]  # (C,)
    std: tuple[float, ...]  # (C,)
    hist: NDArray[np.float64]  # (C, bins) fraction of pixels per bin
    edges: NDArray[np.float64]  # (bins + 1,) bin edges in [0, 1]


def channel_stats(images: torch.Tensor, bins: int = 32) -> ChannelStats:
    """Mean, std and histogram per channel of images (N, C, H, W) uint8."""
    check_images(images)
    if not 2 <= bins <= 256:
        raise ValueError(f"expected between 2 and 256 histogram bins, got {bins!r}")
    x = images.float().div(255.0).transpose(0, 1).reshape(images.shape[1], -1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    hist = np.stack([torch.histc(c, bins=bins, min=0.0, max=1.0).double().numpy() / c.numel() for c in x])
    return ChannelStats(tuple(x.mean(1).tolist()), tuple(x.std(1).tolist()), hist, edges)


@dataclass(frozen=True)
class OpEffect:
    """A model on original vs augmented images for one operation (or the whole pipeline)."""

    op: str  # operation name, or "pipeline" for all steps with their own p
    label: str  # what the row shows
    acc_original: float  # accuracy on the original images
    acc_augmented: float  # accuracy on the augmented images
    conf_original: float  # mean softmax probability of the true class, originals
    conf_augmented: float  # the same, augmented
    changed: float  # fraction of images whose predicted class changed

    @property
    def acc_change(self) -> float:
        return self.acc_augmented - self.acc_original


@torch.no_grad()
def _predict(model: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
             labels: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    preds, confs = [], []
    for i in range(0, len(images), batch):
        prob = model(prepare(images[i:i + batch])).float().softmax(1)
        preds.append(prob.argmax(1))
        confs.append(prob.gather(1, labels[i:i + batch, None]).squeeze(1))
    return torch.cat(preds), torch.cat(confs)


def augmentation_effect(model: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                        labels: torch.Tensor, pipeline: Pipeline, seed: int = 0, batch: int = 256,
                        progress: Progress | None = None) -> list[OpEffect]:
    """Accuracy and confidence of ``model`` on ``images`` (N, C, H, W) uint8 with ``labels`` (N,), originals vs
    each step of ``pipeline`` applied alone with p = 1, then the whole pipeline (its own p): one row each.

    ``prepare`` turns a uint8 batch into the model's input (e.g. ``for_model(name).batch``). Every step draws
    from a generator seeded with ``seed``, so the numbers repeat exactly.
    """
    check_images(images)
    if not 1 <= len(images) <= MAX_EFFECT_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_EFFECT_IMAGES} images, got {len(images)}")
    if labels.shape != (len(images),):
        raise ValueError(f"expected labels ({len(images)},), got {tuple(labels.shape)}")
    was_training = model.training
    model.eval()
    try:
        base_pred, base_conf = _predict(model, prepare, images, labels, batch)
        acc0, conf0 = float((base_pred == labels).float().mean()), float(base_conf.mean())
        # each operation alone is applied with p = 1: its label says so, not the p it has in the pipeline
        variants = [(single, s.op, single.steps[0].label()) for k, s in enumerate(pipeline.steps)
                    for single in (pipeline.single(k),)]
        if len(pipeline.steps) > 1:
            variants.append((pipeline, "pipeline", f"whole pipeline ({len(pipeline.steps)} steps, own p)"))
        rows = []
        for k, (pl, op, label) in enumerate(variants):
            if progress:
                progress(k / max(len(variants), 1), f"{label}: {len(images)} images")
            aug = torch.cat([pl.run(images[i:i + batch], torch.Generator().manual_seed(seed + i))[0]
                             for i in range(0, len(images), batch)])
            pred, conf = _predict(model, prepare, aug, labels, batch)
            rows.append(OpEffect(op, label, acc0, float((pred == labels).float().mean()), conf0,
                                 float(conf.mean()), float((pred != base_pred).float().mean())))
        if progress:
            progress(1.0, "done")
        return rows
    finally:
        model.train(was_training)


def effect_of_checkpoint(path: str | Path, pipeline: Pipeline, n: int = 500, seed: int = 0,
                         progress: Progress | None = None) -> list[OpEffect]:
    """:func:`augmentation_effect` for a checkpoint trained by a run (e.g. the default model), on ``n`` images of
    the validation split of the data set it trained on, at its image size, through its own preprocessing."""
    from vizcore.data import datasets
    from vizcore.models import preprocess
    from vizcore.models import weights as mweights

    meta = mweights.checkpoint_meta(path) or {}
    cfg = meta.get("config") or {}
    if not meta.get("model") or not cfg.get("dataset"):
        raise ValueError(f"expected a checkpoint written by a training run (with its .json metadata), got {path}")
    if not 1 <= n <= MAX_EFFECT_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_EFFECT_IMAGES} validation images, got {n!r}")
    model = mweights.load_trained(path)
    val = datasets.load_dataset(cfg["dataset"], split="val", n=n, size=int(cfg.get("image_size", 32)),
                                seed=int(cfg.get("seed", 0)), root=cfg.get("data_root"))
    images = torch.as_tensor(np.asarray(val.images))
    labels = torch.as_tensor(np.asarray(val.labels)).long()
    return augmentation_effect(model, preprocess.for_model(meta["model"]).batch, images, labels, pipeline, seed,
                               progress=progress)
