"""One unit's convolution on the network's real numbers: input patch, kernel, products, sum, bias, then what the
following normalisation, non-linearity and pooling make of it.

The view CNN Explainer made the reference for teaching convolutions (Wang et al., "CNN Explainer: Learning
Convolutional Neural Networks with Interactive Visualization", IEEE VIS 2020): for output unit (i, j) of
channel c of a ``Conv2d`` with stride s, padding p and dilation d,

    out[c, i, j] = bias[c] + Σ_{k ∈ group(c)} Σ_{a, b} x_pad[k, i·s + a·d, j·s + b·d] · w[c, k, a, b]

where ``x_pad`` is the layer's input with its padding (zeros for ``padding_mode="zeros"``). The patch and the
output are captured by forward hooks during one real forward pass, so every figure is the network's own.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from vizcore.arch.receptive_field import FieldTable, NodeField, UnitBox
from vizcore.core.budget import check_memory
from vizcore.core.hooks import forward_hooks
from vizcore.inspect.capture import eval_mode

# layers applied value by value after a convolution: the chain the trace follows (normalisation, activation)
ELEMENTWISE = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
               nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Identity)
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
MAX_WINDOW = 16  # pooling windows up to 16×16 are returned value by value


@dataclass(frozen=True)
class Step:
    """One value-by-value layer after the convolution, at the traced unit."""

    module: str  # module path
    op: str  # BatchNorm2d, ReLU, ...
    value_in: float  # its input at the unit
    value: float  # its output at the unit (the network's own, from a hook)
    params: dict[str, float]  # BatchNorm2d: mean, var, eps, weight, bias (eval mode); else empty


@dataclass(frozen=True)
class PoolStep:
    """The pooling layer after the chain: the window that holds the traced unit and its output."""

    module: str  # module path
    op: str  # MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d
    unit: tuple[int, int]  # the pooled unit whose window holds the traced unit (the first such)
    rows: tuple[int, int]  # [first, last] rows of the window in the pooled map's input (may reach into padding)
    cols: tuple[int, int]  # [first, last] columns, likewise
    window: NDArray[np.float64] | None  # (kh, kw) input values of the window, NaN in padding; None if > 16×16
    value: float  # the pooled unit's output (the network's own)


@dataclass(frozen=True)
class ConvTrace:
    """The numbers behind one output unit of one ``Conv2d``."""

    node: str  # fx node of the convolution
    module: str  # its module path
    channel: int  # output channel c
    unit: tuple[int, int]  # (i, j) in the output map
    in_shape: tuple[int, int, int]  # (C_in, H_in, W_in) of the layer's input
    out_shape: tuple[int, int, int]  # (C_out, H_out, W_out)
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]  # (top, left) input pixels before the first row/column
    dilation: tuple[int, int]
    groups: int
    padding_mode: str  # zeros, reflect, replicate, circular
    in_channels: tuple[int, ...]  # the input channels this output channel reads (its group)
    rows: tuple[int, ...]  # input rows read, one per kernel row (negative or >= H_in: padding)
    cols: tuple[int, ...]  # input columns read, one per kernel column
    patch: NDArray[np.float64]  # (C_in/groups, kh, kw) input values read, padding included
    kernel: NDArray[np.float64]  # (C_in/groups, kh, kw) the weights w[c]
    bias: float  # b[c], 0 for a convolution without bias
    output: float  # the layer's own output at the unit (from the hook)
    steps: tuple[Step, ...]  # normalisation/activation layers that follow, in order
    pool: PoolStep | None  # the pooling layer that follows the chain, if any
    field: UnitBox  # the unit's receptive field on the input image
    tf32: bool = False  # the layer ran on CUDA with TF32 convolutions (PyTorch's default there): 10 mantissa bits

    @property
    def rounding(self) -> float:
        """A bound on |sum − output| from the layer's own arithmetic: float32 keeps 23 mantissa bits, TF32 10, and
        the error of a dot product stays within a few units of the last place of Σ|products|."""
        eps = 2.0 ** -10 if self.tf32 else 2.0 ** -23
        return 4 * eps * float(np.abs(self.products).sum() + abs(self.bias)) + 1e-7

    @property
    def products(self) -> NDArray[np.float64]:
        """(C_in/groups, kh, kw) patch × kernel, element by element."""
        return self.patch * self.kernel

    @property
    def sum(self) -> float:
        """Σ patch × kernel + bias: the convolution's output computed by hand (the pre-activation)."""
        return float(self.products.sum() + self.bias)

    @property
    def padded(self) -> NDArray[np.bool_]:
        """(kh, kw) True where the kernel reads padding, not the input."""
        r = np.asarray(self.rows)[:, None]
        c = np.asarray(self.cols)[None, :]
        return (r < 0) | (r >= self.in_shape[1]) | (c < 0) | (c >= self.in_shape[2])

    @property
    def activation(self) -> float | None:
        """The value after the last non-linearity of the chain (ReLU, GELU, ...), None when none follows."""
        vals = [s.value for s in self.steps if s.op not in ("BatchNorm2d", "Identity")]
        return vals[-1] if vals else None

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "module": self.module, "channel": self.channel, "unit": list(self.unit),
                "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
                "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
                "dilation": list(self.dilation), "groups": self.groups, "padding_mode": self.padding_mode,
                "in_channels": list(self.in_channels), "rows": list(self.rows), "cols": list(self.cols),
                "patch": self.patch.tolist(), "kernel": self.kernel.tolist(), "padded": self.padded.tolist(),
                "bias": self.bias, "sum": self.sum, "output": self.output, "rounding": self.rounding,
                "steps": [{"module": s.module, "op": s.op, "input": s.value_in, "output": s.value,
                           **({"params": s.params} if s.params else {})} for s in self.steps],
                "activation": self.activation,
                "pool": None if self.pool is None else {
                    "module": self.pool.module, "op": self.pool.op, "unit": list(self.pool.unit),
                    "rows": list(self.pool.rows), "cols": list(self.pool.cols), "output": self.pool.value,
                    "window": None if self.pool.window is None else
                    [[None if math.isnan(v) else v for v in row] for row in self.pool.window.tolist()]},
                "field": self.field.to_dict()}


