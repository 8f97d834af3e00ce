"""A local pool of worker processes that train runs, one at a time each (the lab's default executor).

Processes are forked from a fork server (multiprocessing's ``forkserver`` start method; ``spawn`` where there is
none): a clean process, started once, that imported the worker's code (torch, torchvision, vizcore: seconds of CPU)
before its first fork, so every worker — and the replacement of one that died — starts in a fraction of a second
with no copy of the app's threads, locks or open SQLite connection. Each worker takes the app's environment as it
was when the worker started (as a spawned one would) and sets its torch thread count once, so ``workers ×
threads`` never exceeds the cores. Each worker talks to the app over one pipe: the app sends a run (``("job",
spec)``) or a cancel (``("cancel", run_id)``); the worker sends the run's events back in order. One thread of the app
watches every pipe and every process: events go to the run's handle (and from there to the store, which only the
app writes); a worker that dies ends its run as ``failed`` with the reason (its exit code or signal) and is
replaced, and the other runs go on.

Workers train at a lower CPU priority (``CONVSCOPE_TRAIN_NICE``, default 10, 0 to 19; see ``nice(1)``): on a server
that also draws pages for a class, a page's script run comes first and training takes the CPU time left over; on
an otherwise idle machine it changes nothing.
"""
from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import sys
import threading
import traceback
import types
from multiprocessing.connection import Connection, wait
from typing import Any

from vizcore.lab.executors import RemoteRun, RunSpec, here, refuse_data_in_memory, train_job


def _listen(conn: Connection, jobs: Any, current: dict[str, Any], cancelled: set[str]) -> None:
    """A worker's ear: runs to train go to ``jobs``; a cancel reaches the live run (or waits for it)."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the app went away: stop the run, then the process
            msg = ("stop",)
        if msg[0] == "job":
            jobs.put(msg[1])
        elif msg[0] == "cancel":
            cancelled.add(msg[1])
            run = current.get(msg[1])
            if run is not None:
                run.cancel()
        else:
            for run in list(current.values()):
                run.cancel()
            jobs.put(None)
            return


NICE_ENV = "CONVSCOPE_TRAIN_NICE"
DEFAULT_NICE = 10


def train_nice() -> int:
    """The niceness workers train at: ``CONVSCOPE_TRAIN_NICE`` (0 to 19), else 10; ValueError when it is not."""
    text = os.environ.get(NICE_ENV, "").strip()
    if not text:
        return DEFAULT_NICE
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 19:
        raise ValueError(f"expected {NICE_ENV} to be a whole number from 0 to 19, got {text!r}")
    return value


def _worker_main(conn: Connection, threads: int, env: dict[str, str] | None = None, nice: int = 0) -> None:
    """A worker process: take the app's environment ``env`` (the fork server kept the one it started with), lower
    its CPU priority by ``nice``, set the torch threads, then train the runs the app sends, one after the other."""
    import queue

    import torch

    if env is not None and env != dict(os.environ):
        os.environ.clear()
        os.environ.update(env)
    if nice > 0:
        os.nice(nice)  # relative to the fork server's, which is the app's
    torch.set_num_threads(threads)
    jobs: queue.Queue[Any] = queue.Queue()
    send_lock = threading.Lock()
    current: dict[str, Any] = {}
    cancelled: set[str] = set()

    def send(msg: tuple) -> None:
        try:
            with send_lock:
                conn.send(msg)
        except OSError:  # the app closed the pipe (it shut down or went away): nothing left to report to
            os._exit(0)

    threading.Thread(target=_listen, args=(conn, jobs, current, cancelled), daemon=True).start()
    send(("ready", here()))
    while (spec := jobs.get()) is not None:
        rid = spec.run_id

        def on_run(run: Any, rid: str = rid) -> None:
            if run is None:
                current.pop(rid, None)
            else:
                current[rid] = run

        def forward(ev: dict, rid: str = rid) -> None:
            send(("event", rid, ev))

        def stopped(rid: str = rid) -> bool:
            return rid in cancelled

        try:
            train_job(spec, forward, stopped, on_run)
        except Exception as exc:  # noqa: BLE001 — a run that cannot even be built fails in words
            traceback.print_exc()
            send(("event", rid, {"kind": "status", "status": "failed",
                                 "message": f"{type(exc).__name__}: {exc}", "time": 0.0}))
        send(("idle", rid))


_START_LOCK = threading.Lock()


def start_without_main(process: Any) -> None:
    """Start a spawned (or fork-server) process without making it run this process's main script.

    A spawned child imports the parent's ``__main__`` again; under ``streamlit run`` that is the app's script
    (app.py): the child would import the whole app and run its Streamlit calls in bare mode (warnings in the
    server log, seconds of CPU per worker). Workers need only vizcore, which they import by name, so the main
    module is hidden while the child's start data are made (inside ``start()``, in this thread; the fork server,
    started by the first ``start()``, gets no main script either)."""
    with _START_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            if main is not None:
                sys.modules["__main__"] = main


class _Worker:
    def __init__(self, ctx: Any, threads: int, nice: int) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, threads, dict(os.environ), nice),
                                   name="convscope-worker", daemon=True)
        start_without_main(self.process)
        child.close()
        self.lock = threading.Lock()
        self.run: RemoteRun | None = None  # the run it trains now
        self.where = f"{here().split(' pid ')[0]} pid {self.process.pid}"
        self.ready = False

    def send(self, msg: tuple) -> bool:
        try:
            with self.lock:
                self.conn.send(msg)
            return True
        except (OSError, ValueError):  # the worker is gone: its watcher reports it
            return False


def death_reason(exitcode: int | None) -> str:
    """A worker process's end in words: "killed by SIGKILL", "exited with code 1"."""
    if exitcode is None:
        return "stopped without an exit code"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


