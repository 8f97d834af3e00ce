"""Which trained weights the app owns for a zoo model: the Training Lab's stored runs of that architecture.

The pages offer browser users only these (plus ConvScope's default models and uploads kept by
:func:`vizcore.models.weights.import_state_dict`): never a free path on the server's disk.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vizcore.core import paths
from vizcore.lab.store import RunStore, StoreError

# A run's checkpoint is usable once it completed an epoch and stopped (a running run's file changes under us).
_USABLE = ("done", "cancelled", "diverged", "interrupted")


@dataclass(frozen=True)
class TrainedRun:
    checkpoint: str  # state_dict file of the run's last completed epoch
    run_id: str
    label: str  # what a user reads: name, data set, validation accuracy, id


def store_stamp(store_path: str | Path | None = None) -> float:
    """Latest change of the run store file (SQLite writes land in its -wal file first); 0 when there is none.
    A cache keyed on it renews when runs change."""
    db = Path(store_path) if store_path is not None else paths.run_store_path()
    return max((p.stat().st_mtime for p in (db, Path(str(db) + "-wal")) if p.is_file()), default=0.0)


def trained_runs(model: str, store_path: str | Path | None = None) -> list[TrainedRun]:
    """Stored runs of architecture ``model`` with a checkpoint on disk, newest first; [] without a store (or with
    one that cannot be read: the pages keep working, the Training Lab says what is wrong with it)."""
    db = Path(store_path) if store_path is not None else paths.run_store_path()
    if not db.is_file():
        return []
    try:
        store = RunStore(db, readonly=True)
    except StoreError:
        return []
    try:
        out = []
        for r in store.list():
            if (r.config.model == model and r.checkpoint and r.epochs_done and r.status in _USABLE
                    and Path(r.checkpoint).is_file()):
                acc = "" if r.val_acc is None else f", val. accuracy {100 * r.val_acc:.1f}%"
                out.append(TrainedRun(r.checkpoint, r.id,
                                      f"Training Lab run “{r.name}” ({r.config.dataset}{acc}) #{r.id}"))
        return out
    finally:
        store.close()