# ---------------------------------------------------------------------------------------- the model's convolutions


def conv_nodes(table: FieldTable) -> list[NodeField]:
    """The ``Conv2d`` layer calls of a traced model, in execution order."""
    return [n for n in table.nodes if n.op == "Conv2d" and n.is_layer and n.spatial]


def forward_bytes(table: FieldTable, model: nn.Module) -> int:
    """An upper bound of one image's forward pass: every node's output (float32) plus the parameters."""
    acts = sum(math.prod(n.out_shape) for n in table.nodes)
    return 4 * acts + sum(p.numel() * p.element_size() for p in model.parameters())


def check_forward(table: FieldTable, model: nn.Module, what: str) -> None:
    """Refuse (MemoryBudgetError, a ValueError) when one forward pass at the table's input size is above budget."""
    c, h, w = table.input_size
    check_memory(f"{what} at {h}×{w}", forward_bytes(table, model), "choose a smaller model")


def _conv_node(table: FieldTable, node: str) -> tuple[NodeField, Any]:
    if table.graph is None:
        raise ValueError("expected a FieldTable made by analyze(), got one without its traced graph")
    nf = table.resolve(node)
    if nf.op != "Conv2d" or not nf.is_layer:
        some = ", ".join(n.module or n.node for n in conv_nodes(table)[:4])
        raise ValueError(f"expected a convolution (Conv2d) layer, e.g. {some}; got {nf.module or nf.node} "
                         f"({nf.op})")
    fx_node = next(n for n in table.graph.graph.nodes if n.name == nf.node)
    calls = [n for n in table.graph.graph.nodes if n.op == "call_module" and n.target == fx_node.target]
    if len(calls) > 1:
        raise ValueError(f"expected a convolution called once per forward pass, got {nf.module} called "
                         f"{len(calls)} times")
    return nf, fx_node


def _chain(table: FieldTable, fx_node: Any) -> tuple[list[str], str | None]:
    """Module paths of the value-by-value layers right after the conv (each the only reader of the one before),
    and the pooling layer after them (or None)."""
    assert table.graph is not None
    chain: list[str] = []
    node = fx_node
    while len(node.users) == 1:
        user = next(iter(node.users))
        if user.op != "call_module":
            break
        mod = table.graph.get_submodule(str(user.target))
        if isinstance(mod, ELEMENTWISE):
            chain.append(str(user.target))
            node = user
            continue
        return chain, str(user.target) if isinstance(mod, POOLS) else None
    return chain, None


