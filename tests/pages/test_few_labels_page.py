"""Few labels page: the curve, the pseudo-label log and report and Noisy Student's rounds from a store that holds
runs; queueing cells and their missing teachers (stub runs); every extreme of the widgets gives a page."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vizcore.lab import few_labels as fl

pytestmark = pytest.mark.usefixtures("one_thread")

PAGE = "../../pages/few_labels.py"
SMALL = {"train_size": 140, "val_size": 20}  # K = 4: 40 labelled, a pool of 100 (the report scores it)


def _run(store, cfg, accs, ssl: bool = False) -> str:
    from vizcore.models import registry as zoo
    from vizcore.models.weights import save_checkpoint

    rid = store.create(cfg, name=f"{cfg.ssl} seed {cfg.seed}", group=fl.GROUP)
    store.set_status(rid, "running")
    for e, acc in enumerate(accs, 1):
        ev = {"kind": "epoch", "epoch": e, "val_acc": acc, "train_loss": 1.0, "val_loss": 1.0}
        if ssl:
            ev["ssl"] = {"pass_rate": 0.2 * e, "pseudo_label_accuracy": 0.5 + 0.1 * e, "threshold": 0.95,
                         "per_class_pass_rate": [0.1] * 10, "per_class_threshold": [0.95] * 10}
        store.add_metric(rid, ev)
    ckpt = save_checkpoint(zoo.build_model(cfg.model, num_classes=10, seed=cfg.seed), store.checkpoint_path(rid),
                           {"model": cfg.model, "num_classes": 10})
    store.set_checkpoint(rid, ckpt)
    store.set_status(rid, "done")
    return rid


@pytest.fixture
def few_store(tmp_path, monkeypatch) -> Path:
    from vizcore.lab.store import RunStore

    d = tmp_path / "few"
    d.mkdir()
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(d))
    store = RunStore(d / "runs.sqlite")
    for seed in (0, 1):
        _run(store, fl.config_for(fl.FewLabelsSpec("supervised", 4, seed)), [0.30 + 0.04 * seed])
        _run(store, fl.config_for(fl.FewLabelsSpec("fixmatch", 4, seed), **SMALL), [0.5, 0.7 + 0.02 * seed], ssl=True)
    teacher = _run(store, fl.config_for(fl.FewLabelsSpec("supervised", 4, 2)), [0.3])
    _run(store, fl.noisy_student_round(teacher, "fast_cnn", 4, 2), [0.35, 0.4], ssl=True)
    store.close()
    yield d
    from tests.pages.conftest import _shutdown_labs

    _shutdown_labs()


def test_renders_the_curve_the_log_and_the_rounds(few_store) -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(keys) == 3  # curve, pseudo-label log, rounds
    table = at.dataframe[0].value
    sup = table[table["method"] == "Supervised"].iloc[0]
    assert sup["seeds"] == 3 and sup["val accuracy % (95% interval)"].startswith("31.3 ±")  # 30, 34 and the teacher 30
    assert set(table["method"]) == {"Supervised", "FixMatch", "Noisy Student"}


@pytest.mark.slow
def test_scoring_a_run_shows_the_tradeoff_the_matrix_and_the_gallery(few_store) -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    runs = at.selectbox(key="fl_run").options
    fix = next(o for o in runs if o.startswith("fixmatch")).rsplit("#", 1)[1]
    at.selectbox(key="fl_run").set_value(fix).run()
    at.toggle(key="fl_score").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    values = {m.label: m.value for m in at.metric}
    assert values["Pass rate at τ"].endswith("%") and values["Accuracy of all pseudo-labels"].endswith("%")
    assert len(at.get("plotly_chart")) >= 5  # + trade-off and confusion (and the gallery when one is wrong)
    at.select_slider(key="fl_tau").set_value(0.5).run()
    assert not at.exception and not at.error


@pytest.mark.slow
def test_queueing_cells_and_missing_teachers(few_store, stub_runs) -> None:
    from vizcore.lab.queue import get_lab

    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.multiselect(key="fl_methods").set_value(["supervised", "distill"])
    at.multiselect(key="fl_ks").set_value(["1"]).run()
    assert any("must be trained first" in w.value for w in at.warning)
    at.button(key="fl_prereq").click().run()
    assert not at.exception, [e.value for e in at.exception]
    lab = get_lab()
    for rid in [r.id for r in lab.store.list(fl.GROUP) if r.status in ("queued", "running")]:
        lab.wait(rid, 60)
    at.run()
    assert not any("must be trained first" in w.value for w in at.warning)  # the teacher now exists
    at.button(key="fl_queue").click().run()
    assert not at.exception, [e.value for e in at.exception]
    names = [r.name for r in lab.store.list(fl.GROUP)]
    assert any(n.startswith("+ distillation, 1 labels/class") for n in names)


@pytest.mark.slow
def test_every_extreme_of_the_widgets_gives_a_page(few_store) -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    for methods, ks, seeds, epochs in [([], [], 1, 1), (list(fl.METHODS), ["1", "4", "25", "100", "all"], 3, 60),
                                       (["fixmatch"], ["all"], 1, 1)]:
        at.multiselect(key="fl_methods").set_value(methods)
        at.multiselect(key="fl_ks").set_value(ks)
        at.number_input(key="fl_seeds").set_value(seeds)
        at.number_input(key="fl_epochs").set_value(epochs)
        at.run()
        assert not at.exception, (methods, ks, [e.value for e in at.exception])
        assert not at.error, [e.value for e in at.error]
