"""Training memory, estimated from a shape-only forward pass on the meta device (no real compute)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from vizcore.core.hooks import leaf_output_numel
from vizcore.core.meta import on_meta, shape_only
from vizcore.models import registry as zoo
from vizcore.train.config import TrainConfig

__all__ = ["MemoryEstimate", "estimate_memory_detail"]


def _activation_numel(model: nn.Module, x: torch.Tensor) -> int:
    """Sum of the output sizes of every leaf module for input ``x`` (what autograd keeps for backward)."""
    return leaf_output_numel(model, lambda: model(x))[0]


@dataclass(frozen=True)
class MemoryEstimate:
    params: int  # parameter count
    param_bytes: int  # weights + gradients + optimizer state
    activation_bytes: int  # activations kept for backward, whole batch
    data_bytes: int  # the data set kept as uint8 on the device
    total_bytes: int  # sum of the above


def estimate_memory_detail(config: TrainConfig, num_classes: int = 10, channels: int | None = None) -> MemoryEstimate:
    """Training memory estimate from a shape-only ("meta" device) forward pass: no real compute.

    activations ≈ batch · Σ(leaf-module output sizes) · bytes per element (2 with bf16/fp16 autocast, else 4);
    parameters · 4 bytes · (1 weight + 1 grad + 1 momentum, or 2 moments for AdamW);
    data = (train + val) · C · H · W bytes (uint8). Raises ValueError when the model cannot take the input size.
    """
    c = zoo.get_entry(config.model).input_size[0]
    per_image, n_params = _shape_counts(config.model, config.image_size, num_classes)
    act_elem = 2 if config.precision in ("bf16", "fp16") else 4
    states = 2 if config.optimizer == "adamw" else 1
    param_bytes = n_params * 4 * (2 + states)
    act = config.batch_size * per_image * act_elem
    data_c = channels if channels is not None else c
    data = (config.train_size + config.val_size) * data_c * config.image_size ** 2
    return MemoryEstimate(n_params, param_bytes, act, data, param_bytes + act + data)


@functools.lru_cache(maxsize=256)
def _shape_counts(model_name: str, image_size: int, num_classes: int) -> tuple[int, int]:
    """(leaf-module output values for one image, parameters) from a meta-device forward pass. Cached like
    :func:`forward_flops`: they depend only on architecture and input size, and every preflight of a run (each
    page rerun of the Lab, each run of an experiment) asks again."""
    entry = zoo.get_entry(model_name)
    with on_meta():
        model = entry.builder(num_classes=num_classes).eval()  # eval: BN accepts a batch of one
        x = torch.empty(1, entry.input_size[0], image_size, image_size)
    try:
        with shape_only():
            per_image = _activation_numel(model, x)
    except RuntimeError as exc:
        raise ValueError(f"expected an image size {model_name} can take, got {image_size}x"
                         f"{image_size} ({' '.join(str(exc).split())[:160]})") from None
    return per_image, sum(p.numel() for p in model.parameters())
