"""Where runs train: one seam, ``submit(RunSpec) -> handle``, and three executors behind it.

* ``inprocess`` — a thread of this process (the engine's :class:`~vizcore.train.engine.Run` itself): tiny runs,
  tests, runs whose data were handed over in memory;
* ``process`` — a local pool of worker processes (forked from a fork server that imported torch once), the
  default: ``workers`` processes, each with ``CONVSCOPE_TORCH_THREADS`` (default 1) torch threads, and by default
  cores ÷ threads workers, so the pool never oversubscribes the cores (:mod:`vizcore.lab.pool`);
* ``ray`` — a Ray cluster (``RAY_ADDRESS``): each run a Ray task with ``num_cpus``/``num_gpus``, its data
  regenerated from the seed on the worker, its checkpoint brought back to the app's data directory
  (:mod:`vizcore.lab.ray_executor`).

Every handle looks like the engine's run to the lab and the store (``id``, ``status``, ``subscribe``, ``start``,
``cancel``, ``abort``, ``wait``, ``started``, ``finished``, ``checkpoint_path``, ``kept_epochs``, ``where``), so
one writer — the app process, through :meth:`vizcore.lab.store.RunStore.attach` — records runs from every executor:
workers only send events. A worker that dies ends its run as ``failed`` with the reason; the others go on.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vizcore.train.config import FINAL_STATUSES, Status, TrainConfig
from vizcore.train.engine import Event, Run
from vizcore.train.timing import PastRun

ExecutorKind = Literal["inprocess", "process", "ray"]
EXECUTORS: tuple[str, ...] = ("inprocess", "process", "ray")
MAX_WORKERS = 16
RAY_HINT = ("Ray is not installed: pip install -r requirements-cluster.txt (then set RAY_ADDRESS or choose the "
            "ray executor)")


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to train one stored run; plain data, so it pickles to a process or a cluster."""

    run_id: str  # the run's id in the store
    config: TrainConfig  # what to train (its seed regenerates the data on the worker)
    checkpoint_path: str | None  # where the app keeps the run's weights (the store's checkpoints folder)
    epochs_dir: str | None = None  # where kept epoch weights go (keep_epochs)
    history: tuple[PastRun, ...] = ()  # finished runs the time estimate rests on
    resolved: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # teacher/transfer run id -> (path, meta)
    data: tuple[Any, Any] | None = None  # (train, val) handed over in memory: in-process only


