"""Sweeps (vizcore.lab.sweep): the grid of tricks × models × seeds, its limits and refusals in one sentence, its
time estimate, its cells laid out as combinations × models, and the `grid` command end to end (stub runs in this
process: the sweep, not training, is under test)."""
from __future__ import annotations

import dataclasses
import math

import pytest

from tests.helpers import cli_json as _cli
from tests.seed import stub_training
from vizcore.lab import experiment as vexp
from vizcore.lab import results as exp_results
from vizcore.lab import sweep as vsweep
from vizcore.train.config import TrainConfig
from vizcore.train.timing import TimeEstimate

BASE = TrainConfig(model="small_cnn", dataset="shapes", train_size=64, val_size=32, epochs=1, batch_size=16,
                   schedule="cosine", warmup_epochs=0.0, label_smoothing=0.0)


def test_every_combination_on_every_model_with_the_same_seeds():
    sw = vsweep.plan_sweep(BASE, ["cosine", "label_smoothing"], ["small_cnn", "fast_cnn"], n_seeds=3, first_seed=4)
    assert sw.n_runs == 24 and len(sw.plan.runs()) == 24
    assert sw.size_text() == "2 models × 4 trick combinations × 3 seeds = 24 runs"
    names = [a.name for a in sw.plan.arms]
    assert names[:4] == ["small_cnn · baseline", "small_cnn · cosine", "small_cnn · label_smoothing",
                         "small_cnn · cosine + label_smoothing"]  # the baseline first, then single tricks
    assert {(c.model, c.on) for c in sw.cells} == {(m, on) for m in ("small_cnn", "fast_cnn") for on in (
        (), ("cosine",), ("label_smoothing",), ("cosine", "label_smoothing"))}
    for arm, cell in zip(sw.plan.arms, sw.cells):
        cfg = arm.config
        assert cfg.model == cell.model
        assert (cfg.schedule == "cosine") == ("cosine" in cell.on)
        assert (cfg.label_smoothing > 0) == ("label_smoothing" in cell.on)
        # nothing else differs from the base
        assert dataclasses.replace(cfg, model=BASE.model, schedule="cosine", label_smoothing=0.0) == BASE
    assert {s for _, s, _ in sw.plan.runs()} == {4, 5, 6}
    design = sw.design()
    assert design["mode"] == "sweep" and design["models"] == ["small_cnn", "fast_cnn"] and len(design["cells"]) == 8


