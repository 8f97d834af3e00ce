"""The lab: the process-wide queue of training runs.

Runs wait in submission order and at most ``concurrency`` train at once (1 on CPU, where two runs would only
share the same cores). :func:`get_lab` returns one :class:`Lab` per database; worker threads write to the
:class:`~vizcore.lab.store.RunStore` and never touch Streamlit.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from vizcore.core import paths
from vizcore.core.io import check_writable
from vizcore.lab import history as run_history
from vizcore.lab.store import RunStore
from vizcore.train.config import FINAL_STATUSES, Status, TrainConfig
from vizcore.train.disk import kept_epochs_bytes
from vizcore.train.engine import Event, Run
from vizcore.train.memory import estimate_memory_detail
from vizcore.train.preflight import preflight

# ---------------------------------------------------------------------------------------- lab


def _default_concurrency() -> int:
    import torch

    return 2 if torch.cuda.is_available() else 1


class Lab:
    """The process-wide run queue: bounded concurrency, owns the store. Thread-safe.

    Runs start in submission order as slots free up. ``submit`` checks the config before queueing
    (device, memory and time budgets: :func:`vizcore.train.preflight.preflight`) so a refused run is an error at
    once, not a failed record later.
    """

    def __init__(self, db_path: str | Path | None = None, concurrency: int | None = None) -> None:
        self.store = RunStore(db_path, recover=True)  # a damaged file is kept aside; the pages keep working
        self.interrupted_on_start = self.store.mark_interrupted()
        self.concurrency = concurrency or _default_concurrency()
        if not 1 <= self.concurrency <= 16:
            raise ValueError(f"expected concurrency between 1 and 16, got {self.concurrency}")
        self._lock = threading.Lock()
        self._queue: list[str] = []
        self._runs: dict[str, Run] = {}  # live runs of this process (queued or running), by id
        self._data: dict[str, tuple[Any, Any]] = {}
        self._closed = False

    def submit(self, config: TrainConfig, name: str | None = None, group: str | None = None,
               data: tuple[Any, Any] | None = None) -> str:
        """Check, record and queue a run; returns its id. ``data`` = (train, val) overrides loading (tests)."""
        if self._closed:
            raise ValueError("expected an open lab, got one that was shut down")
        num_classes = len(data[0].classes) if data is not None else dataset_num_classes(config.dataset)
        check_before_create(self.store, config, num_classes, with_data=data is None)
        run_id = self.store.create(config, name, group)
        run = self.store.make_run(run_id, data, history=run_history.past_runs(self.store.path))
        run.subscribe(lambda ev: self._on_event(run_id, ev))
        with self._lock:
            self._runs[run_id] = run
            self._queue.append(run_id)
        self._dispatch()
        return run_id

    def _on_event(self, run_id: str, ev: Event) -> None:
        if ev.get("kind") == "status" and ev.get("status") in FINAL_STATUSES:
            with self._lock:
                self._runs.pop(run_id, None)
                if run_id in self._queue:
                    self._queue.remove(run_id)
            threading.Thread(target=self._dispatch, daemon=True).start()  # not from inside the ending run's stack

    def _dispatch(self) -> None:
        with self._lock:
            if self._closed:
                return
            active = sum(1 for r in self._runs.values() if r.status == "running" or
                         (r.started and not r.finished))
            to_start = []
            while self._queue and active < self.concurrency:
                rid = self._queue.pop(0)
                run = self._runs.get(rid)
                if run is None or run.finished:
                    continue
                to_start.append(run)
                active += 1
        for run in to_start:
            run.start()

    def get_run(self, run_id: str) -> Run | None:
        """The live :class:`Run` (to subscribe to its events) while it is queued or running here, else None."""
        with self._lock:
            return self._runs.get(run_id)

    def cancel(self, run_id: str) -> None:
        """Cancel a queued or running run (a finished one is left as it is)."""
        with self._lock:
            run = self._runs.get(run_id)
            queued = run_id in self._queue
            if queued:
                self._queue.remove(run_id)
        if run is None:
            self.store.get(run_id)  # unknown id -> ValueError
            return
        run.cancel()
        if queued:
            self.store.set_status(run_id, "cancelled", "cancelled before it started")
            with self._lock:
                self._runs.pop(run_id, None)

    def status(self, run_id: str) -> Status:
        return self.store.get(run_id).status

    def running(self) -> list[str]:
        with self._lock:
            return [rid for rid, r in self._runs.items() if r._thread is not None and not r.finished]

    def queued(self) -> list[str]:
        with self._lock:
            return list(self._queue)

    def wait(self, run_id: str, timeout: float | None = None) -> Status:
        """Block until ``run_id`` ends here (or ``timeout``); returns the stored status."""
        run = self.get_run(run_id)
        if run is not None:
            run.wait(timeout)
            deadline = time.time() + 5.0
            while self.store.get(run_id).status in ("queued", "running") and run.finished and time.time() < deadline:
                time.sleep(0.01)
        return self.status(run_id)

    def shutdown(self, wait: bool = True, timeout: float = 30.0) -> None:
        """Cancel everything queued or running; with ``wait``, join the runs (up to ``timeout`` seconds)."""
        with self._lock:
            self._closed = True
            runs = list(self._runs.values())
            queued = list(self._queue)
            self._queue.clear()
        for rid in queued:
            self.store.set_status(rid, "cancelled", "cancelled: the lab shut down before it started")
        for run in runs:
            run.cancel()
        if wait:
            end = time.time() + timeout
            for run in runs:
                run.wait(max(0.0, end - time.time()))


CHECKPOINT_MARGIN_BYTES = 64 << 20  # free space kept beyond the checkpoint itself (sidecar, store, temp files)


def check_before_create(store: RunStore, config: TrainConfig, num_classes: int, with_data: bool = True) -> None:
    """Everything that can be known before a run record exists, so a refused run leaves no ``failed`` record:
    the data set name (and its folder), teacher and transfer sources, device/memory/time budgets
    (:func:`vizcore.train.preflight.preflight`), and a checkpoint folder that is writable with room for the
    weights (and the kept epochs' weights). ValueError with a sentence otherwise."""
    import os

    from vizcore.data import datasets as vdata

    for what in ("data_root", "distill_teacher", "transfer_from"):
        value = getattr(config, what)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"expected {what} to be a path or name as text, got {value!r}")
    if with_data and config.dataset not in vdata.DATASETS:
        raise ValueError(f"expected a data set from {', '.join(vdata.list_datasets())}, got {config.dataset!r}")
    if with_data and config.dataset == "folder" and not (config.data_root and Path(config.data_root).expanduser().is_dir()):
        raise ValueError(f"expected data_root to be an image folder for the 'folder' data set, got {config.data_root!r}")
    for what, ref in (("distill_teacher", config.distill_teacher), ("transfer_from", config.transfer_from)):
        if not ref or ref == "pretrained" or Path(ref).expanduser().is_file():
            continue
        if "/" in ref or os.sep in ref or ref.endswith((".pt", ".pth")):
            raise ValueError(f"expected {what} to be an existing checkpoint file or a stored run id, got {ref!r} "
                             "(no such file)")
        store.resolve(ref)  # ValueError naming the problem: unknown run, or no checkpoint yet
    preflight(config, num_classes, run_history.past_runs(store.path))
    need = (4 * estimate_memory_detail(config, num_classes).params + kept_epochs_bytes(config, num_classes)
            + CHECKPOINT_MARGIN_BYTES)
    check_writable(store.path.parent / "checkpoints", need)  # before the first epoch, not after it


def dataset_num_classes(dataset: str) -> int:
    try:
        from vizcore.data import datasets as vdata

        info = vdata.DATASETS.get(dataset)
    except ImportError:
        info = None
    if info is None:
        return 10
    return int(getattr(info, "num_classes", None) or len(getattr(info, "classes", ()) or ()) or 10)


_LABS: dict[str, Lab] = {}
_LABS_LOCK = threading.Lock()


def get_lab(db_path: str | Path | None = None) -> Lab:
    """The process-wide :class:`Lab` for a database (default ``data_dir()/runs.sqlite``), created once."""
    key = str(Path(db_path) if db_path is not None else paths.run_store_path())
    with _LABS_LOCK:
        lab = _LABS.get(key)
        if lab is None or lab._closed:
            lab = Lab(key)
            _LABS[key] = lab
        return lab
