"""Experiment plans (A/B, grid, shape vs texture) and their summaries over seeds, against scipy."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from vizcore.lab import experiment as vexp
from vizcore.lab import results as exp_results
from vizcore.lab.store import RunStore
from vizcore.train.config import TrainConfig

# warmup and label smoothing off: the trick tests below turn them on from zero
BASE = TrainConfig(train_size=64, val_size=32, epochs=2, batch_size=16, schedule="cosine", warmup_epochs=0.0,
                   label_smoothing=0.0)


def test_with_trick_keeps_the_base_setting_and_turns_off():
    c = dataclasses.replace(BASE, label_smoothing=0.2)
    assert vexp.with_trick(c, "label_smoothing", True).label_smoothing == 0.2
    assert vexp.with_trick(BASE, "label_smoothing", True).label_smoothing == 0.1
    assert vexp.with_trick(c, "label_smoothing", False).label_smoothing == 0.0
    assert vexp.with_trick(BASE, "cosine", False).schedule == "step"
    assert vexp.with_trick(BASE, "warmup", True).warmup_epochs == 1.0
    assert vexp.with_trick(BASE, "mixed_precision", True).precision == "bf16"
    for key, t in vexp.TRICKS.items():
        if key == "distillation":
            continue
        assert t.is_on(vexp.with_trick(BASE, key, True)) and not t.is_on(vexp.with_trick(BASE, key, False))


def test_trick_errors():
    with pytest.raises(ValueError, match="expected a trick from"):
        vexp.with_trick(BASE, "dropout", True)
    with pytest.raises(ValueError, match="expected a teacher run"):
        vexp.plan_ab(BASE, "distillation")


def test_plan_ab_runs_every_arm_with_the_same_seeds():
    plan = vexp.plan_ab(BASE, "label_smoothing", n_seeds=3, first_seed=5)
    assert [a.name for a in plan.arms] == ["label_smoothing off", "label_smoothing on"]
    runs = plan.runs()
    assert len(runs) == 6
    assert sorted((arm, s) for arm, s, _ in runs) == sorted((a.name, s) for a in plan.arms for s in (5, 6, 7))
    for arm, s, cfg in runs:
        assert cfg.seed == s
        assert (cfg.label_smoothing > 0) == arm.endswith("on")
        # nothing else differs from the base
        assert dataclasses.replace(cfg, seed=0, label_smoothing=0.0) == dataclasses.replace(BASE, label_smoothing=0.0)


def test_plan_grid_is_every_combination():
    plan = vexp.plan_grid(BASE, ["cosine", "mixup", "label_smoothing"], n_seeds=1)
    assert len(plan.arms) == 8 and plan.arms[0].name == "baseline"
    combos = {(a.config.schedule, a.config.mixup_alpha > 0, a.config.label_smoothing > 0) for a in plan.arms}
    assert len(combos) == 8
    with pytest.raises(ValueError, match="1 to 3 distinct tricks"):
        vexp.plan_grid(BASE, ["cosine", "mixup", "label_smoothing", "warmup"])
    with pytest.raises(ValueError, match="seeds"):
        vexp.plan_ab(BASE, "cosine", n_seeds=0)


def test_plan_shape_texture_differs_only_in_augmentation():
    plan = vexp.plan_shape_texture(dataclasses.replace(BASE, dataset="digits", mixup_alpha=0.4), n_seeds=2)
    a, b = (arm.config for arm in plan.arms)
    assert a.dataset == b.dataset == "shapes" and a.mixup_alpha == b.mixup_alpha == 0.0
    assert (a.augment, b.augment) == ("none", "trivialaugment")
    assert dataclasses.replace(b, augment="none") == a


def _r(arm, seed, accs, status="done"):
    return exp_results.RunResult(arm, seed, status, tuple(accs), 10.0, 100.0)


def test_summarize_against_scipy():
    res = [_r("A", 0, [50, 70.0]), _r("A", 1, [52, 72.0]), _r("A", 2, [49, 71.0]),
           _r("B", 0, [55, 74.0]), _r("B", 1, [56, 75.5]), _r("B", 2, [50, 73.0]),
           _r("B", 3, [10.0], status="diverged"), _r("B", 4, [], status="queued")]
    s = exp_results.summarize(["A", "B"], res)
    a, b = s.rows
    assert a.values == (70.0, 72.0, 71.0) and b.seeds == (0, 1, 2)
    assert b.pending == 1 and b.failed == 1
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(b.values), scale=stats.sem(b.values))
    assert b.accuracy.low == pytest.approx(lo) and b.accuracy.high == pytest.approx(hi)
    d = s.differences[0]
    assert d.test == "paired"
    assert d.p_value == pytest.approx(stats.ttest_rel([74.0, 75.5, 73.0], [70.0, 72.0, 71.0]).pvalue)
    assert s.bands["A"].mean.tolist() == pytest.approx([np.mean([50, 52, 49]), 71.0])
    rows = exp_results.table_rows(s)
    assert rows[1]["seeds done"] == 3 and rows[1]["final val accuracy (%)"] == b.accuracy.text()


def test_summarize_before_anything_finished():
    s = exp_results.summarize(["A", "B"], [_r("A", 0, [40.0], status="running")])
    assert s.rows[0].accuracy is None and s.differences == ()
    assert "A" in s.bands  # a running seed's curve is shown live
    assert exp_results.table_rows(s)[0]["final val accuracy (%)"] == "no finished run yet"
    with pytest.raises(ValueError, match="expected an arm"):
        exp_results.summarize(["A"], [_r("C", 0, [1.0])])


def test_experiment_files_round_trip_and_results_from_a_real_store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    plan = vexp.plan_ab(BASE, "cosine", n_seeds=2)
    ids = []
    for arm, seed, cfg in plan.runs():
        rid = store.create(cfg, name=f"{arm} {seed}")
        store.set_status(rid, "running")
        for ep, acc in enumerate([0.4, 0.5 + 0.1 * (arm == "cosine on") + 0.01 * seed], start=1):
            store.add_metric(rid, {"kind": "step", "step": ep * 4, "epoch": ep, "loss": 1.0, "lr": 0.1,
                                   "throughput": 200.0})
            store.add_metric(rid, {"kind": "epoch", "epoch": ep, "train_loss": 1.0, "train_acc": acc,
                                   "val_loss": 1.0, "val_acc": acc, "lr": 0.1, "time_s": 1.0, "elapsed_s": ep})
        store.set_status(rid, "done", "ok")
        ids.append(rid)
    exp = vexp.new_experiment(plan, ids)
    again = vexp.get_experiment(exp.id)
    assert again.run_ids() == ids and again.arms == ["cosine off", "cosine on"]
    assert vexp.list_experiments()[0].id == exp.id
    s = exp_results.experiment_summary(store, again)
    assert [r.values for r in s.rows] == [pytest.approx((50.0, 51.0)), pytest.approx((60.0, 61.0))]
    assert s.rows[0].throughput == 200.0
    d = s.differences[0]
    # every seed gained exactly 10 points: no spread, so no test (issue 9), and the verdict says why
    assert d.diff == pytest.approx(10.0) and d.test == "paired" and d.decision == "no variation"
    assert math.isnan(d.p_value) and "every seed gave the same difference (+10.00 points)" in d.verdict
    store.delete(ids[0])
    assert len(exp_results.results(store, again)) == 3  # a deleted run is left out
    vexp.delete_experiment(exp.id)
    with pytest.raises(ValueError, match="stored experiment"):
        vexp.get_experiment(exp.id)
    with pytest.raises(ValueError, match="hex digits"):
        vexp.get_experiment("../x")
    store.close()


def test_shape_bias_rows_and_difference(tmp_path):

    rows = [exp_results.ShapeBiasRow("plain", s, 90.0, sh, tx, 0, sh / (sh + tx)) for s, (sh, tx) in
            enumerate([(30, 70), (35, 65), (32, 68)])]
    rows += [exp_results.ShapeBiasRow("heavy", s, 88.0, sh, tx, 0, sh / (sh + tx)) for s, (sh, tx) in
             enumerate([(50, 50), (58, 42), (55, 45)])]
    d = exp_results.shape_bias_difference(rows, ["plain", "heavy"])
    assert d.diff == pytest.approx(100 * (163 / 300 - 97 / 300))
    assert d.p_value == pytest.approx(stats.ttest_rel([50, 58, 55], [30, 35, 32]).pvalue)
    assert "more shape-biased" in d.verdict
    assert exp_results.shape_bias_difference(rows[:3], ["plain", "heavy"]) is None
    assert math.isnan(exp_results.shape_bias_difference(rows[:1] + rows[3:4], ["plain", "heavy"]).p_value)


def test_model_tweak_ab_compares_resnet_a_with_the_tweaked_form() -> None:
    from vizcore.lab.reference import published_delta

    plan = vexp.plan_ab(TrainConfig(), "resnet_d", 2)
    assert [a.config.model for a in plan.arms] == ["resnet_small_a", "resnet_small_d"]
    assert vexp.TRICKS["resnet_d"].reference == "resnet_d"
    assert published_delta("resnet_d").delta == pytest.approx(77.16 - 76.21)  # Table 5


def test_wall_time_is_never_presented_as_the_tricks_effect():
    """Issue 26, defect 4: an A/B table showed 325 s vs 90 s per run because one arm ran while the server was
    busy; a student read "label smoothing trains 3.6x faster". The table names the load each arm ran under and
    says when the loads differ."""
    def run(arm, seed, t, load):
        return exp_results.RunResult(arm, seed, "done", (97.0, 98.0), t, 100.0, load)

    calm = exp_results.summarize(["A", "B"], [run("A", 0, 90.0, 0.9), run("B", 0, 95.0, 1.0)])
    assert exp_results.table_rows(calm)[0]["server load (per core)"] == pytest.approx(0.9)
    assert exp_results.load_note(calm).startswith("Wall time and throughput depend on")
    busy = exp_results.summarize(["A", "B"], [run("A", 0, 90.0, 0.9), run("A", 1, 92.0, 1.1),
                                               run("B", 0, 325.0, 3.5), run("B", 1, 300.0, 3.3)])
    rows = exp_results.table_rows(busy)
    assert rows[1]["wall time per run (s)"] == pytest.approx(312.5) and rows[1]["server load (per core)"] == pytest.approx(3.4)
    note = exp_results.load_note(busy)
    assert note.startswith("The configurations ran under different server load (A: 1.00 per core, B: 3.40)")
    assert "the server's, not the trick's" in note


def test_paper_vs_measured_joins_each_trick_to_its_newest_ab(tmp_path, monkeypatch):
    """Issue 25: the page joined the paper's deltas to A/Bs by parsing arm labels. The join lives here: the trick an
    A/B toggled (from its design, else its arms' names), its newest A/B's difference."""
    from tests.seed import seed_store

    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    seeded = seed_store(tmp_path)
    store = RunStore(tmp_path / "runs.sqlite")
    exps = vexp.list_experiments()
    ab = next(e for e in exps if e.id == seeded.experiment)
    assert exp_results.ab_trick(ab) == "label_smoothing"
    deltas = exp_results.measured_deltas(store, exps)
    ref = vexp.TRICKS["label_smoothing"].reference
    assert set(deltas) == {ref}
    assert deltas[ref].diff == pytest.approx(exp_results.experiment_summary(store, ab).differences[0].diff)
    designed = dataclasses.replace(ab, name="my comparison", arms=["x", "y"],
                                   form={"design": {"mode": "A/B", "tricks": ["mixup"]}})
    assert exp_results.ab_trick(designed) == "mixup"
    assert exp_results.ab_trick(dataclasses.replace(ab, arms=["baseline", "cosine + mixup"])) is None
    store.close()


def test_shape_texture_plan_from_a_config_with_a_sent_pipeline():
    """A pipeline sent from the Augmentation Lab made the Training Lab's shape-vs-texture section fail ("expected
    augment='none' with an augment_pipeline"): the experiment's arms set the augmentation themselves."""
    from vizcore.data.pipeline import Pipeline, Step

    pipe = Pipeline((Step("rotation", 1.0, {"degrees": 15}),)).to_json()
    base = TrainConfig(augment="none", augment_pipeline=pipe)
    plan = vexp.plan_shape_texture(base, 2)
    assert [a.config.augment for a in plan.arms] == ["none", "trivialaugment"]
    assert all(a.config.augment_pipeline is None for a in plan.arms)
