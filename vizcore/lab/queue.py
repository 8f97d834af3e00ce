"""The lab: the process-wide queue of training runs, in front of an executor.

Runs wait in submission order and at most ``concurrency`` train at once: the executor's workers (a local process
pool by default, a Ray cluster when ``RAY_ADDRESS`` is set; :mod:`vizcore.lab.executors`), or 1 in this process
on CPU. :func:`get_lab` returns one :class:`Lab` per database. The lab's process is the only writer of the
:class:`~vizcore.lab.store.RunStore`: workers send events, never touch the store or Streamlit.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from vizcore.core import paths
from vizcore.core.io import check_writable
from vizcore.lab import history as run_history
from vizcore.lab.executors import RAY_HINT, InProcessExecutor, RunSpec, refs_of, settings
from vizcore.lab.store import RunStore
from vizcore.train.config import FINAL_STATUSES, Status, TrainConfig
from vizcore.train.disk import kept_epochs_bytes
from vizcore.train.engine import Event
from vizcore.train.memory import estimate_memory_detail
from vizcore.train.preflight import preflight

# ---------------------------------------------------------------------------------------- lab


def _default_concurrency() -> int:
    import torch

    return 2 if torch.cuda.is_available() else 1


def make_executor(kind: str, workers: int, threads: int) -> Any:
    """The executor of ``kind`` (see :func:`vizcore.lab.executors.settings`); a Ray executor connects to its
    cluster here. The process pool and the Ray executor are imported only when chosen (they build on
    :mod:`vizcore.lab.executors`, the seam, which names neither)."""
    if kind == "inprocess":
        return InProcessExecutor(workers)
    if kind == "process":
        from vizcore.lab.pool import ProcessPool

        return ProcessPool(workers, threads)
    from vizcore.lab.ray_executor import RayExecutor

    return RayExecutor(threads=threads)


class Lab:
    """The process-wide run queue: bounded concurrency, owns the store and the executor. Thread-safe.

    Runs start in submission order as slots free up. ``submit`` checks the config before queueing
    (device, memory and time budgets: :func:`vizcore.train.preflight.preflight`) so a refused run is an error at
    once, not a failed record later. ``executor`` (inprocess, process, ray) and ``workers`` default to the
    environment (:func:`vizcore.lab.executors.settings`); a Ray cluster asked for by ``RAY_ADDRESS`` alone but
    not reachable or not installed leaves the lab on the process pool, with :attr:`notice` saying why.
    """

    def __init__(self, db_path: str | Path | None = None, concurrency: int | None = None,
                 executor: str | None = None, workers: int | None = None) -> None:
        kind, n_workers, threads = settings(executor, workers)
        self.notice = ""  # why the lab does not use the executor the environment asked for, in words
        try:
            self.executor: Any = make_executor(kind, n_workers, threads)
        except ValueError as exc:
            if executor is not None or kind != "ray":
                raise
            self.notice = f"Runs train in a local process pool: {exc}" if "not installed" not in str(exc) else RAY_HINT
            kind, n_workers, threads = settings("process", workers)
            self.executor = make_executor(kind, n_workers, threads)
        self.executor_kind = kind
        self.store = RunStore(db_path, recover=True)  # a damaged file is kept aside; the pages keep working
        local = InProcessExecutor(1, lambda spec: self.store.make_run(spec.run_id, spec.data,
                                                                      history=spec.history))
        if kind == "inprocess":
            local.workers = concurrency or (_default_concurrency() if workers is None else n_workers)
            self.executor = local
        self._local = local  # runs given their data in memory train here whatever the executor
        self.interrupted_on_start = self.store.mark_interrupted()
        if concurrency is None:
            concurrency = (_default_concurrency() if kind == "inprocess" and workers is None
                           else self.executor.workers)
        self.concurrency = concurrency
        if not 1 <= self.concurrency <= 16:
            raise ValueError(f"expected concurrency between 1 and 16, got {self.concurrency}")
        self._lock = threading.Lock()
        self._queue: list[str] = []
        self._runs: dict[str, Any] = {}  # live runs of this process (queued or running), by id: their handles
        self._closed = False

    def describe(self) -> str:
        """Where this lab's runs train, in words."""
        return self.executor.describe()

    def submit(self, config: TrainConfig, name: str | None = None, group: str | None = None,
               data: tuple[Any, Any] | None = None, reuse: bool = False) -> str:
        """Check, record and queue a run; returns its id. ``data`` = (train, val) overrides loading (tests; such a
        run trains in this process). ``reuse``: an identical finished run (same config and seed,
        :meth:`RunStore.find_done`) is returned instead of training again."""
        if self._closed:
            raise ValueError("expected an open lab, got one that was shut down")
        if reuse and data is None:
            found = self.store.find_done(config)
            if found is not None:
                return found
        num_classes = len(data[0].classes) if data is not None else dataset_num_classes(config.dataset)
        check_before_create(self.store, config, num_classes, with_data=data is None)
        resolved = {ref: (str(p), meta) for ref in refs_of(config) for p, meta in [self.store.resolve(ref)]}
        executor = self._local if data is not None else self.executor
        run_id = self.store.create(config, name, group)
        spec = RunSpec(run_id, config, str(self.store.checkpoint_path(run_id)), None,
                       tuple(run_history.past_runs(self.store.path)), resolved, data)
        try:
            run = executor.submit(spec)
        except ValueError as exc:
            self.store.set_status(run_id, "failed", str(exc))
            raise
        if not getattr(executor, "attaches", False):
            self.store.attach(run)
        run.subscribe(lambda ev: self._on_event(run_id, ev))
        with self._lock:
            self._runs[run_id] = run
            self._queue.append(run_id)
        self._dispatch()
        return run_id

    def _on_event(self, run_id: str, ev: Event) -> None:
        if ev.get("kind") == "info" or (ev.get("kind") == "status" and ev.get("status") == "running"):
            run = self.get_run(run_id)
            if run is not None:
                self.store.merge_info(run_id, {"executor": getattr(run, "executor", "inprocess"),
                                               "worker": getattr(run, "where", "")})
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

    def get_run(self, run_id: str) -> Any:
        """The live run handle (an engine :class:`~vizcore.train.engine.Run` or a
        :class:`~vizcore.lab.executors.RemoteRun`: subscribe to its events) while it is queued or running here,
        else None."""
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
            return [rid for rid, r in self._runs.items() if r.started and not r.finished]

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
        self.executor.shutdown()


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
    if with_data and config.dataset == "folder" and config.ssl != "none":
        from vizcore.data.unlabelled import check_unlabelled_folder, has_unlabelled_folder

        if config.labelled_per_class is None or has_unlabelled_folder(config.data_root):
            check_unlabelled_folder(str(config.data_root))  # the pool: present, not empty, images
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


