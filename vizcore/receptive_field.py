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

Two measurements check and complement the formula:

* :func:`gradient_extent` back-propagates one unit (all channels at that position) through a *positive-path*
  copy of the network — max-pooling swapped for average pooling with the same geometry, activations and
  batch norm replaced by the identity, all weights positive, SE gates held constant — so no path can cancel
  and the non-zero input gradient covers exactly the theoretical field.
* :func:`effective_field` is the effective receptive field of Luo, Li, Urtasun, Zemel, "Understanding the
  Effective Receptive Field in Deep Convolutional Neural Networks", NeurIPS 2016: the mean absolute input
  gradient of one unit for the model's current weights, averaged over several inputs.
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
from numpy.typing import NDArray
from torch import nn

Box = tuple[int, int, int, int]  # (top, left, bottom, right), inclusive pixel indices

# ------------------------------------------------------------------------------------------- layer kinds

# Layers that act on each position separately (or only across channels): the field passes through.
_PASS_MODULES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LocalResponseNorm,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus,
    nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.Identity,
)
_PASS_FUNCTIONS: set[Any] = {
    F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid,
    F.hardtanh, F.sigmoid, F.tanh, F.softplus, F.dropout, F.dropout2d, F.batch_norm, F.local_response_norm,
    torch.relu, torch.sigmoid, torch.tanh, torch.clamp, torch.clone, torch.neg, torch.abs, torch.exp,
    operator.neg, operator.pos,
}
try:  # torchvision's stochastic depth drops whole samples: no spatial effect
    from torchvision.ops import StochasticDepth, stochastic_depth

    _PASS_MODULES += (StochasticDepth,)
    _PASS_FUNCTIONS.add(stochastic_depth)
except ImportError:  # pragma: no cover - torchvision is a dependency
    pass
_PASS_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "clamp", "clamp_", "contiguous", "clone",
                 "detach", "float", "double", "half", "to", "abs", "neg", "exp"}
# Element-wise binary operations and channel concatenation: fields of the operands merge.
_MERGE_FUNCTIONS: set[Any] = {operator.add, operator.iadd, operator.sub, operator.isub, operator.mul,
                              operator.imul, operator.truediv, operator.itruediv, torch.add, torch.sub,
                              torch.mul, torch.div, torch.cat, torch.concat, torch.maximum, torch.minimum}
_MERGE_METHODS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "expand_as"}
_MUL_TARGETS: set[Any] = {operator.mul, operator.imul, torch.mul, "mul", "mul_"}
# Activations that the positive-path copy turns into the identity (they could zero or flip a path).
_ACT_FUNCTIONS = _PASS_FUNCTIONS - {torch.clone}


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


# ------------------------------------------------------------------------------------------- tracing


