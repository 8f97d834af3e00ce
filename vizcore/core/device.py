"""The compute device: CUDA first, then Apple's MPS, else the CPU.

Everything else in vizcore takes a ``device`` argument; this module only chooses and describes one.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Literal

import torch

DeviceKind = Literal["cuda", "mps", "cpu"]


@dataclass(frozen=True)
class DeviceInfo:
    kind: DeviceKind  # which backend
    name: str  # human-readable name of the chip
    index: int | None  # CUDA ordinal, None elsewhere

    @property
    def label(self) -> str:
        return f"{self.kind.upper()} · {self.name}"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(prefer: str | None = None) -> torch.device:
    """cuda if present, then mps, else cpu. ``prefer`` ("cpu", "cuda", "cuda:1", "mps") overrides;
    ``CONVSCOPE_DEVICE`` in the environment does the same when ``prefer`` is None."""
    prefer = prefer or os.environ.get("CONVSCOPE_DEVICE") or None
    if prefer:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"expected an available device, got {prefer!r} (CUDA is not available here)")
        if dev.type == "mps" and not _mps_available():
            raise ValueError(f"expected an available device, got {prefer!r} (MPS is not available here)")
        if dev.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"expected 'cpu', 'cuda' or 'mps', got {prefer!r}")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device | str | None = None) -> DeviceInfo:
    """Name the device (GPU model, or the CPU's processor string)."""
    dev = pick_device() if device is None else torch.device(device)
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        return DeviceInfo("cuda", torch.cuda.get_device_name(idx), idx)
    if dev.type == "mps":
        return DeviceInfo("mps", "Apple GPU (Metal)", None)
    name = platform.processor() or platform.machine() or "CPU"
    threads = torch.get_num_threads()
    return DeviceInfo("cpu", f"{name}, {threads} threads", None)


# ---------------------------------------------------------------------------------------- the machine's load

BUSY_PER_CORE = 1.0  # a 1-minute load average above this per core: work waits for a core


def load_per_core() -> float:
    """The machine's 1-minute load average divided by its cores (NaN where the system does not say): about 1
    when every core is busy; above 1, work waits for a core and everything takes longer than it would alone."""
    try:
        return os.getloadavg()[0] / max(os.cpu_count() or 1, 1)
    except (OSError, AttributeError):  # Windows has no load average
        return float("nan")


def busy_text(load: float | None = None) -> str | None:
    """A sentence saying the machine is busy, or None when it is not (or cannot say)."""
    x = load_per_core() if load is None else load
    if not x > BUSY_PER_CORE:  # NaN included
        return None
    cores = os.cpu_count() or 1
    return (f"The server is busy (load {x * cores:.1f} on {cores} core{'s' if cores != 1 else ''}): training runs "
            "and pages take longer than usual, and time estimates made when it was quieter run short.")
