"""Receptive-field rules per layer kind: the geometry a graph node carries and how each kind of node changes it.

A node's :class:`Geo` holds, per spatial axis, the field size R, the jump S and the effective padding P of
Araujo, Norris, Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019; a layer with
kernel k, stride s, padding p and dilation d maps (R, S, P) to ``(R + d(k-1) S, S s, P + p S)``. Each kind of
torch.fx node (a module call, a function call, a method call) has one small rule, found in a table by module type,
function or method name, as :mod:`vizcore.arch.spec` finds its per-keyword parsers. :func:`node_geo` applies the
rule of one node; :func:`vizcore.arch.receptive_field.analyze` walks the graph with it.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from vizcore.arch.graph import meta_shape, node_arg

# ------------------------------------------------------------------------------------------- layer kinds

# Layers that act on each position separately (or only across channels): the field passes through.
PASS_MODULES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LocalResponseNorm,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus,
    nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.Identity,
)
PASS_FUNCTIONS: set[Any] = {
    F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid,
    F.hardtanh, F.sigmoid, F.tanh, F.softplus, F.dropout, F.dropout2d, F.batch_norm, F.local_response_norm,
    torch.relu, torch.sigmoid, torch.tanh, torch.clamp, torch.clone, torch.neg, torch.abs, torch.exp,
    operator.neg, operator.pos,
}
try:  # torchvision's stochastic depth drops whole samples: no spatial effect
    from torchvision.ops import StochasticDepth, stochastic_depth

    PASS_MODULES += (StochasticDepth,)
    PASS_FUNCTIONS.add(stochastic_depth)
except ImportError:  # pragma: no cover - torchvision is a dependency
    pass
PASS_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "clamp", "clamp_", "contiguous", "clone",
                 "detach", "float", "double", "half", "to", "abs", "neg", "exp"}
# Element-wise binary operations and channel concatenation: fields of the operands merge.
MERGE_FUNCTIONS: set[Any] = {operator.add, operator.iadd, operator.sub, operator.isub, operator.mul,
                              operator.imul, operator.truediv, operator.itruediv, torch.add, torch.sub,
                              torch.mul, torch.div, torch.cat, torch.concat, torch.maximum, torch.minimum}
MERGE_METHODS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "expand_as"}
MUL_TARGETS: set[Any] = {operator.mul, operator.imul, torch.mul, "mul", "mul_"}
# Activations that the positive-path copy turns into the identity (they could zero or flip a path).
ACT_FUNCTIONS = PASS_FUNCTIONS - {torch.clone}


@dataclass(frozen=True)
class Geo:
    """A node's field per axis (height, width): size R, jump S, effective padding P, and what merges left."""

    r: tuple[int, int]
    s: tuple[int, int]
    p: tuple[int, int]
    aligned: bool = True
    ctx: bool = False
    hw: tuple[int, int] | None = None  # spatial size of the map this geometry belongs to (None: no map)
    reach: tuple[int, int] = (1 << 30, 1 << 30)  # last input row/column any unit of the map's inputs sees

    def reach_of_map(self) -> tuple[int, int]:
        """Last input pixel some unit of this map sees: floor-mode layers can leave trailing rows unseen."""
        if self.hw is None:
            return self.reach
        return tuple(min(self.reach[a], -self.p[a] + (self.hw[a] - 1) * self.s[a] + self.r[a] - 1)
                     for a in (0, 1))  # type: ignore[return-value]

    def conv(self, k: Sequence[int], s: Sequence[int], p: Sequence[int], d: Sequence[int] = (1, 1)) -> Geo:
        r = tuple(self.r[a] + d[a] * (k[a] - 1) * self.s[a] for a in (0, 1))
        j = tuple(self.s[a] * s[a] for a in (0, 1))
        pp = tuple(self.p[a] + p[a] * self.s[a] for a in (0, 1))
        return Geo(r, j, pp, self.aligned, self.ctx, None, self.reach_of_map())  # type: ignore[arg-type]

    def whole(self) -> Geo:
        """The union of the fields of every unit of the map: a kernel as large as the map, no padding."""
        if self.hw is None:
            return self
        return self.conv(self.hw, self.hw, (0, 0))

    @property
    def centre0(self) -> tuple[float, float]:
        return tuple(-self.p[a] + (self.r[a] - 1) / 2 for a in (0, 1))  # type: ignore[return-value]


def pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return (int(v), int(v))


