"""Receptive fields: which input pixels a unit of a CNN layer can see, exactly, for branching networks.

The analytic field follows Araujo, Norris, Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019. Per spatial axis every node carries three numbers:

* ``size`` R — how many input pixels one unit spans,
* ``stride`` S (the "jump") — how far the field moves in input pixels when the unit moves by one,
* ``padding`` P (effective padding) — how far the field of unit 0 starts before the first input pixel,

so unit ``i`` sees input pixels ``[-P + i*S, -P + i*S + R - 1]`` and its centre is ``-P + i*S + (R-1)/2``.
A layer with kernel k, stride s, padding p and dilation d maps (R, S, P) to
``(R + d(k-1) S, S s, P + p S)``. The graph comes from ``torch.fx`` so residual additions, Inception and
DenseNet concatenations and squeeze-and-excitation multiplications are all followed: at a merge the field is
the union of the paths' fields (equal to the largest one when their centres agree), and ``aligned`` turns
False when paths disagree on stride or centre. A squeeze-and-excitation gate (Hu et al., 2018) is computed from
a global average, so every later unit depends on the whole image through it; the field reported is the local
(convolutional-path) one and ``global_context`` says that the gate adds whole-image context.

:mod:`vizcore.arch.rf_measured` checks this formula by gradients and measures the effective receptive field.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from vizcore.arch.graph import meta_shape, node_arg, node_scope, op_name, propagate_shapes, trace

Box = tuple[int, int, int, int]  # (top, left, bottom, right), inclusive pixel indices

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


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UnitBox:
    """The input window of one output unit (i, j), in input pixels (inclusive, before and after clipping)."""

    unit: tuple[int, int]  # (row, column) of the unit in the node's feature map
    box: Box  # (top, left, bottom, right) before clipping; may reach into the padding
    clipped: Box  # the same box clipped to the image
    centre: tuple[float, float]  # (y, x) = -P + i*S + (R-1)/2 per axis

    def to_dict(self) -> dict[str, Any]:
        return {"unit": list(self.unit), "box": list(self.box), "clipped": list(self.clipped),
                "centre": list(self.centre)}


@dataclass(frozen=True)
class NodeField:
    """The receptive field of one graph node, per axis (height, width).

    ``spatial`` nodes output (C, H, W) maps; the others (after flatten/linear) see the whole input, reported
    as the union of the fields of every unit of the map they flatten.
    """

    node: str  # torch.fx node name (unique, execution order)
    op: str  # layer type or function name: Conv2d, MaxPool2d, add, cat, ...
    module: str | None  # module path of the layer, or of the innermost module the call happens in
    out_shape: tuple[int, ...]  # output shape without the batch axis
    size: tuple[int, int]  # R per axis, input pixels
    stride: tuple[int, int]  # S (jump) per axis, input pixels per unit
    padding: tuple[int, int]  # effective padding P per axis, input pixels
    aligned: bool  # False when a merge on the way combined paths with different stride or centre
    global_context: bool  # True after an SE-style gate: whole-image context beyond ``size``
    spatial: bool  # True when the output is a (C, H, W) map with units to pick
    is_layer: bool = True  # True for a module call (``module`` is the layer), False for a function/method
    reach: tuple[int, int] = (1 << 30, 1 << 30)  # last input row/column the node's inputs ever see (floor mode)

    @property
    def map_size(self) -> tuple[int, int] | None:
        return (self.out_shape[-2], self.out_shape[-1]) if self.spatial else None

    def unit_box(self, i: int, j: int, image_hw: tuple[int, int]) -> UnitBox:
        """The input box of unit (i, j); ``image_hw`` clips it to the image (and to ``reach``: rows that
        floor-mode layers dropped are not seen even when the box spans them)."""
        if not self.spatial:
            raise ValueError(f"expected a node with a spatial feature map, got {self.node} with shape "
                             f"{list(self.out_shape)}")
        h, w = self.map_size  # type: ignore[misc]
        if not (isinstance(i, (int, np.integer)) and isinstance(j, (int, np.integer))) or not (0 <= i < h and 0 <= j < w):
            raise ValueError(f"expected a unit with 0 <= i < {h} and 0 <= j < {w}, got ({i}, {j})")
        lo = [-self.padding[a] + (i, j)[a] * self.stride[a] for a in (0, 1)]
        hi = [lo[a] + self.size[a] - 1 for a in (0, 1)]
        box = (lo[0], lo[1], hi[0], hi[1])
        end = [min(hi[a], image_hw[a] - 1, self.reach[a]) for a in (0, 1)]
        clipped = (max(lo[0], 0), max(lo[1], 0), end[0], end[1])
        centre = tuple(lo[a] + (self.size[a] - 1) / 2 for a in (0, 1))
        return UnitBox((int(i), int(j)), box, clipped, centre)  # type: ignore[arg-type]

    def record(self) -> dict[str, Any]:
        """The CLI record: node, op, module, size, stride, padding, out_shape, aligned, global_context."""
        return {"node": self.node, "op": self.op, "module": self.module, "size": list(self.size),
                "stride": list(self.stride), "padding": list(self.padding), "out_shape": list(self.out_shape),
                "aligned": self.aligned, "global_context": self.global_context}


@dataclass(frozen=True)
class FieldTable:
    """Receptive fields of every tensor-valued node of a model, in execution order."""

    input_size: tuple[int, int, int]  # (C, H, W) the shapes were propagated with
    nodes: tuple[NodeField, ...]  # execution order
    graph: fx.GraphModule | None = field(default=None, repr=False, compare=False)  # the traced model

    def names(self, spatial_only: bool = False) -> list[str]:
        return [n.node for n in self.nodes if n.spatial or not spatial_only]

    def resolve(self, name: str) -> NodeField:
        """A node by fx name, by layer path (``features.28``), or by container path (``layer4``: its last node)."""
        for n in self.nodes:
            if n.node == name:
                return n
        calls = [n for n in self.nodes if n.module == name and n.is_layer]
        if len(calls) == 1:
            return calls[0]
        if len(calls) > 1:
            raise ValueError(f"expected one call of layer {name!r}, got {len(calls)}: "
                             f"pick one of {', '.join(c.node for c in calls)}")
        inside = [n for n in self.nodes if n.module and (n.module == name or n.module.startswith(name + "."))]
        if inside:
            return inside[-1]
        some = ", ".join(self.names()[:6])
        raise ValueError(f"expected a node name or module path of this model (e.g. {some}, ...), got {name!r}")

    def records(self) -> list[dict[str, Any]]:
        return [n.record() for n in self.nodes]


@dataclass(frozen=True)
class _Geo:
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

    def conv(self, k: Sequence[int], s: Sequence[int], p: Sequence[int], d: Sequence[int] = (1, 1)) -> _Geo:
        r = tuple(self.r[a] + d[a] * (k[a] - 1) * self.s[a] for a in (0, 1))
        j = tuple(self.s[a] * s[a] for a in (0, 1))
        pp = tuple(self.p[a] + p[a] * self.s[a] for a in (0, 1))
        return _Geo(r, j, pp, self.aligned, self.ctx, None, self.reach_of_map())  # type: ignore[arg-type]

    def whole(self) -> _Geo:
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


def _merge(geos: list[_Geo], out_hw: tuple[int, int] | None) -> _Geo:
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
    return _Geo(r, s, (-start[0], -start[1]), aligned, ctx, None, reach)  # type: ignore[arg-type]


def _adaptive(g: _Geo, out: Any, hw: tuple[int, int]) -> _Geo:
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
    return out_geo if uniform else _Geo(out_geo.r, out_geo.s, out_geo.p, False, out_geo.ctx, None, out_geo.reach)


def _tensor_inputs(node: fx.Node, geo: dict[str, _Geo]) -> list[_Geo]:
    found: list[_Geo] = []

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


def _node_geo(node: fx.Node, gm: fx.GraphModule, geo: dict[str, _Geo], shape: tuple[int, ...]) -> _Geo | None:  # noqa: C901 - one rule per layer kind
    """The geometry of one node from its inputs' geometry, or None for non-tensor values (sizes, shapes)."""
    ins = _tensor_inputs(node, geo)
    if not ins:
        return None
    out_hw = (shape[2], shape[3]) if len(shape) == 4 else None
    first = ins[0]
    in_hw = first.hw
    t = node.target
    if node.op == "call_module":
        m = gm.get_submodule(str(t))
        if isinstance(m, PASS_MODULES):
            g = first
        elif isinstance(m, nn.Conv2d):
            k, d = pair(m.kernel_size), pair(m.dilation)
            g = first.conv(k, pair(m.stride), _conv_padding(m.padding, k, d), d)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = pair(m.kernel_size)
            d = pair(getattr(m, "dilation", 1))
            g = first.conv(k, pair(m.stride if m.stride is not None else k), pair(m.padding), d)
        elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            g = _adaptive(first, m.output_size, in_hw) if in_hw else first
        elif isinstance(m, nn.Flatten):
            g = first.whole() if out_hw is None else first
        elif isinstance(m, nn.Linear):
            if in_hw is not None:  # Linear on a map mixes along the last (width) axis only: not supported
                raise _unsupported(node, "Linear applied to a spatial map")
            g = first
        else:
            raise _unsupported(node, type(m).__name__)
    elif node.op in ("call_function", "call_method"):
        name = t if isinstance(t, str) else None
        if t in PASS_FUNCTIONS or name in PASS_METHODS:
            g = first
        elif t in MERGE_FUNCTIONS or name in MERGE_METHODS:
            if t in (torch.cat, torch.concat):
                dim = node_arg(node, 1, "dim", 0)
                if len(shape) == 4 and dim not in (1, -3):
                    raise _unsupported(node, f"concatenation along dim {dim} (only channels keep geometry)")
            g = _merge(ins, out_hw)
        elif t is F.max_pool2d or t is F.avg_pool2d:
            k = pair(node_arg(node, 1, "kernel_size", 1))
            s = node_arg(node, 2, "stride", None)
            d = pair(node_arg(node, 4, "dilation", 1)) if t is F.max_pool2d else (1, 1)
            g = first.conv(k, pair(s if s not in (None, [], ()) else k), pair(node_arg(node, 3, "padding", 0)), d)
        elif t in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            g = _adaptive(first, node_arg(node, 1, "output_size", 1), in_hw) if in_hw else first
        elif t is F.conv2d:
            w = meta_shape(node.args[1]) if isinstance(node.args[1], fx.Node) else None
            if w is None:
                raise _unsupported(node, "conv2d with an unknown weight shape")
            k, d = (w[2], w[3]), pair(node_arg(node, 5, "dilation", 1))
            g = first.conv(k, pair(node_arg(node, 3, "stride", 1)), _conv_padding(node_arg(node, 4, "padding", 0), k, d), d)
        elif t in (torch.flatten, F.linear) or name in ("flatten", "view", "reshape", "mean", "sum", "amax"):
            if out_hw is not None and out_hw == in_hw:
                g = first
            else:  # the spatial axes are gone: every output sees the union of the whole map
                g = first.whole()
        elif t is operator.getitem:
            if out_hw is not None and in_hw is not None and out_hw != in_hw:
                raise _unsupported(node, "spatial slicing")
            g = first
        else:
            raise _unsupported(node, getattr(t, "__name__", str(t)))
    else:
        return None
    return _Geo(g.r, g.s, g.p, g.aligned, g.ctx, out_hw, g.reach)


