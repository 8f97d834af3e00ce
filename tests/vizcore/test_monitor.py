"""Run monitor: progress, ETA and thinned curves read from a real run store."""
from __future__ import annotations

import math

import pytest

from vizcore.lab import monitor
from vizcore.lab.store import RunStore
from vizcore.train.config import TrainConfig


def test_thin_keeps_first_last_and_bound():
    xs = list(range(1001))
    t = monitor.thin(xs, 100)
    assert len(t) <= 100 and t[0] == 0 and t[-1] == 1000
    assert monitor.thin([1, 2, 3], 10) == [1, 2, 3]
    with pytest.raises(ValueError, match="max_points"):
        monitor.thin(xs, 1)


def test_format_seconds():
    assert monitor.format_seconds(5.2) == "5 s"
    assert monitor.format_seconds(62.3) == "1 min 2 s"
    assert monitor.format_seconds(3725) == "1 h 2 min"
    assert monitor.format_seconds(math.nan) == "unknown"


def test_snapshot_progress_eta_and_end(tmp_path):
    store = RunStore(tmp_path / "r.sqlite")
    cfg = TrainConfig(train_size=64, val_size=16, epochs=2, batch_size=16)  # 4 steps per epoch, 8 in all
    rid = store.create(cfg, name="tiny")
    snap = monitor.snapshot(store, rid)
    assert snap.status == "queued" and snap.fraction == 0 and math.isnan(snap.eta_s)
    assert "waiting" in snap.status_text()
    store.set_status(rid, "running")
    for step in range(1, 3):
        store.add_metric(rid, {"kind": "step", "step": step, "epoch": 1, "loss": 2.0 / step, "lr": 0.1,
                               "throughput": 100.0})
    started = store.get(rid).started_at
    snap = monitor.snapshot(store, rid, now=started + 10.0)
    assert snap.total_steps == 8 and snap.step == 2 and snap.fraction == pytest.approx(0.25)
    assert snap.eta_s == pytest.approx(30.0)  # 10 s for a quarter -> 30 s left
    assert "about 30 s left" in snap.status_text()
    assert snap.steps["loss"] == [2.0, 1.0]
    store.add_metric(rid, {"kind": "epoch", "epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1,
                           "val_acc": 0.25, "lr": 0.1, "time_s": 1.0, "elapsed_s": 1.0})
    store.set_status(rid, "diverged", "loss became nan at step 5")
    snap = monitor.snapshot(store, rid)
    assert snap.finished and snap.eta_s == 0.0
    assert snap.epochs_data["val_acc"] == [25.0]
    assert "diverged" in snap.status_text() and "nan at step 5" in snap.status_text()
    store.close()
