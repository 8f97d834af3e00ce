"""Argument checks shared by every config: ranges and choices, with "expected ..., got ..." messages."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False,
                 lo_open: bool = False) -> None:
    ok_type = isinstance(value, int) and not isinstance(value, bool) if integer else (
        isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok_type or (isinstance(value, float) and not math.isfinite(value)):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"expected {name} to be {kind} in [{lo}, {hi}], got {value!r}")
    if value > hi or value < lo or (lo_open and value <= lo):
        left = "(" if lo_open else "["
        raise ValueError(f"expected {name} in {left}{lo}, {hi}], got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"expected {name} to be one of {', '.join(choices)}, got {value!r}")
