"""The run store and the lab: training runs that belong to the app, not to a browser tab.

* :class:`RunStore` — a SQLite database (stdlib ``sqlite3``, WAL journal so readers never block the writer)
  in :func:`vizcore.paths.data_dir` holding each run's config, status, per-step and per-epoch metrics and
  checkpoint path. Runs survive a restart; a run whose process died is marked ``interrupted``.
* :class:`Lab` — the process-wide queue: runs wait in submission order and at most ``concurrency`` train at
  once (1 on CPU, where two runs would only share the same cores). :func:`get_lab` returns one per database.
* :func:`default_model` — the small CNN trained on the embedded shapes: shipped with ConvScope (reproduced by
  ``python -m vizcore default-model --retrain --ship``), copied to the data directory on first use, or trained then.

Pages poll the store (``get``, ``metrics``) from a ``st.fragment(run_every=...)``; the worker threads
only write to it and never touch Streamlit.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vizcore import paths
from vizcore.training import FINAL_STATUSES, Event, Run, Status, TrainConfig, checkpoint_meta, preflight

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    grp TEXT,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    epochs_done INTEGER NOT NULL DEFAULT 0,
    val_acc REAL,
    best_val_acc REAL,
    checkpoint TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    host TEXT,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, kind, seq);
"""

EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s", "train_time_s",
                 "images_per_s", "elapsed_s")
STEP_COLUMNS = ("step", "epoch", "loss", "lr", "throughput")


