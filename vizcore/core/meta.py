"""Shape-only forward passes on PyTorch's meta device, made cheaper.

Batch norm keeps its input's shape, but on the meta device torch computes it through a Python decomposition
(``torch._decomp``) that takes most of the time of a shape-only pass through a network full of it (DenseNet-121,
ResNet-152: 60 % and more). Within :func:`shape_only`, a batch norm of meta tensors that torch would accept
returns an empty tensor of its input's shape at once; one torch would refuse (dimensions, channel counts, a single
value per channel in training mode) still goes to torch, which says why. Tensors on other devices are untouched.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["shape_only"]


def _accepted(input: Any, running_mean: Any = None, running_var: Any = None, weight: Any = None,
              bias: Any = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> bool:
    """Whether ``F.batch_norm`` with these arguments (its own names) works on meta tensors, as torch checks it."""
    x = input
    if not isinstance(x, torch.Tensor) or not x.is_meta or x.ndim < 2:
        return False
    stats = [t for t in (running_mean, running_var, weight, bias) if t is not None]
    if not all(isinstance(t, torch.Tensor) and t.is_meta and t.ndim == 1 and t.numel() == x.shape[1] for t in stats):
        return False
    if (running_mean is None) != (running_var is None) or (not training and running_mean is None):
        return False  # torch: running statistics come in pairs, and evaluation needs them
    return not training or x.numel() > x.shape[1]  # torch: "Expected more than 1 value per channel when training"


class _ShapeOnlyNorm(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.batch_norm and _accepted(*args, **kwargs):
            return torch.empty_like(args[0] if args else kwargs["input"])
        return func(*args, **kwargs)


@contextmanager
def shape_only() -> Iterator[None]:
    """Within the block, batch norm of meta tensors returns its input's shape without torch's decomposition."""
    with _ShapeOnlyNorm():
        yield