def settings(executor: str | None = None, workers: int | None = None) -> tuple[str, int, int]:
    """(executor kind, workers, torch threads per run) from the arguments, else the environment.

    Kind: ``executor``, else ``CONVSCOPE_EXECUTOR``, else ``ray`` when ``RAY_ADDRESS`` is set, else ``process``.
    Workers: ``workers``, else ``CONVSCOPE_WORKERS``, else cores ÷ torch threads per run
    (``CONVSCOPE_TORCH_THREADS``, default 1). Threads per run: ``CONVSCOPE_TORCH_THREADS`` whatever the workers
    (fewer workers leave cores idle rather than change a run's numbers). ValueError in words for anything else."""
    kind = executor or os.environ.get("CONVSCOPE_EXECUTOR") or ("ray" if os.environ.get("RAY_ADDRESS") else "process")
    if kind not in EXECUTORS:
        raise ValueError(f"expected an executor from {', '.join(EXECUTORS)}, got {kind!r}")
    cores = os.cpu_count() or 1
    if workers is None and os.environ.get("CONVSCOPE_WORKERS"):
        text = os.environ["CONVSCOPE_WORKERS"]
        try:
            workers = int(text)
        except ValueError:
            raise ValueError(f"expected CONVSCOPE_WORKERS to be a whole number, got {text!r}") from None
    # threads per run stay the same whatever the number of workers: a run's numbers then do not depend on how many
    # runs share the machine (a different thread count changes the order of floating-point sums, and training
    # amplifies it), so 1 and 2 workers, and Ray's one-CPU tasks, give the same accuracies for the same seed
    threads = _env_int("CONVSCOPE_TORCH_THREADS", 1)
    if workers is None:
        workers = max(1, min(MAX_WORKERS, cores // threads))
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"expected between 1 and {MAX_WORKERS} workers, got {workers!r}")
    return kind, workers, threads


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return max(1, int(text))
    except ValueError:
        raise ValueError(f"expected {name} to be a whole number, got {text!r}") from None


def here() -> str:
    """This process, as "host pid N" (where a run ran)."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def refuse_data_in_memory(spec: RunSpec) -> None:
    """Executors whose workers regenerate the data from the config cannot take data handed over in memory."""
    if spec.data is not None:
        raise ValueError("expected a run whose data the worker regenerates from its config, got data handed "
                         "over in memory (use the in-process executor)")


# ---------------------------------------------------------------------------------------- the handle


class RemoteRun:
    """A run training elsewhere (a worker process, a cluster), seen from the app: the engine run's interface,
    fed by the events its worker sends (:meth:`deliver`). ``launch(handle)`` starts it on its executor and
    ``send_cancel(handle)`` asks the worker to stop after the current step."""

    def __init__(self, spec: RunSpec, executor: str, launch: Callable[[RemoteRun], None],
                 send_cancel: Callable[[RemoteRun], None]) -> None:
        self.spec = spec
        self.id = spec.run_id
        self.config = spec.config
        self.executor = executor
        self.status: Status = "queued"
        self.message = ""
        self.checkpoint_path = Path(spec.checkpoint_path) if spec.checkpoint_path else None
        self.kept_epochs: list[int] = []
        self.history: list[Event] = []
        self.info: dict[str, Any] = {}
        self.where = ""  # "host pid N" or the Ray node, once the worker took it
        self._launch, self._send_cancel = launch, send_cancel
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started = False
        self._abort_reason: str | None = None

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def start(self) -> None:
        with self._lock:
            if self._started:
                raise ValueError(f"expected a run that has not started, got one with status {self.status!r}")
            self._started = True
        if self.finished:  # cancelled while queued
            return
        self._launch(self)

    def cancel(self) -> None:
        if not self._started:
            self.finish("cancelled", "cancelled before it started")
            return
        if not self.finished:
            self._send_cancel(self)

    def abort(self, reason: str) -> None:
        """Stop the run and end it as ``failed`` with ``reason`` (the store could not record it)."""
        self._abort_reason = reason
        self.cancel()

    def wait(self, timeout: float | None = None) -> str:
        self._done.wait(timeout)
        return self.status

    @property
    def started(self) -> bool:
        return self._started

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def deliver(self, event: Event) -> None:
        """An event from the worker: update the handle, then pass it to the subscribers (the store first)."""
        kind = event.get("kind")
        if self.finished:
            return  # a run ends once (a late event after a worker was declared dead is dropped)
        if kind == "status":
            status = event["status"]
            message = event.get("message", "")
            if status in FINAL_STATUSES and self._abort_reason is not None and status == "cancelled":
                status, message = "failed", self._abort_reason
                event = {**event, "status": status, "message": message}
            self.status, self.message = status, message
        elif kind == "epoch":
            self.history.append(event)
            self.kept_epochs = [int(e) for e in event.pop("_kept_epochs", self.kept_epochs)]
        elif kind == "info":
            self.info = {k: v for k, v in event.items() if k != "kind"}
        with self._lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(event)
            except Exception:  # a broken subscriber must not stop the others
                traceback.print_exc()
        if self.finished:
            self._done.set()

    def finish(self, status: Status, message: str) -> None:
        """End the run here (the worker died, or it never started)."""
        self.deliver({"kind": "status", "status": status, "message": message, "time": time.time()})


# ---------------------------------------------------------------------------------------- the worker side


def train_job(spec: RunSpec, send: Callable[[Event], None], cancelled: Callable[[], bool],
              on_run: Callable[[Run | None], None]) -> str:
    """Train ``spec`` in this process (a pool worker or a Ray task); every event goes to ``send``, epoch events
    carrying the kept epochs as ``_kept_epochs``. ``cancelled()`` true before the start cancels it at once;
    ``on_run`` gets the live run (to cancel it later), then None. Returns the final status."""
    resolved = {k: (Path(p), meta) for k, (p, meta) in spec.resolved.items()}

    def resolve(ref: str) -> tuple[Path, dict[str, Any]]:
        if ref not in resolved:
            raise ValueError(f"expected a stored run id resolved by the app, got {ref!r}")
        return resolved[ref]

    run = Run(spec.config, spec.run_id, checkpoint_path=spec.checkpoint_path, data=spec.data, resolve_run=resolve,
              epochs_dir=spec.epochs_dir, history=spec.history)

    def forward(ev: Event) -> None:
        if ev.get("kind") == "epoch":
            ev = {**ev, "_kept_epochs": list(run.kept_epochs)}
        send(ev)

    run.subscribe(forward)
    on_run(run)
    try:
        if cancelled():
            run.cancel()
        return run.run_sync()
    finally:
        on_run(None)


# ---------------------------------------------------------------------------------------- executors


class InProcessExecutor:
    """Runs train in threads of this process: the handle is the engine's :class:`Run` itself. ``make_run``
    (spec -> run) lets the lab build it through its store (which then records it already: ``attaches``)."""

    kind = "inprocess"

    def __init__(self, workers: int = 1, make_run: Callable[[RunSpec], Run] | None = None) -> None:
        self.workers = workers
        self.threads = 0  # the process's own torch threads
        self._make_run = make_run
        self.attaches = make_run is not None

    def describe(self) -> str:
        return f"the app's own process, {self.workers} at a time"

    def submit(self, spec: RunSpec) -> Run:
        if self._make_run is not None:
            run = self._make_run(spec)
        else:
            run = Run(spec.config, spec.run_id, checkpoint_path=spec.checkpoint_path, data=spec.data,
                      resolve_run=_resolver(spec), epochs_dir=spec.epochs_dir, history=spec.history)
        setattr(run, "where", here())  # noqa: B010 — read back through getattr by the lab
        return run

    def shutdown(self) -> None:
        pass


def _resolver(spec: RunSpec) -> Callable[[str], tuple[Path, dict[str, Any]]] | None:
    if not spec.resolved:
        return None
    return lambda ref: (Path(spec.resolved[ref][0]), spec.resolved[ref][1])


def refs_of(config: TrainConfig) -> Sequence[str]:
    """The stored-run references a config names (teacher, transfer source) that the app must resolve."""
    return [r for r in (config.distill_teacher, config.transfer_from)
            if r and r != "pretrained" and not Path(r).expanduser().is_file()]