def get_lab(db_path: str | Path | None = None, executor: str | None = None, workers: int | None = None) -> Lab:
    """The process-wide :class:`Lab` for a database (default ``data_dir()/runs.sqlite``), created once (with
    ``executor`` and ``workers``, else the environment's; see :func:`vizcore.lab.executors.settings`)."""
    key = str(Path(db_path) if db_path is not None else paths.run_store_path())
    with _LABS_LOCK:
        lab = _LABS.get(key)
        if lab is not None and not lab._closed and _differs(lab, executor, workers):
            if lab.running() or lab.queued():
                raise ValueError(f"expected no runs in flight to switch the lab to executor {executor or lab.executor_kind}"
                                 f" with {workers or lab.concurrency} workers, got {len(lab.running() + lab.queued())}")
            lab.shutdown(wait=False)
        if lab is None or lab._closed:
            lab = Lab(key, executor=executor, workers=workers)
            _LABS[key] = lab
        return lab


def _differs(lab: Lab, executor: str | None, workers: int | None) -> bool:
    """Whether ``lab`` is not the one asked for: another executor (given, or the environment's unless the lab
    already fell back from it) or another number of workers."""
    if executor is None and not lab.notice:
        executor = settings(None, workers)[0]
    return (executor is not None and executor != lab.executor_kind) or (workers is not None and workers != lab.concurrency)
