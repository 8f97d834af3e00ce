"""Forward hooks that are always removed: one context manager for every place that watches a forward pass."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["forward_hooks", "leaf_modules"]

Hook = Callable[[nn.Module, Any, Any], Any]  # (module, inputs, output) -> None (or a replacement output)


@contextmanager
def forward_hooks(pairs: Iterable[tuple[nn.Module, Hook]]) -> Iterator[None]:
    """Register ``hook`` as a forward hook on each ``module`` of ``pairs`` for the ``with`` block; every hook is
    removed when it ends, also when the forward raised (a hook left behind would record into every later
    forward of a shared, cached model)."""
    handles = []
    try:
        for module, hook in pairs:
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


def leaf_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` without children (the layers a forward pass actually computes in)."""
    return [m for m in model.modules() if not list(m.children())]


def leaf_output_numel(model: nn.Module, run: Callable[[], Any]) -> tuple[int, Any]:
    """(sum of the output sizes of every leaf module of ``model`` while ``run()`` runs — what autograd keeps for
    backward — and what ``run()`` returned). ``run`` is called under ``torch.no_grad()``."""
    total = 0

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel()

    with forward_hooks((m, hook) for m in leaf_modules(model)), torch.no_grad():
        result = run()
    return total, result