@dataclass(frozen=True)
class RunRecord:
    """One stored run."""

    id: str  # 12 hex digits
    name: str  # user-given or generated label
    group: str | None  # comparison group (e.g. "label smoothing sweep")
    config: TrainConfig  # what was asked for
    status: Status  # queued | running | done | cancelled | diverged | failed | interrupted
    message: str  # why it ended, in words
    created_at: float  # unix time
    started_at: float | None  # unix time the worker began
    finished_at: float | None  # unix time it ended
    epochs_done: int  # completed epochs (metrics and checkpoint cover these)
    val_acc: float | None  # validation accuracy after the last completed epoch, [0, 1]
    best_val_acc: float | None  # best validation accuracy over the epochs, [0, 1]
    checkpoint: str | None  # state_dict file of the last completed epoch
    info: dict[str, Any]  # classes, device, parameter count, param groups, notes

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        return d


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunStore:
    """SQLite-backed record of runs. Thread-safe (one connection, one lock); several processes may share a file.

    ``path`` defaults to ``data_dir()/runs.sqlite``; checkpoints go to ``data_dir()/checkpoints/<id>.pt``.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.data_dir() / "runs.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, fast commits
        with self._lock:
            self._db.executescript(_SCHEMA)

    def db_journal_mode(self) -> str:
        """The SQLite journal mode in force ("wal": readers never block the writing run)."""
        with self._lock:
            return str(self._db.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- writing
    def create(self, config: TrainConfig, name: str | None = None, group: str | None = None) -> str:
        """Record a new queued run; returns its id."""
        if not isinstance(config, TrainConfig):
            raise TypeError(f"expected a TrainConfig, got {type(config).__name__}")
        run_id = uuid.uuid4().hex[:12]
        label = name.strip() if isinstance(name, str) and name.strip() else self._default_name(config)
        if len(label) > 200:
            raise ValueError(f"expected a run name of at most 200 characters, got {len(label)}")
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (id, name, grp, config, status, created_at, host, pid) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, label, group, config.to_json(), "queued", time.time(), socket.gethostname(), os.getpid()))
        return run_id

    def _default_name(self, config: TrainConfig) -> str:
        with self._lock:
            n = self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return f"{config.model} on {config.dataset} #{n + 1}"

    def set_status(self, run_id: str, status: Status, message: str = "") -> None:
        now = time.time()
        with self._lock:
            if status == "running":
                self._db.execute("UPDATE runs SET status=?, message=?, started_at=?, pid=?, host=? WHERE id=?",
                                 (status, message, now, os.getpid(), socket.gethostname(), run_id))
            elif status in FINAL_STATUSES:
                self._db.execute("UPDATE runs SET status=?, message=?, finished_at=? WHERE id=?",
                                 (status, message, now, run_id))
            else:
                self._db.execute("UPDATE runs SET status=?, message=? WHERE id=?", (status, message, run_id))

    def set_info(self, run_id: str, info: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET info=? WHERE id=?", (json.dumps(info, default=str), run_id))

    def add_metric(self, run_id: str, event: Event) -> None:
        """Append a "step" or "epoch" event; an epoch also updates the run's summary columns atomically."""
        kind = event.get("kind")
        if kind not in ("step", "epoch"):
            raise ValueError(f"expected a 'step' or 'epoch' event, got kind {kind!r}")
        data = {k: v for k, v in event.items() if k != "kind"}
        seq = int(data.get("step" if kind == "step" else "epoch", 0))
        with self._lock, self._db:  # one transaction: the metric row and the summary agree
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO metrics (run_id, kind, seq, data) VALUES (?,?,?,?)",
                             (run_id, kind, seq, json.dumps(data)))
            if kind == "epoch":
                acc = data.get("val_acc")
                self._db.execute(
                    "UPDATE runs SET epochs_done=?, val_acc=?, best_val_acc=MAX(COALESCE(best_val_acc, -1), ?) "
                    "WHERE id=?", (seq, acc, acc if acc is not None else -1, run_id))

    def set_checkpoint(self, run_id: str, path: str | Path | None) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET checkpoint=? WHERE id=?", (str(path) if path else None, run_id))

    def rename(self, run_id: str, name: str) -> None:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValueError(f"expected a non-empty run name of at most 200 characters, got {name!r}")
        self.get(run_id)
        with self._lock:
            self._db.execute("UPDATE runs SET name=? WHERE id=?", (name.strip(), run_id))

    def set_group(self, run_id: str, group: str | None) -> None:
        self.get(run_id)
        with self._lock:
            self._db.execute("UPDATE runs SET grp=? WHERE id=?", (group, run_id))

    def delete(self, run_id: str) -> None:
        """Remove a finished run, its metrics and its checkpoint files; refuses a queued or running one."""
        rec = self.get(run_id)
        if rec.status in ("queued", "running"):
            raise ValueError(f"expected a finished run to delete, got {run_id} with status {rec.status!r} (cancel it first)")
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM metrics WHERE run_id=?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        for p in (self.checkpoint_path(run_id), Path(str(self.checkpoint_path(run_id)) + ".json")):
            p.unlink(missing_ok=True)

    def mark_interrupted(self) -> list[str]:
        """Runs left ``queued``/``running`` by a process that no longer exists become ``interrupted``.

        Called on start-up; runs owned by a live process (another app or a CLI run on this host) are left alone.
        Returns the ids marked.
        """
        host = socket.gethostname()
        marked = []
        with self._lock:
            rows = self._db.execute("SELECT id, pid, host, epochs_done FROM runs WHERE status IN ('queued','running')"
                                    ).fetchall()
            for run_id, pid, rhost, done in rows:
                if rhost == host and pid == os.getpid():
                    continue
                if rhost == host and _pid_alive(pid):
                    continue
                msg = (f"interrupted by an app restart after {done} completed epoch{'s' if done != 1 else ''}"
                       if done else "interrupted by an app restart before an epoch completed")
                self._db.execute("UPDATE runs SET status='interrupted', message=?, finished_at=? WHERE id=?",
                                 (msg, time.time(), run_id))
                marked.append(run_id)
        return marked

    # ---- reading
    def _record(self, row: tuple) -> RunRecord:
        (rid, name, grp, config, status, message, created, started, finished, epochs, val_acc, best, ckpt,
         info) = row
        return RunRecord(rid, name, grp, TrainConfig.from_json(config), status, message, created, started,
                         finished, epochs, val_acc, best if best is None or best >= 0 else None, ckpt,
                         json.loads(info or "{}"))

    _COLS = ("id, name, grp, config, status, message, created_at, started_at, finished_at, epochs_done, val_acc, "
             "best_val_acc, checkpoint, info")

    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {self._COLS} FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise ValueError(f"expected a stored run id, got {run_id!r}")
        return self._record(row)

    def list(self, group: str | None = None) -> list[RunRecord]:
        """All runs, newest first; only those of ``group`` when given."""
        q = f"SELECT {self._COLS} FROM runs"
        args: tuple = ()
        if group is not None:
            q += " WHERE grp=?"
            args = (group,)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY created_at DESC, rowid DESC", args).fetchall()
        return [self._record(r) for r in rows]

    def groups(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT grp FROM runs WHERE grp IS NOT NULL ORDER BY grp").fetchall()
        return [r[0] for r in rows]

    def metrics(self, run_id: str, kind: str = "epoch") -> list[dict[str, Any]]:
        """The run's "epoch" (default) or "step" events in order, as dicts without the "kind" key."""
        if kind not in ("step", "epoch"):
            raise ValueError(f"expected kind 'step' or 'epoch', got {kind!r}")
        with self._lock:
            rows = self._db.execute("SELECT data FROM metrics WHERE run_id=? AND kind=? ORDER BY seq, rowid",
                                    (run_id, kind)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def export(self, run_id: str) -> tuple[str, str]:
        """(config as JSON, epoch metrics as CSV) of a run, for download."""
        rec = self.get(run_id)
        config_json = json.dumps({"id": rec.id, "name": rec.name, "group": rec.group, "status": rec.status,
                                  "message": rec.message, "config": rec.config.to_dict()}, indent=2)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(EPOCH_COLUMNS), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in self.metrics(run_id, "epoch"):
            w.writerow(row)
        return config_json, buf.getvalue()

    def checkpoint_path(self, run_id: str) -> Path:
        """Where a run's state_dict goes (``data_dir()/checkpoints/<id>.pt``, next to the database)."""
        if not run_id or not all(c.isalnum() or c in "-_" for c in run_id):
            raise ValueError(f"expected a run id of letters and digits, got {run_id!r}")
        d = self.path.parent / "checkpoints"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{run_id}.pt"

    def resolve(self, ref: str) -> tuple[Path, dict[str, Any]]:
        """A stored run id -> (its checkpoint path, metadata); used for teachers and transfer sources."""
        rec = self.get(ref)
        if not rec.checkpoint or not Path(rec.checkpoint).is_file():
            raise ValueError(f"expected a run with a checkpoint, got {ref} ({rec.status}, {rec.epochs_done} epochs, "
                             "no checkpoint file)")
        meta = checkpoint_meta(rec.checkpoint) or {}
        meta.setdefault("model", rec.config.model)
        meta.setdefault("num_classes", rec.info.get("num_classes"))
        return Path(rec.checkpoint), meta

    # ---- wiring a run to the store
    def attach(self, run: Run) -> None:
        """Record ``run``'s events in this store (status, info, step and epoch metrics, checkpoint)."""
        run_id = run.id

        def on_event(ev: Event) -> None:
            kind = ev.get("kind")
            if kind in ("step", "epoch"):
                self.add_metric(run_id, ev)
                if kind == "epoch" and run.checkpoint_path is not None:
                    self.set_checkpoint(run_id, run.checkpoint_path)
            elif kind == "info":
                self.set_info(run_id, {k: v for k, v in ev.items() if k != "kind"})
            elif kind == "status":
                self.set_status(run_id, ev["status"], ev.get("message", ""))

        run.subscribe(on_event)

    def make_run(self, run_id: str, data: tuple[Any, Any] | None = None) -> Run:
        """A :class:`Run` for stored run ``run_id``, recording into this store."""
        rec = self.get(run_id)
        run = Run(rec.config, run_id, checkpoint_path=self.checkpoint_path(run_id), data=data,
                  resolve_run=self.resolve)
        self.attach(run)
        return run


# ---------------------------------------------------------------------------------------- lab


def _default_concurrency() -> int:
    import torch

    return 2 if torch.cuda.is_available() else 1


class Lab:
    """The process-wide run queue: bounded concurrency, owns the store. Thread-safe.

    Runs start in submission order as slots free up. ``submit`` checks the config before queueing
    (device, memory and time budgets: :func:`vizcore.training.preflight`) so a refused run is an error at
    once, not a failed record later.
    """

    def __init__(self, db_path: str | Path | None = None, concurrency: int | None = None) -> None:
        self.store = RunStore(db_path)
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
        num_classes = len(data[0].classes) if data is not None else _num_classes(config.dataset)
        preflight(config, num_classes)
        for ref in (config.distill_teacher, config.transfer_from):
            if ref and ref != "pretrained" and not Path(ref).expanduser().is_file():
                self.store.resolve(ref)  # ValueError naming the problem: unknown run, or no checkpoint yet
        run_id = self.store.create(config, name, group)
        run = self.store.make_run(run_id, data)
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
                         (r._thread is not None and not r.finished))
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


def _num_classes(dataset: str) -> int:
    try:
        from vizcore import data as vdata

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
    key = str(Path(db_path) if db_path is not None else paths.data_dir() / "runs.sqlite")
    with _LABS_LOCK:
        lab = _LABS.get(key)
        if lab is None or lab._closed:
            lab = Lab(key)
            _LABS[key] = lab
        return lab


# ---------------------------------------------------------------------------------------- default model

# The default trained model every page can use offline: 15 epochs of 10,000 shapes reach 96.7% validation
# accuracy (passing 90% at epoch 8; a 5-epoch schedule stops near 88% after a minute on 2 cores). That is a
# few minutes of CPU, so its checkpoint ships with ConvScope
# (vizcore/resources, ~1 MB) and `python -m vizcore default-model --retrain --ship` reproduces it.
DEFAULT_CONFIG = TrainConfig(
    model="small_cnn", dataset="shapes", train_size=10_000, val_size=1000, image_size=32, epochs=15,
    batch_size=64, optimizer="nesterov", lr=0.1, schedule="cosine", warmup_epochs=0.3, weight_decay=5e-4,
    label_smoothing=0.0, augment="none", seed=0, device="cpu", time_budget_s=3600.0,
)

_DEFAULT_LOCK = threading.Lock()


def default_model_path() -> Path:
    """Where the default model's state_dict is cached (``data_dir()/models/default_small_cnn_shapes.pt``)."""
    d = paths.data_dir() / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d / "default_small_cnn_shapes.pt"


SHIPPED_DEFAULT = Path(__file__).resolve().parent / "resources" / "default_small_cnn_shapes.pt"


def _same_config(stored: Any, cfg: TrainConfig) -> bool:
    """``stored`` (a config dict from a checkpoint's metadata) describes ``cfg``; fields added to TrainConfig
    since it was written count as equal when ``cfg`` keeps their defaults."""
    if not isinstance(stored, dict):
        return False
    current, defaults = cfg.to_dict(), TrainConfig().to_dict()
    return (all(k in current and current[k] == v for k, v in stored.items())
            and all(current[k] == defaults[k] for k in current if k not in stored))


def data_fingerprint(cfg: TrainConfig) -> str:
    """sha256 of 16 validation images + labels + class names of ``cfg``'s data set, generated as a run would.

    The shapes are generated from a seed by code that may change between versions; a default model trained on
    other images is stale even when its config matches. Costs a few milliseconds.
    """
    import hashlib

    from vizcore import data as vdata

    ds = vdata.load_dataset(cfg.dataset, split="val", n=16, size=cfg.image_size, seed=cfg.seed, root=cfg.data_root)
    h = hashlib.sha256()
    h.update(ds.images.contiguous().numpy().tobytes())
    h.update(ds.labels.numpy().astype("int64").tobytes())
    h.update("\n".join(ds.classes).encode())
    return h.hexdigest()


def _is_complete(path: Path, cfg: TrainConfig, fingerprint: str) -> bool:
    meta = checkpoint_meta(path)
    return (path.is_file() and bool(meta) and bool(meta.get("complete")) and _same_config(meta.get("config"), cfg)
            and meta.get("data_fingerprint") == fingerprint)


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(src.read_bytes())
    tmp.replace(dst)


def default_model(progress: Callable[[float, str], None] | None = None, retrain: bool = False,
                  config: TrainConfig | None = None) -> Path:
    """The checkpoint of the default model (small_cnn on the embedded shapes), ready on first use.

    In order: the copy cached in the data directory; else the checkpoint shipped with ConvScope
    (``vizcore/resources``, made by ``python -m vizcore default-model --retrain --ship`` from :data:`DEFAULT_CONFIG`),
    copied there; else trained now from ``config`` (default :data:`DEFAULT_CONFIG`), calling
    ``progress(fraction in [0, 1], text)`` as it goes. ``retrain`` skips both copies and trains. A copy counts
    only if it was made from the same config and the same images (:func:`data_fingerprint`).
    Load it with :func:`vizcore.training.load_trained` (its sidecar JSON names the model and classes).
    """
    cfg = config or DEFAULT_CONFIG
    path = default_model_path()
    with _DEFAULT_LOCK:
        fingerprint = data_fingerprint(cfg)
        if not retrain and _is_complete(path, cfg, fingerprint):
            if progress:
                progress(1.0, "default model ready (cached)")
            return path
        if not retrain and _is_complete(SHIPPED_DEFAULT, cfg, fingerprint):
            _copy_atomic(SHIPPED_DEFAULT, path)
            _copy_atomic(Path(str(SHIPPED_DEFAULT) + ".json"), Path(str(path) + ".json"))
            if progress:
                progress(1.0, "default model ready (shipped with ConvScope)")
            return path
        run = Run(cfg, "default", checkpoint_path=path)
        total = cfg.epochs * cfg.steps_per_epoch()

        def on_event(ev: Event) -> None:
            if progress is None:
                return
            if ev["kind"] == "step":
                progress(min(ev["step"] / total, 0.999), f"training the default model: epoch {ev['epoch']}/"
                                                         f"{cfg.epochs}, loss {ev['loss']:.3f}")
            elif ev["kind"] == "epoch":
                progress(min(ev["epoch"] / cfg.epochs, 0.999),
                         f"epoch {ev['epoch']}/{cfg.epochs}: val accuracy {100 * ev['val_acc']:.1f}%")

        run.subscribe(on_event)
        status = run.run_sync()
        if status != "done":
            raise RuntimeError(f"default model training ended {status}: {run.message}")
        meta = checkpoint_meta(path) or {}
        meta["complete"] = True
        meta["history"] = run.history
        meta["data_fingerprint"] = fingerprint
        meta_path = Path(str(path) + ".json")
        tmp = meta_path.with_name(meta_path.name + ".tmp")
        tmp.write_text(json.dumps(meta, sort_keys=True))
        tmp.replace(meta_path)  # readers see the old or the complete new metadata, never half
        if progress:
            progress(1.0, f"default model ready: val accuracy {100 * run.history[-1]['val_acc']:.1f}%")
        return path
