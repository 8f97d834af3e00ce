"""A module imported where it is first used, not where it is named.

A training worker (a pool worker, a Ray task) imports the training code and what it needs; with the default
recipe that is torch alone. The augmentation modules name torchvision's kernels at their top, and importing
torchvision costs a fresh process 1.5-2.5 s of CPU (its package imports every sub-package, torch's compiler stack
among them): with :func:`module` they name it there and import it at the first call of one of its functions.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module ``name``: the first attribute read imports it (``importlib``, thread-safe); later reads
    go to the module. An import error is raised at that first read, as the import itself would raise it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def module(name: str) -> Any:
    """Module ``name``, imported on first use (see :class:`LazyModule`)."""
    return LazyModule(name)
