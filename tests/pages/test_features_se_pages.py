"""Features and SE Attention pages: render, and their controls change what they show (small models, few images)."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vizcore.arch import receptive_field as rf
from vizcore.data import images as image_io
from vizcore.inspect import activations, capture
from vizcore.lab.default_model import default_model
from vizcore.models import preprocess
from vizcore.models import weights as mweights


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.slow
def test_features_page_views_follow_their_widgets() -> None:
    at = AppTest.from_file("../../pages/features.py", default_timeout=300).run()
    assert not at.exception, [e.message for e in at.exception]
    node = at.selectbox(key="ft_node_small_cnn").value
    ckey = f"ft_channel_small_cnn_{node}"
    channel = at.number_input(key=ckey).value
    # the page shows the trained default model's own activations for the default photo (chelsea)
    model = mweights.load_trained(default_model(), model="small_cnn")
    graph = rf.analyze(model, (3, 32, 32)).graph
    x = preprocess.for_model("small_cnn").image(image_io.sample_photos()["chelsea"], 32)
    stats = activations.channel_stats(capture.node_output(graph, node, x)[0])
    assert channel == int(np.argmax(stats["max"]))
    assert _metric(at, "Max") == f"{stats['max'][channel]:.3f}"
    at.number_input(key=ckey).set_value(0).run()
    assert _metric(at, "Max") == f"{stats['max'][0]:.3f}"

    at.session_state["ft_view"] = "Filters"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Dead filters" in m.value for m in at.markdown)

    at.session_state["ft_view"] = "Top-activating patches"
    at.run()
    at.slider(key="ft_tp_n").set_value(100).run()
    at.button(key="ft_tp_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("receptive field of one unit" in c.value for c in at.caption)


@pytest.mark.slow
def test_se_page_by_class_analysis_and_ablation() -> None:
    at = AppTest.from_file("../../pages/se_attention.py", default_timeout=300).run()
    assert not at.exception, [e.message for e in at.exception]
    at.radio(key="se_weights").set_value("random").run()
    assert any("Random (untrained) weights" in w.value for w in at.warning)
    assert any("Squeeze" in m.value and "128→16" in m.value for m in at.markdown)  # layer3.1.se: C=128, r=8
    at.slider(key="se_n").set_value(5).run()
    at.button(key="se_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Class specificity" in m.value for m in at.markdown)
    at.button(key="se_abl_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    changed = _metric(at, "Predictions changed")
    assert changed.endswith("of 50")
