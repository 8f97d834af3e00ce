"""Localisation metrics on synthetic maps with known answers; faithfulness curves; the sanity check."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vizcore.inspect import attribution as A
from vizcore.inspect import cam_metrics as M
from vizcore.models.weights import load_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: two OpenMP threads on a busy machine spend more time waiting on each other than computing
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _masks() -> torch.Tensor:
    m = torch.zeros(3, 10, 10, dtype=torch.bool)
    m[0, 2:5, 2:5] = True  # 9 pixels
    m[1, 5:, :] = True  # 50 pixels
    m[2, 0, 0] = True  # 1 pixel
    return m


def test_pointing_game_with_known_peaks_and_tolerance() -> None:
    masks = _masks()
    maps = torch.zeros(3, 10, 10)
    maps[0, 3, 3] = 1.0  # inside
    maps[1, 4, 7] = 1.0  # one row above the mask
    # image 2: all zero, no maximum
    assert M.pointing_hits(maps, masks).tolist() == [True, False, False]
    assert M.pointing_hits(maps, masks, tolerance=1).tolist() == [True, True, False]
    loc = M.localisation(maps, masks)
    assert loc.pointing == pytest.approx(1 / 3) and loc.empty == 1 and loc.n == 3
    assert loc.pointing_chance == pytest.approx((9 + 50 + 1) / 300)
    wide = M.localisation(maps, masks, tolerance=1)
    assert wide.pointing == pytest.approx(2 / 3)
    assert wide.pointing_chance == pytest.approx((25 + 60 + 4) / 300)  # masks widened by one pixel


def test_energy_in_mask_with_known_shares() -> None:
    masks = _masks()
    maps = torch.ones(3, 10, 10)  # uniform: the share is the area fraction
    np.testing.assert_allclose(M.energy_in_mask(maps, masks).numpy(), [0.09, 0.5, 0.01])
    maps[0] = 0.0
    maps[0, 2:5, 2:5] = 2.0
    maps[0, 9, 9] = 6.0  # 18 inside, 6 outside
    maps[2] = 0.0
    e = M.energy_in_mask(maps, masks)
    assert e[0] == pytest.approx(0.75) and e[1] == pytest.approx(0.5) and math.isnan(float(e[2]))
    loc = M.localisation(maps, masks)
    assert loc.energy == pytest.approx((0.75 + 0.5) / 2) and loc.energy_chance == pytest.approx(0.2) and loc.empty == 1


def test_metric_errors() -> None:
    masks = _masks()
    with pytest.raises(ValueError, match="same shape"):
        M.localisation(torch.zeros(3, 10, 9), masks)
    with pytest.raises(ValueError, match="boolean masks"):
        M.energy_in_mask(torch.zeros(3, 10, 10), masks.float())
    with pytest.raises(ValueError, match="non-negative maps"):
        M.energy_in_mask(-torch.ones(3, 10, 10), masks)
    with pytest.raises(ValueError, match="non-negative tolerance"):
        M.pointing_hits(torch.zeros(3, 10, 10), masks, tolerance=-1)


class RegionModel(nn.Module):
    """Logit of class 0 = 8 x mean of channel 0 over the top-left 4x4 corner; class 1 = 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = 8 * x[:, 0, :4, :4].mean((1, 2))
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_deletion_and_insertion_prefer_the_right_map() -> None:
    x = torch.zeros(2, 3, 8, 8)
    x[:, 0, :4, :4] = 0.5  # the blurred copy spreads the corner out: less evidence before insertion
    model, t = RegionModel(), torch.zeros(2, dtype=torch.long)
    good = torch.zeros(2, 8, 8)
    good[:, :4, :4] = 1.0
    good += torch.linspace(0, 0.01, 64).view(1, 8, 8)  # distinct values: a fixed order
    bad = 1.0 - good
    fg, fb = M.faithfulness(model, x, good, t, steps=8), M.faithfulness(model, x, bad, t, steps=8)
    p_full = 1 / (1 + math.exp(-4.0))
    assert fg.deletion[0] == pytest.approx(p_full) and fg.insertion[-1] == pytest.approx(p_full)
    assert fg.deletion[-1] == pytest.approx(0.5)  # all pixels at the mean colour: logits tie
    assert fg.insertion[0] < fg.insertion[2] == pytest.approx(p_full)  # the corner is back after a quarter
    assert fg.deletion[2] == pytest.approx(0.5)  # the 16 corner pixels are the first quarter of the good order
    assert fg.deletion_auc < fb.deletion_auc and fg.insertion_auc > fb.insertion_auc
    with pytest.raises(ValueError, match="maps of shape"):
        M.faithfulness(model, x, good[:1], t)
    with pytest.raises(ValueError, match="at least one step"):
        M.faithfulness(model, x, good, t, steps=0)


