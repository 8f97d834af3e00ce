"""Convolution arithmetic: output sizes, parameter and multiply-add counts, and what can go wrong.

The formulas are those of Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016),
in PyTorch's conventions (``torch.nn.Conv2d``, ``MaxPool2d``/``AvgPool2d`` with ``ceil_mode``,
``ConvTranspose2d``). All functions work on one spatial axis; call them once per axis.

    O = floor((I + 2P - D(K-1) - 1) / S) + 1
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Padding = int | Literal["same", "valid"]
PoolMode = Literal["max", "avg"]

MAX_SIZE = 1_000_000  # largest spatial size accepted (guards against typos like 2240000)
BYTES_FLOAT32 = 4  # bytes per value of a float32 map
MAX_WINDOWS = 240  # window positions sampled for an animation (the frame cap): never one per output


def _check_int(name: str, value: object, lo: int, hi: int = MAX_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer {name}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"expected {name} between {lo} and {hi}, got {value}")
    return value


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Extent of a dilated kernel: D(K-1)+1 (a 3x3 kernel with dilation 2 spans 5 pixels)."""
    _check_int("kernel", kernel, 1)
    _check_int("dilation", dilation, 1)
    return dilation * (kernel - 1) + 1


def same_padding(kernel: int, stride: int = 1, dilation: int = 1, size: int | None = None) -> tuple[int, int]:
    """(before, after) padding that makes O = ceil(I / S), the extra pixel going after (TensorFlow's "SAME").

    For stride 1 this is what ``nn.Conv2d(padding="same")`` does. For stride > 1 it depends on the input
    size (PyTorch refuses ``padding="same"`` there; this is TensorFlow's rule, needing ``size``).
    """
    k_eff = effective_kernel(kernel, dilation)
    _check_int("stride", stride, 1)
    if stride == 1:
        total = k_eff - 1
    else:
        if size is None:
            raise ValueError("expected an input size for 'same' padding with stride > 1, got None")
        _check_int("input size", size, 1)
        out = -(-size // stride)
        total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding: Padding, kernel: int, stride: int = 1, dilation: int = 1,
                    size: int | None = None) -> tuple[int, int]:
    """Padding as (before, after) pixels from a number, ``"same"`` or ``"valid"``."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_padding(kernel, stride, dilation, size)
    if isinstance(padding, str):
        raise ValueError(f"expected padding to be a number, 'same' or 'valid', got {padding!r}")
    p = _check_int("padding", padding, 0)
    return p, p


def conv_out(size: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1) -> int:
    """Output size of a convolution on one axis.

    >>> conv_out(227, 11, 4, 0)   # AlexNet conv1 as in the paper
    55
    >>> conv_out(224, 11, 4, 2)   # torchvision's AlexNet conv1
    55
    """
    _check_int("input size", size, 1)
    _check_int("stride", stride, 1)
    k_eff = effective_kernel(kernel, dilation)
    before, after = resolve_padding(padding, kernel, stride, dilation, size)
    span = size + before + after - k_eff
    if span < 0:
        raise ValueError(
            f"expected the (dilated) kernel to fit the padded input, got kernel extent {k_eff} > padded input "
            f"{size + before + after} (input {size} + padding {before}+{after}): output would be empty")
    return span // stride + 1


def pool_out(size: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    """Output size of max/avg pooling on one axis, PyTorch's rule (stride defaults to kernel).

    With ``ceil_mode`` the last window may hang over the edge, but PyTorch drops it when it would start
    in the right padding: if (O-1)*S >= I + P then O -= 1.
    """
    _check_int("input size", size, 1)
    stride = kernel if stride is None else stride
    _check_int("stride", stride, 1)
    k_eff = effective_kernel(kernel, dilation)
    _check_int("padding", padding, 0)
    if padding > kernel // 2:
        raise ValueError(f"expected pooling padding at most half the kernel ({kernel // 2}), got {padding}")
    span = size + 2 * padding - k_eff
    if span < 0:
        raise ValueError(f"expected the pooling window ({k_eff}) to fit the padded input ({size + 2 * padding}), "
                         "got an empty output")
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = span // stride + 1
    return out


def conv_transpose_out(size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                       dilation: int = 1) -> int:
    """Output size of a transposed convolution: (I-1)S - 2P + D(K-1) + output_padding + 1."""
    _check_int("input size", size, 1)
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("output padding", output_padding, 0)
    k_eff = effective_kernel(kernel, dilation)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"expected output padding smaller than stride or dilation ({max(stride, dilation)}), "
                         f"got {output_padding}")
    out = (size - 1) * stride - 2 * padding + k_eff + output_padding
    if out < 1:
        raise ValueError(f"expected padding small enough for a non-empty output, got output size {out}")
    return out


def conv_params(in_channels: int, out_channels: int, kernel: int | tuple[int, int], groups: int = 1,
                bias: bool = True) -> int:
    """Learnable parameters of a 2-D convolution: (K_h*K_w*C_in/groups + bias) * C_out."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    _check_groups(in_channels, out_channels, groups)
    return (kh * kw * in_channels // groups + int(bias)) * out_channels


def conv_macs(in_channels: int, out_channels: int, kernel: int | tuple[int, int], out_h: int, out_w: int,
              groups: int = 1) -> int:
    """Multiply-adds of a 2-D convolution (bias adds not counted, as torchvision's GFLOPS metadata):
    K_h*K_w*C_in/groups multiplies per output value, C_out*O_h*O_w output values."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    _check_groups(in_channels, out_channels, groups)
    return kh * kw * (in_channels // groups) * out_channels * out_h * out_w


def _check_groups(cin: int, cout: int, groups: int) -> None:
    _check_int("input channels", cin, 1)
    _check_int("output channels", cout, 1)
    _check_int("groups", groups, 1)
    if cin % groups or cout % groups:
        raise ValueError(f"expected groups to divide both channel counts ({cin} in, {cout} out), got {groups}")


# ---------------------------------------------------------------------------------- explained layer


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution or pooling layer on a square or rectangular input, as the Conv Arithmetic page sets it."""

    height: int = 32  # input height, pixels
    width: int = 32  # input width, pixels
    kernel: int = 3  # kernel size K (square)
    stride: int = 1  # stride S
    padding: Padding = 1  # P: pixels on each side, "same" or "valid"
    dilation: int = 1  # D: spacing between kernel taps
    kind: Literal["conv", "pool", "transposed"] = "conv"  # what the layer is
    pool_mode: PoolMode = "max"  # for kind="pool"
    ceil_mode: bool = False  # for kind="pool": round the output size up
    output_padding: int = 0  # for kind="transposed": extra rows/cols added on one side
    in_channels: int = 3  # C_in
    out_channels: int = 16  # C_out (conv / transposed); pooling keeps C_in
    groups: int = 1  # channel groups (1 = dense, C_in = depthwise)
    bias: bool = True  # whether the conv has a bias per output channel

    def __post_init__(self) -> None:
        _check_int("input height", self.height, 1)
        _check_int("input width", self.width, 1)
        _check_int("kernel", self.kernel, 1, 1024)
        _check_int("stride", self.stride, 1, 1024)
        _check_int("dilation", self.dilation, 1, 1024)
        if self.kind not in ("conv", "pool", "transposed"):
            raise ValueError(f"expected kind 'conv', 'pool' or 'transposed', got {self.kind!r}")
        if self.pool_mode not in ("max", "avg"):
            raise ValueError(f"expected pool_mode 'max' or 'avg', got {self.pool_mode!r}")
        if isinstance(self.padding, str):
            if self.padding not in ("same", "valid"):
                raise ValueError(f"expected padding to be a number, 'same' or 'valid', got {self.padding!r}")
            if self.kind != "conv":
                raise ValueError(f"expected a number as padding for {self.kind}, got {self.padding!r}")
        else:
            _check_int("padding", self.padding, 0, 1024)
        _check_int("input channels", self.in_channels, 1, 100_000)
        _check_int("output channels", self.out_channels, 1, 100_000)
        if self.kind != "pool":
            _check_groups(self.in_channels, self.out_channels, self.groups)


@dataclass(frozen=True)
class Explained:
    """Everything the Conv Arithmetic page shows for one layer."""

    out_height: int
    out_width: int
    pad: tuple[int, int, int, int]  # (top, bottom, left, right) pixels
    formula: str  # the general formula
    filled: list[str]  # the formula with the user's numbers, one line per axis
    params: int  # learnable parameters
    macs: int  # multiply-adds
    out_channels: int
    warnings: list[str] = field(default_factory=list)  # plain-English caveats
    # (out_row, out_col, top, left) in padded coords: every window when there are at most ``max_windows``,
    # else that many sampled evenly in row-major order (first and last included); none for transposed convs
    windows: tuple[tuple[int, int, int, int], ...] = ()
    n_windows: int = 0  # all window positions (out_height x out_width; 0 for transposed convs)
    output_bytes: int = 0  # the output map of one instance in float32: C_out x O_h x O_w x 4 bytes


def _axis_warnings(axis: str, size: int, g: ConvGeometry, before: int, after: int) -> list[str]:
    out: list[str] = []
    k_eff = effective_kernel(g.kernel, g.dilation)
    span = size + before + after - k_eff
    rem = span % g.stride
    if g.kind == "conv" and rem:
        edge = "bottom" if axis == "height" else "right"
        out.append(
            f"{axis.capitalize()}: (I + P_before + P_after - D(K-1) - 1) / S = {span}/{g.stride} is not exact — floor "
            f"drops the last {rem} {'row' if axis == 'height' else 'column'}{'s' if rem > 1 else ''} of the padded "
            f"input ({edge} edge): no window covers {'them' if rem > 1 else 'it'}.")
    if g.kind == "pool" and rem:
        edge = "bottom" if axis == "height" else "right"
        if g.ceil_mode:
            o = pool_out(size, g.kernel, g.stride, before, g.dilation, True)
            inside = size + before + after - (o - 1) * g.stride
            if inside >= k_eff:
                out.append(f"{axis.capitalize()}: {span}/{g.stride} is not exact — ceil_mode would keep a partial window, "
                           "but it would start in the padding, so PyTorch drops it.")
            else:
                out.append(f"{axis.capitalize()}: {span}/{g.stride} is not exact — ceil_mode keeps a last, partial window "
                           f"at the {edge} edge: only {inside} of its {k_eff} pixels lie on the (padded) input.")
        else:
            out.append(f"{axis.capitalize()}: {span}/{g.stride} is not exact — floor drops the last {rem} "
                       f"{'row' if axis == 'height' else 'column'}{'s' if rem > 1 else ''} ({edge} edge); "
                       "ceil_mode would keep a partial window.")
    if g.kind != "transposed" and max(before, after) > (k_eff - 1) // 2 and max(before, after) > 0 and g.padding != "same":
        half = (k_eff - 1) // 2
        if max(before, after) >= k_eff:
            out.append(f"{axis.capitalize()}: padding {max(before, after)} is at least the kernel extent {k_eff}: the "
                       "outermost outputs see nothing but padding.")
        else:
            out.append(f"{axis.capitalize()}: padding {max(before, after)} is larger than half the kernel "
                       f"((K_eff-1)/2 = {half}): border outputs see more padding than image and the map grows.")
    return out


def sample_windows(out_h: int, out_w: int, stride: int, max_windows: int = MAX_WINDOWS
                   ) -> tuple[tuple[int, int, int, int], ...]:
    """Up to ``max_windows`` window positions (out_row, out_col, top, left), evenly spaced in row-major order.

    Memory and time grow with ``max_windows``, not with the output size (a 1,000,000-pixel input is as cheap
    as a 7-pixel one).
    """
    _check_int("max_windows", max_windows, 1, 100_000)
    total = out_h * out_w
    flat: range | list[int]
    if total <= max_windows:
        flat = range(total)
    else:
        flat = sorted({round(i * (total - 1) / (max_windows - 1)) for i in range(max_windows)}) if max_windows > 1 else [0]
    return tuple((i // out_w, i % out_w, (i // out_w) * stride, (i % out_w) * stride) for i in flat)


def explain(g: ConvGeometry, max_windows: int = MAX_WINDOWS) -> Explained:
    """Output size, filled-in formula, parameters, multiply-adds, warnings and sliding-window positions.

    Window positions are counted, and at most ``max_windows`` of them listed (:func:`sample_windows`).
    Raises ValueError when the settings are impossible (output smaller than 1, groups not dividing channels...).
    """
    if g.kind == "conv":
        ph = resolve_padding(g.padding, g.kernel, g.stride, g.dilation, g.height)
        pw = resolve_padding(g.padding, g.kernel, g.stride, g.dilation, g.width)
        oh = _conv_axis(g.height, g, ph)
        ow = _conv_axis(g.width, g, pw)
        formula = "O = floor((I + 2P - D(K-1) - 1) / S) + 1"
        filled = [_filled(ax, i, g, p, o) for ax, i, p, o in (("H", g.height, ph, oh), ("W", g.width, pw, ow))]
        params = conv_params(g.in_channels, g.out_channels, g.kernel, g.groups, g.bias)
        macs = conv_macs(g.in_channels, g.out_channels, g.kernel, oh, ow, g.groups)
        cout = g.out_channels
    elif g.kind == "pool":
        p = int(g.padding)
        ph = pw = (p, p)
        oh = pool_out(g.height, g.kernel, g.stride, p, g.dilation, g.ceil_mode)
        ow = pool_out(g.width, g.kernel, g.stride, p, g.dilation, g.ceil_mode)
        rnd = "ceil" if g.ceil_mode else "floor"
        formula = f"O = {rnd}((I + 2P - D(K-1) - 1) / S) + 1"
        filled = [f"{ax}: {rnd}(({i} + 2·{p} - {g.dilation}·({g.kernel}-1) - 1) / {g.stride}) + 1 = {o}"
                  for ax, i, o in (("H", g.height, oh), ("W", g.width, ow))]
        params = 0
        # max: K*K comparisons, avg: K*K adds per output; counted as operations, not multiply-adds
        macs = 0
        cout = g.in_channels
    else:
        p = int(g.padding)
        ph = pw = (p, p)
        oh = conv_transpose_out(g.height, g.kernel, g.stride, p, g.output_padding, g.dilation)
        ow = conv_transpose_out(g.width, g.kernel, g.stride, p, g.output_padding, g.dilation)
        formula = "O = (I - 1)·S - 2P + D(K-1) + output_padding + 1"
        filled = [f"{ax}: ({i} - 1)·{g.stride} - 2·{p} + {g.dilation}·({g.kernel}-1) + {g.output_padding} + 1 = {o}"
                  for ax, i, o in (("H", g.height, oh), ("W", g.width, ow))]
        params = conv_params(g.out_channels, g.in_channels, g.kernel, g.groups, False) + (g.out_channels if g.bias else 0)
        # every input value is multiplied by every kernel tap of its group
        macs = g.kernel * g.kernel * g.in_channels * (g.out_channels // g.groups) * g.height * g.width
        cout = g.out_channels
    warnings: list[str] = []
    if g.kind != "transposed":
        warnings += _axis_warnings("height", g.height, g, *ph)
        warnings += _axis_warnings("width", g.width, g, *pw)
    if g.kernel % 2 == 0 and g.kind == "conv":
        warnings.append(f"Even kernel ({g.kernel}×{g.kernel}): there is no centre pixel, so each output sits half a "
                        "pixel off its input position, and 'same' padding has to be uneven (one more pixel after).")
    if g.kind == "transposed" and g.stride > g.kernel:
        warnings.append(f"Stride {g.stride} is larger than the kernel {g.kernel}: the transposed conv leaves gaps "
                        "(output pixels no input reaches).")
    if g.kind == "transposed" and g.kernel % g.stride:
        warnings.append(f"Kernel {g.kernel} is not a multiple of stride {g.stride}: overlapping windows cover some "
                        "output pixels more often than others (checkerboard artefacts, Odena et al. 2016).")
    windows = sample_windows(oh, ow, g.stride, max_windows) if g.kind != "transposed" else ()
    n_windows = oh * ow if g.kind != "transposed" else 0
    return Explained(oh, ow, (ph[0], ph[1], pw[0], pw[1]), formula, filled, params, macs, cout, warnings, windows,
                     n_windows, cout * oh * ow * BYTES_FLOAT32)


def _conv_axis(size: int, g: ConvGeometry, pad: tuple[int, int]) -> int:
    k_eff = effective_kernel(g.kernel, g.dilation)
    span = size + pad[0] + pad[1] - k_eff
    if span < 0:
        raise ValueError(
            f"impossible settings: the kernel spans {k_eff} pixels (D(K-1)+1 = {g.dilation}·({g.kernel}-1)+1) but the "
            f"padded input is only {size + pad[0] + pad[1]} pixels (input {size} + padding {pad[0]}+{pad[1]}): "
            "the output would be smaller than 1")
    return span // g.stride + 1


def _filled(axis: str, size: int, g: ConvGeometry, pad: tuple[int, int], out: int) -> str:
    if pad[0] == pad[1]:
        p = f"2·{pad[0]}"
    else:
        p = f"{pad[0]}+{pad[1]}"
    return f"{axis}: floor(({size} + {p} - {g.dilation}·({g.kernel}-1) - 1) / {g.stride}) + 1 = {out}"


@dataclass(frozen=True)
class SeparableCost:
    """A standard K×K convolution against its depthwise-separable form (a K×K depthwise conv, one filter per input
    channel, then a 1×1 pointwise conv), at the same channels and output size; biases left out of both."""

    standard_params: int  # K·K·C_in·C_out
    separable_params: int  # K·K·C_in + C_in·C_out
    standard_macs: int  # K·K·C_in·C_out·O_h·O_w
    separable_macs: int  # (K·K·C_in + C_in·C_out)·O_h·O_w
    ratio: float  # standard / separable: above 1 the separable form is cheaper (Howard et al.: 1/(1/C_out + 1/K²))


def separable_cost(in_channels: int, out_channels: int, kernel: int, out_h: int, out_w: int) -> SeparableCost:
    """Cost of a standard conv and of its depthwise-separable form (MobileNets, Howard et al. 2017, §3.1; Xception,
    Chollet 2017). The ratio is 1/(1/C_out + 1/K²): it does not depend on C_in, about K² for wide layers (8.7× at
    256 maps, 3×3) and below 1 for very narrow outputs (3 -> 1 maps: 30 against 27 multiply-adds per position).

    >>> separable_cost(256, 256, 3, 1, 1).ratio > 8.6
    True
    """
    _check_int("input channels", in_channels, 1, 100_000)
    _check_int("output channels", out_channels, 1, 100_000)
    _check_int("kernel", kernel, 1, 1024)
    _check_int("output height", out_h, 1)
    _check_int("output width", out_w, 1)
    std = kernel * kernel * in_channels * out_channels
    sep = kernel * kernel * in_channels + in_channels * out_channels
    return SeparableCost(std, sep, std * out_h * out_w, sep * out_h * out_w, std / sep)


def stacked_field(n: int, kernel: int) -> int:
    """Receptive field of ``n`` stacked stride-1 KxK convolutions: n(K-1)+1 (two 3x3 see 5x5, three see 7x7)."""
    _check_int("layers", n, 1, 1000)
    _check_int("kernel", kernel, 1, 1024)
    return n * (kernel - 1) + 1

