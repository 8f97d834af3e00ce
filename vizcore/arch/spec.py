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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

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


class _LineError(ValueError):
    """What is wrong with one line, without the line: :func:`build` adds "line N ('text'): " once."""


def _opts(tokens: list[str], allowed: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tok in tokens:
        m = re.fullmatch(r"(op|[a-z])(-?[0-9a-z.]+)?", tok)
        if tok in allowed and allowed[tok] == "flag":
            out[tok] = "1"
            continue
        if not m or m.group(1) not in allowed or m.group(2) is None:
            names = ", ".join(f"{k}N" if v != "flag" else k for k, v in allowed.items())
            raise _LineError(f"unknown option {tok!r}; expected {names}")
        out[m.group(1)] = m.group(2)
    return out


def _int(text: str, what: str, lo: int = 1, hi: int = MAX_CHANNELS) -> int:
    try:
        v = int(text)
    except ValueError:
        raise _LineError(f"expected a whole number for {what}, got {text!r}") from None
    if not lo <= v <= hi:
        raise _LineError(f"expected {what} between {lo} and {hi}, got {v}")
    return v


def _no_args(args: list[str]) -> None:
    if args:
        raise _LineError(f"this layer takes no options, got {' '.join(args)!r}")


@dataclass
class _Stack:
    """The stack being built: the current shape (C, H, W, or ``flat`` features after flatten/fc), its modules
    with their spec lines, and the memory it needs so far."""

    c: int
    h: int
    w: int
    flat: int | None = None  # feature count once flattened
    layers: list[nn.Module] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    params: int = 0
    acts: int = 0
    line_no: int = 0

    def budget(self, params: int, out_values: int) -> None:
        # Memory is estimated before each layer is built: float32 parameters plus every activation of one image
        # (the summary keeps them), twice for the input and output of a layer in flight. A five-line spec of
        # 8192-channel convs would otherwise allocate gigabytes before any check ran.
        self.params += params
        self.acts += out_values
        try:
            check_memory(f"the stack so far ({self.params:,} parameters, {self.acts:,} activation values per "
                         "image)", 4 * (self.params + 2 * self.acts), "use fewer channels, a smaller input or more pooling")
        except MemoryBudgetError as exc:
            raise _LineError(str(exc)) from None

    def add(self, mod: nn.Module) -> None:
        self.layers.append(mod)
        self.owners.append(self.line_no)

    def maps_only(self, what: str) -> None:
        if self.flat is not None:
            raise _LineError(f"{what} cannot follow flatten/fc")

    def flatten(self) -> int:
        if self.flat is None:
            self.add(nn.Flatten())
            self.flat = self.c * self.h * self.w
        return self.flat


_CONV_USAGE = {"conv": ("conv KERNEL OUT", "conv 3 64 s1 p1"), "dwconv": ("dwconv KERNEL", "dwconv 3 s1 p1"),
               "upconv": ("upconv KERNEL OUT", "upconv 2 32 s2")}


def _conv(st: _Stack, op: str, args: list[str]) -> None:
    st.maps_only("a convolution")
    npos = 1 if op == "dwconv" else 2
    pos = args[:npos]
    if len(pos) < npos or not all(re.fullmatch(r"\d+", a) for a in pos):
        usage, example = _CONV_USAGE[op]
        raise _LineError(f"expected '{usage} [options]', e.g. '{example}'")
    c, h, w = st.c, st.h, st.w
    k = _int(pos[0], "kernel size", 1, 64)
    cout = c if op == "dwconv" else _int(pos[1], "output channels")
    allowed = ({"s": "int", "p": "int", "op": "int", "d": "int", "nobias": "flag"} if op == "upconv"
               else {"s": "int", "p": "pad", "d": "int", "g": "int", "nobias": "flag"})
    o = _opts(args[npos:], allowed)
    s = _int(o.get("s", "1"), "stride", 1, 64)
    d = _int(o.get("d", "1"), "dilation", 1, 64)
    groups = c if op == "dwconv" else _int(o.get("g", "1"), "groups", 1, MAX_CHANNELS)
    bias = "nobias" not in o
    if op == "upconv":
        p = _int(o.get("p", "0"), "padding", 0, 64)
        opad = _int(o.get("op", "0"), "output padding", 0, 64)
        h2, w2 = (geometry.conv_transpose_out(x, k, s, p, opad, d) for x in (h, w))
        st.budget(c * cout * k * k + (cout if bias else 0), cout * h2 * w2)
        st.add(nn.ConvTranspose2d(c, cout, k, s, p, opad, bias=bias, dilation=d))
    else:
        ptxt = o.get("p", "0")
        pad: geometry.Padding = ptxt if ptxt in ("same", "valid") else _int(ptxt, "padding", 0, 64)  # type: ignore[assignment]
        if cout % groups or c % groups:
            raise _LineError(f"groups {groups} must divide input channels {c} and output channels {cout}")
        if pad == "same" and s != 1:
            raise _LineError(f"'psame' needs stride 1 in PyTorch, got stride {s}")
        h2, w2 = (geometry.conv_out(x, k, s, pad, d) for x in (h, w))
        st.budget(c // groups * cout * k * k + (cout if bias else 0), cout * h2 * w2)
        st.add(nn.Conv2d(c, cout, k, s, pad, dilation=d, groups=groups, bias=bias))
    st.c, st.h, st.w = cout, h2, w2


def _pool(st: _Stack, op: str, args: list[str]) -> None:
    if not args or args[0] not in ("max", "avg") or len(args) < 2:
        raise _LineError("expected 'pool max|avg KERNEL [sS] [pP] [ceil]'")
    st.maps_only("pooling")
    k = _int(args[1], "pool size", 1, 64)
    o = _opts(args[2:], {"s": "int", "p": "int", "ceil": "flag"})
    s = _int(o.get("s", str(k)), "stride", 1, 64)
    p = _int(o.get("p", "0"), "padding", 0, 32)
    ceil = "ceil" in o
    h2, w2 = (geometry.pool_out(x, k, s, p, 1, ceil) for x in (st.h, st.w))
    st.add((nn.MaxPool2d if args[0] == "max" else nn.AvgPool2d)(k, s, p, ceil_mode=ceil))
    st.h, st.w = h2, w2


def _gap(st: _Stack, op: str, args: list[str]) -> None:
    _no_args(args)
    st.maps_only("global pooling")
    st.add(nn.AdaptiveAvgPool2d(1))
    st.h = st.w = 1


def _bn(st: _Stack, op: str, args: list[str]) -> None:
    _no_args(args)
    st.add(nn.BatchNorm2d(st.c) if st.flat is None else nn.BatchNorm1d(st.flat))


def _act(st: _Stack, op: str, args: list[str]) -> None:
    _no_args(args)
    st.add(_ACTS[op]())


def _dropout(st: _Stack, op: str, args: list[str]) -> None:
    pr = 0.5
    if args:
        try:
            pr = float(args[0])
        except ValueError:
            raise _LineError(f"expected a probability, got {args[0]!r}") from None
        if not 0 <= pr < 1 or len(args) > 1:
            raise _LineError("expected 'dropout P' with 0 <= P < 1")
    st.add(nn.Dropout(pr) if st.flat is not None else nn.Dropout2d(pr))


def _se(st: _Stack, op: str, args: list[str]) -> None:
    if st.flat is not None:
        raise _LineError("SE works on feature maps, not after flatten/fc")
    r = _int(args[0], "reduction", 1, MAX_CHANNELS) if args else 4
    if len(args) > 1:
        raise _LineError("expected 'se REDUCTION', e.g. 'se 4'")
    c, hidden = st.c, max(st.c // r, 1)
    st.budget(2 * c * hidden + c + hidden, c * st.h * st.w)
    from torchvision.ops import SqueezeExcitation  # torchvision only for a stack that has an SE block

    st.add(SqueezeExcitation(c, hidden))


def _flatten(st: _Stack, op: str, args: list[str]) -> None:
    _no_args(args)
    st.flatten()


def _fc(st: _Stack, op: str, args: list[str]) -> None:
    if len(args) != 1:
        raise _LineError("expected 'fc OUT', e.g. 'fc 10'")
    out = _int(args[0], "output features", 1, 100_000)
    flat = st.flatten()
    if flat > MAX_FEATURES // max(out, 1) and flat * out > MAX_FEATURES:
        raise _LineError(f"{flat} x {out} weights is too large (at most {MAX_FEATURES:,}); add pooling before the "
                         "fc layer")
    st.budget(flat * out + out, out)
    st.add(nn.Linear(flat, out))
    st.flat = out


def _input_again(st: _Stack, op: str, args: list[str]) -> None:
    raise _LineError("'input' may only be the first line")


_KEYWORDS = {"input": _input_again, "conv": _conv, "dwconv": _conv, "upconv": _conv, "pool": _pool, "gap": _gap,
             "bn": _bn, **{a: _act for a in _ACTS}, "dropout": _dropout, "se": _se, "flatten": _flatten, "fc": _fc}


def _input_line(line: str) -> tuple[int, int, int]:
    parts = line.split()[1:]
    if len(parts) != 3:
        raise _LineError("expected 'input C H W', e.g. 'input 3 32 32'")
    return (_int(parts[0], "input channels", 1, 64), _int(parts[1], "input height", 1, MAX_INPUT),
            _int(parts[2], "input width", 1, MAX_INPUT))


def build(text: str) -> BuiltSpec:
    """Parse ``text`` and build the stack, checking shapes line by line: one small parser per keyword
    (``_KEYWORDS``); any problem is a :class:`SpecError` naming the line.

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
    shape = (3, 32, 32)
    if lines[0][1].lower().split()[0] == "input":
        with _on_line(*lines[0]):
            shape = _input_line(lines[0][1])
        lines = lines[1:]
    st = _Stack(*shape, acts=shape[0] * shape[1] * shape[2])
    for n, line in lines:
        tok = line.lower().split()
        st.line_no = n
        with _on_line(n, line):
            parse = _KEYWORDS.get(tok[0])
            if parse is None:
                raise ValueError(f"unknown layer {tok[0]!r}; expected one of conv, dwconv, upconv, pool, gap, bn, "
                                 f"{', '.join(_ACTS)}, dropout, se, flatten, fc")
            parse(st, tok[0], tok[1:])
            if st.flat is None and st.c * st.h * st.w > 64_000_000:
                raise ValueError(f"the feature map {st.c}x{st.h}x{st.w} is too large (over 64 M values)")
    if not st.layers:
        raise SpecError("the spec has an input line but no layers")
    return BuiltSpec(nn.Sequential(*st.layers).eval(), shape, tuple(st.owners))


@contextmanager
def _on_line(n: int, line: str) -> Iterator[None]:
    """A problem in the block becomes a :class:`SpecError` prefixed with the line (geometry's own ValueErrors and
    TypeErrors too): the one place a message gets its line."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise SpecError(f"line {n} ({line!r}): {exc}") from None


def check(text: str) -> BuiltSpec:
    """Build and run one forward pass on zeros (catches anything the shape rules missed)."""
    built = build(text)
    with torch.no_grad():
        built.model(torch.zeros(1, *built.input_shape))
    return built
