"""Shape-only forward passes on PyTorch's meta device, made cheaper.

Batch norm keeps its input's shape, but on the meta device torch computes it through a Python decomposition
(``torch._decomp``) that takes most of the time of a shape-only pass through a network full of it (DenseNet-121,
ResNet-152: 60 % and more). Within :func:`shape_only`, a batch norm of meta tensors that torch would accept
returns an empty tensor of its input's shape at once; one torch would refuse (dimensions, channel counts, a single
value per channel in training mode) still goes to torch, which says why. Tensors on other devices are untouched.

Building a model on the meta device runs its initialisation too: ``kaiming_normal_`` and the like draw no numbers
there, but torch still computes their meta results through Python references (a third of building DenseNet-121
or a ResNet-50 there). :func:`on_meta` builds with those in-place fills skipped: a meta tensor has no values to
fill, and an in-place op keeps its tensor's shape, so every shape, parameter count and multiply-add count stays
what it was (tests/vizcore/test_meta.py builds three kinds of zoo model both ways).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["on_meta", "shape_only"]


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


# In-place ops that initialisation (torch.nn.init, modules' reset_parameters) applies to a freshly made tensor. Ops
# that change a tensor's shape or strides in place (resize_, squeeze_, transpose_, as_strided_, ...) are not here.
_FILLS = frozenset({"normal_", "uniform_", "zero_", "fill_", "copy_", "clamp_", "mul_", "add_", "sub_", "div_",
                    "erfinv_", "exponential_", "random_", "bernoulli_", "log_normal_", "geometric_", "cauchy_",
                    "fill_diagonal_"})


class _SkipMetaFills(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if args and getattr(func, "__name__", "") in _FILLS and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return args[0]  # nothing to fill, the shape unchanged
        return func(*args, **(kwargs or {}))


@contextmanager
def on_meta() -> Iterator[None]:
    """``with torch.device("meta")``, with initialisation's in-place fills of meta tensors skipped: for building
    models whose shapes and counts are wanted, never their values."""
    with torch.device("meta"), _SkipMetaFills():
        yield
