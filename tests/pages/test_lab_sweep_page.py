"""The Training Lab's sweep builder (pages/_lab_sweep.py): every widget's extremes give a page, refusals are words,
the size and estimate are shown before queueing; on the Training Lab page a sweep is queued in one press and shown
as a comparison with its grid of cells, and a new tab during a sweep shows the sweep as it was queued. Runs are
stub runs and the time estimate is a fixed one: the page, not training or timing, is under test."""
from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from vizcore.train.timing import TimeEstimate

PAGE = "../../pages/training_lab.py"
ESTIMATE = TimeEstimate(60.0, 50.0, 70.0, 0.0, math.nan, math.nan, 0.0, "same", 2, "from 2 runs")


@pytest.fixture
def fixed_estimates(monkeypatch) -> list:
    """Every time estimate is ESTIMATE (no calibration); returns the calls to the plan estimate."""
    calls: list = []

    def plan(configs, *a, **k):
        calls.append(list(configs))
        return ESTIMATE

    monkeypatch.setattr("vizcore.lab.history.estimate_plan", plan)
    monkeypatch.setattr("vizcore.lab.history.estimate", lambda *a, **k: ESTIMATE)
    monkeypatch.setattr("vizcore.train.calibration._measure_rates", lambda *a, **k: (2000.0, 6000.0))  # preflight
    return calls


def _builder() -> None:
    from pages._lab_sweep import sweep_builder
    from vizcore.train.config import TrainConfig

    class _Lab:  # what the builder reads of a lab before anything is queued
        concurrency = 2

    sweep_builder(_Lab(), TrainConfig(model="small_cnn", dataset="shapes", train_size=512, val_size=256,
                                      epochs=2, batch_size=32))


def _ok(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if " runs" in c.value or " run " in c.value)


def test_builder_extremes_give_a_page_and_refusals_in_words(fixed_estimates):
    at = _ok(AppTest.from_function(_builder, default_timeout=30))
    assert at.toggle(key="lab_sweep_open").value is False and not fixed_estimates  # closed: nothing estimated
    at.toggle(key="lab_sweep_open").set_value(True)
    _ok(at)
    assert _caption(at).startswith("4 trick combinations × 3 seeds = 12 runs · 50 s to 1 min 10 s one after another;"
                                   " with 2 workers at best")
    assert at.button(key="lab_sweep_queue").label == "Queue the sweep (12 runs)"
    assert len(fixed_estimates[-1]) == 12
    at.multiselect(key="lab_sweep_tricks").set_value([])
    at.number_input(key="lab_sweep_seeds").set_value(1)
    _ok(at)  # no trick, the form's model, one seed: a single run
    assert _caption(at).startswith("1 trick combination × 1 seed = 1 run") and "one after another" in _caption(at)
    at.multiselect(key="lab_sweep_tricks").set_value(["cosine", "mixup", "warmup", "zero_gamma"])
    at.number_input(key="lab_sweep_seeds").set_value(3)
    _ok(at)
    assert at.button(key="lab_sweep_queue").label == "Queue the sweep (48 runs)"  # the largest sweep
    for tricks, models, seeds, words in [
            (["cosine", "mixup", "warmup", "zero_gamma"], ["small_cnn", "fast_cnn"], 1,
             "at most 16 configurations in a sweep, got 32"),
            (["cosine"], ["small_cnn", "fast_cnn", "lenet5", "se_resnet_small"], 10, "at most 48 runs in a sweep, got 80"),
            (["resnet_b"], ["small_cnn", "fast_cnn"], 1, "expected no models to sweep with resnet_b"),
            (["distillation"], [], 1, "expected a teacher run")]:
        at.multiselect(key="lab_sweep_tricks").set_value(tricks)
        at.multiselect(key="lab_sweep_models").set_value(models)
        at.number_input(key="lab_sweep_seeds").set_value(seeds)
        _ok(at)
        assert len(at.error) == 1 and at.error[0].value.startswith("Cannot build this sweep: expected")
        assert words in at.error[0].value and "\n" not in at.error[0].value
        assert not [b for b in at.button if b.key == "lab_sweep_queue"]  # nothing to queue
    at.multiselect(key="lab_sweep_tricks").set_value(["cosine"])
    at.multiselect(key="lab_sweep_models").set_value(["small_cnn", "fast_cnn", "lenet5", "se_resnet_small"])
    at.number_input(key="lab_sweep_seeds").set_value(1)
    _ok(at)
    assert _caption(at).startswith("4 models × 2 trick combinations × 1 seed = 8 runs")


