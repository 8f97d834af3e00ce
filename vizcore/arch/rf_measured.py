"""Receptive fields measured by gradients: the theoretical field checked, and the effective field.

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

import threading
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from vizcore.arch.graph import truncate
from vizcore.arch.receptive_field import Box, FieldTable, NodeField
from vizcore.arch.rf_rules import ACT_FUNCTIONS, MUL_TARGETS, PASS_METHODS, PASS_MODULES, pair
from vizcore.core.budget import check_memory, memory_budget_bytes

_LAST_CUT: WeakKeyDictionary[fx.GraphModule, tuple[str, fx.GraphModule]] = WeakKeyDictionary()
_CUT_LOCK = threading.Lock()


def _cut(gm: fx.GraphModule, node: str) -> fx.GraphModule:
    """``truncate(gm, node)``, the last one kept per traced graph while it lives: measuring the units of one node
    one after the other cuts the graph once (cutting and compiling it takes longer than the positive-path pass).
    Only the positive path reads it; one per graph, so measuring every node keeps no more than one copy."""
    with _CUT_LOCK:
        last = _LAST_CUT.get(gm)
    if last is not None and last[0] == node:
        return last[1]
    sub = truncate(gm, node)
    with _CUT_LOCK:
        _LAST_CUT[gm] = (node, sub)
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
        if isinstance(m, PASS_MODULES):
            return x
        if isinstance(m, nn.Conv2d):
            return _constant_conv(m, x)
        if isinstance(m, nn.Linear):  # weights 1/in_features: every output is the mean of the inputs
            return x.mean(-1, keepdim=True).expand(*x.shape[:-1], m.out_features)
        if isinstance(m, nn.MaxPool2d):
            if pair(m.dilation) != (1, 1):
                raise ValueError(f"expected max-pooling without dilation for the gradient check, got {m}")
            return F.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode)
        if isinstance(m, nn.AdaptiveMaxPool2d):
            return F.adaptive_avg_pool2d(x, m.output_size)
        return super().call_module(target, args, kwargs)

    def call_function(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target in ACT_FUNCTIONS or target is F.dropout:
            return args[0]
        if target is F.max_pool2d:
            k = _arg_v(args, kwargs, 1, "kernel_size", 1)
            s = _arg_v(args, kwargs, 2, "stride", None)
            return F.avg_pool2d(args[0], k, s if s not in (None, [], ()) else k, _arg_v(args, kwargs, 3, "padding", 0),
                                _arg_v(args, kwargs, 5, "ceil_mode", False))
        if target is F.adaptive_max_pool2d:
            return F.adaptive_avg_pool2d(args[0], _arg_v(args, kwargs, 1, "output_size", 1))
        if target in MUL_TARGETS:
            args = _detach_broadcast(args)
        return super().call_function(target, args, kwargs)

    def call_method(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target in PASS_METHODS and target not in ("contiguous", "clone", "float", "double", "half", "to"):
            return args[0]
        if target in MUL_TARGETS:
            args = _detach_broadcast(args)
        return super().call_method(target, args, kwargs)


def _constant_conv(m: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``m`` with every weight 1/fan_in and no bias, computed as what it is: a per-group channel mean
    followed by a k x k box filter. Exact, and far faster than a float64 grouped convolution on CPU."""
    n, c, h, w = x.shape
    g = m.groups
    xg = x.view(n, g, c // g, h, w).mean(2)  # (N, G, H, W): all channels of a group weigh the same
    k, d = pair(m.kernel_size), pair(m.dilation)
    pad = m.padding if isinstance(m.padding, str) else pair(m.padding)
    if m.padding_mode != "zeros" and not isinstance(pad, str):  # reflect/replicate/circular pad first
        xg = F.pad(xg, (pad[1], pad[1], pad[0], pad[0]), mode=m.padding_mode)
        pad = (0, 0)
    if d == (1, 1) and not isinstance(pad, str) and all(2 * pad[a] <= k[a] for a in (0, 1)):
        y = F.avg_pool2d(xg, k, pair(m.stride), pad, count_include_pad=True)
    else:
        box = torch.full((g, 1, *k), 1.0 / (k[0] * k[1]), dtype=x.dtype, device=x.device)
        y = F.conv2d(xg, box, None, pair(m.stride), pad, d, g)
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


def backprop_bytes(table: FieldTable, nf: NodeField, n_inputs: int, itemsize: int) -> int:
    """Estimated bytes of one forward and backward pass of ``n_inputs`` inputs up to node ``nf``: every map on
    the way is kept for the backward pass and gets a gradient of its size, and so does the input."""
    def numel(shape: tuple[int, ...]) -> int:
        out = 1
        for v in shape:
            out *= int(v)
        return out

    maps = 0
    for other in table.nodes:
        maps += numel(other.out_shape)
        if other.node == nf.node:
            break
    return 2 * n_inputs * itemsize * (numel(table.input_size) + maps)


def _check_budget(table: FieldTable, nf: NodeField, n_inputs: int, itemsize: int, what: str) -> None:
    c, h, w = table.input_size
    check_memory(f"{what} of {nf.node} for {n_inputs} input{'s' if n_inputs != 1 else ''} of {c}x{h}x{w}",
                 backprop_bytes(table, nf, n_inputs, itemsize), "choose a smaller input size or an earlier layer")


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
    _check_budget(table, nf, 1, 8, "measuring the receptive field")
    sub = _cut(table.graph, nf.node)
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


def effective_field_flops(forward_flops: float, n_inputs: int) -> float:
    """FLOPs of :func:`effective_field` over ``n_inputs`` inputs, at most, from one whole forward pass's FLOPs
    (:func:`vizcore.arch.summary.forward_flops`): each input goes forward to the node (at most the whole network)
    and back to the pixels (input gradients only: about one forward's work)."""
    return 2.0 * n_inputs * forward_flops


def effective_field_seconds(forward_seconds: float, n_inputs: int) -> float:
    """Estimated wall time of :func:`effective_field` over ``n_inputs`` inputs, from the seconds one input took
    forward to the same node here (:func:`vizcore.inspect.activations.feature_map`): a forward and a backward
    of about the same work per input."""
    if not forward_seconds > 0 or n_inputs < 1:
        raise ValueError(f"expected a positive forward time and at least one input, got {forward_seconds} and "
                         f"{n_inputs}")
    return 2.0 * n_inputs * forward_seconds


def effective_field(table: FieldTable, node: str, unit: tuple[int, int] | None = None,
                    images: torch.Tensor | None = None, n_random: int = 4, seed: int = 0,
                    mass: float = 0.95) -> EffectiveField:
    """Mean |d unit / d input| over ``images`` (N, C, H, W, already normalised) and ``n_random`` N(0, 1) inputs.

    Uses the traced model with its current weights (eval mode). The heat map is normalised to sum 1;
    ``radius95`` is the smallest Euclidean radius around the theoretical centre holding ``mass`` of it.
    The inputs go through as many at a time as the server's memory budget holds (one at least: refused in words
    when even one does not fit); the result is the same as all at once.
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
    _check_budget(table, nf, 1, 4, "the effective receptive field")  # the inputs go through in chunks that fit
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
    x_all = torch.cat(parts)
    n_all = int(x_all.shape[0])
    # as many inputs at once as the memory budget holds: each input's gradient is its own (eval mode), so the mean
    # over chunks is the mean over all (ResNet-50's layer3 for 5 inputs of 224x224 needs about 1.1 GB at once)
    per_chunk = max(1, min(n_all, memory_budget_bytes() // max(1, backprop_bytes(table, nf, 1, 4))))
    sub = truncate(table.graph, nf.node)
    was = sub.training
    sub.eval()
    acc = torch.zeros((h, w), dtype=torch.float64)
    try:  # autograd.grad w.r.t. the input only: a shared model's parameter .grad stays untouched
        for start in range(0, n_all, per_chunk):
            x = x_all[start:start + per_chunk].requires_grad_(True)
            out = sub(x)
            (grad,) = torch.autograd.grad(out, x, _one_unit_grad(out, unit))
            acc += grad.detach().abs().sum(1).sum(0).double().cpu()
            del out, grad, x
    finally:
        sub.train(was)
    heat = (acc / n_all).numpy()
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
    return EffectiveField(nf.node, unit, heat, ub.centre, radius, nf.size, in_box, n_all)
