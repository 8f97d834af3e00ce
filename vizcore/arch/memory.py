"""What a training batch needs in memory: activations kept for the backward pass, parameters, gradients and the
optimizer's state.

Géron's worked example (Hands-On Machine Learning, ch. 14, "Memory Requirements"): a 5×5 convolution with 200
maps on a 150×100 RGB image, padding "same", has (5·5·3 + 1)·200 = 15,200 parameters, 200·150·100·75 = 225 million
multiply-adds, and an output of 200·150·100 float32 values = 12,000,000 bytes for one instance; a batch of 100 then
needs 1.2 GB for that layer alone. Training keeps every layer's output until the backward pass has used it
(:attr:`vizcore.arch.summary.ModelSummary.activation_bytes` sums them for one image); inference needs only two
consecutive layers' outputs at a time. Each value is float32 (4 bytes); the optimizer keeps per parameter nothing
(plain SGD), one momentum buffer (SGD with momentum) or two moments (Adam, AdamW).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Optimizer = Literal["sgd", "momentum", "adam"]
OPTIMIZER_STATES: dict[str, int] = {"sgd": 0, "momentum": 1, "adam": 2}  # float32 values kept per parameter
BYTES = 4  # float32
MAX_BATCH = 1_000_000


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes a training step of ``batch`` images needs (float32), by what holds them."""

    batch: int  # images per step
    optimizer: str  # "sgd", "momentum" or "adam"
    activations: int  # batch · activation bytes of one image: every layer output kept for backward
    parameters: int  # all parameters · 4
    gradients: int  # trainable parameters · 4
    optimizer_state: int  # trainable parameters · 4 · states per parameter (0, 1 or 2)
    total: int  # the sum of the above (workspace of the kernels and the data loader not counted)


def training_memory(activation_bytes: int, params: int, trainable: int, batch: int = 32,
                    optimizer: str = "momentum") -> TrainingMemory:
    """Memory of one training step of ``batch`` images for a model whose forward pass of one image produces
    ``activation_bytes`` of layer outputs and which has ``params`` parameters, ``trainable`` of them trained.

    >>> training_memory(12_000_000, 15_200, 15_200, batch=100, optimizer="sgd").activations
    1200000000
    """
    for name, v, hi in (("activation bytes", activation_bytes, 1 << 50), ("parameters", params, 1 << 40),
                        ("trainable parameters", trainable, 1 << 40), ("batch", batch, MAX_BATCH)):
        if isinstance(v, bool) or not isinstance(v, int) or not (0 if name != "batch" else 1) <= v <= hi:
            raise ValueError(f"expected {name} as a whole number between {0 if name != 'batch' else 1} and {hi}, "
                             f"got {v!r}")
    if trainable > params:
        raise ValueError(f"expected at most {params} trainable parameters (all of them), got {trainable}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"expected an optimizer in {', '.join(OPTIMIZER_STATES)}, got {optimizer!r}")
    act = batch * activation_bytes
    par, grad = params * BYTES, trainable * BYTES
    state = trainable * BYTES * OPTIMIZER_STATES[optimizer]
    return TrainingMemory(batch, optimizer, act, par, grad, state, act + par + grad + state)


def decimal_bytes(n: float) -> str:
    """Bytes in powers of 1000, as the books count them: 12,000,000 -> '12.0 MB', 1.2e9 -> '1.2 GB'."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n):,} bytes"
