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
    # 6 steps of 16 images left at 100 images/s, and 2 validation passes of 16 images (a forward costs a third of
    # a step; flip test-time augmentation, on by default, runs two)
    assert snap.eta_s == pytest.approx(6 * 16 / 100 + 2 * 2 * 16 / 300)
    assert "about 1 s left" in snap.status_text()
    assert snap.steps["loss"] == [2.0, 1.0]
    store.add_metric(rid, {"kind": "epoch", "epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1,
                           "val_acc": 0.25, "lr": 0.1, "time_s": 1.0, "elapsed_s": 1.0})
    store.set_status(rid, "diverged", "loss became nan at step 5")
    snap = monitor.snapshot(store, rid)
    assert snap.finished and snap.eta_s == 0.0
    assert snap.epochs_data["val_acc"] == [25.0]
    assert "diverged" in snap.status_text() and "nan at step 5" in snap.status_text()
    store.close()


def _seed_history(store, n_runs=2, ips=400.0, setup_s=18.0):
    """Finished runs of the same model and size: what the store knows about this machine's pace."""
    cfg = TrainConfig(train_size=3200, val_size=800, epochs=3, batch_size=32)
    for i in range(n_runs):
        rid = store.create(cfg, name=f"past {i}")
        store.set_status(rid, "running")
        store.set_info(rid, {"device": "cpu", "steps_per_epoch": 100})
        for ep in (1, 2, 3):
            train_s = 3200 / ips
            store.add_metric(rid, {"kind": "epoch", "epoch": ep, "val_acc": 0.5, "images_per_s": ips,
                                   "train_time_s": train_s, "time_s": train_s + 2.0,
                                   "elapsed_s": setup_s + ep * (train_s + 2.0)})
        store.set_status(rid, "done")
    return cfg


def test_eta_early_in_a_run_is_not_swamped_by_data_preparation(tmp_path):
    """Issue 9: 20 s into a 78 s run (18 s of it preparing data) the ETA said "7 min 36 s left". The time
    left is the steps left at the measured pace, leaning on the store's rates until a few windows are in."""
    store = RunStore(tmp_path / "r.sqlite")
    cfg = _seed_history(store)  # 3 epochs x (8 s training + 2 s validation) + 18 s setup = 48 s a run
    rid = store.create(cfg, name="now")
    snap = monitor.snapshot(store, rid)
    assert snap.eta_s == pytest.approx(18.0 + 3 * 10.0)  # queued: the whole run, from the history
    store.set_status(rid, "running")
    store.set_info(rid, {"device": "cpu", "steps_per_epoch": 100})
    started = store.get(rid).started_at
    prep = monitor.snapshot(store, rid, now=started + 5.0)
    assert prep.preparing and "preparing the data" in prep.status_text()
    assert prep.eta_s == pytest.approx(13.0 + 30.0)  # 13 s of setup left, then 3 epochs
    # 20 s in: setup took 18 s, one window of 5 steps at 400 images/s (about 0.4 s)
    store.add_metric(rid, {"kind": "step", "step": 5, "epoch": 1, "loss": 2.0, "lr": 0.1, "throughput": 400.0})
    snap = monitor.snapshot(store, rid, now=started + 20.0)
    truth = 295 * 32 / 400 + 3 * 2.0  # 29.6 s of training + 3 validation passes
    assert snap.eta_s == pytest.approx(truth, rel=0.05)
    old_rule = 20.0 * (1 - snap.fraction) / snap.fraction
    assert old_rule > 300  # what the page used to say: over 5 minutes
    # a slow window (another process took the CPU) does not swing the estimate: the median of recent windows
    for k, tput in enumerate([400.0, 40.0, 400.0, 400.0], start=2):
        store.add_metric(rid, {"kind": "step", "step": 5 * k, "epoch": 1, "loss": 2.0, "lr": 0.1, "throughput": tput})
    snap = monitor.snapshot(store, rid, now=started + 22.0)
    assert snap.eta_s == pytest.approx((300 - 25) * 32 / 400 + 3 * 2.0, rel=0.01)
    store.close()


def test_a_queued_run_says_its_place_and_the_runs_ahead(tmp_path):
    """Issue 26, defect 4: a queued run said only "waiting for a free slot". It says its place in the queue, how
    many runs are ahead and, once their times are known, about when it starts."""
    import time as _time

    store = RunStore(tmp_path / "r.sqlite")
    cfg = TrainConfig(train_size=640, val_size=64, epochs=1, batch_size=64, device="cpu")
    done = store.create(cfg)  # a finished run of the same configuration: 12 s
    store.set_status(done, "running")
    store.set_info(done, {"device": "cpu"})
    store.add_metric(done, {"kind": "epoch", "epoch": 1, "val_acc": 0.5, "images_per_s": 64.0, "train_time_s": 10.0,
                            "time_s": 11.0, "elapsed_s": 11.5})
    store.set_status(done, "done")
    end = _time.time()
    store._db.execute("UPDATE runs SET started_at=?, finished_at=? WHERE id=?", (end - 12.0, end, done))
    training = store.create(cfg)  # half way through its 10 steps at 64 images/s: 5 s of steps, 1 s of validation
    store.set_status(training, "running")
    store.set_info(training, {"device": "cpu"})
    for step in range(1, 6):
        store.add_metric(training, {"kind": "step", "step": step, "epoch": 1, "loss": 1.0, "lr": 0.1,
                                    "throughput": 64.0})
    ids = [store.create(cfg) for _ in range(3)]

    class FakeLab:  # the queue's view: one run training, three waiting behind it
        concurrency = 1

        def __init__(self):
            self.store = store

        def running(self):
            return [training]

        def queued(self):
            return ids

    text = monitor.queue_text(FakeLab(), ids[2])
    assert text.startswith("Waiting: place 3 in the queue, 3 runs ahead of it (the lab trains 1 at a time)")
    left = monitor.snapshot(store, training).eta_s  # the training run's own countdown
    assert 5.0 < left < 9.0
    assert f"start in about {monitor.format_seconds(left + 24.0)}" in text  # + two runs of 12 s each
    assert monitor.queue_text(FakeLab(), "nope") == "Not waiting in this lab's queue."
    store.close()
