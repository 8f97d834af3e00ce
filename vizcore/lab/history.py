"""The runs that finished on this machine, read from the run store, and the time estimates built on them.

The one place the page, the CLI, the queue's checks and the live view get a time estimate from:
:func:`estimate` (one run) and :func:`estimate_plan` (runs one after another) pass the store's history to
:mod:`vizcore.train.timing`. The history is re-read whenever a run finishes (the store's count of finished
runs and their latest end time are checked on each call: one small query), never served stale.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vizcore.core import paths
from vizcore.core.device import load_per_core
from vizcore.train import timing
from vizcore.train.config import TrainConfig

__all__ = ["estimate", "estimate_plan", "past_runs"]

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


def estimate(config: TrainConfig, store_path: Any = None, device: str | None = None,
             calibrate: bool = True, at_load_now: bool = True) -> timing.TimeEstimate | None:
    """How long ``config`` will take here (:func:`vizcore.train.timing.estimate_time` on the store's history),
    at the machine's load now (``at_load_now``; off for a run already training, whose own load is in it)."""
    return timing.estimate_time(config, past_runs(store_path), device, calibrate,
                                load_per_core() if at_load_now else None)


def estimate_plan(configs: Sequence[TrainConfig], store_path: Any = None, device: str | None = None,
                  calibrate: bool = True) -> timing.TimeEstimate | None:
    """How long ``configs`` take one after another (:func:`vizcore.train.timing.estimate_plan`); None when
    ``calibrate`` is False and a run has nothing measured to rest on."""
    return timing.estimate_plan(list(configs), past_runs(store_path), device, load_per_core(), calibrate)
