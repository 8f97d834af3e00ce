"""Augmentation Lab page: building a pipeline changes the draws, re-roll draws anew, the effect on the default
model is measured behind its button, "Use in Training Lab" hands the same pipeline to the Training Lab, and a preset
replaces the pipeline."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from pages._common import AUGMENT_PIPELINE_KEY
from vizcore.data.pipeline import Pipeline

PAGE = "../../pages/augmentation_lab.py"


def _table(at: AppTest, column: str):
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    return None


@pytest.mark.slow
def test_build_reroll_measure_and_send() -> None:
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    assert not at.exception, [e.message for e in at.exception]
    assert set(_table(at, "what it drew")["what it drew"]) == {"unchanged"}  # empty pipeline
    at.selectbox(key="aug_new_op").set_value("rotation")
    at.button(key="aug_add").click().run()
    at.selectbox(key="aug_new_op").set_value("cutout")
    at.button(key="aug_add").click().run()
    uid = at.session_state["aug_steps"][0]["uid"]
    at.slider(key=f"aug_{uid}_p").set_value(1.0).run()
    at.slider(key=f"aug_{at.session_state['aug_steps'][1]['uid']}_p").set_value(0.5).run()
    drawn = list(_table(at, "what it drew")["what it drew"])
    assert all(d.startswith("rotation angle=") for d in drawn), drawn
    at.button(key="aug_reroll").click().run()
    assert at.number_input(key="aug_seed").value == 1
    assert list(_table(at, "what it drew")["what it drew"]) != drawn  # new seed, new draws
    # the statistics table: 3 channels, pixel means in [0, 1]
    stats = _table(at, "mean, augmented")
    assert len(stats) == 3 and ((stats["mean, augmented"] > 0) & (stats["mean, augmented"] < 1)).all()
    # the effect on the default model, behind its button
    at.number_input(key="aug_val_n").set_value(50).run()
    at.button(key="aug_effect").click().run()
    assert not at.exception, [e.message for e in at.exception]
    effect = _table(at, "accuracy, augmented (%)")
    assert len(effect) == 3  # two operations and the whole pipeline
    texts = [str(v) for v in effect.to_numpy().ravel()]
    assert not any("p=0.5" in t for t in texts), texts  # each operation alone is measured with p = 1, as said
    assert effect["accuracy, original (%)"].iloc[0] > 80  # the default model knows its shapes
    assert ((effect["accuracy, augmented (%)"] >= 0) & (effect["accuracy, augmented (%)"] <= 100)).all()
    at.button(key="aug_send").click().run()
    sent = Pipeline.from_json(at.session_state[AUGMENT_PIPELINE_KEY])
    assert [s.op for s in sent.steps] == ["rotation", "cutout"] and sent.steps[0].p == 1.0
    assert any("Sent" in s.value for s in at.success)
    # a preset replaces the pipeline built so far (its steps get new widgets: no value of the old ones carried over)
    built = {s["uid"] for s in at.session_state["aug_steps"]}
    at.button(key="aug_load_preset").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert [(s["op"], s["p"]) for s in at.session_state["aug_steps"]] == [("hflip", 0.5), ("crop", 1.0)]
    assert not built & {s["uid"] for s in at.session_state["aug_steps"]}
    drawn = list(_table(at, "what it drew")["what it drew"])
    assert all(d.startswith(("crop dx=", "hflip · crop dx=")) for d in drawn), drawn
    assert not any("Sent" in s.value for s in at.success)  # the Training Lab still has the pipeline sent before


@pytest.mark.slow
def test_training_lab_uses_a_sent_pipeline(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path / "convscope"))
    pipe = Pipeline.from_obj([{"op": "vflip", "p": 0.5}, {"op": "gamma"}])
    at = AppTest.from_file("../../pages/training_lab.py", default_timeout=240)
    at.session_state[AUGMENT_PIPELINE_KEY] = json.dumps(pipe.to_dict(), sort_keys=True)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Pipeline: Vertical flip p=0.5 → Gamma" in c.value for c in at.caption)
    assert at.toggle(key="lab_use_pipeline").value is True
