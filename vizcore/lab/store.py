"""The run store: training runs that belong to the app, not to a browser tab.

:class:`RunStore` is a SQLite database (stdlib ``sqlite3``, WAL journal so readers never block the writer) in
:func:`vizcore.core.paths.data_dir` holding each run's config, status, per-step and per-epoch metrics and
checkpoint path. Runs survive a restart; a run whose process died is marked ``interrupted``. Pages poll the store
(``get``, ``metrics``) from a ``st.fragment(run_every=...)``; worker threads only write to it. The file's schema,
how it is opened and how a row becomes a :class:`RunRecord` live in :mod:`vizcore.lab.store_schema`.
"""
from __future__ import annotations

import builtins
import csv
import io
import json
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vizcore.core import paths
from vizcore.lab.records import (  # noqa: F401 — the store's record types, importable from here as before
    DamagedRun,
    DamagedRunError,
    RunRecord,
    StoreError,
    _pid_alive,
    quarantine,
)
from vizcore.lab.store_schema import RECORD_COLUMNS, open_db, record_from_row
from vizcore.models.weights import checkpoint_meta
from vizcore.train.config import FINAL_STATUSES, Status, TrainConfig
from vizcore.train.engine import Event, Run, epochs_folder
from vizcore.train.timing import PastRun

EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s", "train_time_s",
                 "images_per_s", "elapsed_s")
STEP_COLUMNS = ("step", "epoch", "loss", "lr", "throughput")


def run_key(config: TrainConfig) -> str:
    """A run's key: the SHA-256 of its config (seed included) as canonical JSON, 16 hex digits."""
    import hashlib

    return hashlib.sha256(config.to_json().encode()).hexdigest()[:16]


