"""Shape bias: does a classifier decide by an object's outline or by its surface texture?

Geirhos, Rubisch, Michaelis, Bethge, Wichmann, Brendel. "ImageNet-trained CNNs are biased towards texture;
increasing shape bias improves accuracy and robustness". ICLR 2019. On cue-conflict images (the outline of one
class filled with the texture of another) each decision is counted as a *shape* decision (the outline's class),
a *texture* decision (the fill's class) or neither. The shape bias is

    shape decisions / (shape decisions + texture decisions),

so 1.0 means purely shape-driven and 0.0 purely texture-driven; decisions for neither class are left out, as
are images whose shape and texture classes coincide (they carry no conflict).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ShapeBias:
    """Counts of decisions on the cue-conflict images and the resulting shape bias."""

    shape: int  # predictions equal to the outline's class
    texture: int  # predictions equal to the fill texture's class
    other: int  # predictions equal to neither
    excluded: int  # images whose shape and texture classes coincide (no conflict), not counted
    shape_bias: float  # shape / (shape + texture); NaN when there are no shape-or-texture decisions

    @property
    def total(self) -> int:
        """Conflicting images counted (shape + texture + other)."""
        return self.shape + self.texture + self.other

    @property
    def cue_decisions(self) -> int:
        """Decisions that followed one of the two cues (shape + texture)."""
        return self.shape + self.texture

    def text(self) -> str:
        if math.isnan(self.shape_bias):
            return f"no decision followed either cue ({self.other} of {self.total} images chose another class)"
        return (f"shape bias {self.shape_bias:.2f}: {self.shape} shape vs {self.texture} texture decisions "
                f"({self.other} of {self.total} images chose neither)")


def shape_bias_from_predictions(predictions: Any, shape_labels: Any, texture_labels: Any) -> ShapeBias:
    """Count shape / texture / other decisions.

    predictions, shape_labels, texture_labels: integer arrays or tensors of shape (N,).
    """
    pred, shp, tex = (np.asarray(torch.as_tensor(v).cpu(), dtype=np.int64).ravel() for v in
                      (predictions, shape_labels, texture_labels))
    if not (pred.shape == shp.shape == tex.shape):
        raise ValueError(f"expected predictions, shape labels and texture labels of equal length, got "
                         f"{pred.shape[0]}, {shp.shape[0]} and {tex.shape[0]}")
    conflict = shp != tex
    p, s, t = pred[conflict], shp[conflict], tex[conflict]
    n_shape, n_tex = int(np.sum(p == s)), int(np.sum(p == t))
    n_other = int(p.size) - n_shape - n_tex
    denom = n_shape + n_tex
    return ShapeBias(n_shape, n_tex, n_other, int(np.sum(~conflict)), n_shape / denom if denom else math.nan)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 256,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Argmax class of ``model`` for images (N, C, H, W) float, already normalised as the model expects.

    Runs in eval mode and restores the model's previous mode afterwards.
    """
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    if batch_size < 1:
        raise ValueError(f"expected a positive batch size, got {batch_size}")
    was_training = model.training
    model.eval()
    try:
        out = [model(images[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def shape_bias(model: nn.Module, cue_conflict: Any, batch_size: int = 256,
               device: torch.device | str = "cpu", normalize: Any | None = None) -> ShapeBias:
    """Shape bias of ``model`` on a cue-conflict image set.

    cue_conflict: an image set with ``images`` (N, C, H, W) uint8 (or float in [0, 1]), ``labels`` (N,) = the outline's
    class and ``texture_labels`` (N,) = the fill's class (``vizcore.data.shapes.make_shapes(..., cue_conflict=True)``).
    normalize: optional callable applied to the images (float in [0, 1]) before the model, e.g. the model's
    training resize and normalisation; None feeds them as they are.
    """
    texture = getattr(cue_conflict, "texture_labels", None)
    if texture is None:
        raise ValueError("expected a cue-conflict image set with texture_labels, got one without "
                         "(make it with cue_conflict=True)")
    images = torch.as_tensor(cue_conflict.images)
    images = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
    if normalize is not None:
        images = normalize(images)
    preds = predict(model, images, batch_size=batch_size, device=device)
    return shape_bias_from_predictions(preds, cue_conflict.labels, texture)


def shape_bias_of_checkpoint(path: str | Any, n: int = 500, seed: int = 0, batch_size: int = 256) -> ShapeBias:
    """Shape bias of a model trained by the lab on the embedded shapes, read from its checkpoint.

    The cue-conflict images (``n`` of the "test" split, generated from ``seed``) are rendered at the image size
    the run trained at and fed through the run's own preprocessing (channel adaptation and the zoo entry's
    normalisation), as :mod:`vizcore.train.engine` does.
    """
    from vizcore.data import datasets, shapes
    from vizcore.models import preprocess
    from vizcore.models import weights as mweights

    meta = mweights.checkpoint_meta(path) or {}
    if not meta.get("model"):
        raise ValueError(f"expected a checkpoint written by a training run (with its .json metadata), got {path}")
    classes = tuple(meta.get("classes") or ())
    if classes and classes != tuple(shapes.SHAPE_CLASSES):
        raise ValueError(f"expected a model trained on the shapes classes, got one trained on {list(classes)[:4]}...")
    model = mweights.load_trained(path)
    size = int(meta.get("image_size") or 32)
    cue = datasets.load_dataset("shapes_cue_conflict", split="test", n=n, size=size, seed=seed)
    return shape_bias(model, cue, batch_size=batch_size, normalize=preprocess.for_model(meta["model"]).normalize)
