"""Activation capture: what a layer outputs for an input, by forward hooks or by a truncated fx graph.

Two ways to read an intermediate tensor (as in the Deep Visualization Toolbox, Yosinski et al., ICML DL workshop
2015, and torchvision's ``create_feature_extractor``):

* :class:`Capture` — forward hooks on named modules, a context manager whose hooks are removed in ``finally``
  (also when the forward raises). ``stop_early=True`` ends the forward as soon as every requested module has
  run, so capturing an early layer costs no more than computing up to it.
* :func:`node_output` — any node of a traced graph (:mod:`vizcore.arch.graph`), including function calls such as
  ``add`` or ``relu`` that no module owns, by running the graph truncated at that node.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from vizcore.arch.graph import truncate
from vizcore.core.hooks import forward_hooks

# ---------------------------------------------------------------------------------------- hooks


class _StopForward(Exception):
    """Raised by the last hook that was needed: the rest of the forward pass is not computed."""


class Capture:
    """Forward hooks on ``modules`` (paths of ``model.named_modules()``) storing each module's output.

    >>> m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    >>> with Capture(m, ["0"]) as cap:
    ...     cap.run(torch.zeros(1, 3, 8, 8))
    >>> cap.outputs["0"].shape
    torch.Size([1, 4, 6, 6])

    ``outputs[name]``: the module's output tensor (detached unless ``detach=False``); with ``inputs=True`` also
    ``inputs[name]``: its first positional input. A module called several times keeps its last call.
    ``stop_early``: :meth:`run` stops the forward once every module has run (its return value is then None).
    ``replace``: name -> function(output) -> new output, applied in the forward (ablations).
    """

    def __init__(self, model: nn.Module, modules: Sequence[str], *, detach: bool = True, inputs: bool = False,
                 stop_early: bool = False, replace: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
                 ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
        names = list(dict.fromkeys(modules))
        known: dict[str, nn.Module] = {}
        for n in [*names, *(replace or {})]:
            try:  # get_submodule walks one path: cheaper than listing every module on each capture
                known[n] = model.get_submodule(n)
            except AttributeError:
                some = ", ".join([k for k, _ in model.named_modules()][1:7])
                raise ValueError(f"expected module paths of this model (e.g. {some}, ...), got {n!r}") from None
        self.model = model
        self.names = names
        self.detach, self.keep_inputs, self.stop_early = detach, inputs, stop_early
        self.replace = dict(replace or {})
        self.outputs: dict[str, torch.Tensor] = {}
        self.inputs: dict[str, torch.Tensor] = {}
        self._hooks = ExitStack()  # the hooks of the ``with`` block (core.hooks.forward_hooks)
        self._modules = known

    def _hook(self, name: str) -> Callable[..., Any]:
        def hook(_m: nn.Module, args: tuple[Any, ...], out: Any) -> Any:
            if name in self.replace:
                out = self.replace[name](out)
            if name in self.names:
                self.outputs[name] = out.detach() if self.detach and isinstance(out, torch.Tensor) else out
                if self.keep_inputs and args and isinstance(args[0], torch.Tensor):
                    self.inputs[name] = args[0].detach() if self.detach else args[0]
                if self.stop_early and len(self.outputs) == len(self.names):
                    raise _StopForward
            return out if name in self.replace else None
        return hook

    def __enter__(self) -> Capture:
        self._hooks.enter_context(forward_hooks(  # registered all or none: forward_hooks removes them on failure
            (self._modules[name], self._hook(name)) for name in dict.fromkeys([*self.names, *self.replace])))
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this capture registered (idempotent)."""
        self._hooks.close()

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """``model(*args)``; clears earlier outputs. Returns the model output, or None if stopped early."""
        self.outputs.clear()
        self.inputs.clear()
        try:
            return self.model(*args, **kwargs)
        except _StopForward:
            return None


def capture(model: nn.Module, modules: Sequence[str], x: torch.Tensor, *, inputs: bool = False,
            stop_early: bool = True) -> dict[str, torch.Tensor]:
    """Outputs of ``modules`` for input ``x`` in one (possibly shortened) forward pass without gradients.

    x: (N, C, H, W) on the model's device -> {module path: output tensor}. The model is put in eval mode for the
    call and restored; hooks are gone afterwards, also when the forward raises.
    """
    with eval_mode(model), Capture(model, modules, inputs=inputs, stop_early=stop_early) as cap, torch.no_grad():
        cap.run(x)
    out = dict(cap.outputs)
    if inputs:
        out.update({f"{k}:input": v for k, v in cap.inputs.items()})
    return out


def hook_count(model: nn.Module) -> int:
    """Forward (pre-)hooks currently registered on ``model``'s modules (0 when every capture cleaned up)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ---------------------------------------------------------------------------------------- fx nodes


class NodeRunner:
    """The traced graph ``gm`` cut at one node: ``runner(x)`` -> that node's output, no later layer computed."""

    def __init__(self, gm: fx.GraphModule, node: str) -> None:
        self.node = node
        self.sub = truncate(gm, node)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> the node's output (N, ...) in eval mode, without gradients."""
        with eval_mode(self.sub), torch.no_grad():
            out = self.sub(x)
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"expected node {self.node} to output a tensor, got {type(out).__name__}")
        return out


def node_output(gm: fx.GraphModule, node: str, x: torch.Tensor) -> torch.Tensor:
    """Output of fx node ``node`` of the traced model ``gm`` for ``x`` (N, C, H, W) (see :class:`NodeRunner`)."""
    return NodeRunner(gm, node)(x)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block, its previous mode restored after (also on error).

    A model already in eval mode (the usual case: zoo models are built in eval mode) is left alone, which saves
    walking every module twice per call."""
    if not model.training:
        yield model
        return
    model.eval()
    try:
        yield model
    finally:
        model.train(True)
