"""Augmentation pipeline: every operation (shape, dtype, range, determinism, p = 0), the batched kernels against
torchvision's per-image kernels with the same parameters, presets against the old preset code, PCA lighting
against its formula, validation messages, and a pipeline from the page's state training a stored run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from vizcore.data import augment as vaug
from vizcore.data import kernels, lighting
from vizcore.data.ops import OPS
from vizcore.data.pipeline import PRESET_PIPELINES, Pipeline, Step, load_pipeline


def _images(n: int = 6, channels: int = 3, size: int = 24, seed: int = 0) -> torch.Tensor:
    """Smooth gradients plus noise in [30, 220]: every operation changes something, nothing saturates."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)
    base = 40 + 120 * (ramp[None, :] * ramp[:, None])
    x = base + torch.rand(n, channels, size, size, generator=g) * 60 + torch.arange(channels).view(1, -1, 1, 1) * 8
    return x.clamp(30, 220).to(torch.uint8)


@pytest.mark.parametrize("name", list(OPS))
def test_every_operation_shape_dtype_determinism_and_p0(name):
    x = _images()
    pipe = Pipeline((Step(name),))
    a, drawn = pipe.run(x, torch.Generator().manual_seed(1))
    b, _ = pipe.run(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == torch.uint8
    assert int(a.min()) >= 0 and int(a.max()) <= 255
    assert torch.equal(a, b)  # same seed, same pixels
    assert not torch.equal(a, x)  # p = 1 does something to these images
    assert len(drawn.steps[0].draws) == len(x)
    json.dumps([d for d in drawn.steps[0].draws])  # what was drawn is plain data (shown on the page, CLI JSON)
    zero = Pipeline((Step(name, 0.0),))
    assert torch.equal(zero.run(x, torch.Generator().manual_seed(1))[0], x)


@pytest.mark.parametrize("name", ["hflip", "rotation", "color_jitter", "gaussian_noise", "cutout", "randaugment"])
def test_grey_images_and_probability(name):
    x = _images(n=64, channels=1)
    out, drawn = Pipeline((Step(name, 0.5),)).run(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    touched = drawn.steps[0].index
    assert 16 <= len(touched) <= 48  # Binomial(64, 0.5): outside this range with probability < 1e-4
    untouched = torch.ones(64, dtype=torch.bool)
    untouched[touched] = False
    assert torch.equal(out[untouched], x[untouched])


def _close(a: torch.Tensor, b: torch.Tensor, tol: int = 1) -> None:
    assert (a.int() - b.int()).abs().max() <= tol


def test_affine_kernels_match_torchvision_per_image():
    x = _images()
    g = torch.Generator().manual_seed(3)
    for name in ("rotation", "translate", "scale", "shear"):
        pipe = Pipeline((Step(name, 1.0, {"fill": 17}),))
        out, drawn = pipe.run(x, g)
        for i, d in enumerate(drawn.steps[0].draws):
            ref = F.affine(x[i], angle=d.get("angle", 0.0), translate=[d.get("tx", 0), d.get("ty", 0)],
                           scale=d.get("scale", 1.0), shear=[d.get("shear", 0.0), 0.0],
                           interpolation=F.InterpolationMode.BILINEAR, fill=[17.0] * 3)
            _close(out[i], ref)


def test_perspective_and_elastic_match_torchvision():
    x = _images()
    out, drawn = Pipeline((Step("perspective", 1.0, {"distortion": 0.5}),)).run(x, torch.Generator().manual_seed(0))
    start = [[0, 0], [23, 0], [23, 23], [0, 23]]
    for i, d in enumerate(drawn.steps[0].draws):
        _close(out[i], F.perspective(x[i], start, d["corners"], interpolation=F.InterpolationMode.BILINEAR, fill=0))
    out, drawn = Pipeline((Step("elastic", 1.0, {"alpha": 20.0, "sigma": 2.0}),)).run(x, torch.Generator().manual_seed(0))
    for i, d in enumerate(drawn.steps[0].draws):
        disp = kernels.elastic_displacement([d["field_seed"]], 20.0, 2.0, 24, 24)
        _close(out[i], F.elastic(x[i], disp, interpolation=F.InterpolationMode.BILINEAR, fill=0))


def test_colour_kernels_match_torchvision_per_image():
    x = _images(n=12)
    pipe = Pipeline((Step("color_jitter", 1.0, {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.2}),
                     Step("gamma"), Step("gaussian_blur", 1.0, {"kernel_size": 5, "sigma": [0.3, 2.0]})))
    out, drawn = pipe.run(x, torch.Generator().manual_seed(5))
    fns = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast, "saturation": F.adjust_saturation,
           "hue": F.adjust_hue}
    for i in range(len(x)):
        (_, jit), (_, gam), (_, blur) = drawn.of_image(i)
        ref = x[i]
        for k in jit["order"]:
            ref = fns[k](ref, jit[k])
        ref = F.gaussian_blur(F.adjust_gamma(ref, gam["gamma"]), [5, 5], [blur["sigma"]] * 2)
        # six uint8 truncations in a row: float32 per-image factors (ours) vs Python floats (torchvision's) may
        # fall on either side of an integer now and then
        _close(out[i], ref, tol=2)
        assert (out[i].float() - ref.float()).abs().mean() < 0.1


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_padded_crop_fill_modes_match_torchvision_pad(mode):
    x = _images()
    out, drawn = Pipeline((Step("crop", 1.0, {"padding": 5, "fill_mode": mode, "fill": 9}),)).run(
        x, torch.Generator().manual_seed(0))
    for i, d in enumerate(drawn.steps[0].draws):
        padded = F.pad(x[i], [5], fill=9, padding_mode=mode)
        assert torch.equal(out[i], F.crop(padded, d["dy"] + 5, d["dx"] + 5, 24, 24))


def test_fill_modes_of_a_rotation():
    x = torch.full((1, 3, 24, 24), 200, dtype=torch.uint8)
    corner = {}
    for mode in ("constant", "edge", "reflect"):
        out = kernels.affine(x, [45.0], [(0, 0)], [1.0], [(0.0, 0.0)], fill_mode=mode, fill=0)
        corner[mode] = int(out[0, 0, 0, 0])
    assert corner == {"constant": 0, "edge": 200, "reflect": 200}


def test_erasing_and_cutout_boxes():
    x = _images(n=20)
    out, drawn = Pipeline((Step("random_erasing", 1.0, {"value": 7}), Step("cutout", 1.0, {"size": 6, "value": 250}))
                          ).run(x, torch.Generator().manual_seed(0))
    for i in range(len(x)):
        (_, er), (_, cut) = drawn.of_image(i)
        ref = x[i]
        if er["box"]:
            t, left, h, w = er["box"]
            ref = F.erase(ref, t, left, h, w, torch.tensor(7, dtype=torch.uint8))
            assert 0.02 * 576 - 24 <= h * w <= 0.33 * 576 + 24  # area within the scale range (rounded sides)
        t, left, h, w = cut["box"]
        assert h <= 6 and w <= 6
        ref = F.erase(ref, t, left, h, w, torch.tensor(250, dtype=torch.uint8))
        assert torch.equal(out[i], ref)


@pytest.mark.parametrize("preset", list(PRESET_PIPELINES))
def test_presets_are_the_old_presets_bit_for_bit(preset):
    x = _images(n=16, size=32)
    old, _ = vaug.augment(x, vaug.AugmentConfig(preset=preset), torch.Generator().manual_seed(7))
    new, _ = PRESET_PIPELINES[preset].run(x, torch.Generator().manual_seed(7))
    assert torch.equal(old, new)


def test_pca_lighting_formula():
    x = _images(n=3)
    p = Step("pca_lighting", 1.0, {"sigma": 0.3}).params
    draws = [{"alpha": [0.5, -1.0, 2.0]}, {"alpha": [0.0, 0.0, 0.0]}, {"alpha": [-0.2, 0.1, 0.05]}]
    out = lighting.apply(x, draws, p)
    vec, val = np.array(lighting.IMAGENET_EIGVEC), np.array(lighting.IMAGENET_EIGVAL)
    for i, d in enumerate(draws):
        rgb = vec @ (np.array(d["alpha"]) * val)  # AlexNet §4.1: [p1 p2 p3][a1 λ1, a2 λ2, a3 λ3]^T
        ref = np.clip(np.round(x[i].numpy().astype(float) + 255 * rgb[:, None, None]), 0, 255)
        assert np.abs(out[i].numpy().astype(float) - ref).max() <= 1
    assert torch.equal(out[1], x[1])


def test_pca_lighting_fit_recovers_a_known_covariance():
    g = torch.Generator().manual_seed(0)
    v = torch.tensor([2.0, 1.0, -2.0]) / 3.0  # a unit vector
    t = torch.randn(200_000, generator=g, dtype=torch.float64) * 0.1  # variance 0.01 along v
    small = torch.randn(200_000, 3, generator=g, dtype=torch.float64) * 0.005
    px = (0.5 + t[:, None] * v.double() + small).clamp(0, 1) * 255
    vals, vecs = lighting.fit(px.round().to(torch.uint8).T.reshape(1, 3, 400, 500))
    assert vals[0] == pytest.approx(0.01 + 0.005**2, rel=0.05)
    assert abs(float(torch.tensor(vecs, dtype=torch.float64)[:, 0] @ v.double())) == pytest.approx(1.0, abs=1e-3)
    assert vals[1] == pytest.approx(0.005**2 + 1 / 12 / 255**2, rel=0.3)  # isotropic noise + rounding


@pytest.mark.parametrize("obj, match", [
    ([{"op": "rotato"}], "expected an operation from hflip.*got 'rotato'"),
    ([{"op": "rotation", "params": {"degrees": 400}}], "expected rotation degrees between 0 and 180, got 400"),
    ([{"op": "hflip", "p": 1.5}], r"expected p \(probability\) of hflip between 0 and 1, got 1.5"),
    ([{"op": "hflip", "p": -0.1}], r"expected p \(probability\) of hflip between 0 and 1"),
    ([{"op": "rotation", "params": {"angle": 3}}], "expected parameters of rotation from degrees.*got unknown angle"),
    ([{"op": "scale", "params": {"scale": [1.5, 0.5]}}], "expected scale scale low <= high"),
    ([{"op": "gaussian_blur", "params": {"kernel_size": 4}}], "expected gaussian_blur kernel_size to be odd"),
    ([{"op": "crop", "params": {"fill_mode": "wrap"}}], "expected crop fill_mode to be one of constant, edge, reflect"),
    ([{"op": "pca_lighting", "params": {"eigval": [1, 2]}}], r"expected pca_lighting eigval of shape \(3,\)"),
    ({"steps": []}, "expected a pipeline object with 'ops'"),
    ([{"op": "hflip"}] * 17, "expected at most 16 operations"),
])
def test_bad_pipelines_say_what_is_wrong(obj, match):
    with pytest.raises(ValueError, match=match):
        Pipeline.from_obj(obj)


def test_bad_sources_and_bounds(tmp_path):
    with pytest.raises(ValueError, match="invalid JSON"):
        Pipeline.from_json("[{")
    with pytest.raises(ValueError, match="no such file"):
        load_pipeline(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="expected between 0 and 4096 images"):
        Pipeline((Step("hflip"),)).draw(5000, 32, 32, torch.Generator())
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\) uint8"):
        Pipeline().run(torch.zeros(2, 3, 8, 8), torch.Generator())


