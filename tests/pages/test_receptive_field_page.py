"""Receptive Field page: renders, and model / layer / unit / image choices change what it shows."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from vizcore.arch import receptive_field as rf


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _slider(at: AppTest, prefix: str):
    return next(s for s in at.slider if s.key and s.key.startswith(prefix))


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


def test_shapes_image_and_no_free_checkpoint_path() -> None:
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["rf_model"] = "small_cnn"
    at.run()
    at.radio(key="rf_source").set_value("Shapes data set").run()
    assert not at.exception and any("Class:" in c.value for c in at.caption)
    # browser users choose only weights the app owns: no option or box that opens a server path
    assert at.radio(key="rf_weights").options == ["random", "trained", "pretrained"]
    assert not [t for t in at.text_input if "heckpoint" in t.label]


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


def test_trained_weights_change_the_effective_field(tmp_path, monkeypatch) -> None:
    """'trained' loads the default small_cnn (shipped checkpoint) and gives another ERF than random weights;
    a model with no trained weights says so in words; a Training Lab run chosen for the session is used."""
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

    at.selectbox(key="rf_model").set_value("lenet5").run()
    assert not at.exception
    assert any("no trained weights for this model" in i.value for i in at.info)

    # a run from the Training Lab: a lenet5 checkpoint with its metadata
    import torch

    from vizcore.models import weights as zoo
    from vizcore.models.weights import save_checkpoint

    ckpt = save_checkpoint(zoo.get_model("lenet5", seed=5), tmp_path / "run.pt",
                           {"model": "lenet5", "num_classes": 10, "run_id": "r1", "dataset": "digits", "val_acc": 0.9})
    at.session_state["checkpoint_path"] = str(ckpt)
    at.run()
    assert not at.exception
    assert any("Training Lab run r1" in c.value for c in at.caption)
    assert torch.load(ckpt, weights_only=True)  # still a plain state_dict