def _geometry(conv: nn.Conv2d) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """((top, left) padding, F.pad's (left, right, top, bottom)) of a conv, 'same' and 'valid' included."""
    kh, kw = conv.kernel_size
    dh, dw = conv.dilation
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0), (0, 0, 0, 0)
        th, tw = dh * (kh - 1), dw * (kw - 1)  # 'same': torch puts the odd pixel after
        return (th // 2, tw // 2), (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    ph, pw = conv.padding
    return (ph, pw), (pw, pw, ph, ph)


def trace_unit(model: nn.Module, table: FieldTable, x: torch.Tensor, node: str, channel: int,
               unit: Sequence[int]) -> ConvTrace:
    """Trace output unit ``unit`` = (i, j) of channel ``channel`` of convolution ``node`` for input ``x``.

    model: the model ``table`` was made from (``analyze(model, ...)``); x: (1, C, H, W) normalised model input at
    ``table.input_size``; node: fx node name or module path of a ``Conv2d``. One forward pass with hooks on the
    conv and the layers after it (stopped after the last one needed). ValueError, in one sentence, for a node
    that is not a convolution, a channel or unit outside the map, or a forward above the memory budget.
    """
    nf, fx_node = _conv_node(table, node)
    conv = model.get_submodule(str(fx_node.target))
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"expected a Conv2d at {fx_node.target}, got {type(conv).__name__}")
    c_out, h_out, w_out = nf.out_shape
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < c_out:
        raise ValueError(f"expected a channel between 0 and {c_out - 1} for {nf.module}, got {channel!r}")
    if len(unit) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in unit) \
            or not (0 <= unit[0] < h_out and 0 <= unit[1] < w_out):
        raise ValueError(f"expected a unit (row, column) with 0 <= row < {h_out} and 0 <= column < {w_out} for "
                         f"{nf.module}, got {tuple(unit)}")
    if x.ndim != 4 or x.shape[0] != 1 or tuple(x.shape[1:]) != table.input_size:
        raise ValueError(f"expected x of shape (1, {', '.join(map(str, table.input_size))}), got {tuple(x.shape)}")
    check_forward(table, model, "this network's forward pass")
    i, j = int(unit[0]), int(unit[1])
    chain, pool_path = _chain(table, fx_node)
    seen = _capture(model, x, [str(fx_node.target), *chain, *([pool_path] if pool_path else [])])

    x_in, y = seen[str(fx_node.target)]  # (C_in, H, W), (C_out, H', W')
    (pt, pl), pad = _geometry(conv)
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    cin_g = conv.in_channels // conv.groups
    g = channel // (conv.out_channels // conv.groups)
    chans = list(range(g * cin_g, (g + 1) * cin_g))
    rows = [i * sh - pt + a * dh for a in range(kh)]
    cols = [j * sw - pl + b * dw for b in range(kw)]
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    xp = F.pad(x_in[chans][None].double(), pad, mode=mode)[0]
    patch = xp[:, [r + pt for r in rows]][:, :, [c + pl for c in cols]]
    kernel = conv.weight.detach()[channel].double().cpu()
    bias = float(conv.bias.detach()[channel]) if conv.bias is not None else 0.0

    steps, prev = [], float(y[channel, i, j])
    for path in chain:
        mod = model.get_submodule(path)
        val = float(seen[path][1][channel, i, j])
        params: dict[str, float] = {}
        if isinstance(mod, nn.BatchNorm2d) and mod.running_mean is not None and mod.running_var is not None:
            gamma, beta = mod.weight, mod.bias
            params = {"mean": float(mod.running_mean[channel]), "var": float(mod.running_var[channel]),
                      "eps": float(mod.eps), "weight": float(gamma.detach()[channel]) if gamma is not None else 1.0,
                      "bias": float(beta.detach()[channel]) if beta is not None else 0.0}
        steps.append(Step(path, type(mod).__name__, prev, val, params))
        prev = val
    pool = _pool_step(model, pool_path, seen, channel, i, j) if pool_path else None
    _, h, w = table.input_size
    c_in, h_in, w_in = x_in.shape
    return ConvTrace(nf.node, str(fx_node.target), int(channel), (i, j), (c_in, h_in, w_in), (c_out, h_out, w_out),
                     (kh, kw), (sh, sw), (pt, pl), (dh, dw), conv.groups, conv.padding_mode, tuple(chans),
                     tuple(rows), tuple(cols), patch.numpy(), kernel.numpy(), bias, float(y[channel, i, j]),
                     tuple(steps), pool, nf.unit_box(i, j, (h, w)),
                     bool(x.is_cuda and torch.backends.cudnn.allow_tf32))


