"""Runs on a Ray cluster (``RAY_ADDRESS``, or the ray executor): each run one Ray task.

A task asks for ``num_cpus`` (the torch threads per run) and ``num_gpus`` (1 when the config asks for CUDA) and
is never retried (a run that died is reported, not trained twice). It regenerates its data from the config's
seed on whatever node Ray picks, trains into a temporary folder there, and sends its events — each epoch event
with the checkpoint's bytes — to one small hub actor (no CPU of its own). A thread of the app drains the hub a
few times a second: checkpoints are written into the app's data directory and events go to the run's handle, so
the app stays the only writer of the store. Cancelling sets a flag in the hub that the task polls.

Ray is optional: importing this module without it raises ValueError saying how to add it. The package itself
reaches the workers as a Ray ``py_modules`` runtime environment; torch and the other requirements must be
installed on every node (the same requirements.txt).
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from vizcore.core import io as vio
from vizcore.lab.executors import RAY_HINT, RemoteRun, RunSpec, refuse_data_in_memory
from vizcore.lab.ray_hub import Hub

ray: Any
try:
    import ray
except ImportError:  # optional: the lab says how to add it
    ray = None

POLL_S = 0.2  # how often the app drains the hub


def _remote_train(spec: RunSpec, hub: Any, threads: int) -> str:
    """The Ray task: train ``spec`` here, sending events (with checkpoint bytes) to ``hub``."""
    import socket
    import tempfile

    import torch

    from vizcore.lab.executors import train_job

    torch.set_num_threads(threads)
    where = f"ray node {ray.util.get_node_ip_address()} ({socket.gethostname()} pid {os.getpid()})"
    rid = spec.run_id
    with tempfile.TemporaryDirectory(prefix="convscope-run-") as tmp:
        ckpt = Path(tmp) / f"{rid}.pt"
        local = RunSpec(rid, spec.config, str(ckpt), None, spec.history, {}, None)
        ray.get(hub.put.remote(rid, {"kind": "_where", "where": where}))
        live: dict[str, Any] = {}
        stop = threading.Event()

        def poll_cancel() -> None:
            while not stop.wait(0.3):
                if ray.get(hub.cancelled.remote(rid)) and "run" in live:
                    live["run"].cancel()

        def send(ev: dict) -> None:
            if ev.get("kind") == "epoch" and ckpt.is_file():
                sidecar = Path(str(ckpt) + ".json")
                ev = {**ev, "_checkpoint": ckpt.read_bytes(),
                      "_sidecar": sidecar.read_bytes() if sidecar.is_file() else None}
            ray.get(hub.put.remote(rid, ev))  # waited for: the hub holds the events in order

        def on_run(run: Any) -> None:
            if run is None:
                live.pop("run", None)
            else:
                live["run"] = run

        watcher = threading.Thread(target=poll_cancel, daemon=True)
        watcher.start()
        try:
            return train_job(local, send, lambda: bool(ray.get(hub.cancelled.remote(rid))), on_run)
        finally:
            stop.set()


def _check_ray() -> None:
    if ray is None:
        raise ValueError(RAY_HINT)


class RayExecutor:
    """Submits each run as a Ray task to the cluster at ``address`` (default ``RAY_ADDRESS``)."""

    kind = "ray"

    def __init__(self, threads: int = 1, address: str | None = None) -> None:
        _check_ray()
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        if not self.address:
            raise ValueError("expected a Ray cluster address in RAY_ADDRESS (e.g. 127.0.0.1:6379 after "
                             "`ray start --head`), got none")
        import vizcore

        try:
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False,
                     runtime_env={"py_modules": [str(Path(vizcore.__file__).parent)]})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ValueError(f"expected a reachable Ray cluster at {self.address!r}, got: "
                             f"{' '.join(str(exc).split())[:200]}") from None
        self.threads = threads
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(16, cpus // max(threads, 1)))  # runs at once across the cluster
        self._hub: Any = ray.remote(num_cpus=0)(Hub).remote()
        self._task = ray.remote(_remote_train)
        self._live: dict[str, tuple[RemoteRun, Any]] = {}  # run id -> (handle, task ref; None while submitting)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="convscope-ray", daemon=True)
        self._thread.start()

    def describe(self) -> str:
        return (f"the Ray cluster at {self.address}: up to {self.workers} run{'s' if self.workers != 1 else ''} "
                f"at once, {self.threads} CPU{'s' if self.threads != 1 else ''} each")

    def submit(self, spec: RunSpec) -> RemoteRun:
        refuse_data_in_memory(spec)
        if spec.resolved or spec.config.keep_epochs:
            raise ValueError("expected a run without a stored teacher, transfer source or kept epochs on Ray "
                             "(their files live in the app's data directory), got one; use the process executor")
        return RemoteRun(spec, self.kind, self._launch, self._cancel)

    def _launch(self, handle: RemoteRun) -> None:
        gpus = 1 if str(handle.config.device).startswith("cuda") else 0
        # known to the drain before the task starts: a warm Ray worker can send its first events (where it runs,
        # the run's start) before .remote() returns, and the drain drops events of runs it does not know
        with self._lock:
            self._live[handle.id] = (handle, None)
        try:
            ref = self._task.options(num_cpus=self.threads, num_gpus=gpus, max_retries=0).remote(
                handle.spec, self._hub, self.threads)
        except Exception:
            with self._lock:
                self._live.pop(handle.id, None)
            raise
        with self._lock:
            self._live[handle.id] = (handle, ref)

    def _cancel(self, handle: RemoteRun) -> None:
        self._hub.cancel.remote(handle.id)

    def _loop(self) -> None:
        while True:
            time.sleep(POLL_S)
            if self._closed:  # checked after the sleep: a Ray call after ray.shutdown() would start a local Ray
                return
            try:
                self._drain()
                self._reap()
            except Exception as exc:  # noqa: BLE001 — the cluster went away: every live run fails in words
                self._fail_all(f"the Ray cluster stopped answering ({type(exc).__name__}: {exc})")

    def _drain(self) -> None:
        for rid, ev in ray.get(self._hub.drain.remote()):
            with self._lock:
                entry = self._live.get(rid)
            if entry is None:
                continue
            handle = entry[0]
            if ev.get("kind") == "_where":
                handle.where = ev["where"]
                continue
            blob, sidecar = ev.pop("_checkpoint", None), ev.pop("_sidecar", None)
            if blob is not None and handle.checkpoint_path is not None:  # brought back before the event says so
                vio.write_bytes(handle.checkpoint_path, blob)
                if sidecar is not None:
                    vio.write_bytes(Path(str(handle.checkpoint_path) + ".json"), sidecar)
            handle.deliver(ev)

    def _reap(self) -> None:
        with self._lock:
            refs = {ref: h for h, ref in self._live.values() if ref is not None}
        if not refs:
            return
        done, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
        if done:
            self._drain()  # the last events of the runs that ended
        for ref in done:
            handle = refs[ref]
            try:
                ray.get(ref)
                reason = "the Ray task ended without reporting an end"
            except Exception as exc:  # noqa: BLE001 — a worker that died: the run fails with the reason
                reason = f"the Ray worker ({handle.where or 'not yet placed'}) died: {' '.join(str(exc).split())[:300]}"
            with self._lock:
                self._live.pop(handle.id, None)
            if not handle.finished:
                handle.finish("failed", reason)

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            live, self._live = list(self._live.values()), {}
        for handle, _ in live:
            handle.finish("failed", reason)

    def shutdown(self) -> None:
        with self._lock:
            live = list(self._live.values())
        for handle, _ in live:
            self._cancel(handle)
        end = time.time() + 15
        while time.time() < end and self._live:
            time.sleep(POLL_S)
        self._closed = True
        if self._thread is not threading.current_thread():
            self._thread.join(5 * POLL_S)  # no Ray call of this executor after shutdown() returns
        self._fail_all("the lab shut down while it trained")
