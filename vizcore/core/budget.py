"""The memory budget: one limit on what a single request may allocate, read in one place.

A ConvScope server is shared (a class on one machine): a few hundred bytes of input (a 1x30,000 PNG, a
five-line layer spec, a 4096-pixel conv arithmetic request) can ask for gigabytes. Every entry point that
allocates estimates the bytes first and calls :func:`check_memory`, which refuses with a sentence above the
budget. Set ``CONVSCOPE_MEMORY_BUDGET_MB`` to change it; the default (1,024 MB) suits a 2-core, 24 GB machine
serving a class of about twenty (each request gets a small share; training runs queue one at a time).
"""
from __future__ import annotations

import os

ENV_VAR = "CONVSCOPE_MEMORY_BUDGET_MB"
DEFAULT_MB = 1024
_MIN_MB, _MAX_MB = 16, 1 << 20  # below 16 MB nothing works; above 1 TB is surely a typo


class MemoryBudgetError(ValueError):
    """A request whose estimated memory is above the budget; the message says what and how much."""


def memory_budget_bytes() -> int:
    """The budget in bytes, from ``CONVSCOPE_MEMORY_BUDGET_MB`` (default 1,024 MB); ValueError when it is not a
    whole number of megabytes in [16, 1048576]."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_MB << 20
    try:
        mb = int(raw)
    except ValueError:
        raise ValueError(f"expected {ENV_VAR} to be a whole number of megabytes, got {raw!r}") from None
    if not _MIN_MB <= mb <= _MAX_MB:
        raise ValueError(f"expected {ENV_VAR} between {_MIN_MB} and {_MAX_MB}, got {mb}")
    return mb << 20


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KB', 5.4e9 -> '5.4 GB' (powers of 1024, one decimal)."""
    unit = "bytes"
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            break
        n /= 1024
    return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"


def check_memory(what: str, nbytes: float, hint: str = "") -> None:
    """Refuse (MemoryBudgetError) when ``nbytes``, the estimate for ``what``, is above the budget.

    >>> check_memory("a 10x10 float map", 400)
    """
    budget = memory_budget_bytes()
    if nbytes > budget:
        tail = f"; {hint}" if hint else ""
        raise MemoryBudgetError(f"{what} would need about {format_bytes(nbytes)}, above this server's memory budget "
                                f"of {format_bytes(budget)} ({ENV_VAR}){tail}")


# ------------------------------------------------------------------------------------------- work on request

UNASKED_FLOPS = 150e9  # 1-2 s of one core: work costing more waits for the user's click, with its time said


def on_request(flops: float) -> bool:
    """Whether work of ``flops`` FLOPs waits to be asked for rather than starting with the page: more than
    :data:`UNASKED_FLOPS`, what a page may spend unasked on a server a class shares."""
    return flops > UNASKED_FLOPS
