"""Watching a run: progress, ETA and curve data read from the run store, for live views and the CLI.

Workers write events into the store (:mod:`vizcore.lab.store`); a viewer polls :func:`snapshot` as often as it likes.
Reading is cheap (two indexed queries) and never blocks the worker (SQLite in WAL mode). The snapshot carries
plain lists, thinned to at most ``max_points`` per curve so a long run's chart stays the same size however
long it trains (a live chart that redraws every step would grow without bound).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

STATUS_WORDS = {
    "queued": "waiting for a free slot in the lab's queue",
    "running": "training",
    "done": "finished",
    "cancelled": "cancelled",
    "diverged": "stopped: the loss diverged (NaN or infinite)",
    "failed": "failed",
    "interrupted": "interrupted by an app restart",
}


@dataclass(frozen=True)
class Snapshot:
    """The state of one run at the moment it was read."""

    run_id: str  # run id in the store
    name: str  # run name
    status: str  # queued | running | done | cancelled | diverged | failed | interrupted
    message: str  # why it ended, in words (empty while it runs)
    fraction: float  # share of optimizer steps done, [0, 1]
    step: int  # optimizer steps done (as last reported)
    total_steps: int  # epochs x steps per epoch
    epoch: int  # epochs completed
    epochs: int  # epochs planned
    elapsed_s: float  # seconds since it started (to its end when finished); 0 while queued
    eta_s: float  # estimated seconds left (NaN while unknown; 0 when finished)
    steps: dict[str, list[float]] = field(default_factory=dict)  # step, loss, lr, throughput (thinned)
    epochs_data: dict[str, list[float]] = field(default_factory=dict)  # epoch, train/val loss, accuracies in %

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")

    def status_text(self) -> str:
        """One sentence for the user: what the run is doing or why it ended."""
        words = STATUS_WORDS.get(self.status, self.status)
        if self.status == "running":
            eta = "estimating time left" if math.isnan(self.eta_s) else f"about {format_seconds(self.eta_s)} left"
            return (f"{self.name}: {words}, epoch {min(self.epoch + 1, self.epochs)}/{self.epochs}, "
                    f"{100 * self.fraction:.0f}% of steps, {eta}")
        if self.status == "queued":
            return f"{self.name}: {words}"
        acc = self.epochs_data.get("val_acc") or []
        tail = f"; final val accuracy {acc[-1]:.1f}%" if self.status == "done" and acc else ""
        msg = f" — {self.message}" if self.message and self.status != "done" else ""
        return f"{self.name}: {words} after {format_seconds(self.elapsed_s)}{tail}{msg}"


def format_seconds(s: float) -> str:
    """62.3 -> '1 min 2 s'; 5.2 -> '5 s'."""
    if s is None or not math.isfinite(s):
        return "unknown"
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def thin(values: list[Any], max_points: int) -> list[Any]:
    """Every k-th value (k chosen so at most ``max_points`` remain), always keeping the last."""
    if max_points < 2:
        raise ValueError(f"expected max_points >= 2, got {max_points}")
    n = len(values)
    if n <= max_points:
        return list(values)
    k = math.ceil(n / (max_points - 1))
    out = values[::k]
    if (n - 1) % k:
        out.append(values[-1])
    return out


def snapshot(store: Any, run_id: str, max_points: int = 400, now: float | None = None) -> Snapshot:
    """Read run ``run_id`` from ``store`` (a :class:`vizcore.lab.store.RunStore`): status, progress, ETA, curves."""
    rec = store.get(run_id)
    now = time.time() if now is None else now
    steps = store.metrics(run_id, "step")
    epochs = store.metrics(run_id, "epoch")
    cfg = rec.config
    spe = int(rec.info.get("steps_per_epoch") or cfg.steps_per_epoch())
    total = max(1, cfg.epochs * spe)
    step = int(steps[-1]["step"]) if steps else 0
    if rec.status == "done":
        step = total
    fraction = min(1.0, step / total)
    if rec.started_at is None:
        elapsed = 0.0
    else:
        elapsed = (rec.finished_at if rec.finished_at is not None else now) - rec.started_at
    if rec.status in ("queued", "running"):
        eta = elapsed * (1.0 - fraction) / fraction if fraction > 0 else math.nan
    else:
        eta = 0.0
    pts = thin(steps, max_points)
    step_cols = {k: [float(p.get(k, math.nan)) for p in pts] for k in ("step", "loss", "lr", "throughput")}
    ep_cols: dict[str, list[float]] = {"epoch": [float(e["epoch"]) for e in epochs]}
    for k in ("train_loss", "val_loss"):
        ep_cols[k] = [float(e.get(k, math.nan)) for e in epochs]
    for k in ("train_acc", "val_acc"):  # stored in [0, 1]; shown in %
        ep_cols[k] = [100.0 * float(e.get(k, math.nan)) for e in epochs]
    return Snapshot(rec.id, rec.name, rec.status, rec.message, fraction, step, total, rec.epochs_done, cfg.epochs,
                    float(elapsed), float(eta), step_cols, ep_cols)
