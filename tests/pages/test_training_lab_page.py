"""Training Lab page: renders, drives real (tiny) runs from the page to completion, statistics shown match
the run store, and the LR preview follows the trick widgets."""
from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats
from streamlit.testing.v1 import AppTest

PAGE = "../../pages/training_lab.py"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "convscope"
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(d))
    yield d
    from vizcore.lab import queue as runs

    for lab in list(runs._LABS.values()):  # no run outlives its test
        lab.shutdown(wait=True, timeout=30)


def _tiny(at: AppTest) -> AppTest:
    at.number_input(key="lab_train_size").set_value(96)
    at.number_input(key="lab_val_size").set_value(48)
    at.number_input(key="lab_epochs").set_value(1)
    at.select_slider(key="lab_batch").set_value(32)
    return at.run()


def _poll_until(at: AppTest, done, limit_s: float = 90.0) -> None:
    """Rerun the page (the fragment with run_every runs once per at.run()) until ``done()`` or the limit."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done():
            return
        time.sleep(0.3)
    raise AssertionError("runs did not finish in time")


def _table(at: AppTest, column: str):
    """The first dataframe on the page with ``column`` (AppTest does not expose dataframe keys), or None."""
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    return None


def _lr_preview(at: AppTest) -> list[float]:
    import json

    chart = at.get("plotly_chart")[0]
    return json.loads(chart.proto.spec)["data"][0]["y"]


def test_default_render_has_no_exception(data_dir):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.header][:3] == ["1 · Set up a run", "2 · Watch", "3 · Compare tricks over seeds"]
    assert any("No runs yet" in i.value for i in at.info)


def test_default_run_is_the_recipe(data_dir):
    from vizcore.train import schedule
    from vizcore.train.config import TrainConfig

    at = AppTest.from_file(PAGE, default_timeout=120).run()
    recipe = TrainConfig()
    assert at.selectbox(key="lab_model").value == recipe.model
    assert (at.number_input(key="lab_train_size").value, at.number_input(key="lab_val_size").value,
            at.number_input(key="lab_epochs").value, at.select_slider(key="lab_batch").value) == (
        recipe.train_size, recipe.val_size, recipe.epochs, recipe.batch_size)
    assert at.selectbox(key="lab_augment").value == recipe.augment
    assert _lr_preview(at) == pytest.approx(schedule.lr_schedule(recipe).tolist())  # lr, warmup, cosine


def test_trick_widgets_change_the_lr_preview(data_dir):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.number_input(key="lab_lr").set_value(0.05)
    at.select_slider(key="lab_batch").set_value(64)
    at.slider(key="lab_warmup").set_value(0.0).run()
    cosine = _lr_preview(at)
    assert cosine[0] == pytest.approx(0.05) and cosine[-1] < 0.01  # cosine from the base LR towards 0
    at.slider(key="lab_warmup").set_value(1.0).run()
    warm = _lr_preview(at)
    assert len(warm) == len(cosine) and warm[0] < cosine[0]  # warmup starts low
    at.selectbox(key="lab_schedule").set_value("constant").run()
    at.slider(key="lab_warmup").set_value(0.0).run()
    flat = _lr_preview(at)
    assert flat == pytest.approx([0.05] * len(flat))
    at.toggle(key="lab_linear_scaling").set_value(True).run()  # 0.05 * 64 / 256
    assert _lr_preview(at)[0] == pytest.approx(0.05 * 64 / 256)


def test_bad_input_is_shown_in_words(data_dir, monkeypatch):
    import torch

    # fp16 needs CUDA: pin the device to the CPU so this input is refused on every host, GPU or not
    monkeypatch.setattr("vizcore.core.device.pick_device", lambda prefer=None: torch.device("cpu"))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.selectbox(key="lab_transfer").set_value("finetune")
    at.selectbox(key="lab_precision").set_value("fp16")
    at.run()
    assert not at.exception
    at.button(key="lab_start").click().run()
    assert any("fp16" in e.value for e in at.error), [e.value for e in at.error]


def test_ab_comparison_runs_to_completion_and_table_matches_store(data_dir):
    at = _tiny(AppTest.from_file(PAGE, default_timeout=120).run())
    at.number_input(key="lab_n_seeds").set_value(2).run()
    queue = at.button(key="lab_queue")
    assert "Queue 4 runs" in queue.label
    queue.click().run()
    assert not at.exception, [e.value for e in at.exception]

    def table_done() -> bool:
        df = _table(at, "seeds done")
        return df is not None and list(df["seeds done"]) == [2, 2]

    _poll_until(at, table_done)
    df = _table(at, "seeds done")
    assert list(df["configuration"]) == ["cosine off", "cosine on"]

    from vizcore.lab import experiment
    from vizcore.lab import queue as runs

    store = runs.get_lab().store
    exp = experiment.list_experiments()[0]
    for arm, row in zip(exp.arms, df.itertuples(index=False)):
        accs = [100 * store.get(r["run_id"]).val_acc for r in exp.runs if r["arm"] == arm]
        assert row[2] == pytest.approx(np.mean(accs))  # "mean (%)"
        half = stats.t.ppf(0.975, 1) * np.std(accs, ddof=1) / np.sqrt(2)
        assert row[3] == pytest.approx(half)
    diff = _table(at, "p-value")
    assert diff["test"][0] == "paired"
    verdicts = [m.value for m in at.info] + [m.value for m in at.success]
    assert any(v.startswith("within noise") or " than cosine off by " in v for v in verdicts), verdicts


def test_single_run_from_start_to_done_and_run_management(data_dir):
    at = _tiny(AppTest.from_file(PAGE, default_timeout=120).run())
    at.text_input(key="lab_run_name").set_value("tiny run")
    at.button(key="lab_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    _poll_until(at, lambda: any("finished" in p.proto.text for p in at.get("progress")))
    texts = [p.proto.text for p in at.get("progress")]
    assert texts[0].startswith("tiny run: finished")
    from vizcore.lab import queue as runs

    rec = runs.get_lab().store.list()[0]
    assert rec.status == "done" and rec.checkpoint
    at.button(key="lab_open").click().run()
    assert at.session_state["checkpoint_path"] == rec.checkpoint
    at.text_input(key=f"lab_rename_{rec.id}").set_value("renamed run")
    at.button(key="lab_rename").click().run()
    assert runs.get_lab().store.get(rec.id).name == "renamed run"
    at.checkbox(key=f"lab_confirm_delete_{rec.id}").check().run()
    at.button(key="lab_delete").click().run()
    assert runs.get_lab().store.list() == []


def test_diverged_and_failed_runs_are_explained_in_words(data_dir):
    from vizcore.lab.queue import get_lab
    from vizcore.train.config import TrainConfig

    store = get_lab().store
    rid = store.create(TrainConfig(train_size=64, val_size=16, epochs=2, batch_size=16), name="too hot")
    store.set_status(rid, "running")
    store.set_status(rid, "diverged", "loss became nan at step 3 (epoch 1); lower the learning rate")
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("too hot: stopped: the loss diverged") and "lower the learning rate" in e
               for e in errors), errors
    # starting a new run switches the live view to it, even after another run was being watched
    _tiny(at)
    at.text_input(key="lab_run_name").set_value("second run")
    at.button(key="lab_start").click().run()
    assert at.get("progress")[0].proto.text.startswith("second run: ")