def analyze(model: nn.Module, input_size: Sequence[int], shapes: str = "meta") -> FieldTable:
    """Receptive field of every tensor node of ``model`` for inputs of ``input_size`` = (C, H, W).

    Traces with torch.fx, propagates shapes through the traced graph with an input of ``input_size``
    (``shapes="meta"``: torch's shape rules on the meta device, no arithmetic; ``"real"``: a real forward
    pass with zeros) and applies the Distill recurrences node by node. Raises ValueError for layers
    without a known rule.

    >>> t = analyze(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2)), (1, 16, 16))
    >>> t.nodes[-1].size, t.nodes[-1].stride
    ((4, 4), (2, 2))
    """
    size = tuple(int(v) for v in input_size)
    if len(size) != 3 or any(v < 1 for v in size):
        raise ValueError(f"expected input_size (C, H, W) with positive entries, got {tuple(input_size)}")
    if shapes not in ("meta", "real"):
        raise ValueError(f"expected shapes 'meta' or 'real', got {shapes!r}")
    gm = trace(model)
    was_training = gm.training
    gm.eval()
    try:
        propagate_shapes(gm, size, shapes)
    except Exception as exc:  # a too-small input makes some layer fail: say which size
        raise ValueError(f"expected an input size this model accepts, got {size}: "
                         f"{' '.join(str(exc).split())[:200]}") from None
    finally:
        gm.train(was_training)
    geo: dict[str, _Geo] = {}
    out: list[NodeField] = []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if not geo:  # the image; further placeholders (none in the zoo) carry no geometry
                geo[node.name] = _Geo((1, 1), (1, 1), (0, 0), hw=(size[1], size[2]), reach=(size[1] - 1, size[2] - 1))
            continue
        if node.op in ("output", "get_attr"):
            continue
        shape = meta_shape(node)
        if shape is None:  # sizes, tuples: follow tuples of tensors as one value
            if node.meta.get("rf_shape"):
                ins = _tensor_inputs(node, geo)
                if ins:
                    geo[node.name] = ins[0]
            continue
        g = _node_geo(node, gm, geo, shape)
        if g is None:
            continue
        geo[node.name] = g
        out.append(NodeField(node.name, op_name(node, gm), node_scope(node), shape[1:], g.r, g.s, g.p, g.aligned,
                             g.ctx, len(shape) == 4, node.op == "call_module", g.reach))
    return FieldTable(size, tuple(out), gm)


# ------------------------------------------------------------------------------------------- zoo helpers


def zoo_fields(name: str, input_size: Sequence[int] | None = None) -> FieldTable:
    """:func:`analyze` a zoo model (``vizcore.models.registry``) at its own input size unless ``input_size`` is given.

    Geometry needs no weights, so the model is built on the meta device (no memory, no initialisation);
    use :func:`analyze` on a real model for :func:`gradient_extent` and :func:`effective_field`.
    """
    from vizcore.models import registry as zoo

    entry = zoo.get_entry(name)
    try:
        with torch.device("meta"):
            model = zoo.build_model(name)
    except (RuntimeError, NotImplementedError):  # a builder that reads its own initial values needs real memory
        model = zoo.build_model(name)
    return analyze(model, tuple(input_size) if input_size is not None else entry.input_size)
