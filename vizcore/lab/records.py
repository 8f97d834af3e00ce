"""What the run store holds and hands out: a run's record, a damaged record listed apart, and what to do with a
store file that cannot be used."""
from __future__ import annotations

import builtins
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vizcore.train.config import FINAL_STATUSES, Status, TrainConfig

__all__ = ["DamagedRun", "DamagedRunError", "RunRecord", "StoreError", "quarantine"]


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
    info: dict[str, Any]  # classes, device, parameter count, param groups, notes; kept_epochs, epochs_dir

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def kept_epochs(self) -> builtins.list[int]:
        """Epochs whose weights the run keeps (``config.keep_epochs`` > 0), oldest first; [] when none."""
        return [int(e) for e in self.info.get("kept_epochs") or []]

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


class DamagedRunError(ValueError):
    """One stored run's record cannot be read (its config or info is not valid JSON or not a valid config); the
    message names the run and says how to export or delete it. The store's other runs stay readable."""

    def __init__(self, run_id: str, name: str, reason: str) -> None:
        self.run_id, self.name, self.reason = run_id, name, reason
        super().__init__(f"the stored record of run {run_id} ({name}) is damaged: {reason}; export what is left with "
                         f"`python -m vizcore runs --export {run_id}` or remove it with "
                         f"`python -m vizcore runs --delete {run_id}`")


@dataclass(frozen=True)
class DamagedRun:
    """A run whose record :meth:`RunStore.list` could not read: listed apart, so the others still show."""

    id: str
    name: str
    status: str
    created_at: float
    reason: str  # what is wrong, in words

    @property
    def message(self) -> str:
        return str(DamagedRunError(self.id, self.name, self.reason))


class StoreError(ValueError):
    """The run store file cannot be used (not a database, corrupt, unreadable); the message says how to recover."""


def quarantine(path: str | Path) -> Path:
    """Move a damaged store (and its -wal/-shm files) aside as ``<name>.corrupt-<unix time>``; returns the new
    name of the main file. The old file is kept for inspection; a new store can then be created at ``path``."""
    p = Path(path)
    aside = p.with_name(f"{p.name}.corrupt-{int(time.time())}")
    for suffix in ("-wal", "-shm"):
        side = Path(str(p) + suffix)
        if side.exists():
            side.replace(Path(str(aside) + suffix))
    p.replace(aside)
    return aside


