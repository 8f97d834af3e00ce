"""Grad-CAM & attributions page: renders with the default trained model; method, target, image and measure
choices change what it shows; random weights are labelled."""
from __future__ import annotations

import re

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


@pytest.mark.slow
def test_default_render_methods_targets_and_measures() -> None:
    at = _page().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.warning  # trained weights: no "random weights" warning
    assert not at.error
    assert "Default: features is the last convolutional stage (128 maps of 8×8)" in _captions(at)
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) == 3  # top-5, one overlay, the localisation chart
    assert "Pointing game" in charts[-1].proto.spec and "chance (mask area)" in charts[-1].proto.spec
    assert "CAM over training" in [h.value for h in at.subheader]  # no run kept its epochs: how to get one
    assert any("**Keep weights of the last E epochs**" in i.value and "--keep-epochs 5" in i.value for i in at.info)

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


@pytest.mark.slow
def test_shapes_image_shows_its_mask_score_and_random_weights_are_labelled() -> None:
    at = _page().run()
    assert at.radio(key="cam_source").value == "Shapes data set"  # the default model's own kind of image
    assert "of the map inside it (object area" in _captions(at)
    at.radio(key="cam_source").set_value("Sample photo").run()
    assert not at.exception and "of the map inside it" not in _captions(at)
    at.radio(key="cam_weights").set_value("random").run()
    assert not at.exception and any("Random weights" in w.value for w in at.warning)


@pytest.mark.slow
def test_heavy_scoring_waits_for_a_click_that_says_how_long(monkeypatch) -> None:
    """Scoring above the page's unasked budget (here: any scoring) shows its work and time estimate and a button;
    clicked, the chart comes with the time it took, and stays while other widgets change."""
    from vizcore.core import budget
    from vizcore.inspect import cam_metrics

    monkeypatch.setattr(budget, "UNASKED_FLOPS", 0.0)
    at = _page().run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == 2  # top-5 and the overlay: nothing scored unasked
    gflops = cam_metrics.localisation_flops("small_cnn", 20, ["gradcam"], predicted=False) / 1e9
    assert any(f"up to {gflops:,.0f} GFLOPs of work: about " in i.value for i in at.info), [i.value for i in at.info]
    button = at.button(key="cam_loc_go")
    assert re.fullmatch(r"Score 20 shapes images \(about \d+ s\)", button.label), button.label
    button.click().run()
    assert not at.exception and len(at.get("plotly_chart")) == 3
    assert "Pointing game" in at.get("plotly_chart")[-1].proto.spec
    assert re.search(r"Scored in \d+\.\d s\.", _captions(at)), _captions(at)
    at.slider(key="cam_alpha").set_value(0.3).run()  # asked once: the chart stays
    assert not at.exception and len(at.get("plotly_chart")) == 3 and "cam_loc_go" not in [b.key for b in at.button]
    # 100 images chosen for a 32-pixel model do not carry over to a 224-pixel one (minutes through VGG-16)
    at.slider(key="cam_loc_n").set_value(100).run()
    at.selectbox(key="cam_model").set_value("mobilenet_v3_small").run()
    assert not at.exception and at.slider(key="cam_loc_n_large").value == 20
    assert re.fullmatch(r"Score 20 shapes images \(about \d+ s\)", at.button(key="cam_loc_go").label)


def _seed_run(data_dir) -> tuple[str, str]:
    """A finished small_cnn run on 64 shapes that kept both of its epochs, in the page's store."""
    from vizcore.lab.store import RunStore
    from vizcore.train.config import TrainConfig

    store = RunStore(data_dir / "runs.sqlite")
    cfg = TrainConfig(model="small_cnn", dataset="shapes", train_size=64, val_size=32, epochs=2, batch_size=32,
                      lr=0.05, device="cpu", keep_epochs=2)
    rid = store.create(cfg, name="kept epochs")
    assert store.make_run(rid).run_sync() == "done"
    ckpt = store.get(rid).checkpoint
    store.close()
    assert ckpt
    return rid, ckpt


def _spec_with(at: AppTest, text: str) -> str:
    """The first chart whose text holds ``text``, as decoded text: plotly writes non-ASCII characters as
    escapes (``\u00b7``) or as themselves depending on its JSON engine, so the spec is parsed, not grepped."""
    import json

    specs = [json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in at.get("plotly_chart")]
    return next(s for s in specs if text in s)


@pytest.mark.slow
def test_cam_over_training_of_the_chosen_lab_run(tmp_path) -> None:
    from pages._common import CHECKPOINT_KEY

    rid, ckpt = _seed_run(tmp_path)
    at = _page()
    at.session_state[CHECKPOINT_KEY] = ckpt  # as the Training Lab's "Open in other pages" does
    at.session_state["cam_ep_n"] = 20
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error
    assert any("Weights: Training Lab run" in c and f"#{rid}" in c for c in _captions(at).split(" | "))
    assert at.selectbox(key="cam_ep_run").value == rid
    slider = at.select_slider(key=f"cam_ep_epoch_{rid}")
    assert slider.options == ["1", "2"] and slider.value == 2
    chart = _spec_with(at, "Localisation over training")
    assert "pointing game" in chart and "chance: the object's area" in chart and "epoch (kept weights)" in chart
    assert "Grad-CAM · epoch 2 · " in _spec_with(at, "· epoch ")
    assert "These are the epochs of the weights chosen above" in _captions(at)
    assert "Epoch 2: probability of" in _captions(at) and "of the map inside it" in _captions(at)

    slider.set_value(1).run()
    assert not at.exception and not at.error
    assert "Grad-CAM · epoch 1 · " in _spec_with(at, "· epoch ") and "Epoch 1: probability of" in _captions(at)

    at.radio(key="cam_source").set_value("Sample photo").run()  # no mask: the epoch's map without a mask score
    assert not at.exception and not at.error
    assert "Epoch 1: probability of" in _captions(at) and "of the map inside it" not in _captions(at)


def test_a_photo_shown_to_a_shapes_model_is_called_outside_what_it_has_seen() -> None:
    at = _page().run()  # ConvScope's shapes-trained model on one of the shapes: nothing to say
    assert not at.exception, [e.message for e in at.exception]
    assert not [i for i in at.info if "outside what it has seen" in i.value]
    at.radio(key="cam_source").set_value("Sample photo").run()  # the cat
    assert not at.exception, [e.message for e in at.exception]
    [note] = [i.value for i in at.info if "outside what it has seen" in i.value]
    assert "trained only on the embedded shapes (10 classes: circle, square" in note
    at.radio(key="cam_weights").set_value("random").run()  # no training data to be outside of
    assert not at.exception and not [i for i in at.info if "outside what it has seen" in i.value]
