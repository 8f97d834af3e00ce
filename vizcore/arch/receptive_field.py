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

The recurrence of each layer kind (one small rule per module type, function or method) is in
:mod:`vizcore.arch.rf_rules`; :mod:`vizcore.arch.rf_measured` checks this formula by gradients and measures the
effective receptive field.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch.fx as fx
from torch import nn

from vizcore.arch.graph import meta_shape, node_scope, op_name, propagate_shapes, trace
from vizcore.arch.rf_rules import Geo, node_geo, tensor_inputs

Box = tuple[int, int, int, int]  # (top, left, bottom, right), inclusive pixel indices

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
    geo: dict[str, Geo] = {}
    out: list[NodeField] = []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if not geo:  # the image; further placeholders (none in the zoo) carry no geometry
                geo[node.name] = Geo((1, 1), (1, 1), (0, 0), hw=(size[1], size[2]), reach=(size[1] - 1, size[2] - 1))
            continue
        if node.op in ("output", "get_attr"):
            continue
        shape = meta_shape(node)
        if shape is None:  # sizes, tuples: follow tuples of tensors as one value
            if node.meta.get("rf_shape"):
                ins = tensor_inputs(node, geo)
                if ins:
                    geo[node.name] = ins[0]
            continue
        g = node_geo(node, gm, geo, shape)
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
    return analyze(zoo.build_for_shapes(name), tuple(input_size) if input_size is not None else entry.input_size)