def test_chosen_combinations_and_the_smallest_sweep():
    sw = vsweep.plan_sweep(BASE, combos=[[], ["mixup"], ["mixup", "cosine"]], n_seeds=1)
    assert [a.name for a in sw.plan.arms] == ["baseline", "mixup", "mixup + cosine"]
    assert sw.plan.arms[0].config.mixup_alpha == 0.0 and sw.plan.arms[0].config.schedule == "step"
    one = vsweep.plan_sweep(BASE, n_seeds=2)  # no trick, one model: one configuration over seeds
    assert [a.name for a in one.plan.arms] == ["baseline"] and one.n_runs == 2
    tweak = vsweep.plan_sweep(BASE, ["resnet_d"], [BASE.model], n_seeds=1)  # the base's model: the tweak decides
    assert [a.config.model for a in tweak.plan.arms] == ["resnet_small_a", "resnet_small_d"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"tricks": ["cosine", "mixup", "warmup"], "models": ["small_cnn", "fast_cnn"], "n_seeds": 4},
     r"expected at most 48 runs in a sweep, got 64 \(2 model\(s\) × 8 trick combination\(s\) × 4 seed\(s\)\)"),
    ({"tricks": ["cosine", "mixup", "warmup", "zero_gamma"], "models": ["small_cnn", "fast_cnn"], "n_seeds": 1},
     "expected at most 16 configurations in a sweep, got 32"),
    ({"tricks": ["cosine", "mixup", "warmup", "zero_gamma", "cutmix"]}, "expected at most 4 tricks in a sweep, got 5"),
    ({"models": ["small_cnn", "fast_cnn", "lenet5", "vgg11", "resnet18"]}, "expected at most 4 models"),
    ({"tricks": ["dropout"]}, "expected a trick from"),
    ({"models": ["small_cnn", "no_such_net"]}, "expected a model name from"),
    ({"n_seeds": 0}, "expected 1 to 10 seeds, got 0"),
    ({"tricks": ["resnet_b"], "models": ["small_cnn", "fast_cnn"]},
     "expected no models to sweep with resnet_b .* got models small_cnn, fast_cnn"),
    ({"combos": [["cosine"], ["cosine"]]}, "expected distinct trick combinations"),
    ({"combos": []}, "expected at least one trick combination, got none"),
    ({"combos": [["resnet_b", "resnet_c"], ["resnet_c"]]},
     "expected every cell of the sweep to train something different, got 'resnet_b \\+ resnet_c' and 'resnet_c'"),
    ({"tricks": ["distillation"]}, "expected a teacher run"),
])
def test_impossible_or_oversized_sweeps_are_refused_in_one_sentence(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        vsweep.plan_sweep(BASE, **kwargs)
    assert "\n" not in str(err.value)


def test_estimate_is_the_plans_and_spread_over_workers(monkeypatch):
    seen = []

    def fake(configs, store_path=None, device=None, calibrate=True, at_once=None):
        assert at_once == 1  # one after another: the sweep spreads it over the workers itself
        seen.append(list(configs))
        return TimeEstimate(120.0, 100.0, 160.0, 0.0, math.nan, math.nan, 0.0, "same", 3, "8 runs one after another")

    monkeypatch.setattr("vizcore.lab.history.estimate_plan", fake)
    sw = vsweep.plan_sweep(BASE, ["cosine"], ["small_cnn", "fast_cnn"], n_seeds=2)
    est = vsweep.estimate_sweep(sw, workers=2)
    assert est is not None and seen[0] == [cfg for _, _, cfg in sw.plan.runs()]
    assert (est.low, est.high, est.spread_low, est.spread_high) == (100.0, 160.0, 50.0, 80.0)
    assert est.text().startswith("1 min 40 s to 2 min 40 s one after another; with 2 workers at best")
    assert vsweep.estimate_sweep(sw, workers=64).workers == 8  # never more at once than there are runs
    with pytest.raises(ValueError, match="expected at least 1 worker, got 0"):
        vsweep.estimate_sweep(sw, workers=0)


def test_cells_table_is_combinations_by_models():
    sw = vsweep.plan_sweep(BASE, ["cosine"], ["small_cnn", "fast_cnn"], n_seeds=3)
    acc = {"small_cnn · baseline": [70, 72, 74], "small_cnn · cosine": [75, 75, 75], "fast_cnn · baseline": [60]}
    res = [exp_results.RunResult(arm, s, "done", (float(v),), 1.0, 100.0) for arm, vals in acc.items()
           for s, v in enumerate(vals)]
    res.append(exp_results.RunResult("fast_cnn · cosine", 0, "running", (), math.nan, math.nan))
    rows = vsweep.cell_rows(exp_results.summarize([a.name for a in sw.plan.arms], res), sw.design())
    assert [r["tricks on"] for r in rows] == ["baseline", "cosine"]
    assert rows[0]["small_cnn"].startswith("72.00 (") and rows[0]["fast_cnn"] == "60.00"  # one seed: no interval
    assert rows[1]["small_cnn"] == "75.00 (75.00 to 75.00)" and rows[1]["fast_cnn"] == "—"




TINY = ["--set", "model=\"small_cnn\"", "--set", "dataset=\"shapes\"", "--set", "train_size=64", "--set",
        "val_size=32", "--set", "epochs=1", "--set", "batch_size=16"]


@pytest.mark.parametrize(("args", "match"), [
    (["--trick", "cosine", "--trick", "mixup", "--trick", "warmup", "--models", "small_cnn,fast_cnn", "--seeds", "4"],
     "expected at most 48 runs in a sweep, got 64"),
    (["--combo", "none", "--combo", "baseline"], "expected distinct trick combinations"),
    (["--trick", "cosine", "--workers", "0"], "expected between 1 and 16 workers, got 0"),
])
def test_grid_command_refuses_in_one_line(args, match, monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    rc, _, err = _cli(["grid", *args, *TINY, "--dry-run", "--json"])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and match in err, err


def test_grid_command_queues_the_sweep_as_one_experiment(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    stub_training(monkeypatch)
    monkeypatch.setattr("vizcore.lab.history.estimate_plan", lambda configs, *a, **k: TimeEstimate(
        10.0, 8.0, 12.0, 0.0, math.nan, math.nan, 0.0, "same", 1, "from 1 run"))
    monkeypatch.setattr("vizcore.train.calibration._measure_rates", lambda *a, **k: (2000.0, 6000.0))  # images/s
    try:
        rc, dry, err = _cli(["grid", "--trick", "cosine", "--models", "small_cnn,fast_cnn", "--seeds", "2", *TINY,
                             "--executor", "inprocess", "--dry-run", "--json"])
        assert rc == 0, err
        assert dry is not None and dry["grid"]["runs"] == 8 and dry["estimate"]["low_s"] == 8.0
        assert not vexp.list_experiments()  # a dry run queues nothing
        rc, out, err = _cli(["grid", "--trick", "cosine", "--models", "small_cnn,fast_cnn", "--seeds", "1", *TINY,
                             "--executor", "inprocess", "--workers", "2", "--json"])
        assert rc == 0, err
        assert out is not None and out["executor"] == "inprocess" and out["workers"] == 2
        assert len(out["runs"]) == 4 and all(r["status"] == "done" for r in out["runs"]), out["runs"]
        assert [r["configuration"] for r in out["table"]] == [c["arm"] for c in out["grid"]["cells"]]
        assert all(r["seeds done"] == 1 for r in out["table"])
        assert len(out["differences"]) == 3  # every cell against the baseline
        assert [r["tricks on"] for r in out["cells"]] == ["baseline", "cosine"]
        (exp,) = vexp.list_experiments()
        assert exp.kind == "compare" and exp.form["design"]["mode"] == "sweep" and len(exp.arms) == 4
        rc, again, err = _cli(["experiments", "--id", exp.id, "--json"])
        assert rc == 0 and again is not None and again[0]["cells"] == out["cells"]
    finally:
        from vizcore.lab.queue import get_lab

        get_lab().shutdown(wait=True, timeout=30)