class RunStore:
    """SQLite-backed record of runs. Thread-safe (one connection, one lock); several processes may share a file.

    ``path`` defaults to ``data_dir()/runs.sqlite``; checkpoints go to ``data_dir()/checkpoints/<id>.pt``.
    ``readonly`` opens an existing file for listings only (a read-only file or folder still lists); ``recover``
    moves a damaged file aside (:func:`quarantine`) and starts a new store, keeping the old file (the server
    does this so every page keeps working; ``recovered_from`` names the kept file). Without it, a damaged file
    raises :class:`StoreError` saying how to recover.
    """

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False, recover: bool = False) -> None:
        self.path = Path(path) if path is not None else paths.run_store_path()
        # A listing never creates: read-only on a missing file is an empty store in memory, nothing on disk.
        self.readonly = readonly
        self.existed = self.path.is_file()  # False: this object created the file (or, read-only, found none)
        self.recovered_from: Path | None = None
        self._lock = threading.RLock()
        try:
            self._db = open_db(self.path, readonly=self.readonly)
        except StoreError:
            if not recover or not self.path.is_file():
                raise
            self.recovered_from = quarantine(self.path)
            self._db = open_db(self.path, readonly=self.readonly)

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

    def merge_info(self, run_id: str, fields: dict[str, Any]) -> None:
        """Update some keys of a run's info (one transaction: a concurrent reader sees before or after)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            row = self._db.execute("SELECT info FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise ValueError(f"expected a stored run id, got {run_id!r}")
            info = {**json.loads(row[0] or "{}"), **fields}
            self._db.execute("UPDATE runs SET info=? WHERE id=?", (json.dumps(info, default=str), run_id))

    def set_checkpoint(self, run_id: str, path: str | Path | None) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET checkpoint=? WHERE id=?", (str(path) if path else None, run_id))

    def rename(self, run_id: str, name: str) -> None:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValueError(f"expected a non-empty run name of at most 200 characters, got {name!r}")
        self.get(run_id)
        with self._lock:
            self._db.execute("UPDATE runs SET name=? WHERE id=?", (name.strip(), run_id))

    def delete(self, run_id: str) -> None:
        """Remove a finished run, its metrics and its checkpoint files (the kept epochs' too); refuses a queued
        or running one."""
        try:
            rec: RunRecord | None = self.get(run_id)
            status: str = rec.status if rec is not None else ""
        except DamagedRunError:  # a damaged record can still be removed, with its checkpoint
            rec, status = None, str(self._raw(run_id)["status"])
        if status in ("queued", "running") and (rec is not None or self._owner_alive(run_id)):
            raise ValueError(f"expected a finished run to delete, got {run_id} with status {status!r} (cancel it first)")
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM metrics WHERE run_id=?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        for p in (self.checkpoint_path(run_id), Path(str(self.checkpoint_path(run_id)) + ".json")):
            p.unlink(missing_ok=True)
        self._delete_epochs(run_id, rec.info.get("epochs_dir") if rec is not None else None)

    def _delete_epochs(self, run_id: str, folder: str | None) -> None:
        """Remove the epoch weights this run wrote (its run id in their metadata: a shared folder keeps the
        others'), and its default epochs folder once empty."""
        default = epochs_folder(self.checkpoint_path(run_id))
        for d in {default, *([Path(folder)] if folder else [])}:
            if not d.is_dir():
                continue
            for p in d.glob("epoch_*.pt"):
                try:
                    owner = (checkpoint_meta(p) or {}).get("run_id")
                except ValueError:  # a damaged sidecar: not provably ours, left alone
                    continue
                if owner == run_id:
                    p.unlink(missing_ok=True)
                    Path(str(p) + ".json").unlink(missing_ok=True)
            if d == default and not any(d.iterdir()):
                d.rmdir()

    def mark_interrupted(self) -> builtins.list[str]:
        """Runs left ``queued``/``running`` by a process that no longer exists become ``interrupted``.

        Called on start-up; runs owned by a live process (another app or a CLI run on this host) are left alone.
        Returns the ids marked.
        """
        host = socket.gethostname()
        marked: list[str] = []
        if self.readonly:  # a listing cannot write; the statuses are corrected by the next writer
            return marked
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
    def _raw(self, run_id: str) -> dict[str, Any]:
        """A run's stored row as text, without parsing it (for damaged records)."""
        with self._lock:
            cur = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            raise ValueError(f"expected a stored run id, got {run_id!r}")
        return dict(zip(names, row))

    def find_done(self, config: TrainConfig) -> str | None:
        """The newest finished (``done``) run trained with exactly ``config`` (seed included: the run's key,
        :func:`run_key`) whose checkpoint is still on disk, else None: an identical run need not train again."""
        key = run_key(config)
        with self._lock:
            rows = self._db.execute("SELECT id, config, checkpoint FROM runs WHERE status='done' "
                                    "ORDER BY finished_at DESC").fetchall()
        for rid, text, ckpt in rows:
            try:
                same = run_key(TrainConfig.from_json(text)) == key
            except (ValueError, TypeError):  # a damaged record is listed apart, never reused
                continue
            if same and ckpt and Path(ckpt).is_file():
                return str(rid)
        return None

    def _owner_alive(self, run_id: str) -> bool:
        raw = self._raw(run_id)
        return raw["host"] == socket.gethostname() and _pid_alive(raw["pid"])

    def exists(self, run_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone() is not None

    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {RECORD_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise ValueError(f"expected a stored run id, got {run_id!r}")
        return record_from_row(row)

    def list(self, group: str | None = None) -> list[RunRecord]:
        """All readable runs, newest first; only those of ``group`` when given. Damaged records are left out
        (see :meth:`damaged_runs`), so one bad row never hides the others."""
        return self._scan(group)[0]

    def damaged_runs(self, group: str | None = None) -> builtins.list[DamagedRun]:
        """The runs whose records cannot be read, newest first, each with what is wrong and how to fix it."""
        return self._scan(group)[1]

    def _scan(self, group: str | None) -> tuple[builtins.list[RunRecord], builtins.list[DamagedRun]]:
        q = f"SELECT {RECORD_COLUMNS} FROM runs"
        args: tuple = ()
        if group is not None:
            q += " WHERE grp=?"
            args = (group,)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY created_at DESC, rowid DESC", args).fetchall()
        out, damaged = [], []
        for r in rows:
            try:
                out.append(record_from_row(r))
            except DamagedRunError as exc:
                damaged.append(DamagedRun(r[0], r[1], r[4], r[6], exc.reason))
        return out, damaged

    def finished_stamp(self) -> tuple:
        """(how many runs have ended, when the latest ended, how many runs there are): changes whenever a run
        ends or is deleted, so a cache of what finished runs measured knows when to read again."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(finished_at), MAX(finished_at), COUNT(*) FROM runs").fetchone()
        return tuple(row)

    def count_status(self, status: str) -> int:
        """How many runs have ``status`` (one query; nothing decoded)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM runs WHERE status = ?", (status,)).fetchone()[0])

    def groups(self) -> builtins.list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT grp FROM runs WHERE grp IS NOT NULL ORDER BY grp").fetchall()
        return [r[0] for r in rows]

    def metrics(self, run_id: str, kind: str = "epoch") -> builtins.list[dict[str, Any]]:
        """The run's "epoch" (default) or "step" events in order, as dicts without the "kind" key."""
        if kind not in ("step", "epoch"):
            raise ValueError(f"expected kind 'step' or 'epoch', got {kind!r}")
        with self._lock:
            rows = self._db.execute("SELECT data FROM metrics WHERE run_id=? AND kind=? ORDER BY seq, rowid",
                                    (run_id, kind)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def export(self, run_id: str) -> tuple[str, str]:
        """(config as JSON, epoch metrics as CSV) of a run, for download."""
        try:
            rec = self.get(run_id)
            config_json = json.dumps({"id": rec.id, "name": rec.name, "group": rec.group, "status": rec.status,
                                      "message": rec.message, "config": rec.config.to_dict()}, indent=2)
        except DamagedRunError as exc:  # hand back what is stored, as text, with the reason
            raw = self._raw(run_id)
            config_json = json.dumps({"id": run_id, "name": raw["name"], "group": raw["grp"], "status": raw["status"],
                                      "message": raw["message"], "damaged": exc.reason,
                                      "config_text": raw["config"]}, indent=2)
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

    def epoch_checkpoints(self, run_id: str) -> dict[int, Path]:
        """The kept epoch weights of a run that exist on disk: epoch -> checkpoint file (oldest first); {} for a
        run trained without ``keep_epochs``. Same format as the run's final checkpoint."""
        rec = self.get(run_id)
        folder = rec.info.get("epochs_dir")
        if not folder:
            return {}
        out = {}
        for e in rec.kept_epochs:
            p = Path(folder) / f"epoch_{e:03d}.pt"
            if p.is_file():
                out[e] = p
        return out

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
    def attach(self, run: Any) -> None:
        """Record ``run``'s events in this store (status, info, step and epoch metrics, checkpoint): an engine
        :class:`Run` or any executor's handle with the same interface (:mod:`vizcore.lab.executors`)."""
        run_id = run.id
        broken: list[str] = []  # the first write error: the run stops once, with that sentence

        def record(ev: Event) -> None:
            kind = ev.get("kind")
            if kind in ("step", "epoch"):
                self.add_metric(run_id, ev)
                if kind == "epoch" and run.checkpoint_path is not None:
                    self.set_checkpoint(run_id, run.checkpoint_path)
                if kind == "epoch" and run.config.keep_epochs:  # its file is written before the event
                    self.merge_info(run_id, {"kept_epochs": run.kept_epochs})
            elif kind == "info":
                self.set_info(run_id, {k: v for k, v in ev.items() if k != "kind"})
            elif kind == "status":
                self.set_status(run_id, ev["status"], ev.get("message", ""))

        def on_event(ev: Event) -> None:
            try:
                record(ev)
            except (sqlite3.Error, OSError) as exc:  # disk full, store removed or locked: metrics cannot be kept
                if broken:
                    return
                broken.append(f"the run store {self.path} could not be written ({' '.join(str(exc).split())}); "
                              "the run was stopped so no work goes unrecorded")
                sys.stderr.write(f"ConvScope: run {run_id}: {broken[0]}\n")
                run.abort(broken[0])

        run.subscribe(on_event)

    def make_run(self, run_id: str, data: tuple[Any, Any] | None = None,
                 epochs_dir: str | Path | None = None, history: Sequence[PastRun] = ()) -> Run:
        """A :class:`Run` for stored run ``run_id``, recording into this store. Kept epoch weights
        (``keep_epochs``) go to ``epochs_dir``, by default ``checkpoints/<id>_epochs`` beside the run's
        checkpoint; the record's info names the folder and the epochs kept, and :meth:`delete` removes them.
        ``history``: finished runs the run's time estimate rests on (:func:`vizcore.lab.history.past_runs`)."""
        rec = self.get(run_id)
        run = Run(rec.config, run_id, checkpoint_path=self.checkpoint_path(run_id), data=data,
                  resolve_run=self.resolve, epochs_dir=epochs_dir, history=history)
        self.attach(run)
        return run