def test_sweep_queued_from_the_lab_page_shows_its_grid(seeded, stub_runs, fixed_estimates):
    from vizcore.lab import experiment as vexp
    from vizcore.lab import queue as runs

    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["lab_sweep_open"] = True
    at.session_state["lab_sweep_tricks"] = ["cosine"]
    at.session_state["lab_sweep_models"] = ["small_cnn", "fast_cnn"]
    at.session_state["lab_sweep_seeds"] = 1
    _ok(at)
    for key, value in (("lab_train_size", 96), ("lab_val_size", 48), ("lab_epochs", 1)):
        at.number_input(key=key).set_value(value)
    _ok(at)
    at.button(key="lab_sweep_queue").click()
    _ok(at)
    exp = next(e for e in vexp.list_experiments() if e.id != seeded.experiment and e.kind == "compare")
    assert exp.form["design"]["mode"] == "sweep" and len(exp.runs) == 4
    assert at.selectbox(key="lab_exp_select").value == exp.id  # the new comparison is the one shown
    lab = runs.get_lab()
    for r in exp.runs:
        lab.wait(r["run_id"], timeout=60)
    _ok(at)
    cells = next(d.value for d in at.dataframe if "tricks on" in d.value.columns)
    assert list(cells.columns) == ["tricks on", "small_cnn", "fast_cnn"]
    assert list(cells["tricks on"]) == ["baseline", "cosine"] and "—" not in cells.to_numpy().ravel().tolist()
    table = next(d.value for d in at.dataframe if "seeds done" in d.value.columns)
    assert list(table["configuration"]) == exp.arms and list(table["seeds done"]) == [1, 1, 1, 1]
    lab.shutdown(wait=True, timeout=30)


def test_a_new_tab_during_a_sweep_shows_it_as_it_was_queued(seeded, fixed_estimates):
    from vizcore.lab import experiment as vexp
    from vizcore.lab import sweep as vsweep
    from vizcore.lab.store import RunStore

    store = RunStore(seeded.data_dir / "runs.sqlite")
    base = store.get(seeded.done[0]).config
    sw = vsweep.plan_sweep(base, ["mixup"], ["small_cnn", "fast_cnn"], n_seeds=2)
    ids = [store.create(cfg, f"{arm} · seed {s}", "in flight") for arm, s, cfg in sw.plan.runs()]
    store.set_status(ids[0], "running")  # owned by this (live) process: not marked interrupted
    exp = vexp.Experiment("5eedc0ffee", sw.plan.name, [a.name for a in sw.plan.arms],
                          [{"arm": a, "seed": s, "run_id": rid} for (a, s, _), rid in zip(sw.plan.runs(), ids)],
                          form={"base": base.to_dict(), "design": sw.design()})
    exp.save()
    try:
        at = _ok(AppTest.from_file(PAGE, default_timeout=120))
        assert at.toggle(key="lab_sweep_open").value is True
        assert at.multiselect(key="lab_sweep_tricks").value == ["mixup"]
        assert at.multiselect(key="lab_sweep_models").value == ["small_cnn", "fast_cnn"]
        assert at.number_input(key="lab_sweep_seeds").value == 2
        assert at.radio(key="lab_cmp_mode").value == "A/B"  # the A/B design is left as it was
        assert at.selectbox(key="lab_exp_select").value == exp.id
        cells = next(d.value for d in at.dataframe if "tricks on" in d.value.columns)
        assert cells.to_numpy()[:, 1:].ravel().tolist() == ["—"] * 4  # nothing finished yet
    finally:
        for rid in ids:
            store.set_status(rid, "cancelled", "test over")
        vexp.delete_experiment(exp.id)
