"""Time estimates from the runs that finished on this machine (issue 9: "about 2 s" for runs that took minutes;
issue 26: "26 min 43 s" for a 47 s run right after one had finished, a range swinging 30x).

The estimate rests on the store's finished runs of the same configuration (their wall times), else of the
same model (their per-image seconds), recent ones weighted most; a short calibration only when neither exists.
The history is passed in (vizcore.lab.history reads it from the store, re-read whenever a run ends).
"""
from __future__ import annotations

import dataclasses
import math
import time

import pytest

from vizcore.lab import history, monitor
from vizcore.lab.store import RunStore
from vizcore.train import calibration, timing
from vizcore.train.config import TrainConfig
from vizcore.train.preflight import preflight

CFG = TrainConfig(model="small_cnn", dataset="shapes", train_size=2000, val_size=500, epochs=4, batch_size=64,
                  image_size=32, device="cpu", tta_flip=False)


def _past_run(store: RunStore, cfg: TrainConfig, ips: float, val_s: float, setup_s: float, tail_s: float = 0.5,
              ended: float | None = None, load: float | None = None) -> str:
    """A finished run as the engine and the store record it: per epoch its images/s, training and total
    seconds and the elapsed time since setup began; the run's start and end times."""
    rid = store.create(cfg)
    store.set_status(rid, "running")
    store.set_info(rid, {"device": "cpu", "steps_per_epoch": cfg.steps_per_epoch()})
    train_s = cfg.steps_per_epoch() * cfg.batch_size / ips
    for ep in range(1, cfg.epochs + 1):
        store.add_metric(rid, {"kind": "epoch", "epoch": ep, "val_acc": 0.5, "images_per_s": ips,
                               "train_time_s": train_s, "time_s": train_s + val_s,
                               "elapsed_s": setup_s + ep * (train_s + val_s),
                               **({"load": load} if load is not None else {})})
    store.set_status(rid, "done")
    wall = setup_s + cfg.epochs * (train_s + val_s) + tail_s
    end = time.time() if ended is None else ended
    store._db.execute("UPDATE runs SET started_at=?, finished_at=? WHERE id=?", (end - wall, end, rid))
    return rid


def _est(cfg: TrainConfig, store: RunStore, calibrate: bool = True) -> timing.TimeEstimate | None:
    return history.estimate(cfg, store.path, "cpu", calibrate)


def test_runs_of_the_same_configuration_give_their_own_wall_time(tmp_path):
    """Seeds, learning rates and regularisers do not change the cost: such runs are the same configuration,
    and their measured wall time (setup, epochs, validation and the tail after the last epoch) is the estimate."""
    store = RunStore(tmp_path / "runs.sqlite")
    _past_run(store, CFG, ips=100.0, val_s=1.0, setup_s=5.0, ended=time.time() - 60)
    _past_run(store, dataclasses.replace(CFG, seed=1, lr=0.05, label_smoothing=0.1), ips=100.0, val_s=1.0,
              setup_s=5.0)
    est = _est(CFG, store)
    spe_images = CFG.steps_per_epoch() * CFG.batch_size  # 31 steps of 64
    wall = 5.0 + 4 * (spe_images / 100.0 + 1.0) + 0.5
    assert est.source == "same" and est.runs == 2
    assert est.seconds == pytest.approx(wall)
    assert est.low < wall < est.high and est.high / est.low < 1.3  # a range, not a point
    assert est.tail_s == pytest.approx(0.5) and est.setup_s == pytest.approx(5.0)
    assert "2 finished runs of this configuration" in est.detail
    assert "images/s" not in est.text() and "steps of" not in est.text()  # no internals on the page
    # another cost (more epochs) is not the same configuration: the same model's rates give it
    longer = _est(dataclasses.replace(CFG, epochs=8), store)
    assert longer.source == "similar" and longer.seconds == pytest.approx(5.0 + 8 * (spe_images / 100.0 + 1.0) + 0.5)
    # another model: nothing measured it, so no estimate without a calibration
    assert _est(dataclasses.replace(CFG, model="lenet5"), store, calibrate=False) is None
    store.close()


def test_recent_runs_weigh_most(tmp_path):
    """The machine's load drifts (a class arrives, leaves): the latest runs know the present best."""
    store = RunStore(tmp_path / "runs.sqlite")
    now = time.time()
    for k in range(4):  # four old runs under load: 4x slower
        _past_run(store, dataclasses.replace(CFG, seed=k), ips=25.0, val_s=4.0, setup_s=5.0, ended=now - 3600 + k)
    _past_run(store, CFG, ips=100.0, val_s=1.0, setup_s=5.0, ended=now)  # the latest, idle
    est = _est(CFG, store)
    spe_images = CFG.steps_per_epoch() * CFG.batch_size
    fast, slow = 5.0 + 4 * (spe_images / 100.0 + 1.0) + 0.5, 5.0 + 4 * (spe_images / 25.0 + 4.0) + 0.5
    plain_mean = (fast + 4 * slow) / 5
    assert abs(est.seconds - fast) < abs(plain_mean - fast) * 0.75  # closer to the latest than an unweighted mean
    assert est.low <= fast and est.high >= slow  # the range still spans what was seen
    store.close()


