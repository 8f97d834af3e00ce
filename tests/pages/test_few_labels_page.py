"""Few labels page: the curve, the pseudo-label log and report and Noisy Student's rounds from a store that holds
runs; queueing cells and their missing teachers (stub runs); every extreme of the widgets gives a page."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vizcore.lab import few_labels as fl

pytestmark = pytest.mark.usefixtures("one_thread")

PAGE = "../../pages/few_labels.py"


@pytest.fixture
def few_store(tmp_path, monkeypatch) -> Iterator[Path]:
    from tests.seed import seed_few_labels

    d = tmp_path / "few"
    seed_few_labels(d)
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(d))
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
    last = fl.noisy_student_rounds(lab.store.list(fl.GROUP))[-1][-1]
    at.checkbox(key="fl_grow").check().run()
    at.button(key="fl_next_round").click().run()
    assert not at.exception, [e.value for e in at.exception]
    student = next(r for r in lab.store.list(fl.GROUP) if r.config.distill_teacher == last["run_id"])
    assert student.config.model == "small_cnn" and student.config.ssl == "noisy_student"


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
