"""When a layer's settings are impossible: the reason in words and settings near them that would work.

The Conv Arithmetic page shows both under its error, and ``python -m vizcore outsize`` adds the suggestions
to its one-line error, so a user learns what to change, not only that something is wrong.
"""
from __future__ import annotations

import math
import re

__all__ = ["reason", "what_would_work"]

_PREFIX = re.compile(r"^\s*impossible settings:\s*", re.IGNORECASE)


def reason(exc: Exception) -> str:
    """An error of :mod:`vizcore.arch.geometry` in words, without its leading "impossible settings:" (a page or
    command says that once itself), starting with a capital letter."""
    text = _PREFIX.sub("", str(exc))
    return text[:1].upper() + text[1:] if text else type(exc).__name__


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def what_would_work(kind: str, size: int, kernel: int, stride: int, padding: int | str, dilation: int, cin: int,
                    cout: int, groups: int, out_pad: int) -> list[str]:
    """Settings near the given ones that are possible, one sentence each, everything else kept.

    kind: "conv", "pool" or "transposed"; size: the smaller input side (px); padding: pixels per side, "same" or
    "valid". [] when nothing simple is wrong (or the problem is not one of these: kernel larger than the padded
    input, pooling padding above half the kernel, transposed output padding or padding too large, groups that do
    not divide the channels)."""
    out: list[str] = []
    pad = 0 if padding == "valid" else padding
    if isinstance(pad, int):
        k_eff = dilation * (kernel - 1) + 1
        if kind in ("conv", "pool") and k_eff > size + 2 * pad:
            k_max = (size + 2 * pad - 1) // dilation + 1
            p_min = math.ceil((k_eff - size) / 2)
            out.append(f"Largest kernel that fits {size} px with padding {pad} and dilation {dilation}: "
                       f"K = {k_max}.")
            if kind == "conv" or p_min <= kernel // 2:
                out.append(f"Smallest padding for a {kernel}×{kernel} kernel with dilation {dilation}: "
                           f"P = {p_min} per side.")
            if kernel > 1 and dilation > 1:
                out.append(f"Largest dilation for a {kernel}×{kernel} kernel: "
                           f"D = {max((size + 2 * pad - 1) // (kernel - 1), 1)}.")
        if kind == "pool" and pad > kernel // 2:
            out.append(f"PyTorch pads pooling by at most half the kernel: P ≤ {kernel // 2} for K = {kernel}.")
        if kind == "transposed":
            if out_pad >= max(stride, dilation):
                out.append(f"Output padding must be smaller than the stride or the dilation: at most "
                           f"{max(stride, dilation) - 1}.")
            most = ((size - 1) * stride + dilation * (kernel - 1) + min(out_pad, max(stride, dilation) - 1)) // 2
            if pad > most:
                out.append(f"Largest padding that leaves an output: P = {most}.")
    if kind != "pool" and (cin % groups or cout % groups):
        ok = _divisors(math.gcd(cin, cout))
        out.append(f"Groups must divide C_in = {cin} and C_out = {cout}: "
                   f"{', '.join(map(str, ok[:12]))}{' …' if len(ok) > 12 else ''}.")
    return out
