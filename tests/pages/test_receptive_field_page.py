"""Receptive Field page: renders, and model / layer / unit / image choices change what it shows."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from vizcore.arch import receptive_field as rf


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _slider(at: AppTest, prefix: str):
    return next(s for s in at.slider if s.key and s.key.startswith(prefix))


@pytest.mark.slow
def test_default_render_and_interactions_change_outputs() -> None:
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error
    layer = at.selectbox(key="rf_layer_resnet18").value
    table = rf.zoo_fields("resnet18")
    nf = table.resolve(layer)
    assert _metric(at, "Field size") == f"{nf.size[0]}×{nf.size[1]} px"
    assert _metric(at, "Stride (jump)") == f"{nf.stride[0]} px"
    centre = _metric(at, "Centre (row, col)")
    assert float(_metric(at, "ERF mass inside the box").rstrip("%")) == 100.0  # no SE gate in ResNet-18

    # another unit: the centre moves by one stride per unit
    _slider(at, "rf_i_").set_value(0).run()
    ub = nf.unit_box(0, (nf.map_size[1] - 1) // 2, (224, 224))
    assert _metric(at, "Centre (row, col)") == f"{ub.centre[0]:g}, {ub.centre[1]:g}" != centre

    # another layer of the same model
    at.selectbox(key="rf_layer_resnet18").set_value("conv1").run()
    assert _metric(at, "Field size") == "7×7 px" and _metric(at, "Stride (jump)") == "2 px"

    # another model: SE gates bring whole-image context, said in words
    at.selectbox(key="rf_model").set_value("se_resnet_small").run()
    assert not at.exception
    at.selectbox(key="rf_layer_se_resnet_small").set_value("layer3_1_relu_1").run()
    assert _metric(at, "Field size") == "53×53 px"
    assert any("squeeze-and-excitation" in i.value for i in at.info)

    # the stacked-kernel panel follows its widgets
    at.slider(key="rf_stack_n").set_value(2).run()
    assert _metric(at, "Field of the stack") == "5×5"


@pytest.mark.slow
def test_shapes_image_and_uploaded_checkpoints(tmp_path, monkeypatch) -> None:
    """No free path on the server's disk (issue 9): weights come from an upload, read with weights_only=True."""
    import io

    import torch

    from vizcore.arch import own_model
    from vizcore.models import weights as mweights

    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(own_model, "check_in_child", own_model.check_here)  # the child is tested on its own
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["rf_model"] = "small_cnn"
    at.run()
    at.radio(key="rf_source").set_value("Shapes data set").run()
    assert not at.exception and any("Class:" in c.value for c in at.caption)
    assert "checkpoint" not in at.radio(key="rf_weights").options and not at.text_input
    at.radio(key="rf_weights").set_value("my weights").run()
    at.file_uploader(key="rf_weights_own_file").set_value(("model.pt", b"not a checkpoint", "application/octet-stream"))
    at.run()
    at.button(key="rf_weights_own_add").click().run()
    assert not at.exception
    assert any("Could not use model.pt: expected a PyTorch state_dict" in e.value for e in at.error)
    buf = io.BytesIO()  # a real small_cnn state_dict with 3 classes (what the Lab trains on 3 shapes)
    torch.save(mweights.get_model("small_cnn", num_classes=3, seed=3).state_dict(), buf)
    at.file_uploader(key="rf_weights_own_file").set_value(("mine.pt", buf.getvalue(), "application/octet-stream"))
    at.run()
    at.button(key="rf_weights_own_add").click().run()
    assert not at.exception and not at.error
    assert any("Weights: your weights from mine.pt" in c.value for c in at.caption)
    wrong = io.BytesIO()
    torch.save(mweights.get_model("lenet5").state_dict(), wrong)
    at.expander[0].file_uploader(key="rf_weights_own_file").set_value(  # "Add other weights", beside the first
        ("lenet.pt", wrong.getvalue(), "application/octet-stream"))
    at.run()
    at.button(key="rf_weights_own_add").click().run()
    assert any("Could not use lenet.pt" in e.value for e in at.error)


def test_click_on_the_grid_selects_the_unit() -> None:
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["rf_model"] = "small_cnn"
    at.run()
    layer = at.selectbox(key="rf_layer_small_cnn").value
    nf = rf.zoo_fields("small_cnn").resolve(layer)
    # what st.plotly_chart(on_select="rerun") stores for a click on the marker of unit (row 1, column 0)
    at.session_state[f"rf_grid_small_cnn_{layer}"] = {"selection": {"points": [{"x": 0, "y": 1}]}}
    at.run()
    assert not at.exception
    ub = nf.unit_box(1, 0, (32, 32))
    assert _metric(at, "Centre (row, col)") == f"{ub.centre[0]:g}, {ub.centre[1]:g}"
    assert [s.value for s in at.slider][:2] == [1, 0]


def test_an_effective_field_over_the_budget_leaves_the_rest_of_the_page(monkeypatch) -> None:
    """ResNet-50 and VGG-16 at their default layers once needed more than the 1 GB default for the effective
    field: the page said so and drew nothing else (no box, no feature map, no growth chart). Now the inputs go
    through in chunks (tests/vizcore/test_receptive_field.py); a layer whose single input is over the budget is
    said in words, and the rest of the page stays."""
    import streamlit as st

    from vizcore.arch import rf_measured

    monkeypatch.setattr(rf_measured, "backprop_bytes", lambda *args: 64 << 30)  # 64 GB: over any budget
    st.cache_data.clear()  # an effective field another test computed would be shown from the cache
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["rf_model"] = "small_cnn"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [e.value for e in at.error] and all("Could not compute the effective field" in e.value and
                                               "memory budget" in e.value for e in at.error)
    labels = [m.label for m in at.metric]
    assert "Field size" in labels and "Field of the stack" in labels and "ERF radius (95% of the mass)" not in labels
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) == 4  # the field on the image, the feature map, the growth chart, the stacked kernels


