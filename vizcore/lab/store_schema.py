"""The run store's SQLite file: its schema, how it is opened, and a stored row read back as a record.

Opening checks what is at the path (a folder, a special file, no permission) and says so in a sentence; a writer
uses the WAL journal so readers never block it; a listing opens read-only (an in-memory empty store when there is
no file, an immutable snapshot when a read-only folder cannot hold WAL's shared-memory file). A file that is not a
ConvScope store raises :class:`~vizcore.lab.records.StoreError`; a row whose config or info cannot be read raises
:class:`~vizcore.lab.records.DamagedRunError`. :class:`vizcore.lab.store.RunStore` is the one user.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from vizcore.lab.records import DamagedRunError, RunRecord, StoreError
from vizcore.train.config import TrainConfig

SCHEMA = """
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

# The columns of a `runs` row that make a RunRecord, in the order record_from_row unpacks them.
RECORD_COLUMNS = ("id, name, grp, config, status, message, created_at, started_at, finished_at, epochs_done, "
                  "val_acc, best_val_acc, checkpoint, info")


def open_db(p: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection to the store file ``p`` (created with its schema unless ``readonly``); raises StoreError
    with what is wrong and how to recover when the file cannot be used."""
    if p.exists() and not p.is_file():
        what = "a folder" if p.is_dir() else "a device or other special file"
        raise StoreError(f"expected a run store database file at {p}, got {what}")
    if readonly and not p.exists():
        mem = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        mem.executescript(SCHEMA)
        return mem
    if not p.exists():
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the run store folder {p.parent}: {exc.strerror or exc}") from None
    if p.exists() and not os.access(p, os.R_OK):
        raise StoreError(f"cannot read the run store {p}: permission denied")
    if not readonly and (p.exists() and not os.access(p, os.W_OK)
                         or not os.access(p.parent, os.W_OK)):
        raise StoreError(f"cannot write the run store {p}: permission denied (a read-only file or folder); "
                         "listing runs still works")
    db = None
    try:
        if readonly:
            db = _connect_readonly(p)
        else:
            db = sqlite3.connect(p, check_same_thread=False, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, fast commits
            db.executescript(SCHEMA)
        cols = {r[1] for r in db.execute("PRAGMA table_info(runs)").fetchall()}
        if not {"id", "config", "status"} <= cols:
            raise sqlite3.DatabaseError("it has no runs table of ConvScope's")
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        raise StoreError(
            f"the run store {p} is not a usable ConvScope database ({exc}); move it aside to start a new "
            f"one and keep the old file (mv {p} {p}.corrupt)") from None
    return db


def _connect_readonly(p: Path) -> sqlite3.Connection:
    uri = p.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=30.0,
                             isolation_level=None)
        db.execute("SELECT COUNT(*) FROM runs").fetchone()
        return db
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise
        # A WAL store in a read-only folder cannot make its shared-memory file: read it as a snapshot.
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False, isolation_level=None)
        db.execute("SELECT COUNT(*) FROM runs").fetchone()
        return db


def record_from_row(row: tuple) -> RunRecord:
    """A row of :data:`RECORD_COLUMNS` -> its RunRecord; DamagedRunError when its config or info is unreadable."""
    (rid, name, grp, config, status, message, created, started, finished, epochs, val_acc, best, ckpt,
     info) = row
    try:
        cfg = TrainConfig.from_json(config, stored=True)
    except (ValueError, TypeError) as exc:
        raise DamagedRunError(rid, name, f"its config cannot be read ({' '.join(str(exc).split())[:160]})"
                              ) from None
    try:
        extra = json.loads(info or "{}")
    except ValueError:
        extra = None
    if not isinstance(extra, dict):
        raise DamagedRunError(rid, name, "its info is not a JSON object")
    return RunRecord(rid, name, grp, cfg, status, message, created, started, finished, epochs, val_acc,
                     best if best is None or best >= 0 else None, ckpt, extra)
