"""Time estimates from throughput measured on this machine (issue 9: "about 2 s" for runs that took minutes).

The store's finished runs record images/s per model and image size; without them a short calibration measures
a few optimizer steps. A budget that refuses a run rests on those measurements, never on a guessed FLOP/s.
"""
from __future__ import annotations

import dataclasses
import math

import pytest

import vizcore.lab.monitor  # noqa: F401 — hands the train layer its reader of the run store
from vizcore.lab.store import RunStore
from vizcore.train import budget
from vizcore.train.config import TrainConfig

CFG = TrainConfig(model="small_cnn", dataset="shapes", train_size=2000, val_size=500, epochs=4, batch_size=64,
                  image_size=32, device="cpu")


def _past_run(store: RunStore, cfg: TrainConfig, ips: float, val_s: float, setup_s: float) -> str:
    """A finished run as the engine records it: per epoch its images/s, training and total seconds."""
    rid = store.create(cfg)
    store.set_status(rid, "running")
    store.set_info(rid, {"device": "cpu", "steps_per_epoch": cfg.steps_per_epoch()})
    train_s = cfg.steps_per_epoch() * cfg.batch_size / ips
    for ep in range(1, cfg.epochs + 1):
        store.add_metric(rid, {"kind": "epoch", "epoch": ep, "val_acc": 0.5, "images_per_s": ips,
                               "train_time_s": train_s, "time_s": train_s + val_s,
                               "elapsed_s": setup_s + ep * (train_s + val_s)})
    store.set_status(rid, "done")
    return rid


def test_estimate_uses_the_throughput_finished_runs_measured(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    _past_run(store, dataclasses.replace(CFG, epochs=2), ips=100.0, val_s=1.0, setup_s=5.0)
    _past_run(store, dataclasses.replace(CFG, epochs=2, seed=1), ips=100.0, val_s=1.0, setup_s=5.0)
    est = budget.estimate_time(CFG, "cpu", store_path=store.path)
    assert est.rates.source == "measured" and "2 finished runs of small_cnn at 32 px on CPU" in est.rates.detail
    spe_images = CFG.steps_per_epoch() * CFG.batch_size  # 31 steps of 64
    assert est.train_s_per_epoch == pytest.approx(spe_images / 100.0)
    assert est.val_s_per_epoch == pytest.approx(1.0)  # 500 images in 1 s, as measured
    assert est.setup_s == pytest.approx(5.0)  # same data set and size: 5 s for 2500 images
    assert est.seconds == pytest.approx(5.0 + 4 * (spe_images / 100.0 + 1.0))  # ~84 s; the FLOP guess said ~25 s
    # another model or size has no history: no estimate without calibration
    assert budget.estimate_time(dataclasses.replace(CFG, model="lenet5"), "cpu", calibrate=False,
                                store_path=store.path) is None
    store.close()


def test_the_train_layer_reads_runs_only_through_the_lab():
    """The layering rule (train may not import lab): the lab registers its reader of the store."""
    from vizcore.lab import monitor

    assert budget._HISTORY_PROVIDER is monitor.store_history


def test_without_history_a_short_calibration_measures_this_machine(tmp_path):
    cfg = dataclasses.replace(CFG, model="lenet5", train_size=200, val_size=100)
    est = budget.estimate_time(cfg, "cpu", store_path=tmp_path / "none.sqlite")
    assert est.rates.source == "calibrated" and "lenet5 at 32 px on CPU" in est.rates.detail
    assert math.isfinite(est.seconds) and est.seconds > 0 and est.rates.train_images_per_s > 0
    assert est.setup_source == "calibrated on a few images" and est.setup_s >= 0


def test_budget_refusal_rests_on_measured_throughput(tmp_path, monkeypatch):
    """A run the old guess (2e10 FLOP/s on a CPU) refused is accepted when this machine measured it fast, and
    a slow machine's measurement refuses one the guess let through; the message says where the number is from."""
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = dataclasses.replace(CFG, epochs=20, time_budget_s=60.0)  # 20 x 1984 images
    _past_run(store, dataclasses.replace(CFG, epochs=1), ips=5000.0, val_s=0.1, setup_s=0.5)
    assert budget.preflight(cfg).time_estimate_s < 60.0  # 0.5 + 20 x (0.4 + 0.1) = 10.5 s
    store.close()
    slow_dir = tmp_path / "slow"
    slow_dir.mkdir()
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(slow_dir))
    store = RunStore(slow_dir / "runs.sqlite")
    _past_run(store, dataclasses.replace(CFG, epochs=1), ips=50.0, val_s=2.0, setup_s=5.0)
    quick = dataclasses.replace(CFG, epochs=2, time_budget_s=60.0)  # the guess: about 13 s
    with pytest.raises(ValueError, match=r"time budget of 60 s.*measured: 50 training images/s"):
        budget.preflight(quick)
    store.close()


