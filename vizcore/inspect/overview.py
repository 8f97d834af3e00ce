"""One image's journey through a network: every layer's activation maps, left to right, ending in the class
probabilities — the overview of CNN Explainer (Wang et al., IEEE VIS 2020) for any traced model.

Small networks are shown layer by layer; big ones by stage, one column per resolution (the last node before the
map shrinks, as the stages of VGG and ResNet are drawn in their papers). For a unit of a column,
:func:`reads_from` says which units of the column before it reads, from the receptive-field geometry
(Araujo et al., Distill 2019): a node with field (R, S, P) after one with (R', S', P') reads, in that node's
units, a window of (R − R')/S' + 1 units at stride S/S', starting (P − P')/S' units before.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.fx as fx
from numpy.typing import NDArray
from torch import nn

from vizcore.arch.receptive_field import FieldTable, NodeField
from vizcore.inspect.capture import eval_mode
from vizcore.inspect.conv_trace import check_forward

Mode = Literal["layers", "stages"]
MODES: tuple[Mode, ...] = ("layers", "stages")
MAX_LAYER_COLUMNS = 40  # above this many layers a network is shown by stage
MAX_CHANNELS = 16  # maps shown per column at most
SMALL_LAYERS, SMALL_SIDE = 24, 64  # networks up to this size are shown layer by layer by default


@dataclass(frozen=True)
class Column:
    """One layer (or stage) of the overview."""

    node: str  # fx node name
    label: str  # module path, or node name for a function (add, cat, ...)
    op: str  # Conv2d, ReLU, MaxPool2d, add, ...
    shape: tuple[int, int, int]  # (C, H, W) of the node's output
    channels: tuple[int, ...]  # the channels shown: strongest mean activation first
    maps: NDArray[np.float32]  # (len(channels), H, W) their activation maps for the image
    mean_abs: NDArray[np.float32]  # (H, W) mean |activation| over all C channels
    field: NodeField  # the node's receptive-field geometry


@dataclass(frozen=True)
class Overview:
    """The image's activations layer by layer and the network's answer."""

    mode: Mode  # "layers" (every layer call) or "stages" (one column per resolution)
    columns: tuple[Column, ...]  # in execution order
    probabilities: NDArray[np.float64] | None  # (K,) softmax of the output, None when it is not (1, K) logits
    classes: tuple[str, ...]  # the K class names

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most probable classes, most probable first."""
        if self.probabilities is None:
            return []
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.classes[int(c)], float(self.probabilities[c])) for c in order]


def columns_for(table: FieldTable, mode: Mode) -> list[NodeField]:
    """The nodes shown: every spatial layer call ("layers"), or the last spatial node of each run of equal map
    size ("stages"). ValueError for "layers" on a network with more than MAX_LAYER_COLUMNS of them."""
    if mode not in MODES:
        raise ValueError(f"expected mode 'layers' or 'stages', got {mode!r}")
    if mode == "layers":
        nodes = [n for n in table.nodes if n.spatial and n.is_layer]
        if len(nodes) > MAX_LAYER_COLUMNS:
            raise ValueError(f"expected at most {MAX_LAYER_COLUMNS} layers to show one by one, got {len(nodes)}: "
                             "show this network by stage")
        return nodes
    spatial = [n for n in table.nodes if n.spatial]
    last = spatial[-1]
    spatial = [n for n in spatial if n.map_size != (1, 1) or n is last]  # SE gates' 1×1 maps are no stage
    ends: list[NodeField] = []
    for k in range(1, len(spatial)):
        if spatial[k].map_size == spatial[k - 1].map_size:
            continue
        # a block that shrinks the map starts at the old size (ResNet's 1×1 conv before the strided one): the
        # stage ends at the last node outside that block
        block = (spatial[k].module or "").rpartition(".")[0]
        end = k - 1
        while end > 0 and _inside(spatial[end], block) and spatial[end - 1].map_size == spatial[k - 1].map_size:
            end -= 1
        if _inside(spatial[end], block):  # the whole run is in that block (VGG's one `features`): no such start
            end = k - 1
        if not ends or spatial[end] is not ends[-1]:
            ends.append(spatial[end])
    return [*ends, last]


def _inside(n: NodeField, block: str) -> bool:
    return bool(block) and (n.module or "").startswith(block + ".")


