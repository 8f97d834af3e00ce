"""Checks before a run starts: memory estimated from a shape-only forward pass, time, device and precision."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vizcore.models import registry as zoo
from vizcore.train.config import TrainConfig
from vizcore.train.tricks import zero_gamma_

# ---------------------------------------------------------------------------------------- budgets


def _activation_numel(model: nn.Module, x: torch.Tensor) -> int:
    """Sum of the output sizes of every leaf module for input ``x`` (what autograd keeps for backward)."""
    total = 0

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


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
    entry = zoo.get_entry(config.model)
    c = entry.input_size[0]
    with torch.device("meta"):
        model = entry.builder(num_classes=num_classes).eval()  # eval: BN accepts a batch of one
        x = torch.empty(1, c, config.image_size, config.image_size)
    try:
        per_image = _activation_numel(model, x)
    except RuntimeError as exc:
        raise ValueError(f"expected an image size {config.model} can take, got {config.image_size}x"
                         f"{config.image_size} ({' '.join(str(exc).split())[:160]})") from None
    n_params = sum(p.numel() for p in model.parameters())
    act_elem = 2 if config.precision in ("bf16", "fp16") else 4
    states = 2 if config.optimizer == "adamw" else 1
    param_bytes = n_params * 4 * (2 + states)
    act = config.batch_size * per_image * act_elem
    data_c = channels if channels is not None else c
    data = (config.train_size + config.val_size) * data_c * config.image_size ** 2
    return MemoryEstimate(n_params, param_bytes, act, data, param_bytes + act + data)


# Rough sustained training throughput in FLOP/s for the time estimate (measured order of magnitude for small
# CNNs: 2 idle CPU cores ~ 8e10 -- fast_cnn trains ~2,400 images/s of 3 x 13.7 MFLOP, small_cnn ~700 of
# 3 x 38 MFLOP, bench/recipe.py and bench/default_run.py -- one modern GPU ~ 2e12 for these tiny kernels).
_DEVICE_FLOPS = {"cpu": 8e10, "cuda": 2e12, "mps": 2e11}


def estimate_flops(config: TrainConfig, num_classes: int = 10) -> int:
    """FLOPs of one forward pass of one image (``torch.utils.flop_counter``, counted on the meta device)."""
    return _forward_flops(config.model, config.image_size, num_classes)


@functools.lru_cache(maxsize=256)
def _forward_flops(model_name: str, image_size: int, num_classes: int) -> int:
    # depends only on architecture and input size: cached, since previews ask for it once per planned run
    from torch.utils.flop_counter import FlopCounterMode

    entry = zoo.get_entry(model_name)
    with torch.device("meta"):
        model = entry.builder(num_classes=num_classes).eval()
        x = torch.empty(1, entry.input_size[0], image_size, image_size)
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model(x)
    except RuntimeError as exc:
        raise ValueError(f"expected an image size {model_name} can take, got {image_size}x"
                         f"{image_size} ({' '.join(str(exc).split())[:160]})") from None
    return int(counter.get_total_flops())


def estimate_time_s(config: TrainConfig, device: str = "cpu", num_classes: int = 10) -> float:
    """Rough wall-clock estimate: 3 × forward FLOPs (forward + backward) × images × epochs, plus one forward per
    validation image and epoch (two with flip test-time augmentation), ÷ device FLOP/s."""
    kind = torch.device(device).type
    flops = estimate_flops(config, num_classes)
    train = 3 * flops * config.steps_per_epoch() * config.batch_size * config.epochs
    val = flops * config.val_size * config.epochs * (2 if config.tta_flip else 1)
    return (train + val) / _DEVICE_FLOPS.get(kind, 2e10)


@dataclass(frozen=True)
class Preflight:
    device: str  # resolved device ("cpu", "cuda:0", ...)
    memory_bytes: int  # estimate_memory_detail(...).total_bytes
    time_estimate_s: float  # estimate_time_s
    notes: tuple[str, ...]  # things the user should know (e.g. "zero_gamma: no residual blocks in small_cnn")


def preflight(config: TrainConfig, num_classes: int = 10) -> Preflight:
    """Checks before a run starts: device, precision on it, input size, memory and time budgets.

    Raises ValueError with a sentence saying what to change.
    """
    from vizcore.core.device import pick_device

    dev = pick_device(config.device)
    if config.precision == "fp16" and dev.type != "cuda":
        raise ValueError(f"expected precision fp32 or bf16 on {dev.type.upper()}, got fp16 "
                         "(fp16 autocast with a GradScaler needs a CUDA GPU)")
    mem = estimate_memory_detail(config, num_classes)
    budget = config.memory_budget_mb * 2**20
    if mem.total_bytes > budget:
        raise ValueError(
            f"expected training memory within the budget of {config.memory_budget_mb} MB, got an estimate of "
            f"{mem.total_bytes / 2**20:.0f} MB (activations {mem.activation_bytes / 2**20:.0f} MB for batch "
            f"{config.batch_size} at {config.image_size}x{config.image_size}); lower batch_size or image_size")
    t = estimate_time_s(config, str(dev), num_classes)
    if t > config.time_budget_s:
        raise ValueError(
            f"expected a run that fits the time budget of {config.time_budget_s:.3g} s, got an estimate of "
            f"{t:.3g} s on {dev.type.upper()}; lower epochs, train_size or image_size, or raise time_budget_s")
    notes = []
    if config.precision != "fp32" and dev.type == "cpu":
        notes.append("on CPU, bf16 autocast is usually slower than fp32 for small convolutions (about 20x on a "
                     "2-core CPU without bf16 instructions, bench/trainer_overhead.py)")
    if config.whiten_stem and config.transfer != "none":
        notes.append("whiten_stem is an initialisation: ignored when transferring learned weights")
    if config.zero_gamma and config.transfer != "none":
        notes.append("zero_gamma is an initialisation: ignored when transferring learned weights")
    elif config.zero_gamma:
        probe = zoo.build_model(config.model, num_classes=num_classes) if mem.params < 5_000_000 else None
        if probe is not None and not zero_gamma_(probe):
            notes.append(f"zero_gamma has no effect: {config.model} has no residual blocks")
    return Preflight(str(dev), mem.total_bytes, t, tuple(notes))