def trace(model: nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace`` the model; on failure retry with torchvision's leaf-aware tracer.

    torchvision's feature-extraction tracer keeps the module paths (``NodePathTracer``) and treats
    control-flow helpers as leaves; a model neither can trace is reported, not guessed.
    """
    if isinstance(model, fx.GraphModule):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    try:
        return fx.symbolic_trace(model)
    except Exception as first:  # fx raises TraceError, TypeError, NotImplementedError... on dynamic code
        try:
            from torchvision.models.feature_extraction import NodePathTracer

            tracer = NodePathTracer()
            graph = tracer.trace(model)
            return fx.GraphModule(tracer.root, graph, type(model).__name__)
        except Exception:
            raise ValueError(f"expected a model torch.fx can trace, got {type(model).__name__}: "
                             f"{type(first).__name__}: {' '.join(str(first).split())[:160]}") from None


def _scope(node: fx.Node) -> str | None:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    return str(path) or None


# ------------------------------------------------------------------------------------------- geometry


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


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return (int(v), int(v))


def _conv_padding(padding: Any, k: tuple[int, int], d: tuple[int, int]) -> tuple[int, int]:
    if padding == "valid":
        return (0, 0)
    if padding == "same":  # torch puts the smaller half of an odd total on the top/left
        return tuple(d[a] * (k[a] - 1) // 2 for a in (0, 1))  # type: ignore[return-value]
    return _pair(padding)


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
    o = list(_pair(out)) if out is not None else list(hw)
    o = [hw[a] if o[a] is None else o[a] for a in (0, 1)]  # type: ignore[comparison-overlap]
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


def _tensor_meta_shape(node: fx.Node) -> tuple[int, ...] | None:
    shape = node.meta.get("rf_shape")
    return shape if shape is not None and all(isinstance(d, int) for d in shape) else None


def _arg(node: fx.Node, idx: int, name: str, default: Any) -> Any:
    if len(node.args) > idx:
        return node.args[idx]
    return node.kwargs.get(name, default)


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


def _op_name(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    return getattr(node.target, "__name__", str(node.target))


def _unsupported(node: fx.Node, what: str) -> ValueError:
    return ValueError(f"expected layers with a known receptive-field rule, got {what} at node {node.name}")


def _node_geo(node: fx.Node, gm: fx.GraphModule, geo: dict[str, _Geo], shape: tuple[int, ...]) -> _Geo | None:
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
        if isinstance(m, _PASS_MODULES):
            g = first
        elif isinstance(m, nn.Conv2d):
            k, d = _pair(m.kernel_size), _pair(m.dilation)
            g = first.conv(k, _pair(m.stride), _conv_padding(m.padding, k, d), d)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = _pair(m.kernel_size)
            d = _pair(getattr(m, "dilation", 1))
            g = first.conv(k, _pair(m.stride if m.stride is not None else k), _pair(m.padding), d)
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
        if t in _PASS_FUNCTIONS or name in _PASS_METHODS:
            g = first
        elif t in _MERGE_FUNCTIONS or name in _MERGE_METHODS:
            if t in (torch.cat, torch.concat):
                dim = _arg(node, 1, "dim", 0)
                if len(shape) == 4 and dim not in (1, -3):
                    raise _unsupported(node, f"concatenation along dim {dim} (only channels keep geometry)")
            g = _merge(ins, out_hw)
        elif t is F.max_pool2d or t is F.avg_pool2d:
            k = _pair(_arg(node, 1, "kernel_size", 1))
            s = _arg(node, 2, "stride", None)
            d = _pair(_arg(node, 4, "dilation", 1)) if t is F.max_pool2d else (1, 1)
            g = first.conv(k, _pair(s if s not in (None, [], ()) else k), _pair(_arg(node, 3, "padding", 0)), d)
        elif t in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            g = _adaptive(first, _arg(node, 1, "output_size", 1), in_hw) if in_hw else first
        elif t is F.conv2d:
            w = _tensor_meta_shape(node.args[1]) if isinstance(node.args[1], fx.Node) else None
            if w is None:
                raise _unsupported(node, "conv2d with an unknown weight shape")
            k, d = (w[2], w[3]), _pair(_arg(node, 5, "dilation", 1))
            g = first.conv(k, _pair(_arg(node, 3, "stride", 1)), _conv_padding(_arg(node, 4, "padding", 0), k, d), d)
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


def _propagate_shapes(gm: fx.GraphModule, size: tuple[int, ...], shapes: str) -> None:
    p = next(iter(gm.parameters()), None)
    dtype = p.dtype if p is not None else torch.float32
    meta = shapes == "meta" or (p is not None and p.device.type == "meta")
    if meta and not (p is not None and p.device.type == "meta"):
        try:
            from torch.nn.utils.stateless import _reparametrize_module
        except ImportError:  # pragma: no cover - a torch without the helper: real forward
            meta = False
    if meta:
        # torch's own shape rules on the meta device: no arithmetic, ~10x faster than a real forward
        x = torch.zeros((1, *size), dtype=dtype, device="meta")
        if p is not None and p.device.type == "meta":
            with torch.no_grad():
                _Shapes(gm).run(x)
            return
        state = {k: torch.empty_like(v, device="meta") for k, v in [*gm.named_parameters(), *gm.named_buffers()]}
        with _reparametrize_module(gm, state), torch.no_grad():
            _Shapes(gm).run(x)
        return
    dev = p.device if p is not None else torch.device("cpu")
    with torch.no_grad():
        _Shapes(gm).run(torch.zeros((1, *size), dtype=dtype, device=dev))


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
        _propagate_shapes(gm, size, shapes)
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
        shape = _tensor_meta_shape(node)
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
        out.append(NodeField(node.name, _op_name(node, gm), _scope(node), shape[1:], g.r, g.s, g.p, g.aligned,
                             g.ctx, len(shape) == 4, node.op == "call_module", g.reach))
    return FieldTable(size, tuple(out), gm)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- measurement


def truncate(gm: fx.GraphModule, node: str) -> fx.GraphModule:
    """A GraphModule computing the model only up to ``node`` (its output), dead branches removed."""
    graph = fx.Graph()
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
    sub = fx.GraphModule(gm, graph)
    sub.graph.eliminate_dead_code()  # side branches computed before the node but not feeding it
    sub.recompile()
    return sub


class _PositivePath(fx.Interpreter):
    """Runs a traced model as its positive-path copy in float64 (see the module docstring).

    Every convolution and linear layer gets constant weights 1/fan_in (positive, and the values stay near
    1 however deep the network), no biases; max-pooling becomes average pooling with the same window;
    activations, normalisation and dropout become the identity; a product with a broadcast operand
    (an SE gate) replaces that operand by the constant 1.
    """

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)

    def call_module(self, target: Any, args: tuple, kwargs: dict) -> Any:
        m = self.fetch_attr(target)
        x = args[0]
        if isinstance(m, _PASS_MODULES):
            return x
        if isinstance(m, nn.Conv2d):
            return _constant_conv(m, x)
        if isinstance(m, nn.Linear):  # weights 1/in_features: every output is the mean of the inputs
            return x.mean(-1, keepdim=True).expand(*x.shape[:-1], m.out_features)
        if isinstance(m, nn.MaxPool2d):
            if _pair(m.dilation) != (1, 1):
                raise ValueError(f"expected max-pooling without dilation for the gradient check, got {m}")
            return F.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode)
        if isinstance(m, nn.AdaptiveMaxPool2d):
            return F.adaptive_avg_pool2d(x, m.output_size)
        return super().call_module(target, args, kwargs)

    def call_function(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target in _ACT_FUNCTIONS or target is F.dropout:
            return args[0]
        if target is F.max_pool2d:
            k = _arg_v(args, kwargs, 1, "kernel_size", 1)
            s = _arg_v(args, kwargs, 2, "stride", None)
            return F.avg_pool2d(args[0], k, s if s not in (None, [], ()) else k, _arg_v(args, kwargs, 3, "padding", 0),
                                _arg_v(args, kwargs, 5, "ceil_mode", False))
        if target is F.adaptive_max_pool2d:
            return F.adaptive_avg_pool2d(args[0], _arg_v(args, kwargs, 1, "output_size", 1))
        if target in _MUL_TARGETS:
            args = _detach_broadcast(args)
        return super().call_function(target, args, kwargs)

    def call_method(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target in _PASS_METHODS and target not in ("contiguous", "clone", "float", "double", "half", "to"):
            return args[0]
        if target in _MUL_TARGETS:
            args = _detach_broadcast(args)
        return super().call_method(target, args, kwargs)


def _constant_conv(m: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``m`` with every weight 1/fan_in and no bias, computed as what it is: a per-group channel mean
    followed by a k x k box filter. Exact, and far faster than a float64 grouped convolution on CPU."""
    n, c, h, w = x.shape
    g = m.groups
    xg = x.view(n, g, c // g, h, w).mean(2)  # (N, G, H, W): all channels of a group weigh the same
    k, d = _pair(m.kernel_size), _pair(m.dilation)
    pad = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    if m.padding_mode != "zeros" and not isinstance(pad, str):  # reflect/replicate/circular pad first
        xg = F.pad(xg, (pad[1], pad[1], pad[0], pad[0]), mode=m.padding_mode)
        pad = (0, 0)
    if d == (1, 1) and not isinstance(pad, str) and all(2 * pad[a] <= k[a] for a in (0, 1)):
        y = F.avg_pool2d(xg, k, _pair(m.stride), pad, count_include_pad=True)
    else:
        box = torch.full((g, 1, *k), 1.0 / (k[0] * k[1]), dtype=x.dtype, device=x.device)
        y = F.conv2d(xg, box, None, _pair(m.stride), pad, d, g)
    return y.repeat_interleave(m.out_channels // g, dim=1)


def _arg_v(args: tuple, kwargs: dict, idx: int, name: str, default: Any) -> Any:
    return args[idx] if len(args) > idx else kwargs.get(name, default)


def _detach_broadcast(args: tuple) -> tuple:
    ts = [a for a in args if isinstance(a, torch.Tensor)]
    if len(ts) < 2:
        return args
    big = max(ts, key=lambda t: t.numel())
    # the gate becomes the constant 1: no gradient through the global average, no growth of the values
    return tuple(torch.ones_like(a) if isinstance(a, torch.Tensor) and a is not big and a.shape != big.shape else a
                 for a in args)


def _check_unit(nf: NodeField, unit: tuple[int, int] | None) -> tuple[int, int] | None:
    if not nf.spatial:
        return None
    h, w = nf.map_size  # type: ignore[misc]
    if unit is None:
        return ((h - 1) // 2, (w - 1) // 2)
    if len(unit) != 2 or not (0 <= unit[0] < h and 0 <= unit[1] < w):
        raise ValueError(f"expected a unit with 0 <= i < {h} and 0 <= j < {w}, got {tuple(unit)}")
    return (int(unit[0]), int(unit[1]))


def _one_unit_grad(out: torch.Tensor, unit: tuple[int, int] | None) -> torch.Tensor:
    g = torch.zeros_like(out)
    if unit is None:
        g.fill_(1.0)
    else:
        g[:, :, unit[0], unit[1]] = 1.0  # every channel: a concat mixes branches with different fields
    return g


def gradient_extent(table: FieldTable, node: str, unit: tuple[int, int] | None = None) -> Box:
    """Measured field of ``unit`` of ``node``: the bounding box of the non-zero input gradient.

    Back-propagates one position (all channels) of the node through the positive-path copy of the traced
    model (:class:`_PositivePath`) with a float64 all-ones input of ``table.input_size``. For a node without
    a spatial map every output is back-propagated. Returns (top, left, bottom, right), inclusive.
    The copy uses only the layers' hyper-parameters, so a model built on the meta device works too.
    With dilation, or a kernel smaller than its stride, the field has holes; where the image border falls in
    a hole the pixels actually reached span less than the clipped analytic box (none of the zoo does this).
    """
    if table.graph is None:
        raise ValueError("expected a FieldTable made by analyze(), got one without its traced graph")
    nf = table.resolve(node)
    unit = _check_unit(nf, unit)
    sub = truncate(table.graph, nf.node)
    p = next(iter(table.graph.parameters()), None)
    dev = p.device if p is not None and p.device.type != "meta" else torch.device("cpu")  # weights unused
    x = torch.ones((1, *table.input_size), dtype=torch.float64, device=dev, requires_grad=True)
    out = _PositivePath(sub).run(x)
    out.backward(_one_unit_grad(out, unit))
    assert x.grad is not None
    nz = (x.grad[0] != 0).any(0)
    rows = torch.nonzero(nz.any(1)).flatten()
    cols = torch.nonzero(nz.any(0)).flatten()
    if len(rows) == 0:
        raise ValueError(f"expected a unit connected to the input, got no gradient at {nf.node} {unit}")
    return (int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1]))


@dataclass(frozen=True)
class EffectiveField:
    """Effective receptive field of one unit (Luo et al., 2016) for the model's current weights."""

    node: str  # fx node name
    unit: tuple[int, int]  # (row, column) of the unit
    heatmap: NDArray[np.float64]  # (H, W) mean |d unit / d input| summed over input channels, sums to 1
    centre: tuple[float, float]  # theoretical centre (y, x) of the unit's field, input pixels
    radius95: float  # radius (pixels) around the centre holding 95% of the gradient mass
    theoretical_size: tuple[int, int]  # R per axis
    mass_in_box: float  # share of the gradient mass inside the theoretical box (1 without global context)
    n_inputs: int  # how many inputs were averaged

    def summary(self) -> dict[str, Any]:
        return {"node": self.node, "unit": list(self.unit), "centre": list(self.centre),
                "radius95": self.radius95, "theoretical_size": list(self.theoretical_size),
                "mass_in_box": self.mass_in_box, "n_inputs": self.n_inputs}


def effective_field(table: FieldTable, node: str, unit: tuple[int, int] | None = None,
                    images: torch.Tensor | None = None, n_random: int = 4, seed: int = 0,
                    mass: float = 0.95) -> EffectiveField:
    """Mean |d unit / d input| over ``images`` (N, C, H, W, already normalised) and ``n_random`` N(0, 1) inputs.

    Uses the traced model with its current weights (eval mode). The heat map is normalised to sum 1;
    ``radius95`` is the smallest Euclidean radius around the theoretical centre holding ``mass`` of it.
    """
    if table.graph is None:
        raise ValueError("expected a FieldTable made by analyze(), got one without its traced graph")
    if not (0 < mass < 1):
        raise ValueError(f"expected mass between 0 and 1, got {mass}")
    if not isinstance(n_random, int) or n_random < 0 or n_random > 256:
        raise ValueError(f"expected n_random between 0 and 256, got {n_random!r}")
    nf = table.resolve(node)
    if not nf.spatial:
        raise ValueError(f"expected a node with a spatial feature map, got {nf.node} with shape {list(nf.out_shape)}")
    unit = _check_unit(nf, unit)
    assert unit is not None
    c, h, w = table.input_size
    p = next(iter(table.graph.parameters()), None)
    dev, dt = (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)
    parts = []
    if images is not None:
        if images.ndim != 4 or tuple(images.shape[1:]) != (c, h, w):
            raise ValueError(f"expected images of shape (N, {c}, {h}, {w}), got {tuple(images.shape)}")
        parts.append(images.to(dev, dt))
    if n_random:
        gen = torch.Generator().manual_seed(seed)
        parts.append(torch.randn((n_random, c, h, w), generator=gen).to(dev, dt))
    if not parts:
        raise ValueError("expected at least one input: give images or n_random > 0")
    x = torch.cat(parts).requires_grad_(True)
    sub = truncate(table.graph, nf.node)
    was = sub.training
    sub.eval()
    try:  # autograd.grad w.r.t. the input only: a shared model's parameter .grad stays untouched
        out = sub(x)
        (grad,) = torch.autograd.grad(out, x, _one_unit_grad(out, unit))
    finally:
        sub.train(was)
    heat = grad.detach().abs().sum(1).mean(0).double().cpu().numpy()
    total = heat.sum()
    heat = heat / total if total > 0 else heat
    ub = nf.unit_box(unit[0], unit[1], (h, w))
    t, l, b, r = ub.clipped
    in_box = float(heat[t:b + 1, l:r + 1].sum()) if total > 0 else 0.0
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(yy - ub.centre[0], xx - ub.centre[1]).ravel()
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(heat.ravel()[order])
    k = int(np.searchsorted(cum, mass * cum[-1])) if total > 0 else 0
    radius = float(dist[order][min(k, len(order) - 1)])
    return EffectiveField(nf.node, unit, heat, ub.centre, radius, nf.size, in_box, int(x.shape[0]))


def feature_map(table: FieldTable, node: str, x: torch.Tensor) -> NDArray[np.float64]:
    """Mean absolute activation over channels of ``node`` for one input x: (1, C, H, W) -> (h, w)."""
    if table.graph is None:
        raise ValueError("expected a FieldTable made by analyze(), got one without its traced graph")
    nf = table.resolve(node)
    if not nf.spatial:
        raise ValueError(f"expected a node with a spatial feature map, got {nf.node} with shape {list(nf.out_shape)}")
    if x.ndim != 4 or x.shape[0] != 1 or tuple(x.shape[1:]) != table.input_size:
        raise ValueError(f"expected x of shape (1, {', '.join(map(str, table.input_size))}), got {tuple(x.shape)}")
    sub = truncate(table.graph, nf.node)
    was = sub.training
    sub.eval()
    try:
        with torch.no_grad():
            out = sub(x)
    finally:
        sub.train(was)
    return out[0].abs().mean(0).double().cpu().numpy()


# ------------------------------------------------------------------------------------------- zoo helpers


def zoo_fields(name: str, input_size: Sequence[int] | None = None) -> FieldTable:
    """:func:`analyze` a zoo model (``vizcore.zoo``) at its own input size unless ``input_size`` is given.

    Geometry needs no weights, so the model is built on the meta device (no memory, no initialisation);
    use :func:`analyze` on a real model for :func:`gradient_extent` and :func:`effective_field`.
    """
    from vizcore import zoo

    entry = zoo.get_entry(name)
    try:
        with torch.device("meta"):
            model = zoo.build_model(name)
    except (RuntimeError, NotImplementedError):  # a builder that reads its own initial values needs real memory
        model = zoo.build_model(name)
    return analyze(model, tuple(input_size) if input_size is not None else entry.input_size)


def last_conv_stage(table: FieldTable, cam_layer: str) -> NodeField:
    """The node ending the model's last conv stage (the zoo entry's ``cam_layer``)."""
    return table.resolve(cam_layer)


# ------------------------------------------------------------------------------------------- stacked kernels


@dataclass(frozen=True)
class KernelStack:
    """n stacked KxK stride-1 convolutions versus one convolution with the same field (Simonyan & Zisserman, 2015).

    VGG's argument (Sec. 2.3): three 3x3 layers see 7x7 like one 7x7 layer, with 27 C^2 instead of 49 C^2
    weights and three non-linearities instead of one.
    """

    n: int  # number of stacked layers
    k: int  # kernel size of each stacked layer
    channels: int  # C: input = output channels of every layer
    field: int  # receptive field of the stack = size of the single kernel: n (k-1) + 1
    params_stacked: int  # n k^2 C^2 weights (no biases)
    params_single: int  # field^2 C^2 weights
    nonlinearities_stacked: int  # n
    nonlinearities_single: int  # 1

    @property
    def saving(self) -> float:
        """Fraction of weights the stack saves against the single big kernel."""
        return 1.0 - self.params_stacked / self.params_single


def kernel_stack(n: int, k: int, channels: int) -> KernelStack:
    """Compare n stacked KxK convolutions (stride 1) with one convolution of the same receptive field."""
    for label, v, hi in (("n", n, 64), ("k", k, 31), ("channels", channels, 4096)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not (1 <= v <= hi):
            raise ValueError(f"expected {label} between 1 and {hi}, got {v!r}")
    if k < 2:
        raise ValueError(f"expected k of at least 2 (a 1x1 kernel does not grow the field), got {k}")
    f = n * (k - 1) + 1
    c2 = channels * channels
    return KernelStack(n, k, channels, f, n * k * k * c2, f * f * c2, n, 1)


def sequential_stack(n: int, k: int, channels: int) -> nn.Sequential:
    """The stack of :func:`kernel_stack` as real layers (conv, ReLU) x n, for measuring it with torch."""
    kernel_stack(n, k, channels)
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [nn.Conv2d(channels, channels, k, bias=False), nn.ReLU()]
    return nn.Sequential(*layers)


__all__ = ["Box", "UnitBox", "NodeField", "FieldTable", "EffectiveField", "KernelStack", "trace", "analyze",
           "truncate", "gradient_extent", "effective_field", "feature_map", "zoo_fields", "last_conv_stage", "kernel_stack",
           "sequential_stack"]
