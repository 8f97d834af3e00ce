"""The model zoo against torchvision's published metadata, and the three weight sources."""
from __future__ import annotations

import os
import pickle

import pytest
import torch
from torchvision.models import get_model_weights

from vizcore.arch import summary
from vizcore.models import registry as zoo
from vizcore.models import weights as mweights

TV_MODELS = [n for n in zoo.list_models() if zoo.get_entry(n).tv_name]


def test_registry_has_the_expected_architectures() -> None:
    names = set(zoo.list_models())
    for want in ["lenet5", "alexnet", "vgg11", "vgg16", "googlenet", "resnet18", "resnet50", "densenet121",
                 "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf", "se_resnet_small",
                 "small_cnn", "lenet5_paper", "alexnet_paper", "alexnet_paper_grouped", "resnet34", "resnet152",
                 "vgg19", "inception_v3", "inception_v3_aux", "googlenet_aux", "xception"]:
        assert want in names
    assert set(zoo.list_models("se")) >= {"se_resnet_small", "efficientnet_b0", "mobilenet_v3_small", "regnet_y_400mf"}


def _on_meta(name: str) -> tuple[torch.nn.Module, str, summary.ModelSummary | None]:
    """The zoo model built on the meta device (shapes, no weights, no arithmetic) with its summary, counted once; or
    on the CPU, not yet counted, for a model whose construction or forward pass needs values (RegNet's construction
    copies values)."""
    entry = zoo.get_entry(name)
    try:
        with torch.device("meta"):
            model = entry.builder(num_classes=entry.num_classes)
        return model, "meta", summary.summarize(model, entry.input_size, device="meta")
    except (ValueError, RuntimeError):
        return mweights.get_model(name), "cpu", None


@pytest.mark.slow
@pytest.mark.parametrize("name", TV_MODELS)
def test_params_and_macs_match_torchvision_metadata(name: str) -> None:
    entry = zoo.get_entry(name)
    meta = get_model_weights(entry.tv_name).DEFAULT.meta
    model, _, s = _on_meta(name)
    s = s or summary.summarize(model, entry.input_size)
    assert s.total_params == meta["num_params"]
    # torchvision publishes GFLOPS as multiply-adds rounded to 3 decimals
    assert round(s.total_macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-3)
    assert model.get_submodule(entry.cam_layer) is not None


@pytest.mark.slow
def test_counts_on_the_meta_device_equal_a_real_forward() -> None:
    """The published-count test above counts on the meta device: pinned here against real weights and a real
    forward pass of the same models (row by row), and the real model is the one get_model gives."""
    for name in ("resnet18", "mobilenet_v3_small"):
        entry = zoo.get_entry(name)
        _, device, on_meta = _on_meta(name)
        assert device == "meta" and on_meta is not None
        real = summary.summarize(mweights.get_model(name), entry.input_size)
        assert on_meta.to_rows() == real.to_rows() and on_meta.stages == real.stages
        assert (on_meta.total_params, on_meta.total_macs, on_meta.output_shape) == (
            real.total_params, real.total_macs, real.output_shape)
    assert _on_meta("regnet_y_400mf")[1] == "cpu"  # the one that needs values, counted for real above


def test_lenet5_matches_the_classic_table() -> None:
    s = summary.summarize(mweights.get_model("lenet5"), (1, 32, 32))
    convs_pools = [r.out_shape for r in s.layers if r.type in ("Conv2d", "AvgPool2d")]
    assert convs_pools == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1)]
    assert s.total_params == 61706  # 156 + 2416 + 48120 + 10164 + 850


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("alexnet_227", 227), ("alexnet", 224)])
def test_alexnet_both_geometries_give_the_paper_sizes(name: str, size: int) -> None:
    # torch's own shapes on the meta device (equal to a real forward: test_counts_on_the_meta_device_equal_...)
    with torch.device("meta"):
        model = zoo.build_model(name)
    s = summary.summarize(model, (3, size, size), device="meta")
    spatial = [r.out_shape[1] for r in s.layers if r.type in ("Conv2d", "MaxPool2d")]
    assert spatial == [55, 27, 27, 13, 13, 13, 13, 6]


def test_random_weights_are_seeded_and_leave_global_rng_alone() -> None:
    with torch.random.fork_rng(devices=[]):  # the test's own seeding is undone afterwards
        torch.manual_seed(123)
        before = torch.rand(1)
        torch.manual_seed(123)
        a = mweights.get_model("small_cnn", seed=1)
        after = torch.rand(1)
    b = mweights.get_model("small_cnn", seed=1)
    c = mweights.get_model("small_cnn", seed=2)
    assert torch.equal(before, after)
    assert torch.equal(a.fc.weight, b.fc.weight) and not torch.equal(a.fc.weight, c.fc.weight)


def test_checkpoint_round_trip_and_mismatch(tmp_path) -> None:
    m = mweights.get_model("lenet5", seed=3)
    path = tmp_path / "lenet.pt"
    torch.save(m.state_dict(), path)
    loaded = mweights.get_model("lenet5", weights=path)
    assert torch.equal(loaded.features[0].weight, m.features[0].weight)
    with pytest.raises(ValueError, match="does not fit this model.*wrong shape"):
        mweights.get_model("lenet5", weights=path, num_classes=5)
    with pytest.raises(ValueError, match="does not fit this model"):
        mweights.get_model("small_cnn", weights=path)
    with pytest.raises(ValueError, match="no such file"):
        mweights.get_model("lenet5", weights=tmp_path / "missing.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_checkpoint_with_code_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"x": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(ValueError, match=r"evil.pt, which holds other Python objects \(refused: loading them could "
                                         "run code"):
        mweights.get_model("lenet5", weights=path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="got garbage.pt, which is truncated or not a PyTorch file"):
        mweights.get_model("lenet5", weights=garbage)


def test_pretrained_offline_gives_one_sentence(monkeypatch) -> None:
    import urllib.error

    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(mweights.WeightsUnavailable, match=r"not cached and could not be downloaded.*put resnet18-"):
        mweights.get_model("resnet18", weights="pretrained")
    with pytest.raises(mweights.WeightsUnavailable, match="no published pretrained weights"):
        mweights.get_model("lenet5", weights="pretrained")


def test_pretrained_loads_from_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert not mweights.pretrained_available("mobilenet_v3_small")
    ref = mweights.get_model("mobilenet_v3_small", seed=7)
    target = mweights.pretrained_file("mobilenet_v3_small")
    target.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), target)
    assert mweights.pretrained_available("mobilenet_v3_small")
    m = mweights.get_model("mobilenet_v3_small", weights="pretrained")
    assert torch.equal(m.classifier[-1].weight, ref.classifier[-1].weight)


def test_replace_classifier_and_se_modules() -> None:
    m = mweights.get_model("resnet18")
    zoo.replace_classifier(m, 7)
    assert m.fc.out_features == 7 and m(torch.zeros(1, 3, 64, 64)).shape == (1, 7)
    assert len(zoo.se_modules(mweights.get_model("efficientnet_b0"))) == 16
    assert len(zoo.se_modules(mweights.get_model("mobilenet_v3_small"))) == 9
    assert len(zoo.se_modules(mweights.get_model("regnet_y_400mf"))) == 16


def test_unknown_model_and_bad_classes() -> None:
    with pytest.raises(ValueError, match="expected a model name"):
        mweights.get_model("resnet1000")
    with pytest.raises(ValueError, match="num_classes between"):
        mweights.get_model("lenet5", num_classes=0)
