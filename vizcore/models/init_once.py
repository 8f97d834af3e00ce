"""Build a model drawing each tensor's initial values once.

torchvision's ImageNet models are initialised twice: every ``nn.Conv2d`` and ``nn.Linear`` draws its default
values when it is made, then the model's own loop draws them again (VGG: kaiming-normal convolutions and
N(0, 0.01) linear layers). For VGG-16 the first round is 138 million uniform draws thrown away, half of its
1.3 s build on a CPU core, paid each time a page loads the model.

:func:`build_once` first builds the model on the meta device (no memory, no values) while noting every
initialisation step in order: which tensor it fills, and whether anything else looks at that tensor before it is
filled again. A step whose result is overwritten unseen is dead. The real build then runs the same code and
skips exactly those steps; it checks that it meets the same steps in the same order (operation and shape), and
if anything differs (code that behaves differently on the meta device, a builder that reads its own values) it
builds again the plain way. The surviving steps are the model's own final initialisation, so every tensor gets
the distribution it would have had; only the draws differ from a plain build with the same seed (the skipped
draws no longer advance the generator). tests/vizcore/test_init_once.py compares each tensor against a plain
build.

A model about to receive weights from a file (pretrained, a checkpoint) needs no draws at all: a strict load
overwrites every parameter. :func:`build_to_load` builds with the parameters' draws skipped (buffers, which
some layers fill with fixed values, are made as usual); a model with a buffer its state dict does not hold is
built the plain way.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from vizcore.core.meta import on_meta

__all__ = ["build_once", "build_to_load"]

# Tensor methods that fill a tensor in place with values that do not depend on what it held
_OVERWRITES = frozenset({"normal_", "uniform_", "zero_", "fill_", "random_", "bernoulli_", "exponential_",
                         "log_normal_", "geometric_", "cauchy_", "copy_"})
# Tensor methods and attributes that read a tensor's shape or kind, never its values
_META_READS = frozenset({"dim", "size", "numel", "ndimension", "nelement", "__len__", "shape", "dtype", "device",
                         "ndim", "is_meta", "is_leaf", "layout", "requires_grad", "is_floating_point",
                         "is_complex", "_set_grad_enabled"})


def _name(func: Any) -> str:
    if getattr(func, "__name__", "") == "__get__" and hasattr(func, "__self__"):  # an attribute read
        return getattr(func.__self__, "__name__", "__get__")
    return getattr(func, "__name__", "")


def _fill_target(func: Any, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The tensor a call fills with values independent of its old ones, or None: ``torch.nn.init``'s functions
    (their tensor first or as ``tensor=``) and the overwriting in-place methods."""
    name = _name(func)
    if getattr(func, "__module__", None) == "torch.nn.init" and name.endswith("_"):
        t = args[0] if args else kwargs.get("tensor")
    elif name in _OVERWRITES and args:
        t = args[0]
    else:
        return None
    return t if isinstance(t, torch.Tensor) else None


def _tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(x for x in a if isinstance(x, torch.Tensor))
    return out


class _Note(TorchFunctionMode):
    """On the meta device: every top-level fill in order (its name, its tensor's shape) and whether it is dead."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[str, tuple[int, ...]]] = []
        self.dead: list[bool] = []
        self._last: dict[int, int] = {}  # id(tensor) -> index of its last fill, while nothing has read it since
        self._keep: list[torch.Tensor] = []  # every tensor seen stays alive: no id is reused during the build
        self._depth = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if self._depth:
            return func(*args, **kwargs)
        target = _fill_target(func, args, kwargs)
        seen = _tensors(args, kwargs)
        self._keep.extend(seen)
        for t in seen:  # anything else done with a tensor may read its values: its last fill stays alive
            if t is not target and _name(func) not in _META_READS:
                self._last.pop(id(t), None)
        if target is None:
            return func(*args, **kwargs)
        if id(target) in self._last:  # filled again with nothing read in between: the earlier fill was dead
            self.dead[self._last[id(target)]] = True
        self._last[id(target)] = len(self.steps)
        self.steps.append((_name(func), tuple(target.shape)))
        self.dead.append(False)
        self._depth += 1
        try:
            return func(*args, **kwargs)
        finally:
            self._depth -= 1


class _Diverged(Exception):
    pass


class _Skip(TorchFunctionMode):
    """For real: the same fills in the same order, the dead ones skipped."""

    def __init__(self, steps: list[tuple[str, tuple[int, ...]]], dead: list[bool]) -> None:
        super().__init__()
        self.steps, self.dead, self.k, self._depth = steps, dead, 0, 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if self._depth:
            return func(*args, **kwargs)
        target = _fill_target(func, args, kwargs)
        if target is None:
            return func(*args, **kwargs)
        k, self.k = self.k, self.k + 1
        if k >= len(self.steps) or self.steps[k] != (_name(func), tuple(target.shape)):
            raise _Diverged
        if self.dead[k]:
            return target
        self._depth += 1
        try:
            return func(*args, **kwargs)
        finally:
            self._depth -= 1


_loading = threading.local()  # within build_to_load in this thread: parameters are not drawn at all


def build_once(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` with each tensor's values drawn once from the global generator (see the module's text). On
    the meta device (the caller's default device), or for a model built to load weights (:func:`build_to_load`,
    which draws none), a plain build."""
    if torch.empty(0).device.type == "meta" or getattr(_loading, "on", False):
        return build()
    state = torch.random.get_rng_state()  # the meta run draws nothing; a real run that diverges is undone
    try:
        note = _Note()
        with on_meta(), note:
            build()
    except Exception:  # a builder that needs real values: nothing to learn from the meta device
        note = None
    if note is not None and any(note.dead):
        try:
            skip = _Skip(note.steps, note.dead)
            with skip:
                model = build()
            if skip.k == len(note.steps):
                return model
        except _Diverged:
            pass
        torch.random.set_rng_state(state)
    return build()


class _SkipParameterDraws(TorchFunctionMode):
    """Initialisation of parameters skipped (their values left as allocated); copies into them go through."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        target = _fill_target(func, args, kwargs)
        if isinstance(target, nn.Parameter) and _name(func) != "copy_":
            return target
        return func(*args, **kwargs)


def build_to_load(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` for a model whose every parameter a strict ``load_state_dict`` will overwrite next (or that
    ``build`` itself loads, as torchvision's pretrained builders do): the parameters are allocated, not drawn.
    Its buffers are made as usual; a model with a buffer outside its state dict, which no load would set, is
    built the plain way. Leaves the global generator untouched where nothing is drawn."""
    was = getattr(_loading, "on", False)
    _loading.on = True
    try:
        with _SkipParameterDraws():
            model = build()
    finally:
        _loading.on = was
    if {n for n, _ in model.named_buffers()} - set(model.state_dict()):
        return build()
    return model
