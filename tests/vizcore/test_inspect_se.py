"""SE gates: shapes and range, equality with the module's own computation, ablation = SE removed, specificity."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vizcore.inspect import capture, se
from vizcore.models import registry as zoo


@pytest.mark.parametrize("name", ["se_resnet_small", "mobilenet_v3_small"])
def test_gates_have_the_modules_channel_count_lie_in_unit_interval_and_equal_the_module(name: str) -> None:
    model = zoo.build_model(name, seed=0)
    size = zoo.get_entry(name).input_size[1]
    size = min(size, 96)  # a smaller input is enough for MobileNetV3 and keeps the test fast
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    ex = se.excitations(model, x)
    paths = zoo.se_modules(model)
    assert list(ex.gates) == paths and len(paths) == {"se_resnet_small": 6, "mobilenet_v3_small": 9}[name]
    for p in paths:
        m = model.get_submodule(p)
        g = ex.gates[p]
        assert g.shape == (2, m.fc1.in_channels)
        assert float(g.min()) >= 0.0 and float(g.max()) <= 1.0
    # the gates equal the block's own scale computed from its captured input
    p = paths[-1]
    before, after, gates = se.before_after(model, x[:1], p)
    m = model.get_submodule(p)
    with torch.no_grad():
        want = m._scale(before[None])[0, :, 0, 0]
    torch.testing.assert_close(gates, want)
    torch.testing.assert_close(after, before * gates[:, None, None])
    assert capture.hook_count(model) == 0


def test_ablation_with_gates_one_equals_the_model_with_se_removed() -> None:
    model = zoo.build_model("se_resnet_small", seed=2)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    chosen = ["layer1.1.se", "layer3.0.se"]
    got = se.predict(model, x, se.ablation(chosen, "one"))
    stripped = copy.deepcopy(model)
    for p in chosen:
        parent, _, attr = p.rpartition(".")
        setattr(stripped.get_submodule(parent), attr, nn.Identity())
    with torch.no_grad():
        want = stripped.eval()(x)
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, se.predict(model, x))  # the ablation does change the output
    assert capture.hook_count(model) == 0
    # mean mode: the gates become the given constants
    means = {p: torch.full((model.get_submodule(p).fc1.in_channels,), 0.25) for p in chosen}
    ex = se.excitations(model, x, se.ablation(chosen, "mean", means))
    assert torch.equal(ex.gates["layer1.1.se"], torch.full((3, 32), 0.25))
    with pytest.raises(ValueError, match="expected data-set mean gates"):
        se.ablation(chosen, "mean")


def test_specificity_is_one_for_class_determined_gates_and_near_zero_for_noise() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 4
    per_class = torch.rand(4, 16, generator=g)
    assert se.specificity(per_class[labels], labels) == pytest.approx(1.0)
    noise = torch.rand(200, 16, generator=g)
    eta2 = se.specificity(noise, labels, adjusted=False)
    assert eta2 == pytest.approx(3 / 199, abs=0.03)  # chance level (K-1)/(N-1)
    assert se.specificity(noise, labels) < 0.02


@pytest.mark.slow
def test_by_class_groups_stages_and_refuses_models_without_se() -> None:
    model = zoo.build_model("se_resnet_small", seed=0)
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(12) % 3
    res, means = se.by_class(model, images, labels, ("a", "b", "c"), lambda b: b.float() / 255, batch_size=5)
    assert [a.stage for a in res] == [1, 1, 2, 2, 3, 3]
    assert res[0].class_means.shape == (3, 32) and means["layer3.1.se"].shape == (128,)
    assert 0.3 < res[0].mean_gate < 0.7  # untrained: gates near 0.5
    with pytest.raises(ValueError, match="squeeze-and-excitation"):
        se.blocks(zoo.build_model("small_cnn"))
