"""The compute device: CUDA first, then Apple's MPS, else the CPU.

Everything else in vizcore takes a ``device`` argument; this module only chooses and describes one.
"""
from __future__ import annotations

import math
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
    return DeviceInfo("cpu", f"{name}, {threads} thread{'s' if threads != 1 else ''}", None)


# ---------------------------------------------------------------------------------------- the app's threads

APP_THREADS_ENV = "CONVSCOPE_APP_THREADS"


def app_threads(cores: int | None = None, env: str | None = None) -> int:
    """Torch's intra-op threads for the app server's own computations (what pages compute): the whole number in
    ``CONVSCOPE_APP_THREADS`` if set, else half the cores (at least 1, at most 8).

    Streamlit runs each browser session's script in a thread of its own, and each thread's torch op starts an
    OpenMP team of this many threads. Once threads outnumber free cores (two sessions computing, a run training
    in the Lab's pool, any other work on the machine), every op waits at OpenMP's barriers for a thread that has
    no core: on a 2-core machine with one core busy, an ε-sweep of small_cnn over 10 images took 40.9 s with 2
    threads and 3.2 s with 1, and a ResNet-18 forward and backward pass at 224 px 0.35 s against 0.27 s. Sessions
    computing side by side use the other cores.
    """
    raw = os.environ.get(APP_THREADS_ENV, "") if env is None else env
    if raw.strip():
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"expected {APP_THREADS_ENV} to be a whole number, got {raw.strip()!r}") from None
        if not 1 <= n <= 256:
            raise ValueError(f"expected {APP_THREADS_ENV} between 1 and 256, got {n}")
        return n
    c = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(8, c // 2))


def use_app_threads() -> int:
    """Set torch's intra-op threads for this process to :func:`app_threads` (the app server, once at start);
    returns the number set. A bad ``CONVSCOPE_APP_THREADS`` is said in one line on stderr and the default used."""
    try:
        n = app_threads()
    except ValueError as e:
        import sys

        n = app_threads(env="")
        print(f"ConvScope: {e}; using {n}", file=sys.stderr)
    torch.set_num_threads(n)
    return n


# ---------------------------------------------------------------------------------------- the machine's load

BUSY_PER_CORE = 1.0  # a 1-minute load average above this per core: work waits for a core


def load_per_core() -> float:
    """The machine's 1-minute load average divided by its cores (NaN where the system does not say): about 1
    when every core is busy; above 1, work waits for a core and everything takes longer than it would alone."""
    try:
        return os.getloadavg()[0] / max(os.cpu_count() or 1, 1)
    except (OSError, AttributeError):  # Windows has no load average
        return float("nan")


_RUNNABLE: list[tuple[float, float]] = []  # (when, value): the last look, reused for a moment


def runnable_now(samples: int = 5, gap_s: float = 0.01, fresh_s: float = 2.0) -> float:
    """Threads ready to run on this machine at this moment, the caller excluded: the mean of ``samples`` looks
    ``gap_s`` apart at Linux's count of running threads (/proc/loadavg); NaN where the system does not say. Unlike
    the 1-minute load average it sees work that has just started and forgets work that has just ended. A look
    less than ``fresh_s`` old is reused (a page draws several estimates per rerun)."""
    import time

    if _RUNNABLE and time.monotonic() - _RUNNABLE[0][0] < fresh_s:
        return _RUNNABLE[0][1]
    vals = []
    for i in range(max(1, samples)):
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return float("nan")
        vals.append(max(0, running - 1))
        if i + 1 < samples:
            time.sleep(gap_s)
    value = sum(vals) / len(vals)
    _RUNNABLE[:] = [(time.monotonic(), value)]
    return value


def load_with_me() -> float:
    """The load per core with the calling thread in it (a training run's, recorded with each epoch): the threads
    running now (:func:`runnable_now`, a fresh look) plus the caller, per core; the 1-minute load average where
    the system gives no count."""
    others = runnable_now(samples=3, gap_s=0.005, fresh_s=0.0)
    if math.isnan(others):
        return load_per_core()
    return (others + 1) / max(os.cpu_count() or 1, 1)


def busy_text(load: float | None = None) -> str | None:
    """A sentence saying the machine is busy, or None when it is not (or cannot say)."""
    x = load_per_core() if load is None else load
    if not x > BUSY_PER_CORE:  # NaN included
        return None
    cores = os.cpu_count() or 1
    return (f"The server is busy (load {x * cores:.1f} on {cores} core{'s' if cores != 1 else ''}): training runs "
            "and pages take longer than usual, and time estimates made when it was quieter run short.")
