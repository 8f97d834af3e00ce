"""torch.fx graphs of models: tracing (with torchvision's leaf-aware tracer as fallback), per-node output shapes
computed on the meta device, node helpers, and truncation of a graph at one node."""
from __future__ import annotations

import threading
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from vizcore.core.meta import shape_only

# ------------------------------------------------------------------------------------------- tracing


_TRACE_LOCK = threading.Lock()  # one trace at a time: each patches nn.Module.__call__ for the whole process


class _OwnThreadOnly:
    """A tracer that records only the module calls of the thread tracing.

    ``torch.fx`` traces by patching ``nn.Module.__call__`` and ``__getattr__`` process-wide for as long as the
    trace runs. On a server, another session's ordinary forward pass running at that moment went through this
    tracer and failed ("module is not installed as a submodule"); calls from other threads now run unchanged.
    """

    _tracing_thread: int | None = None

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:
        with _TRACE_LOCK:
            self._tracing_thread = threading.get_ident()
            try:
                return super().trace(root, concrete_args)  # type: ignore[misc]
            finally:
                self._tracing_thread = None

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        if threading.get_ident() != self._tracing_thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)  # type: ignore[misc]

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        if threading.get_ident() != self._tracing_thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)  # type: ignore[misc]


class _Tracer(_OwnThreadOnly, fx.Tracer):
    pass


def _path_tracer() -> fx.Tracer:
    from torchvision.models.feature_extraction import NodePathTracer

    class _PathTracer(_OwnThreadOnly, NodePathTracer):
        pass

    return _PathTracer()


def trace(model: nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace`` the model; on failure retry with torchvision's leaf-aware tracer.

    torchvision's feature-extraction tracer keeps the module paths (``NodePathTracer``) and treats
    control-flow helpers as leaves; a model neither can trace is reported, not guessed. Safe while other
    threads run the same or other models (see :class:`_OwnThreadOnly`).
    """
    if isinstance(model, fx.GraphModule):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    try:
        tracer: fx.Tracer = _Tracer()
        graph = tracer.trace(model)
        return fx.GraphModule(tracer.root, graph, type(model).__name__)
    except Exception as first:  # fx raises TraceError, TypeError, NotImplementedError... on dynamic code
        try:
            tracer = _path_tracer()
            graph = tracer.trace(model)
            return fx.GraphModule(tracer.root, graph, type(model).__name__)
        except Exception:
            raise ValueError(f"expected a model torch.fx can trace, got {type(model).__name__}: "
                             f"{type(first).__name__}: {' '.join(str(first).split())[:160]}") from None


def node_scope(node: fx.Node) -> str | None:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    return str(path) or None


# ------------------------------------------------------------------------------------------- geometry


def meta_shape(node: fx.Node) -> tuple[int, ...] | None:
    shape = node.meta.get("rf_shape")
    return shape if shape is not None and all(isinstance(d, int) for d in shape) else None


def node_arg(node: fx.Node, idx: int, name: str, default: Any) -> Any:
    if len(node.args) > idx:
        return node.args[idx]
    return node.kwargs.get(name, default)


def op_name(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    return getattr(node.target, "__name__", str(node.target))


class _Shapes(fx.Interpreter):
    """Runs the graph once and stores each node's output shape in ``node.meta["rf_shape"]``."""

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception as exc:  # name the layer that refused the size, in one line
            where = f"{n.target} ({type(self.module.get_submodule(str(n.target))).__name__})" \
                if n.op == "call_module" else n.name
            msg = " ".join(str(exc).split()).split(" While executing")[0]
            raise ValueError(f"{where}: {msg[:160]}") from None
        if isinstance(result, torch.Tensor):
            n.meta["rf_shape"] = tuple(int(d) for d in result.shape)
        elif isinstance(result, (tuple, list)) and result and all(isinstance(r, torch.Tensor) for r in result):
            n.meta["rf_shape"] = tuple(tuple(int(d) for d in r.shape) for r in result)
        return result


def propagate_shapes(gm: fx.GraphModule, size: tuple[int, ...], shapes: str) -> None:
    """Store every node's output shape for one input of ``size`` = (C, H, W) in ``node.meta["rf_shape"]``.

    shapes="meta": torch's own shape rules on the meta device (no arithmetic, ~10x faster than a real forward);
    the model's real weights are swapped for meta tensors during the call with ``torch.func.functional_call``,
    so the model itself is never changed. Anything else: one real forward on the model's device.
    """
    p = next(iter(gm.parameters()), None)
    dtype = p.dtype if p is not None else torch.float32
    on_meta = p is not None and p.device.type == "meta"
    if shapes == "meta" or on_meta:
        x = torch.zeros((1, *size), dtype=dtype, device="meta")
        state = {k: torch.empty_like(v, device="meta") for k, v in [*gm.named_parameters(), *gm.named_buffers()]}
        with torch.no_grad(), shape_only():
            torch.func.functional_call(_ShapeRun(gm), {f"gm.{k}": v for k, v in state.items()}, (x,))
        return
    dev = p.device if p is not None else torch.device("cpu")
    with torch.no_grad():
        _Shapes(gm).run(torch.zeros((1, *size), dtype=dtype, device=dev))


class _ShapeRun(nn.Module):
    """Wraps the shape interpreter as a module, so functional_call can swap the graph's tensors around it."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__()
        self.gm = gm

    def forward(self, x: torch.Tensor) -> Any:
        return _Shapes(self.gm).run(x)


def truncate(gm: fx.GraphModule, node: str) -> fx.GraphModule:
    """A GraphModule computing the model only up to ``node`` (its output), dead branches removed."""
    graph = fx.Graph(owning_module=gm)  # the purity check of dead-code removal looks the layers up in gm
    env: dict[fx.Node, fx.Node] = {}
    target = None
    for n in gm.graph.nodes:
        if n.op == "output":
            break
        env[n] = graph.node_copy(n, lambda a: env[a])
        if n.name == node:
            target = env[n]
            break
    if target is None:
        raise ValueError(f"expected a node of this graph, got {node!r}")
    graph.output(target)
    graph.eliminate_dead_code()  # side branches computed before the node but not feeding it
    return fx.GraphModule(gm, graph)  # compiles the code once, for the graph as cut
