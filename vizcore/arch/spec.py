"""Custom layer stacks from a small text spec, built into a real ``nn.Sequential``.

One layer per line; ``#`` starts a comment; sizes are checked while building, and every error names the
line and says what is wrong. Channels flow from layer to layer, so a conv line names only its outputs.

    input 3 32 32            # C H W (optional first line; default 3 32 32)
    conv 3 64 s1 p1          # conv KERNEL OUT [sSTRIDE] [pPAD | psame | pvalid] [dDILATION] [gGROUPS] [nobias]
    dwconv 3 s2 p1           # depthwise conv KERNEL (groups = channels) [s] [p] [d]
    bn                       # BatchNorm2d (BatchNorm1d after flatten)
    relu                     # also: tanh, sigmoid, gelu, silu, leakyrelu, hardswish
    pool max 2               # pool max|avg KERNEL [sSTRIDE] [pPAD] [ceil]   (stride defaults to KERNEL)
    se 4                     # squeeze-and-excitation with reduction 4 (Hu et al., 2018)
    upconv 2 32 s2           # transposed conv KERNEL OUT [s] [p] [opOUTPUT_PAD]
    dropout 0.5
    gap                      # global average pooling to 1x1
    flatten
    fc 10                    # Linear to 10 outputs (flattens first if needed)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.ops import SqueezeExcitation

from vizcore.arch import geometry
from vizcore.core.budget import MemoryBudgetError, check_memory

MAX_LINES = 200  # layers in one spec
MAX_CHANNELS = 8192  # channels of any layer
MAX_INPUT = 1024  # input height/width
MAX_FEATURES = 50_000_000  # flattened features entering an fc layer

GRAMMAR = __doc__.split("\n\n", 2)[2] if __doc__ else ""

EXAMPLE = """input 3 32 32
conv 3 32 s1 p1
bn
relu
pool max 2
conv 3 64 p1
bn
relu
se 4
pool max 2
conv 3 128 p1
relu
gap
fc 10
"""

_ACTS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "silu": nn.SiLU,
    "leakyrelu": nn.LeakyReLU, "hardswish": nn.Hardswish,
}


class SpecError(ValueError):
    """A spec line that cannot be built; the message names the line."""


@dataclass(frozen=True)
class BuiltSpec:
    model: nn.Sequential  # the stack, eval mode
    input_shape: tuple[int, int, int]  # (C, H, W)
    layer_lines: tuple[int, ...]  # spec line number of each module in ``model``


def _opts(tokens: list[str], allowed: dict[str, str], line_no: int, line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for tok in tokens:
        m = re.fullmatch(r"(op|[a-z])(-?[0-9a-z.]+)?", tok)
        if tok in allowed and allowed[tok] == "flag":
            out[tok] = "1"
            continue
        if not m or m.group(1) not in allowed or m.group(2) is None:
            names = ", ".join(f"{k}N" if v != "flag" else k for k, v in allowed.items())
            raise SpecError(f"line {line_no} ({line!r}): unknown option {tok!r}; expected {names}")
        out[m.group(1)] = m.group(2)
    return out


def _int(text: str, what: str, line_no: int, line: str, lo: int = 1, hi: int = MAX_CHANNELS) -> int:
    try:
        v = int(text)
    except ValueError:
        raise SpecError(f"line {line_no} ({line!r}): expected a whole number for {what}, got {text!r}") from None
    if not lo <= v <= hi:
        raise SpecError(f"line {line_no} ({line!r}): expected {what} between {lo} and {hi}, got {v}")
    return v


def build(text: str) -> BuiltSpec:  # noqa: C901 - one branch per spec keyword, read top to bottom
    """Parse ``text`` and build the stack, checking shapes line by line.

    >>> build("input 1 28 28\\nconv 5 6\\nrelu\\npool max 2\\nfc 10").model(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the spec as text, got {type(text).__name__}")
    raw = [(i + 1, ln.split("#", 1)[0].strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(n, ln) for n, ln in raw if ln]
    if not lines:
        raise SpecError("the spec is empty: write one layer per line, e.g. 'conv 3 16 p1'")
    if len(lines) > MAX_LINES:
        raise SpecError(f"expected at most {MAX_LINES} layers, got {len(lines)}")
    c, h, w = 3, 32, 32
    flat: int | None = None  # feature count once flattened
    first_no, first = lines[0]
    if first.lower().split()[0] == "input":
        parts = first.split()[1:]
        if len(parts) != 3:
            raise SpecError(f"line {first_no} ({first!r}): expected 'input C H W', e.g. 'input 3 32 32'")
        c = _int(parts[0], "input channels", first_no, first, 1, 64)
        h = _int(parts[1], "input height", first_no, first, 1, MAX_INPUT)
        w = _int(parts[2], "input width", first_no, first, 1, MAX_INPUT)
        lines = lines[1:]
    input_shape = (c, h, w)
    layers: list[nn.Module] = []
    owners: list[int] = []

    # Memory is estimated before each layer is built: float32 parameters plus every activation of one image
    # (the summary keeps them), twice for the input and output of a layer in flight. A five-line spec of
    # 8192-channel convs would otherwise allocate gigabytes before any check ran.
    totals = {"params": 0, "acts": c * h * w}

    def budget(n: int, line: str, params: int, out_values: int) -> None:
        totals["params"] += params
        totals["acts"] += out_values
        try:
            check_memory(f"line {n} ({line!r}): the stack so far ({totals['params']:,} parameters, "
                         f"{totals['acts']:,} activation values per image)",
                         4 * (totals["params"] + 2 * totals["acts"]),
                         "use fewer channels, a smaller input or more pooling")
        except MemoryBudgetError as exc:
            raise SpecError(str(exc)) from None

    def add(mod: nn.Module, n: int) -> None:
        layers.append(mod)
        owners.append(n)

    for n, line in lines:
        tok = line.lower().split()
        op, args = tok[0], tok[1:]
        try:
            if op == "input":
                raise SpecError(f"line {n} ({line!r}): 'input' may only be the first line")
            if op in ("conv", "dwconv", "upconv"):
                if flat is not None:
                    raise SpecError(f"line {n} ({line!r}): a convolution cannot follow flatten/fc")
                npos = 1 if op == "dwconv" else 2
                pos = [a for a in args[:npos]]
                if len(pos) < npos or not all(re.fullmatch(r"\d+", a) for a in pos):
                    usage = {"conv": "conv KERNEL OUT", "dwconv": "dwconv KERNEL", "upconv": "upconv KERNEL OUT"}[op]
                    raise SpecError(f"line {n} ({line!r}): expected '{usage} [options]', e.g. "
                                    f"'{ {'conv': 'conv 3 64 s1 p1', 'dwconv': 'dwconv 3 s1 p1', 'upconv': 'upconv 2 32 s2'}[op] }'")
                k = _int(pos[0], "kernel size", n, line, 1, 64)
                cout = c if op == "dwconv" else _int(pos[1], "output channels", n, line)
                allowed = {"s": "int", "p": "pad", "d": "int", "g": "int", "nobias": "flag"}
                if op == "upconv":
                    allowed = {"s": "int", "p": "int", "op": "int", "d": "int", "nobias": "flag"}
                o = _opts(args[npos:], allowed, n, line)
                s = _int(o.get("s", "1"), "stride", n, line, 1, 64)
                d = _int(o.get("d", "1"), "dilation", n, line, 1, 64)
                groups = c if op == "dwconv" else _int(o.get("g", "1"), "groups", n, line, 1, MAX_CHANNELS)
                bias = "nobias" not in o
                if op == "upconv":
                    p = _int(o.get("p", "0"), "padding", n, line, 0, 64)
                    opad = _int(o.get("op", "0"), "output padding", n, line, 0, 64)
                    h2 = geometry.conv_transpose_out(h, k, s, p, opad, d)
                    w2 = geometry.conv_transpose_out(w, k, s, p, opad, d)
                    budget(n, line, c * cout * k * k + (cout if bias else 0), cout * h2 * w2)
                    add(nn.ConvTranspose2d(c, cout, k, s, p, opad, bias=bias, dilation=d), n)
                else:
                    ptxt = o.get("p", "0")
                    pad: geometry.Padding = (ptxt if ptxt in ("same", "valid")  # type: ignore[assignment]
                                             else _int(ptxt, "padding", n, line, 0, 64))
                    if cout % groups or c % groups:
                        raise SpecError(f"line {n} ({line!r}): groups {groups} must divide input channels {c} and "
                                        f"output channels {cout}")
                    if pad == "same" and s != 1:
                        raise SpecError(f"line {n} ({line!r}): 'psame' needs stride 1 in PyTorch, got stride {s}")
                    h2 = geometry.conv_out(h, k, s, pad, d)
                    w2 = geometry.conv_out(w, k, s, pad, d)
                    budget(n, line, c // groups * cout * k * k + (cout if bias else 0), cout * h2 * w2)
                    add(nn.Conv2d(c, cout, k, s, pad, dilation=d, groups=groups, bias=bias), n)
                c, h, w = cout, h2, w2
            elif op == "pool":
                if not args or args[0] not in ("max", "avg") or len(args) < 2:
                    raise SpecError(f"line {n} ({line!r}): expected 'pool max|avg KERNEL [sS] [pP] [ceil]'")
                if flat is not None:
                    raise SpecError(f"line {n} ({line!r}): pooling cannot follow flatten/fc")
                k = _int(args[1], "pool size", n, line, 1, 64)
                o = _opts(args[2:], {"s": "int", "p": "int", "ceil": "flag"}, n, line)
                s = _int(o.get("s", str(k)), "stride", n, line, 1, 64)
                p = _int(o.get("p", "0"), "padding", n, line, 0, 32)
                ceil = "ceil" in o
                h2 = geometry.pool_out(h, k, s, p, 1, ceil)
                w2 = geometry.pool_out(w, k, s, p, 1, ceil)
                cls = nn.MaxPool2d if args[0] == "max" else nn.AvgPool2d
                add(cls(k, s, p, ceil_mode=ceil), n)
                h, w = h2, w2
            elif op == "gap":
                _no_args(args, n, line)
                if flat is not None:
                    raise SpecError(f"line {n} ({line!r}): global pooling cannot follow flatten/fc")
                add(nn.AdaptiveAvgPool2d(1), n)
                h = w = 1
            elif op == "bn":
                _no_args(args, n, line)
                add(nn.BatchNorm2d(c) if flat is None else nn.BatchNorm1d(flat), n)
            elif op in _ACTS:
                _no_args(args, n, line)
                add(_ACTS[op](), n)
            elif op == "dropout":
                pr = 0.5
                if args:
                    try:
                        pr = float(args[0])
                    except ValueError:
                        raise SpecError(f"line {n} ({line!r}): expected a probability, got {args[0]!r}") from None
                    if not 0 <= pr < 1 or len(args) > 1:
                        raise SpecError(f"line {n} ({line!r}): expected 'dropout P' with 0 <= P < 1")
                add(nn.Dropout(pr) if flat is not None else nn.Dropout2d(pr), n)
            elif op == "se":
                if flat is not None:
                    raise SpecError(f"line {n} ({line!r}): SE works on feature maps, not after flatten/fc")
                r = _int(args[0], "reduction", n, line, 1, MAX_CHANNELS) if args else 4
                if len(args) > 1:
                    raise SpecError(f"line {n} ({line!r}): expected 'se REDUCTION', e.g. 'se 4'")
                budget(n, line, 2 * c * max(c // r, 1) + c + max(c // r, 1), c * h * w)
                add(SqueezeExcitation(c, max(c // r, 1)), n)
            elif op == "flatten":
                _no_args(args, n, line)
                if flat is None:
                    add(nn.Flatten(), n)
                    flat = c * h * w
            elif op == "fc":
                if len(args) != 1:
                    raise SpecError(f"line {n} ({line!r}): expected 'fc OUT', e.g. 'fc 10'")
                out = _int(args[0], "output features", n, line, 1, 100_000)
                if flat is None:
                    add(nn.Flatten(), n)
                    flat = c * h * w
                if flat > MAX_FEATURES // max(out, 1) and flat * out > MAX_FEATURES:
                    raise SpecError(f"line {n} ({line!r}): {flat} x {out} weights is too large "
                                    f"(at most {MAX_FEATURES:,}); add pooling before the fc layer")
                budget(n, line, flat * out + out, out)
                add(nn.Linear(flat, out), n)
                flat = out
            else:
                raise SpecError(f"line {n} ({line!r}): unknown layer {op!r}; expected one of conv, dwconv, upconv, "
                                f"pool, gap, bn, {', '.join(_ACTS)}, dropout, se, flatten, fc")
        except SpecError:
            raise
        except (ValueError, TypeError) as exc:  # geometry's own messages, placed on the line
            raise SpecError(f"line {n} ({line!r}): {exc}") from None
        if flat is None and c * h * w > 64_000_000:
            raise SpecError(f"line {n} ({line!r}): the feature map {c}x{h}x{w} is too large (over 64 M values)")
    if not layers:
        raise SpecError("the spec has an input line but no layers")
    model = nn.Sequential(*layers).eval()
    return BuiltSpec(model, input_shape, tuple(owners))


def _no_args(args: list[str], n: int, line: str) -> None:
    if args:
        raise SpecError(f"line {n} ({line!r}): this layer takes no options, got {' '.join(args)!r}")


def check(text: str) -> BuiltSpec:
    """Build and run one forward pass on zeros (catches anything the shape rules missed)."""
    built = build(text)
    with torch.no_grad():
        built.model(torch.zeros(1, *built.input_shape))
    return built