def test_a_finished_run_is_used_at_once(tmp_path):
    """Issue 26: right after a run finished, the Lab still said "no finished run of it here yet" (stores read
    at most every 10 s, page answers cached 10 s more). The history is re-read as soon as a run ends."""
    store = RunStore(tmp_path / "runs.sqlite")
    _past_run(store, dataclasses.replace(CFG, model="lenet5"), ips=100.0, val_s=1.0, setup_s=1.0)
    assert _est(CFG, store, calibrate=False) is None
    _past_run(store, CFG, ips=100.0, val_s=1.0, setup_s=1.0)
    est = _est(CFG, store, calibrate=False)
    assert est is not None and est.source == "same"
    store.close()


def test_without_history_a_short_calibration_measures_this_machine(tmp_path):
    cfg = dataclasses.replace(CFG, model="lenet5", train_size=200, val_size=100)
    est = history.estimate(cfg, tmp_path / "none.sqlite", "cpu")
    assert est.source == "calibrated" and est.runs == 0 and "no run of lenet5 at 32 px has finished here" in est.detail
    assert math.isfinite(est.seconds) and est.seconds > 0 and est.setup_s >= 0
    assert est.high / est.low >= 2.5  # a rough guess says so with a wide range


def test_budget_refusal_rests_on_measured_runs(tmp_path):
    """A run is refused by its time budget only when even the fast end of its range does not fit, and the
    message says where the number comes from."""
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = dataclasses.replace(CFG, epochs=20, time_budget_s=60.0)  # 20 x 1984 images
    _past_run(store, dataclasses.replace(CFG, epochs=1), ips=5000.0, val_s=0.1, setup_s=0.5)
    assert preflight(cfg, history=history.past_runs(store.path)).time_estimate_s < 60.0  # about 10 s
    store.close()
    slow = RunStore(tmp_path / "slow.sqlite")
    _past_run(slow, dataclasses.replace(CFG, epochs=1), ips=50.0, val_s=2.0, setup_s=5.0)
    quick = dataclasses.replace(CFG, epochs=2, time_budget_s=60.0)  # 2 x 40 s measured
    with pytest.raises(ValueError, match=r"time budget of 60 s.*from 1 finished run of small_cnn at 32 px"):
        preflight(quick, history=history.past_runs(slow.path))
    slow.close()