def test_plan_estimate_prepares_shared_data_once(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    _past_run(store, dataclasses.replace(CFG, epochs=1), ips=100.0, val_s=1.0, setup_s=10.0)
    a = CFG
    b = dataclasses.replace(CFG, label_smoothing=0.1)  # same data: the engine keeps it in memory
    c = dataclasses.replace(CFG, seed=1)  # other seed: other images
    one = budget.estimate_time(a, "cpu", store_path=store.path)
    plan = budget.estimate_plan_s([a, b, c], "cpu", store_path=store.path)
    assert plan == pytest.approx(3 * one.seconds - one.setup_s)
    store.close()


def test_runs_of_a_few_steps_do_not_set_the_rate(tmp_path):
    """Tiny runs (a few optimizer steps) measure warm-up: a 2-step run at 23 images/s once made the Lab refuse a
    2-minute run as 19 minutes. They are left out; with nothing else in the store, the estimate calibrates."""
    store = RunStore(tmp_path / "runs.sqlite")
    tiny = dataclasses.replace(CFG, train_size=64, batch_size=32, epochs=1)  # 2 steps
    _past_run(store, tiny, ips=23.0, val_s=1.0, setup_s=1.0)
    assert budget.estimate_time(CFG, "cpu", calibrate=False, store_path=store.path) is None
    est = budget.estimate_time(CFG, "cpu", store_path=store.path)
    assert est.rates.source == "calibrated" and est.rates.train_images_per_s > 23.0
    enough = dataclasses.replace(CFG, train_size=10 * 64, epochs=1)  # 10 steps: counted
    _past_run(store, enough, ips=100.0, val_s=1.0, setup_s=1.0)
    budget._HISTORY.clear()
    est = budget.estimate_time(CFG, "cpu", store_path=store.path)
    assert est.rates.source == "measured" and est.rates.train_images_per_s == pytest.approx(100.0)
    assert "1 finished run of" in est.rates.detail
    store.close()


def test_a_stalled_step_does_not_set_the_calibrated_rate(monkeypatch):
    """On a shared server another session's work can stall one calibration step; the fastest step counts, and a
    calibration is measured again after its time to live (a bad one once refused every run until a restart)."""
    from vizcore.models import registry as zoo

    clean = budget._measure_rates("small_cnn", 32, 32, "cpu", "fp32")[0]
    real_build = zoo.build_model
    calls = {"n": 0}

    def stalling(*a, **kw):
        model = real_build(*a, **kw)

        def hook(_m, _x):
            calls["n"] += 1
            if calls["n"] == 2:  # the first timed step (after the warm-up)
                import time

                time.sleep(1.0)
        model.register_forward_pre_hook(hook)
        return model

    monkeypatch.setattr(budget.zoo, "build_model", stalling)
    stalled = budget._measure_rates("small_cnn", 32, 32, "cpu", "fp32")
    assert calls["n"] >= 4 and stalled[3] >= 3  # warm-up + at least 3 timed steps
    assert stalled[0] > 0.3 * clean  # the old total-time rate: at most 32 / 1.0 s images/s
    assert stalled[0] > 32 / 1.0 * 2
    # time to live: a cached calibration is reused, then measured again
    monkeypatch.setattr(budget, "_measure_rates", lambda *k: (1.0, 2.0, 2, 3))
    budget._CALIBRATIONS.clear()
    assert budget._calibrate("lenet5", 32, 32, "cpu", "fp32")[0] == 1.0
    monkeypatch.setattr(budget, "_measure_rates", lambda *k: (5.0, 6.0, 2, 3))
    assert budget._calibrate("lenet5", 32, 32, "cpu", "fp32")[0] == 1.0  # cached
    key = ("lenet5", 32, 32, "cpu", "fp32")
    t, v = budget._CALIBRATIONS[key]
    budget._CALIBRATIONS[key] = (t - budget.CALIBRATION_TTL_S - 1, v)
    assert budget._calibrate("lenet5", 32, 32, "cpu", "fp32")[0] == 5.0  # expired: measured again
    budget._CALIBRATIONS.clear()