def test_a_heavy_effective_field_waits_for_a_click_that_says_how_long(monkeypatch) -> None:
    """Above the unasked-work limit (here: any work) the box, the feature map and the charts come at once; the
    effective field comes on a click whose label says how long, then for every unit of that model."""
    import re

    import streamlit as st

    from vizcore.core import budget

    monkeypatch.setattr(budget, "UNASKED_FLOPS", 0.0)
    st.cache_data.clear()
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["rf_model"] = "small_cnn"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [m.label for m in at.metric]
    assert "Field size" in labels and "ERF radius (95% of the mass)" not in labels
    assert len(at.get("plotly_chart")) == 4  # the field on the image (no heat map yet), the map, growth, kernels
    assert any("GFLOPs of work, about " in i.value for i in at.info), [i.value for i in at.info]
    button = at.button(key="rf_erf_go")
    assert re.fullmatch(r"Measure the effective field \(about \d+ s\)", button.label), button.label
    button.click().run()
    assert not at.exception and "ERF radius (95% of the mass)" in [m.label for m in at.metric]
    layer = at.selectbox(key="rf_layer_small_cnn").value
    at.slider(key=f"rf_i_small_cnn_{layer}").set_value(0).run()  # another unit: measured without asking again
    assert "ERF radius (95% of the mass)" in [m.label for m in at.metric]
    assert "rf_erf_go" not in [b.key for b in at.button]


@pytest.mark.slow
def test_trained_weights_change_the_effective_field(tmp_path, monkeypatch) -> None:
    """'trained' loads the default small_cnn (shipped checkpoint) and gives another ERF than random weights."""
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240).run()
    at.selectbox(key="rf_model").set_value("small_cnn").run()
    layer = at.selectbox(key="rf_layer_small_cnn")
    layer.set_value(layer.options[-1]).run()  # the deepest map: its ERF depends most on the weights
    radius_random = _metric(at, "ERF radius (95% of the mass)")
    at.radio(key="rf_weights").set_value("trained").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("default model" in c.value for c in at.caption)
    assert _metric(at, "ERF radius (95% of the mass)") != radius_random


@pytest.mark.slow
def test_trained_is_offered_only_where_trained_weights_exist(tmp_path, monkeypatch) -> None:
    """Issue 9, defect 5: "trained" with ResNet-18 silently showed random weights (and an info box). Now it is
    offered only for the default model and stored runs of the architecture, says so next to the choice, and
    links to the Training Lab."""
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    at = AppTest.from_file("../../app.py", default_timeout=240).run()  # the app: its navigation resolves links
    at.switch_page("pages/receptive_field.py").run()
    assert at.selectbox(key="rf_model").value == "resnet18"
    assert at.radio(key="rf_weights").options == ["random", "pretrained", "my weights"]
    assert any("No trained weights for ResNet-18 here yet" in c.value for c in at.caption)
    link = next(x for x in at.get("page_link") if "Training Lab" in x.proto.label)
    assert link.proto.page.endswith("training_lab")
    at.selectbox(key="rf_model").set_value("lenet5").run()
    assert "trained" not in at.radio(key="rf_weights").options

    # a finished Training Lab run of lenet5 in the store: now "trained" offers it, named
    import torch

    from vizcore.lab.store import RunStore
    from vizcore.models import weights as mweights
    from vizcore.models.weights import save_checkpoint
    from vizcore.train.config import TrainConfig

    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.create(TrainConfig(model="lenet5", dataset="digits", epochs=1), name="digits run")
    store.set_status(rid, "running")
    store.add_metric(rid, {"kind": "epoch", "epoch": 1, "val_acc": 0.9})
    ckpt = save_checkpoint(mweights.get_model("lenet5", seed=5), store.checkpoint_path(rid),
                           {"model": "lenet5", "num_classes": 10, "run_id": rid, "dataset": "digits", "val_acc": 0.9})
    store.set_checkpoint(rid, ckpt)
    store.set_status(rid, "done")
    store.close()
    at.session_state["checkpoint_path"] = str(ckpt)  # as "Open in other pages" in the Lab sets it
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.radio(key="rf_weights").value == "trained"
    assert any(f"Training Lab run “digits run” (digits, val. accuracy 90.0%) #{rid}" in c.value for c in at.caption)
    assert torch.load(ckpt, weights_only=True)  # still a plain state_dict


@pytest.mark.slow
def test_open_in_other_pages_switches_to_the_runs_model(seeded) -> None:
    """A run opened from the Lab shows on this page at once: its architecture, its weights."""
    from vizcore.lab.store import RunStore

    store = RunStore(seeded.data_dir / "runs.sqlite")
    rec = store.get(seeded.done[0])
    store.close()
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["checkpoint_path"] = rec.checkpoint
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="rf_model").value == "small_cnn" and at.radio(key="rf_weights").value == "trained"
    assert at.selectbox(key="rf_weights_trained_small_cnn").value == rec.checkpoint
    assert any("seeded baseline" in c.value for c in at.caption)