def test_plan_estimate_prepares_shared_data_once(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    _past_run(store, dataclasses.replace(CFG, epochs=1), ips=100.0, val_s=1.0, setup_s=10.0)
    a = CFG
    b = dataclasses.replace(CFG, label_smoothing=0.1)  # same data: the engine keeps it in memory
    c = dataclasses.replace(CFG, data_seed=1)  # another data seed: other images
    one = _est(a, store)
    plan = history.estimate_plan([a, b, c], store.path, "cpu")
    assert plan.seconds == pytest.approx(3 * one.seconds - one.setup_s)
    assert plan.low == pytest.approx(3 * one.low - one.setup_s) and plan.high == pytest.approx(3 * one.high - one.setup_s)
    with pytest.raises(ValueError, match="at least one run"):
        timing.estimate_plan([])
    store.close()


def test_plan_estimate_with_workers_side_by_side(tmp_path, monkeypatch):
    """Runs the Lab trains two at a time end with the later worker, each worker preparing its data once; how many
    run at once comes from the executor's settings (bench/estimates.py: a 3-seed A/B on 2 workers took 86 s where
    the estimate of its 6 runs one after another said 163 s)."""
    import os

    store = RunStore(tmp_path / "runs.sqlite")
    _past_run(store, dataclasses.replace(CFG, epochs=1), ips=100.0, val_s=1.0, setup_s=10.0)
    one = _est(CFG, store)
    runs = [CFG, dataclasses.replace(CFG, label_smoothing=0.1)] * 2  # same data, two tricks, twice
    plan = history.estimate_plan(runs, store.path, "cpu", at_once=2)
    assert plan.seconds == pytest.approx(2 * one.seconds - one.setup_s)  # each worker: two runs, one setup
    assert plan.low == pytest.approx(2 * one.low - one.setup_s) and plan.high == pytest.approx(2 * one.high - one.setup_s)
    assert "4 runs 2 at a time" in plan.detail
    alone = history.estimate_plan(runs, store.path, "cpu", at_once=1)
    assert alone.seconds == pytest.approx(4 * one.seconds - 3 * one.setup_s) and "one after another" in alone.detail
    assert history.estimate_plan(runs[:1], store.path, "cpu", at_once=8).seconds == pytest.approx(one.seconds)
    with pytest.raises(ValueError, match="expected at least 1 run at once, got 0"):
        timing.estimate_plan(runs, at_once=0)
    monkeypatch.setenv("CONVSCOPE_EXECUTOR", "process")
    monkeypatch.setenv("CONVSCOPE_WORKERS", "1")
    assert history.runs_at_once() == 1
    monkeypatch.setenv("CONVSCOPE_WORKERS", "16")  # no more than the cores hold at one thread per run
    assert history.runs_at_once() == min(16, os.cpu_count() or 1)
    monkeypatch.setenv("CONVSCOPE_WORKERS", "two")  # a bad setting: the Lab says so; the estimate stays serial
    assert history.runs_at_once() == 1
    monkeypatch.setenv("CONVSCOPE_EXECUTOR", "inprocess")
    monkeypatch.setenv("CONVSCOPE_WORKERS", "4")
    assert history.runs_at_once() == 1
    store.close()


def test_runs_of_a_few_steps_do_not_set_the_rate(tmp_path):
    """Tiny runs (a few optimizer steps) measure warm-up: a 2-step run at 23 images/s once made the Lab refuse a
    2-minute run as 19 minutes. They are left out."""
    store = RunStore(tmp_path / "runs.sqlite")
    tiny = dataclasses.replace(CFG, train_size=64, batch_size=32, epochs=1)  # 2 steps
    _past_run(store, tiny, ips=23.0, val_s=1.0, setup_s=1.0)
    assert _est(CFG, store, calibrate=False) is None
    enough = dataclasses.replace(CFG, train_size=10 * 64, epochs=1)  # 10 steps: counted
    _past_run(store, enough, ips=100.0, val_s=1.0, setup_s=1.0)
    est = _est(CFG, store)
    assert est.source == "similar" and est.train_s_per_epoch == pytest.approx(31 * 64 / 100.0)
    assert "1 finished run of" in est.detail
    store.close()


def test_a_stalled_step_does_not_set_the_calibrated_rate(monkeypatch):
    """On a shared server another session's work can stall one calibration step; the fastest step counts, and a
    calibration is measured again after its time to live (a bad one once refused every run until a restart)."""
    from vizcore.models import registry as zoo

    clean = calibration._measure_rates("small_cnn", 32, 32, "cpu", "fp32")[0]
    stall_s = 20 * 32 / clean  # relative to this machine's speed now: the test holds on a loaded machine too
    real_build = zoo.build_model
    calls = {"n": 0}

    def stalling(*a, **kw):
        model = real_build(*a, **kw)

        def hook(_m, _x):
            calls["n"] += 1
            if calls["n"] == 2:  # the first timed step (after the warm-up) stalls for 20 clean steps' time
                time.sleep(stall_s)
        model.register_forward_pre_hook(hook)
        return model

    monkeypatch.setattr(calibration.zoo, "build_model", stalling)
    stalled = calibration._measure_rates("small_cnn", 32, 32, "cpu", "fp32")
    assert calls["n"] >= 4  # warm-up + at least 3 timed steps
    # the old total-time rate (3 timed steps over 22 steps' time: about 14% of the clean rate) is far below; the
    # fastest step's rate is the clean one, with room for the load to change between the two measurements
    assert stalled[0] > 0.25 * clean
    # time to live: a cached calibration is reused, then measured again (in a cache of this test's own: the
    # process's calibrations, which later tests reuse, are put back afterwards)
    monkeypatch.setattr(calibration, "_measure_rates", lambda *k: (1.0, 2.0))
    monkeypatch.setattr(calibration, "_CALIBRATIONS", {})
    assert calibration.calibrate("lenet5", 32, 32, "cpu", "fp32")[0] == 1.0
    monkeypatch.setattr(calibration, "_measure_rates", lambda *k: (5.0, 6.0))
    assert calibration.calibrate("lenet5", 32, 32, "cpu", "fp32")[0] == 1.0  # cached
    key = ("lenet5", 32, 32, "cpu", "fp32", False)
    t, v = calibration._CALIBRATIONS[key]
    calibration._CALIBRATIONS[key] = (t - calibration.CALIBRATION_TTL_S - 1, v)
    assert calibration.calibrate("lenet5", 32, 32, "cpu", "fp32")[0] == 5.0  # expired: measured again


def test_ranges_are_read_as_a_person_reads_them():
    assert timing.format_range(41.3, 55.2) == "41 s to 56 s"
    assert timing.format_range(62.0, 95.0) == "1 min 0 s to 1 min 35 s"
    assert timing.format_range(3 * 3600 + 10, 3 * 3600 + 200) == "3 h 0 min to 3 h 5 min"
    assert timing.format_range(10.2, 10.4) == "10 s to 11 s"


def test_the_countdown_counts_the_last_validation_and_moves_between_events(tmp_path):
    """Issue 26: "2 s left" at 100% of the steps, and the run ended 12 s later (validation, flip test-time
    augmentation and the last writes were not counted). At the last step the validation pass and the tail are
    what is left, and the countdown moves on between the run's events (never below 1 s while it runs)."""
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = dataclasses.replace(CFG, epochs=2)
    _past_run(store, cfg, ips=100.0, val_s=10.0, setup_s=1.0, tail_s=2.0)  # history: 10 s validation, 2 s tail
    rid = store.create(cfg)
    store.set_status(rid, "running")
    store.set_info(rid, {"device": "cpu"})
    spe = cfg.steps_per_epoch()
    t_last = time.time()
    store.add_metric(rid, {"kind": "epoch", "epoch": 1, "val_acc": 0.5, "images_per_s": 100.0,
                           "train_time_s": 19.84, "time_s": 29.84, "elapsed_s": 30.84, "time": t_last - 25})
    for k in range(5):  # the last windows of epoch 2, up to its last step
        store.add_metric(rid, {"kind": "step", "step": 2 * spe - 4 + k, "epoch": 2, "loss": 1.0, "lr": 0.1,
                               "throughput": 100.0, "time": t_last - 4 + k})
    snap = monitor.snapshot(store, rid, now=t_last)
    assert snap.fraction == pytest.approx(1.0)
    assert snap.eta_s == pytest.approx(10.0 + 2.0, abs=0.5)  # validation + tail, as measured
    later = monitor.snapshot(store, rid, now=t_last + 6.0)
    assert later.eta_s == pytest.approx(6.0, abs=0.5)  # the countdown moved on with the clock
    assert monitor.snapshot(store, rid, now=t_last + 60.0).eta_s == 1.0  # overdue: "about 1 s", never 0 or less
    store.close()


def test_runs_measured_under_another_load_are_scaled_to_the_load_now(tmp_path):
    """Issue 26: under load a 47 s run took 537 s. Runs record the machine's load per core; an estimate made
    while the server is busier than when its runs trained says so, and scales them."""
    assert timing.load_factor(0.0, 1.0) == pytest.approx(1.0)  # idle now, idle then (but for its own threads)
    assert timing.load_factor(1.0, 1.0) == pytest.approx(1.0)  # right after the lab's own run: not busier
    assert timing.load_factor(3.0, 1.0) == pytest.approx(3.0)  # three busy processes per core now
    assert timing.load_factor(0.0, 3.0) == pytest.approx(1 / 3)  # measured on a busy server
    assert timing.load_factor(float("nan"), 1.0) == 1.0 and timing.load_factor(1.0, float("nan")) == 1.0
    store = RunStore(tmp_path / "runs.sqlite")
    _past_run(store, CFG, ips=100.0, val_s=1.0, setup_s=5.0, load=1.0)  # idle but for its own threads
    idle = timing.estimate_time(CFG, history.past_runs(store.path), "cpu", load_now=0.0)
    busy = timing.estimate_time(CFG, history.past_runs(store.path), "cpu", load_now=3.0)
    f = timing.load_factor(3.0, 1.0)
    assert busy.seconds == pytest.approx(idle.seconds * f) and busy.high > idle.high * f
    assert f"× {f:.1f} for a server busier now than then" in busy.detail
    store.close()


def test_an_fp16_run_on_a_cpu_gets_no_calibration_but_the_refusal_in_words() -> None:
    from vizcore.train import calibration
    from vizcore.train.config import TrainConfig

    cfg = TrainConfig(model="fast_cnn", precision="fp16", device="cpu")
    before = dict(calibration._CALIBRATIONS)
    with pytest.raises(ValueError, match="fp16 autocast with a GradScaler needs a CUDA GPU"):
        timing.estimate_time(cfg, (), "cpu")
    assert calibration._CALIBRATIONS == before  # nothing was measured for a run that cannot start


def test_the_labs_own_training_runs_are_counted_from_the_store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    ids = [store.create(CFG) for _ in range(3)]
    store.set_status(ids[0], "running")
    store.set_status(ids[1], "running")
    store.set_status(ids[1], "done")
    assert store.count_status("running") == 1 and store.count_status("queued") == 1
    assert history._training_here(store.path) == 1 and history._training_here(tmp_path / "none.sqlite") == 0
    store.close()