@pytest.fixture(scope="module")
def trained():
    from vizcore.lab.default_model import default_model
    from vizcore.models.weights import load_trained

    return load_trained(default_model())


def test_sanity_check_curve_falls_for_gradcam_on_the_default_model(trained) -> None:
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    x, _, ds = M.shapes_for_model("small_cnn", 4, seed=3)
    res = M.cascading_randomisation(trained, x, ds.labels, ["gradcam"], "features", max_steps=5)["gradcam"]
    assert M.weighted_layers(trained, (3, 32, 32)) == ["features.0", "features.4", "features.8", "features.11", "fc"]
    assert res.blocks == ("fc", "features.11", "features.8", "features.4", "features.0")
    assert res.strip.shape == (6, 32, 32)
    assert res.spearman[0] == 1.0 and res.ssim[0] == 1.0
    assert res.spearman[-1] < M.SANITY_THRESHOLD and res.passes
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())  # worked on a copy
    with pytest.raises(ValueError, match="max_steps >= 1"):
        M.cascading_randomisation(trained, x, ds.labels, ["gradcam"], "features", max_steps=0)


def test_localisation_and_cue_conflict_on_the_default_model(trained) -> None:
    model = A.prepare(trained)
    x, masks, ds = M.shapes_for_model("small_cnn", 20, seed=1)
    assert x.shape == (20, 3, 32, 32) and masks.shape == (20, 32, 32)
    loc = M.localisation_of(model, x, masks, ds.labels, ["gradcam"], "features")["gradcam"]
    assert loc.n == 20 and loc.pointing > loc.pointing_chance and loc.energy > loc.energy_chance
    xc, _, cue = M.shapes_for_model("small_cnn", 6, seed=2, cue_conflict=True)
    cm = M.cue_conflict_maps(model, xc, cue.labels, cue.texture_labels, "gradcam", "features")
    for p, s, t, d in zip(cm.predicted.tolist(), cue.labels.tolist(), cue.texture_labels.tolist(), cm.decision):
        assert d == ("shape" if p == s else "texture" if p == t else "other")
    assert cm.shape_maps.shape == cm.texture_maps.shape == (6, 32, 32)
    _, big_masks, _ = M.shapes_for_model("resnet18", 1)
    assert big_masks.shape == (1, 224, 224) and 0 < big_masks.float().mean() < 1


def test_the_shipped_se_model_passes_its_own_checks() -> None:
    """Issue 26, defect 5: the shipped SE-ResNet (83% validation) failed the Grad-CAM sanity check for all three
    methods (rank correlation 0.62-0.74 after full randomisation). Retrained with the fast recipe it is accurate
    on shapes it never saw, and its maps change when the weights are destroyed."""
    from vizcore.data.datasets import load_dataset
    from vizcore.lab.default_model import shipped_path
    from vizcore.models import preprocess
    from vizcore.models.weights import checkpoint_meta, load_trained

    path = shipped_path("se_resnet_small")
    assert checkpoint_meta(path)["val_acc"] >= 0.95
    model = load_trained(path, model="se_resnet_small").eval()
    test = load_dataset("shapes", split="test", n=200, size=32, seed=11)
    with torch.no_grad():
        acc = (model(preprocess.for_model("se_resnet_small").batch(test.images)).argmax(1) == test.labels).float().mean()
    assert acc >= 0.95
    x, _, ds = M.shapes_for_model("se_resnet_small", 4, seed=3)
    res = M.cascading_randomisation(model, x, ds.labels, ["gradcam", "gradcam_pp", "layercam"], "layer3", max_steps=4)
    for method, r in res.items():
        assert r.passes, (method, r.spearman)