def default_mode(table: FieldTable) -> Mode:
    """"layers" for a small network (at most SMALL_LAYERS spatial layer calls, input side at most SMALL_SIDE), else
    "stages"."""
    n = sum(1 for n in table.nodes if n.spatial and n.is_layer)
    return "layers" if n <= SMALL_LAYERS and max(table.input_size[1:]) <= SMALL_SIDE else "stages"


class _Recorder(fx.Interpreter):
    """Runs the traced graph and keeps the chosen nodes' outputs, only their strongest channels."""

    def __init__(self, gm: fx.GraphModule, keep: set[str], n_channels: int) -> None:
        super().__init__(gm)
        self.keep, self.n = keep, n_channels
        self.kept: dict[str, tuple[tuple[int, ...], tuple[int, ...], NDArray[np.float32], NDArray[np.float32]]] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if n.name in self.keep and isinstance(out, torch.Tensor) and out.ndim == 4:
            a = out[0].detach()
            order = torch.argsort(-a.flatten(1).mean(1), stable=True)[: self.n]
            self.kept[n.name] = (tuple(a.shape), tuple(int(c) for c in order),
                                 a[order].float().cpu().numpy(), a.abs().mean(0).float().cpu().numpy())
        return out


def run_overview(model: nn.Module, table: FieldTable, x: torch.Tensor, mode: Mode | None = None,
                 n_channels: int = 8, classes: Sequence[str] | None = None) -> Overview:
    """The overview of ``model`` for one input.

    table: ``analyze(model, input_size)`` (its traced graph shares the model's modules); x: (1, C, H, W) normalised
    input at ``table.input_size``; n_channels: maps kept per column (1..MAX_CHANNELS), the strongest by mean
    activation; classes: names of the K outputs (default "class k"). One forward pass through the traced graph,
    after the memory budget allowed it.
    """
    if table.graph is None:
        raise ValueError("expected a FieldTable made by analyze(), got one without its traced graph")
    if isinstance(n_channels, bool) or not isinstance(n_channels, int) or not 1 <= n_channels <= MAX_CHANNELS:
        raise ValueError(f"expected between 1 and {MAX_CHANNELS} channels per column, got {n_channels!r}")
    if x.ndim != 4 or x.shape[0] != 1 or tuple(x.shape[1:]) != table.input_size:
        raise ValueError(f"expected x of shape (1, {', '.join(map(str, table.input_size))}), got {tuple(x.shape)}")
    mode = mode or default_mode(table)
    nodes = columns_for(table, mode)
    check_forward(table, model, "this network's forward pass")
    rec = _Recorder(table.graph, {n.node for n in nodes}, n_channels)
    with eval_mode(table.graph), torch.no_grad():
        out = rec.run(x)
    cols = []
    for n in nodes:
        if n.node not in rec.kept:
            continue
        shape, chans, maps, mean_abs = rec.kept[n.node]
        cols.append(Column(n.node, n.module or n.node, n.op, (shape[0], shape[1], shape[2]), chans, maps, mean_abs, n))
    probs = None
    if isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[0] == 1:
        probs = torch.softmax(out[0].double(), 0).cpu().numpy()
    k = 0 if probs is None else len(probs)
    names = tuple(classes) if classes is not None and len(classes) == k else tuple(f"class {c}" for c in range(k))
    return Overview(mode, tuple(cols), probs, names)


def reads_from(prev: NodeField, cur: NodeField, unit: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The units of ``prev``'s map that unit (i, j) of ``cur`` depends on: ((first row, last row), (first column,
    last column)), clipped to ``prev``'s map; from the two nodes' fields (exact along a chain of layers, the union
    of the paths' windows after a merge)."""
    if not (prev.spatial and cur.spatial):
        raise ValueError(f"expected two nodes with spatial maps, got {prev.node} and {cur.node}")
    out = []
    for a in (0, 1):
        s_prev = prev.stride[a]
        r = (cur.size[a] - prev.size[a]) / s_prev + 1  # window size in prev's units
        s = cur.stride[a] / s_prev
        p = (cur.padding[a] - prev.padding[a]) / s_prev
        first = unit[a] * s - p
        last = first + r - 1
        n = prev.map_size[a]  # type: ignore[index]
        lo, hi = int(np.clip(np.floor(first + 1e-9), 0, n - 1)), int(np.clip(np.ceil(last - 1e-9), 0, n - 1))
        out.append((lo, hi))
    return out[0], out[1]
