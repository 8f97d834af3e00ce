"""Watching a run: progress, ETA and curve data read from the run store, for live views and the CLI.

The time left is not "elapsed × (1 − done) / done": early in a run the elapsed time is mostly data preparation,
and that rule said "7 min 36 s left" 20 s into a 78 s run. Instead the steps left are divided by the training
throughput of the last few logged windows (their median: one slow window does not swing it), the validation
passes left are timed from the epochs done, and until a few windows are in, the estimate leans on the rates
measured on this machine before the run (:func:`vizcore.lab.history.estimate`).

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

from vizcore.train.timing import format_seconds

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
        rob = self.epochs_data.get("robust_acc") or []
        if self.status == "done" and rob:
            tail += f", under PGD-10 attack {rob[-1]:.1f}%"
        msg = f" — {self.message}" if self.message and self.status != "done" else ""
        if self.status == "done" and "catastrophic overfitting" in self.message:
            msg = " — " + self.message[self.message.index("catastrophic overfitting"):]
        return f"{self.name}: {words} after {format_seconds(self.elapsed_s)}{tail}{msg}"


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
        eta = time_left(rec, steps, epochs, step, spe, elapsed, getattr(store, "path", None), now)
    else:
        eta = 0.0
    pts = thin(steps, max_points)
    step_cols = {k: [float(p.get(k, math.nan)) for p in pts] for k in ("step", "loss", "lr", "throughput")}
    ep_cols: dict[str, list[float]] = {"epoch": [float(e["epoch"]) for e in epochs]}
    for k in ("train_loss", "val_loss"):
        ep_cols[k] = [float(e.get(k, math.nan)) for e in epochs]
    for k in ("train_acc", "val_acc"):  # stored in [0, 1]; shown in %
        ep_cols[k] = [100.0 * float(e.get(k, math.nan)) for e in epochs]
    if any("robust_acc" in e for e in epochs):  # adversarial training or robust_eval: PGD-10 accuracy, %
        ep_cols["robust_acc"] = [100.0 * float(e.get("robust_acc", math.nan)) for e in epochs]
    return Snapshot(rec.id, rec.name, rec.status, rec.message, fraction, step, total, rec.epochs_done, cfg.epochs,
                    float(elapsed), float(eta), step_cols, ep_cols, rec.status == "running" and not steps)


RECENT_WINDOWS = 5  # logged step windows whose median throughput sets the pace
TRUST_AFTER = 3  # windows after which the measured pace alone sets the ETA (before: blended with the prior)


def _prior(cfg: Any, store_path: Any) -> Any:
    """The pre-run estimate from the finished runs of the watched store (no calibration: this runs every poll)."""
    try:
        from vizcore.lab import history

        return history.estimate(cfg, store_path, calibrate=False, at_load_now=False)
    except (ValueError, RuntimeError, OSError):
        return None


def time_left(rec: Any, steps: list[dict[str, Any]], epochs: list[dict[str, Any]], step: int, spe: int,
              elapsed: float, store_path: Any = None, now: float | None = None) -> float:
    """Seconds left of a queued or running run (NaN while nothing is known).

    measured = steps left × batch / median throughput of the last RECENT_WINDOWS windows
               + validation passes left × median validation time of the epochs done (the pass of the epoch
               in progress included: at 100% of the steps, the last validation is what is left)
               + the tail after the last epoch (final checkpoint and writes), as finished runs measured it;
    prior = the same from the pre-run estimate (plus what is left of its data preparation);
    ETA = prior until the first window, then a blend reaching the measured value after TRUST_AFTER windows,
    less the time since the last event the run logged (the countdown moves between events; it stops at 1 s
    rather than claim the run is over while it still evaluates).
    """
    cfg = rec.config
    total = cfg.epochs * spe
    steps_left = max(total - step, 0)
    val_left = max(cfg.epochs - rec.epochs_done, 0)
    prior = _prior(cfg, store_path)
    tail = prior.tail_s if prior is not None else 0.0
    prior_left = math.nan
    if prior is not None:
        prior_left = steps_left / spe * prior.train_s_per_epoch + val_left * prior.val_s_per_epoch + tail
        if not steps:
            prior_left += max(prior.setup_s - elapsed, 0.0)
    elif rec.info.get("time_estimate_s") and rec.status == "running":  # the run's own estimate (a calibration)
        est_s = float(rec.info["time_estimate_s"])
        prior_left = est_s * steps_left / max(total, 1) if steps else max(est_s - elapsed, 1.0)
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
    elif prior is not None and prior.val_s_per_epoch > 0:
        val_s = prior.val_s_per_epoch
    else:  # a forward pass costs about a third of a training step; flip test-time augmentation doubles it
        val_s = cfg.val_size * (2 if cfg.tta_flip else 1) / (3.0 * pace)
    measured = steps_left * cfg.batch_size / pace + val_left * val_s + tail
    if math.isnan(prior_left):
        left = measured
    else:
        w = min(1.0, len(steps) / TRUST_AFTER)
        left = w * measured + (1.0 - w) * prior_left
    stamps = [float(e["time"]) for e in (steps[-1], epochs[-1] if epochs else {}) if _num(e.get("time"))]
    if stamps and now is not None:
        left -= max(now - max(stamps), 0.0)
    return max(left, 1.0)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def queue_text(lab: Any, run_id: str) -> str:
    """Where a queued run stands, in words: its place in the lab's queue, the runs ahead of it and about how
    long until it starts (what the runs ahead have left, from their live countdowns and estimates)."""
    from vizcore.lab import history

    queued = lab.queued()
    if run_id not in queued:
        return "Not waiting in this lab's queue."
    pos = queued.index(run_id)
    running = lab.running()
    store = lab.store
    waits: list[float] = []
    for rid in running:
        waits.append(snapshot(store, rid, max_points=2).eta_s)
    for rid in queued[:pos]:
        est = history.estimate(store.get(rid).config, getattr(store, "path", None), calibrate=False)
        waits.append(est.seconds if est is not None else math.nan)
    ahead = len(running) + pos
    slots = max(int(getattr(lab, "concurrency", 1)), 1)
    words = (f"Waiting: place {pos + 1} in the queue, {ahead} run{'s' if ahead != 1 else ''} ahead of it "
             f"(the lab trains {slots} at a time)")
    known = [w for w in waits if math.isfinite(w)]
    if waits and len(known) == len(waits):
        words += f"; it should start in about {format_seconds(sum(known) / slots)}"
    return words + "."
