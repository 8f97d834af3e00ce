"""Network overview page: the default model's overview and one unit's numbers agree with the network's own layers;
the arrows step to the neighbouring unit and stop at the border; every extreme of the widgets gives a page."""
from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from vizcore.lab.default_model import default_model
from vizcore.models import weights as mweights

pytestmark = pytest.mark.usefixtures("one_thread")  # small convs: a second thread on shared cores only waits

PAGE = "../../pages/network_overview.py"


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.mark.slow  # the first run loads the page's modules and the default model: over 2 s on 2 cores
def test_default_model_overview_and_one_units_numbers() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.radio(key="ov_weights").value == "trained"  # the shipped default small_cnn
    assert at.radio(key="ov_mode_small_cnn").value == "layers"
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(keys) >= 6  # overview, field, grid, numbers, pool, field of the traced unit
    # unit (0, 0) of the first conv: the layer's own output, from a hook on the real model
    model = mweights.load_model("small_cnn", str(default_model())).eval()
    from vizcore.data import images as image_io
    from vizcore.models import preprocess

    x = preprocess.for_model("small_cnn").image(image_io.sample_photos()["chelsea"], 32)
    out: list[torch.Tensor] = []
    h = model.features[0].register_forward_hook(lambda _m, _a, y: out.append(y.detach().clone()) and None)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    assert float(_metric(at, "= sum (pre-activation)")) == pytest.approx(float(out[0][0, 0, 0, 0]), abs=1e-4)
    assert float(_metric(at, "+ bias")) == 0.0
    # arrows: ↓ moves one row; ← at column 0 stays there
    _button(at, "↓").click().run()
    _button(at, "←").click().run()
    assert at.number_input(key="ov_ci_small_cnn_features_0").value == 1
    assert at.number_input(key="ov_cj_small_cnn_features_0").value == 0
    assert float(_metric(at, "= sum (pre-activation)")) == pytest.approx(float(out[0][0, 0, 1, 0]), abs=1e-4)
    assert not at.exception


@pytest.mark.slow
def test_every_extreme_of_the_widgets_gives_a_page(monkeypatch) -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    for mode, chans, conv, ch, i, j in [("stages", 1, "features_11", 127, 7, 7), ("layers", 16, "features_8", 0, 7, 0),
                                        ("layers", 16, "features_0", 31, 31, 31)]:
        at.radio(key="ov_mode_small_cnn").set_value(mode)
        at.slider(key="ov_channels").set_value(chans)
        at.selectbox(key="ov_conv_small_cnn").set_value(conv).run()
        at.number_input(key=f"ov_ch_small_cnn_{conv}").set_value(ch)
        at.number_input(key=f"ov_ci_small_cnn_{conv}").set_value(i)
        at.number_input(key=f"ov_cj_small_cnn_{conv}").set_value(j)
        _button(at, "→").click().run()  # one run: the arrow's callback steps from the unit just set
        _button(at, "↓").click().run()
        assert not at.exception, (mode, conv, [e.value for e in at.exception])
        assert not at.error, [e.value for e in at.error]
        assert at.number_input(key=f"ov_cj_small_cnn_{conv}").value == min(j + 1, 31 if conv == "features_0" else 7)
    column = at.selectbox(key="ov_col_small_cnn_layers")
    for k in (0, len(column.options) - 1):  # the first column reads the image; the last is a 1×1 pooled map
        at.selectbox(key="ov_col_small_cnn_layers").set_value(k).run()
        assert not at.exception and not at.error
    at.radio(key="ov_source").set_value("Shapes data set").run()
    at.number_input(key="ov_shape").set_value(39).run()
    for weights in ("random", "pretrained", "my weights"):  # no pretrained weights, nothing uploaded: random, said
        at.radio(key="ov_weights").set_value(weights).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("random (untrained) weights" in w.value for w in at.warning)
    # a big model with random weights: by stage, said in words
    at.selectbox(key="ov_model").set_value("resnet18").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="ov_mode_resnet18").value == "stages"
    assert any("random (untrained) weights" in w.value for w in at.warning)
    # above the memory budget (resnet18 at 224×224 needs about 100 MB): refused in one sentence before the forward
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET_MB", "16")
    at.slider(key="ov_channels").set_value(2).run()  # a new request: not in the cache
    assert not at.exception
    assert len(at.error) == 1 and "above this server's memory budget of 16.0 MB" in at.error[0].value