PRELOAD = ["vizcore.lab.pool"]  # what the fork server imports once: the worker's code and all it needs


def start_context() -> Any:
    """The workers' multiprocessing context: the fork server, which imports :data:`PRELOAD` once (a process that
    started the fork server before keeps its preload: workers then import the rest themselves), else spawn. Spawn
    too where a fresh interpreter here would import another copy of vizcore than this process's (Python 3.11's fork
    server starts with the interpreter's own path, not this process's)."""
    if "forkserver" not in mp.get_all_start_methods() or not _fresh_process_finds_this_vizcore():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _fresh_process_finds_this_vizcore() -> bool:
    """Whether ``python -c`` started from here finds this process's vizcore, or none (then the workers import it
    with this process's path, as spawned ones do): its path is the working directory, PYTHONPATH, then site."""
    import importlib.machinery
    import site

    import vizcore

    path = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)), *site.getsitepackages(),
            site.getusersitepackages()]
    spec = importlib.machinery.PathFinder.find_spec("vizcore", path)
    return spec is None or spec.origin is None or os.path.samefile(spec.origin, str(vizcore.__file__))


class ProcessPool:
    """``workers`` worker processes, each training one run at a time with ``threads`` torch threads. Started on
    the first run; :meth:`shutdown` stops them."""

    kind = "process"

    def __init__(self, workers: int, threads: int) -> None:
        self.workers, self.threads = workers, threads
        self.nice = train_nice()  # a bad value refused here, in the app, not in each worker
        self._ctx = start_context()
        self._pool: list[_Worker] = []
        self._waiting: list[RemoteRun] = []  # started by the lab, waiting for a free worker
        self._lock = threading.RLock()
        self._watcher: threading.Thread | None = None
        self._closed = False
        # at interpreter exit multiprocessing ends the (daemon) workers; a pool still open would take their deaths
        # for crashes and spawn replacements that the exiting parent never feeds (a traceback in the app's log).
        # atexit runs last-registered first, so this runs before multiprocessing's own exit handler.
        atexit.register(self._close_at_exit)

    def _close_at_exit(self) -> None:
        with self._lock:
            self._closed = True

    def describe(self) -> str:
        return (f"a local process pool: {self.workers} worker{'s' if self.workers != 1 else ''} × "
                f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
                + (f", at CPU priority nice {self.nice} (pages first)" if self.nice else ""))

    def submit(self, spec: RunSpec) -> RemoteRun:
        refuse_data_in_memory(spec)
        return RemoteRun(spec, self.kind, self._launch, self._cancel)

    # ---- internals
    def _ensure_started(self) -> None:
        if self._closed:
            raise ValueError("expected an open process pool, got one that was shut down")
        while len(self._pool) < self.workers:
            self._pool.append(_Worker(self._ctx, self.threads, self.nice))
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="convscope-pool", daemon=True)
            self._watcher.start()

    def _launch(self, handle: RemoteRun) -> None:
        with self._lock:
            self._ensure_started()
            self._waiting.append(handle)
            self._assign()

    def _assign(self) -> None:
        with self._lock:
            for w in self._pool:
                if not self._waiting:
                    return
                if w.run is None and w.ready and w.process.is_alive():
                    handle = self._waiting.pop(0)
                    w.run = handle
                    handle.where = w.where
                    w.send(("job", handle.spec))

    def _cancel(self, handle: RemoteRun) -> None:
        with self._lock:
            if handle in self._waiting:
                self._waiting.remove(handle)
                handle.finish("cancelled", "cancelled before it started")
                return
            owner = next((w for w in self._pool if w.run is handle), None)
        if owner is not None:
            owner.send(("cancel", handle.id))

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._closed and all(not w.process.is_alive() for w in self._pool):
                    return
                conns = {w.conn: w for w in self._pool}
                sentinels = {w.process.sentinel: w for w in self._pool}
            ready = wait([*conns, *sentinels], timeout=0.5)
            for obj in ready:
                if obj in conns:
                    self._read(conns[obj])
            for obj in ready:
                if obj in sentinels:
                    self._dead(sentinels[obj])

    def _read(self, w: _Worker) -> None:
        try:
            while w.conn.poll():
                self._handle(w, w.conn.recv())
        except (EOFError, OSError):
            pass  # the sentinel says how it ended

    def _handle(self, w: _Worker, msg: tuple) -> None:
        if msg[0] == "ready":
            w.ready = True
            self._assign()
        elif msg[0] == "event":
            handle = w.run
            if handle is not None and handle.id == msg[1]:
                handle.deliver(msg[2])
        elif msg[0] == "idle":
            with self._lock:
                w.run = None
            self._assign()

    def _dead(self, w: _Worker) -> None:
        self._read(w)  # what it sent before it died
        w.process.join(1.0)
        with self._lock:
            if w not in self._pool:
                return
            self._pool.remove(w)
            handle, w.run = w.run, None
            broken = not w.ready  # died while starting: a new one would too (a broken environment)
            stranded = self._waiting if broken and not any(x.ready for x in self._pool) else []
            if broken:
                self._waiting = [h for h in self._waiting if h not in stranded]
            elif not self._closed:
                self._pool.append(_Worker(self._ctx, self.threads, self.nice))
        w.conn.close()
        for h in stranded:
            h.finish("failed", f"no worker process could start ({death_reason(w.process.exitcode)}); "
                               "see the app's log")
        if handle is not None and not handle.finished:
            handle.finish("failed", f"the worker process ({w.where}) {death_reason(w.process.exitcode)} while "
                                    f"training this run; the other runs went on")

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            pool = list(self._pool)
        for h in waiting:
            h.finish("cancelled", "cancelled: the lab shut down before it started")
        for w in pool:
            if w.ready:
                w.send(("stop",))
            else:  # still importing torch: nothing of it to keep
                w.process.kill()
        for w in pool:
            w.process.join(5.0)
            if w.process.is_alive():
                w.process.kill()
