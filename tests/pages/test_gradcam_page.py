"""Grad-CAM & attributions page: renders with the default trained model; method, target, image and measure
choices change what it shows; random weights are labelled."""
from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest


def _captions(at: AppTest) -> str:
    return " | ".join(c.value for c in at.caption)


@pytest.fixture(autouse=True)
def _private_data_one_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    # 32x32 models: two OpenMP threads on a busy machine wait on each other more than they compute
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _page() -> AppTest:
    at = AppTest.from_file("../../pages/gradcam.py", default_timeout=240)
    at.session_state["cam_loc_n"] = 20  # the fewest images the localisation slider offers
    return at


def test_default_render_methods_targets_and_measures() -> None:
    at = _page().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error and not at.warning  # trained weights: no "random weights" warning
    assert "Default: features is the last convolutional stage (128 maps of 8×8)" in _captions(at)
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) == 3  # top-5, one overlay, the localisation chart
    assert "Pointing game" in charts[-1].proto.spec and "chance (mask area)" in charts[-1].proto.spec

    at.multiselect(key="cam_methods").set_value(["gradcam", "layercam", "saliency"]).run()
    assert not at.exception and len(at.get("plotly_chart")) == 5
    assert "Saliency: |gradient|, maximum over colour channels" in _captions(at)

    at.radio(key="cam_target").set_value("Top-k").run()
    assert not at.exception and len(at.get("plotly_chart")) == 2 + 2 * 3  # two classes x three methods

    at.radio(key="cam_measure").set_value("Sanity check").run()
    assert not at.exception
    assert "rank correlation" in _captions(at) and "passes" in _captions(at)
    at.slider(key="cam_sanity_step").set_value(0).run()
    assert not at.exception and any("after 0 randomised" in c.proto.spec for c in at.get("plotly_chart"))

    at.radio(key="cam_measure").set_value("Faithfulness").run()
    assert not at.exception and "average drop" in _captions(at)
    at.radio(key="cam_measure").set_value("Shape or texture").run()
    assert not at.exception and "followed" in at.get("plotly_chart")[-1].proto.spec


def test_shapes_image_shows_its_mask_score_and_random_weights_are_labelled() -> None:
    at = _page().run()
    assert at.radio(key="cam_source").value == "Shapes data set"  # the default model's own kind of image
    assert "of the map inside it (object area" in _captions(at)
    at.radio(key="cam_source").set_value("Sample photo").run()
    assert not at.exception and "of the map inside it" not in _captions(at)
    at.radio(key="cam_weights").set_value("random").run()
    assert not at.exception and any("Random weights" in w.value for w in at.warning)