class _Stop(Exception):
    """Raised by the last hook needed: the rest of the forward pass is not computed."""


def _capture(model: nn.Module, x: torch.Tensor, paths: list[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{module path: (its first input[0], its output[0])} for one forward pass, cloned to the CPU (an in-place
    activation later in the pass would otherwise change what was stored). ``paths`` run in this order: each is
    recorded at its first call after the one before it (a ReLU module a block calls twice gives the right call)."""
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(k: int, path: str):
        def fn(_m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            if path in seen or (k and paths[k - 1] not in seen):  # a shared module's call before or after ours
                return
            seen[path] = (args[0][0].detach().cpu().clone(), out[0].detach().cpu().clone())
            if len(seen) == len(paths):
                raise _Stop
        return fn

    with eval_mode(model), torch.no_grad(), forward_hooks((model.get_submodule(p), hook(k, p)) for k, p in enumerate(paths)):
        try:
            model(x)
        except _Stop:
            pass
    missing = [p for p in paths if p not in seen]
    if missing:
        raise ValueError(f"expected layer {missing[0]} to run in the forward pass, got no call")
    return seen


def _pool_step(model: nn.Module, path: str, seen: dict[str, tuple[torch.Tensor, torch.Tensor]], channel: int,
               i: int, j: int) -> PoolStep:
    """The pooled unit whose window holds (i, j), its window's values and output."""
    mod = model.get_submodule(path)
    x_in, y = seen[path]
    h, w = x_in.shape[1:]
    oh, ow = y.shape[1:]
    if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):  # torch's adaptive windows
        pi = next(u for u in range(oh) if (u * h) // oh <= i < -(-((u + 1) * h) // oh))
        pj = next(u for u in range(ow) if (u * w) // ow <= j < -(-((u + 1) * w) // ow))
        rows = ((pi * h) // oh, -(-((pi + 1) * h) // oh) - 1)
        cols = ((pj * w) // ow, -(-((pj + 1) * w) // ow) - 1)
    else:
        assert isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d))
        k = _pair(mod.kernel_size)
        s = _pair(mod.stride if mod.stride is not None else mod.kernel_size)
        p = _pair(mod.padding)
        d = _pair(getattr(mod, "dilation", 1))
        pi = max(0, -(-(i + p[0] - d[0] * (k[0] - 1)) // s[0]))  # the first window that reaches row i
        pj = max(0, -(-(j + p[1] - d[1] * (k[1] - 1)) // s[1]))
        pi, pj = min(pi, oh - 1), min(pj, ow - 1)
        rows = (pi * s[0] - p[0], pi * s[0] - p[0] + d[0] * (k[0] - 1))
        cols = (pj * s[1] - p[1], pj * s[1] - p[1] + d[1] * (k[1] - 1))
    window = None
    dense = _pair(getattr(mod, "dilation", 1)) == (1, 1)  # a dilated window skips rows: no block of values
    if dense and rows[1] - rows[0] < MAX_WINDOW and cols[1] - cols[0] < MAX_WINDOW:
        m = x_in[channel].double().numpy()
        r = np.arange(rows[0], rows[1] + 1)
        c = np.arange(cols[0], cols[1] + 1)
        inside = ((r >= 0) & (r < h))[:, None] & ((c >= 0) & (c < w))[None, :]
        window = np.where(inside, m[np.clip(r, 0, h - 1)][:, np.clip(c, 0, w - 1)], np.nan)
    return PoolStep(path, type(mod).__name__, (int(pi), int(pj)), rows, cols, window, float(y[channel, pi, pj]))


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))