def _conv_padding(padding: Any, k: tuple[int, int], d: tuple[int, int]) -> tuple[int, int]:
    if padding == "valid":
        return (0, 0)
    if padding == "same":  # torch puts the smaller half of an odd total on the top/left
        return tuple(d[a] * (k[a] - 1) // 2 for a in (0, 1))  # type: ignore[return-value]
    return pair(padding)


def _merge(geos: list[Geo], out_hw: tuple[int, int] | None) -> Geo:
    """Union of operand fields; operands broadcast from a smaller map (SE gates) only add context."""
    local = [g for g in geos if out_hw is None or g.hw == out_hw]
    ctx = any(g.ctx for g in geos) or len(local) < len(geos)
    if not local:  # everything broadcast: keep the largest
        local = geos
    s = tuple(max(g.s[a] for g in local) for a in (0, 1))
    start = tuple(min(-g.p[a] for g in local) for a in (0, 1))
    end = tuple(max(-g.p[a] + g.r[a] - 1 for g in local) for a in (0, 1))
    same_stride = all(g.s == local[0].s for g in local)
    same_centre = all(g.centre0 == local[0].centre0 for g in local)
    aligned = all(g.aligned for g in local) and same_stride and same_centre
    r = tuple(end[a] - start[a] + 1 for a in (0, 1))
    reach = tuple(max(g.reach[a] for g in local) for a in (0, 1))
    return Geo(r, s, (-start[0], -start[1]), aligned, ctx, None, reach)  # type: ignore[arg-type]


def _adaptive(g: Geo, out: Any, hw: tuple[int, int]) -> Geo:
    o = list(pair(out)) if out is not None else list(hw)
    o = [hw[a] if o[a] is None else o[a] for a in (0, 1)]
    k, s, uniform = [1, 1], [1, 1], True
    for a in (0, 1):
        n, m = hw[a], o[a]
        if m == n:
            continue
        if n % m == 0:
            k[a] = s[a] = n // m
            continue
        # uneven windows (PyTorch: floor(i*n/m) .. ceil((i+1)*n/m)): report the widest one
        widths = [math.ceil((i + 1) * n / m) - (i * n) // m for i in range(m)]
        k[a], s[a], uniform = max(widths), max(1, n // m), False
    out_geo = g.conv(k, s, (0, 0))
    return out_geo if uniform else Geo(out_geo.r, out_geo.s, out_geo.p, False, out_geo.ctx, None, out_geo.reach)


def tensor_inputs(node: fx.Node, geo: dict[str, Geo]) -> list[Geo]:
    found: list[Geo] = []

    def visit(a: Any) -> None:
        if isinstance(a, fx.Node) and a.name in geo:
            found.append(geo[a.name])
        elif isinstance(a, (list, tuple)):
            for b in a:
                visit(b)

    for a in list(node.args) + list(node.kwargs.values()):
        visit(a)
    return found


def _unsupported(node: fx.Node, what: str) -> ValueError:
    return ValueError(f"expected layers with a known receptive-field rule, got {what} at node {node.name}")


# ------------------------------------------------------------------------------------------- one rule per kind


@dataclass(frozen=True)
class _At:
    """What a rule sees of one node: the node, its layer (module calls), its inputs' geometry, its output shape."""

    node: fx.Node
    module: nn.Module | None  # the called layer (call_module), else None
    ins: list[Geo]  # geometry of the tensor inputs, in argument order (at least one)
    shape: tuple[int, ...]  # output shape, with the batch axis

    @property
    def first(self) -> Geo:
        return self.ins[0]

    @property
    def in_hw(self) -> tuple[int, int] | None:
        return self.first.hw

    @property
    def out_hw(self) -> tuple[int, int] | None:
        return (self.shape[2], self.shape[3]) if len(self.shape) == 4 else None


Rule = Callable[[_At], Geo]


def _passes(a: _At) -> Geo:
    return a.first


def _conv_layer(a: _At) -> Geo:
    m: Any = a.module
    k, d = pair(m.kernel_size), pair(m.dilation)
    return a.first.conv(k, pair(m.stride), _conv_padding(m.padding, k, d), d)


def _pool_layer(a: _At) -> Geo:
    m: Any = a.module
    k = pair(m.kernel_size)
    d = pair(getattr(m, "dilation", 1))
    return a.first.conv(k, pair(m.stride if m.stride is not None else k), pair(m.padding), d)


def _adaptive_layer(a: _At) -> Geo:
    m: Any = a.module
    return _adaptive(a.first, m.output_size, a.in_hw) if a.in_hw else a.first


def _flatten_layer(a: _At) -> Geo:
    return a.first.whole() if a.out_hw is None else a.first


def _linear_layer(a: _At) -> Geo:
    if a.in_hw is not None:  # Linear on a map mixes along the last (width) axis only: not supported
        raise _unsupported(a.node, "Linear applied to a spatial map")
    return a.first


def _merges(a: _At) -> Geo:
    if a.node.target in (torch.cat, torch.concat):
        dim = node_arg(a.node, 1, "dim", 0)
        if len(a.shape) == 4 and dim not in (1, -3):
            raise _unsupported(a.node, f"concatenation along dim {dim} (only channels keep geometry)")
    return _merge(a.ins, a.out_hw)


def _pool_function(a: _At) -> Geo:
    node = a.node
    k = pair(node_arg(node, 1, "kernel_size", 1))
    s = node_arg(node, 2, "stride", None)
    d = pair(node_arg(node, 4, "dilation", 1)) if node.target is F.max_pool2d else (1, 1)
    return a.first.conv(k, pair(s if s not in (None, [], ()) else k), pair(node_arg(node, 3, "padding", 0)), d)


def _adaptive_function(a: _At) -> Geo:
    return _adaptive(a.first, node_arg(a.node, 1, "output_size", 1), a.in_hw) if a.in_hw else a.first


def _conv_function(a: _At) -> Geo:
    node = a.node
    w = meta_shape(node.args[1]) if isinstance(node.args[1], fx.Node) else None
    if w is None:
        raise _unsupported(node, "conv2d with an unknown weight shape")
    k, d = (w[2], w[3]), pair(node_arg(node, 5, "dilation", 1))
    return a.first.conv(k, pair(node_arg(node, 3, "stride", 1)), _conv_padding(node_arg(node, 4, "padding", 0), k, d), d)


def _flattens(a: _At) -> Geo:
    if a.out_hw is not None and a.out_hw == a.in_hw:
        return a.first
    return a.first.whole()  # the spatial axes are gone: every output sees the union of the whole map


def _getitem(a: _At) -> Geo:
    if a.out_hw is not None and a.in_hw is not None and a.out_hw != a.in_hw:
        raise _unsupported(a.node, "spatial slicing")
    return a.first


def _table(*groups: tuple[Iterable[Any], Rule]) -> dict[Any, Rule]:
    """Key -> rule; a key listed in several groups keeps the first group's rule."""
    out: dict[Any, Rule] = {}
    for keys, rule in groups:
        for key in keys:
            out.setdefault(key, rule)
    return out


# Layer types in the order they are tried (isinstance: a subclass takes its first listed base's rule).
MODULE_RULES: tuple[tuple[tuple[type[nn.Module], ...], Rule], ...] = (
    (PASS_MODULES, _passes),
    ((nn.Conv2d,), _conv_layer),
    ((nn.MaxPool2d, nn.AvgPool2d), _pool_layer),
    ((nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), _adaptive_layer),
    ((nn.Flatten,), _flatten_layer),
    ((nn.Linear,), _linear_layer),
)
FUNCTION_RULES: dict[Any, Rule] = _table(
    (PASS_FUNCTIONS, _passes),
    (MERGE_FUNCTIONS, _merges),
    ((F.max_pool2d, F.avg_pool2d), _pool_function),
    ((F.adaptive_avg_pool2d, F.adaptive_max_pool2d), _adaptive_function),
    ((F.conv2d,), _conv_function),
    ((torch.flatten, F.linear), _flattens),
    ((operator.getitem,), _getitem),
)
METHOD_RULES: dict[str, Rule] = _table(
    (PASS_METHODS, _passes),
    (MERGE_METHODS, _merges),
    (("flatten", "view", "reshape", "mean", "sum", "amax"), _flattens),
)


def _rule(node: fx.Node, module: nn.Module | None) -> Rule:
    """The rule of a call node; ValueError for a kind without one."""
    t = node.target
    if module is not None:
        for types, rule in MODULE_RULES:
            if isinstance(module, types):
                return rule
        raise _unsupported(node, type(module).__name__)
    found = METHOD_RULES.get(t) if isinstance(t, str) else FUNCTION_RULES.get(t)
    if found is None:
        raise _unsupported(node, getattr(t, "__name__", str(t)))
    return found


def node_geo(node: fx.Node, gm: fx.GraphModule, geo: dict[str, Geo], shape: tuple[int, ...]) -> Geo | None:
    """The geometry of one node from its inputs' geometry (``geo``: node name -> Geo so far), or None for
    non-tensor values (sizes, shapes) and non-call nodes. ``shape``: the node's output shape."""
    ins = tensor_inputs(node, geo)
    if not ins or node.op not in ("call_module", "call_function", "call_method"):
        return None
    module = gm.get_submodule(str(node.target)) if node.op == "call_module" else None
    at = _At(node, module, ins, shape)
    g = _rule(node, module)(at)
    return Geo(g.r, g.s, g.p, g.aligned, g.ctx, at.out_hw, g.reach)