def test_the_work_of_scoring_bounds_what_torch_counts_and_heavy_models_wait() -> None:
    """The FLOPs the page decides by (at once, or on a click) are at least what torch's own counter counts for the
    scoring and at most twice that; the default model scores at once at any slider value, VGG-16 waits."""
    from tests.helpers import count_flops

    model = A.prepare(load_model("small_cnn", "random"))  # random weights: the targets are predictions
    x, masks, _ = M.shapes_for_model("small_cnn", 8)
    for methods in (["gradcam"], ["saliency"], ["gradcam", "guided_gradcam", "layercam"]):
        def score(methods=methods):
            M.localisation_of(model, x, masks, A.predict(model, x, 1)[1][:, 0], methods, "features")

        counted = count_flops(score)
        said = M.localisation_flops("small_cnn", 8, methods, predicted=True)
        assert counted <= said <= 2 * counted, (methods, counted, said)
    four = ["gradcam", "gradcam_pp", "layercam", "saliency"]
    from vizcore.core.budget import on_request

    assert not on_request(M.localisation_flops("small_cnn", 200, four, predicted=True))
    assert on_request(M.localisation_flops("vgg16", 20, ["gradcam"], predicted=True))
    from vizcore.data.shapes import SHAPE_CLASSES

    assert M.knows_the_shapes(list(SHAPE_CLASSES))
    assert not M.knows_the_shapes(A.class_names("small_cnn", "random", 10))  # "class 0", ...


def test_forward_flops_equal_torchvisions_published_operations() -> None:
    """One forward's FLOPs on the meta device against torchvision's ``_ops`` (GFLOPs, counted as multiply-adds),
    RegNetY-400MF included: its builder reads its initial values, so it is built for real and moved to meta."""
    from torchvision.models import RegNet_Y_400MF_Weights, ResNet18_Weights

    from vizcore.arch.summary import forward_flops

    for name, w in (("resnet18", ResNet18_Weights.IMAGENET1K_V1), ("regnet_y_400mf", RegNet_Y_400MF_Weights.IMAGENET1K_V1)):
        assert forward_flops(name, 224, 1000) / 2e9 == pytest.approx(w.meta["_ops"], abs=0.001)


@pytest.mark.slow
def test_the_time_estimate_from_one_map_holds_for_the_scoring() -> None:
    """The page's estimate for scoring 20 images of a 224-pixel model, made as the page makes it (the first map of
    one image, and the same map timed again: a model's first map pays one-time costs), against the scoring's own
    time measured right after."""
    import time

    from vizcore.models.registry import get_entry

    name = "mobilenet_v3_small"
    layer = get_entry(name).cam_layer
    model = A.prepare(load_model(name, "random"))
    x, masks, _ = M.shapes_for_model(name, 20)
    first = A.attribute(model, x[:1], "gradcam", 0, layer).seconds
    again = A.attribute(model, x[:1], "gradcam", 0, layer).seconds
    said = M.localisation_seconds({"gradcam": first}, 20, predicted=True, size=224, warm=("gradcam", again))
    began = time.perf_counter()
    M.localisation_of(model, x, masks, A.predict(model, x, 1)[1][:, 0], ["gradcam"], layer)
    took = time.perf_counter() - began
    assert 0.4 <= took / said <= 2.5, (took, said, first, again)  # (load on the other cores moves either)
    with pytest.raises(ValueError, match="at least one image and one method's timing"):
        M.localisation_seconds({}, 20, predicted=True, size=224)


def test_a_warm_timing_caps_each_methods_time_at_its_passes() -> None:
    # Grad-CAM 2 passes, Integrated Gradients 64: a warm Grad-CAM of 0.2 s is 0.1 s per pass
    cold = {"gradcam": 1.0, "integrated_gradients": 10.0}
    assert M.localisation_seconds(cold, 10, predicted=False, size=224) == pytest.approx(110.0)
    warm = M.localisation_seconds(cold, 10, predicted=True, size=224, warm=("gradcam", 0.2))
    assert warm == pytest.approx(10 * (0.2 + 6.4 + 0.1))  # each capped at its passes; one forward per image
    # a warm timing slower than the first changes nothing
    assert M.localisation_seconds(cold, 10, predicted=False, size=224, warm=("gradcam", 5.0)) == pytest.approx(110.0)
