"""The runs that finished on this machine, read from the run store, and the time estimates built on them.

The one place the page, the CLI, the queue's checks and the live view get a time estimate from:
:func:`estimate` (one run) and :func:`estimate_plan` (runs in the queue, as many at once as the Lab trains) pass the store's history to
:mod:`vizcore.train.timing`. The history is re-read whenever a run finishes (the store's count of finished
runs and their latest end time are checked on each call: one small query), never served stale.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vizcore.core import paths
from vizcore.core.device import load_per_core, runnable_now
from vizcore.train import timing
from vizcore.train.config import TrainConfig

__all__ = ["estimate", "estimate_plan", "load_for_a_run", "past_runs", "runs_at_once"]

_CACHE: dict[str, tuple[tuple, list[timing.PastRun]]] = {}
_LOCK = threading.Lock()


def past_runs(store_path: Any = None) -> list[timing.PastRun]:
    """:class:`~vizcore.train.timing.PastRun` of every finished run in the store at ``store_path`` (None: the
    default store); [] when there is no store yet."""
    from vizcore.lab.store import RunStore

    path = Path(store_path) if store_path is not None else paths.run_store_path()
    if not path.is_file():
        return []
    store = RunStore(path, readonly=True)
    try:
        stamp = store.finished_stamp()
        key = str(path)
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        rows = []
        for rec in store.list():
            if rec.epochs_done and rec.status in ("done", "cancelled"):
                row = timing.past_run(rec.config, rec.status, rec.info, store.metrics(rec.id, "epoch"),
                                      rec.started_at, rec.finished_at)
                if row is not None:
                    rows.append(row)
        with _LOCK:
            _CACHE[key] = (stamp, rows)
        return rows
    finally:
        store.close()


def load_for_a_run(store_path: Any = None) -> float:
    """The load per core (1 = every core busy) a run started now trains under, its own threads included: what
    runs on the machine at this moment (:func:`vizcore.core.device.runnable_now`) less the Lab's own runs in
    training (a queued run starts when they end; a run beside them was measured beside such runs), plus the run's
    threads. Where the system gives no count of running threads: the 1-minute load average (it lags: work
    started a moment ago is not in it yet, work ended a moment ago still is)."""
    from vizcore.lab.executors import settings

    cores = os.cpu_count() or 1
    others = runnable_now()
    if math.isnan(others):  # no /proc/loadavg
        return load_per_core()
    try:
        threads = settings()[2]
    except ValueError:
        threads = 1
    return max(0.0, others - _training_here(store_path) * threads) / cores + threads / cores


def _training_here(store_path: Any = None) -> int:
    from vizcore.lab.store import RunStore

    path = Path(store_path) if store_path is not None else paths.run_store_path()
    if not path.is_file():
        return 0
    store = RunStore(path, readonly=True)
    try:
        return store.count_status("running")
    finally:
        store.close()


def estimate(config: TrainConfig, store_path: Any = None, device: str | None = None,
             calibrate: bool = True, at_load_now: bool = True) -> timing.TimeEstimate | None:
    """How long ``config`` will take here (:func:`vizcore.train.timing.estimate_time` on the store's history),
    at the load a run started now meets (:func:`load_for_a_run`; ``at_load_now`` off for a run already training,
    whose own load is in it)."""
    return timing.estimate_time(config, past_runs(store_path), device, calibrate,
                                load_for_a_run(store_path) if at_load_now else None)


def runs_at_once() -> int:
    """How many runs the Lab trains side by side here: its executor's workers (each run on its own threads), no
    more than the cores hold at that many threads per run; 1 for the app's own process or a bad setting (the Lab
    itself says what is wrong with it)."""
    from vizcore.lab.executors import settings

    try:
        kind, workers, threads = settings()
    except ValueError:
        return 1
    if kind == "inprocess":
        return 1
    return max(1, min(workers, (os.cpu_count() or 1) // threads))


def estimate_plan(configs: Sequence[TrainConfig], store_path: Any = None, device: str | None = None,
                  calibrate: bool = True, at_once: int | None = None) -> timing.TimeEstimate | None:
    """How long ``configs`` take in the Lab's queue, ``at_once`` side by side (default: :func:`runs_at_once`;
    :func:`vizcore.train.timing.estimate_plan`); None when ``calibrate`` is False and a run has nothing measured
    to rest on."""
    n = runs_at_once() if at_once is None else at_once
    return timing.estimate_plan(list(configs), past_runs(store_path), device, load_for_a_run(store_path), calibrate,
                                 n)
