"""Watching a run: progress, ETA and curve data read from the run store, for live views and the CLI.

The time left is not "elapsed × (1 − done) / done": early in a run the elapsed time is mostly data preparation,
and that rule said "7 min 36 s left" 20 s into a 78 s run. Instead the steps left are divided by the training
throughput of the last few logged windows (their median: one slow window does not swing it), the validation
passes left are timed from the epochs done, and until a few windows are in, the estimate leans on the rates
measured on this machine before the run (:func:`vizcore.train.budget.estimate_time`).

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

from vizcore.train import budget

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
    preparing: bool = False  # running, but no step logged yet (data generation, model build)

    @property
    def has_curves(self) -> bool:
        """Something to plot: at least one logged step or one finished epoch."""
        return bool(self.steps.get("step")) or bool(self.epochs_data.get("epoch"))

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")

    def status_text(self) -> str:
        """One sentence for the user: what the run is doing or why it ended."""
        words = STATUS_WORDS.get(self.status, self.status)
        if self.status == "running":
            eta = "estimating time left" if math.isnan(self.eta_s) else f"about {format_seconds(self.eta_s)} left"
            if self.preparing:
                return f"{self.name}: preparing the data and the model, {eta}"
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
        eta = time_left(rec, steps, epochs, step, spe, elapsed, getattr(store, "path", None))
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
                    float(elapsed), float(eta), step_cols, ep_cols, rec.status == "running" and not steps)


RECENT_WINDOWS = 5  # logged step windows whose median throughput sets the pace
TRUST_AFTER = 3  # windows after which the measured pace alone sets the ETA (before: blended with the prior)


def _prior(cfg: Any, store_path: Any) -> Any:
    """The pre-run estimate from the finished runs of the watched store (no calibration: this runs every poll)."""
    try:
        return budget.estimate_time(cfg, calibrate=False, store_path=store_path)
    except (ValueError, RuntimeError, OSError):
        return None


def time_left(rec: Any, steps: list[dict[str, Any]], epochs: list[dict[str, Any]], step: int, spe: int,
              elapsed: float, store_path: Any = None) -> float:
    """Seconds left of a queued or running run (NaN while nothing is known).

    measured = steps left × batch / median throughput of the last RECENT_WINDOWS windows
               + validation passes left × median validation time of the epochs done;
    prior = the same from the pre-run estimate (plus what is left of its data preparation);
    ETA = prior until the first window, then a blend reaching the measured value after TRUST_AFTER windows.
    """
    cfg = rec.config
    total = cfg.epochs * spe
    steps_left = max(total - step, 0)
    val_left = cfg.epochs - rec.epochs_done
    prior = _prior(cfg, store_path)
    prior_left = math.nan
    if prior is not None:
        prior_left = steps_left / spe * prior.train_s_per_epoch + val_left * prior.val_s_per_epoch
        if not steps:
            prior_left += max(prior.setup_s - elapsed, 0.0)
    elif rec.info.get("time_estimate_s") and rec.status == "running" and steps:
        prior_left = float(rec.info["time_estimate_s"]) * steps_left / max(total, 1)
    if rec.status == "queued" or not steps:
        return prior_left
    recent = [float(p["throughput"]) for p in steps[-RECENT_WINDOWS:]
              if isinstance(p.get("throughput"), (int, float)) and math.isfinite(p["throughput"]) and p["throughput"] > 0]
    if not recent:
        return prior_left
    pace = sorted(recent)[len(recent) // 2]
    val_times = [float(e["time_s"]) - float(e["train_time_s"]) for e in epochs
                 if isinstance(e.get("time_s"), (int, float)) and isinstance(e.get("train_time_s"), (int, float))]
    if val_times:
        val_s = sorted(val_times)[len(val_times) // 2]
    elif prior is not None:
        val_s = prior.val_s_per_epoch
    else:
        val_s = cfg.val_size / (3.0 * pace)  # a forward pass costs about a third of a training step
    measured = steps_left * cfg.batch_size / pace + val_left * val_s
    if math.isnan(prior_left):
        return measured
    w = min(1.0, len(steps) / TRUST_AFTER)
    return w * measured + (1.0 - w) * prior_left


# ---------------------------------------------------------------------------------------- what runs measured


def store_history(store_path: Any = None) -> list[dict[str, Any]]:
    """:func:`vizcore.train.budget.history_row` of every finished run in the store at ``store_path`` (None: the
    default ``data_dir()/runs.sqlite``): the throughput this machine measured, per model and image size."""
    from pathlib import Path

    from vizcore.core import paths
    from vizcore.lab.store import RunStore

    path = Path(store_path) if store_path is not None else paths.data_dir() / "runs.sqlite"
    if not path.is_file():
        return []
    store = RunStore(path)
    try:
        rows = []
        for rec in store.list():
            if rec.epochs_done and rec.status in ("done", "cancelled"):
                row = budget.history_row(rec.config, rec.status, rec.info, store.metrics(rec.id, "epoch"))
                if row is not None:
                    rows.append(row)
        return rows
    finally:
        store.close()


# The train layer estimates time from what runs measured, but may not import the lab that stores them: the lab
# hands it this reader (any process that watches or queues runs imports this module).
budget.set_history_provider(store_history)