def test_json_round_trip_and_train_config(tmp_path):
    from vizcore.train.config import TrainConfig

    pipe = Pipeline.from_obj({"name": "mine", "ops": [{"op": "rotation", "p": 0.3, "params": {"degrees": 20}},
                                                      {"op": "randaugment", "params": {"n": 1, "m": 5}}]})
    assert Pipeline.from_json(pipe.to_json()) == pipe
    path = tmp_path / "pipe.json"
    path.write_text(pipe.to_json())
    cfg = TrainConfig(augment="none", augment_pipeline=str(path))
    assert Pipeline.from_json(cfg.augment_pipeline) == pipe  # the file's content is held, not its path
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="expected augment='none' with an augment_pipeline"):
        TrainConfig(augment="flip_crop", augment_pipeline=str(path))
    with pytest.raises(ValueError, match="expected an operation from"):
        TrainConfig(augment="none", augment_pipeline='[{"op": "nope"}]')


def test_a_pipeline_from_the_page_state_trains_and_is_stored(tmp_path):
    from tests.helpers import tiny_config, tiny_data
    from vizcore.lab.store import RunStore

    # the Augmentation Lab keeps its pipeline as this list in st.session_state; export is Pipeline(...).to_json()
    page_state = [{"uid": 1, "op": "hflip", "p": 0.5, "params": {}},
                  {"uid": 2, "op": "rotation", "p": 1.0, "params": {"degrees": 10.0, "fill_mode": "reflect"}},
                  {"uid": 3, "op": "color_jitter", "p": 0.8, "params": {"brightness": 0.3}}]
    pipe = Pipeline.from_obj({"name": "from the page", "ops": [{k: v for k, v in s.items() if k != "uid"}
                                                               for s in page_state]})
    path = tmp_path / "pipe.json"
    path.write_text(pipe.to_json())
    store = RunStore(tmp_path / "runs.sqlite")
    data = tiny_data(64)
    cfg = tiny_config(augment_pipeline=str(path))
    rid = store.create(cfg)
    run = store.make_run(rid, (data, tiny_data(32, seed=1)))
    assert run.run_sync() == "done"
    stored = store.get(rid).config
    assert Pipeline.from_json(stored.augment_pipeline) == pipe
    assert store.get(rid).epochs_done == 1
    store.close()
