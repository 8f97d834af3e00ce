"""ResNet-A/B/C/D (Bag of Tricks §4, Fig. 2; totals of Table 5) and their small 32×32 forms."""
from __future__ import annotations

import pytest
import torch
from torchvision.models import ResNet50_Weights
from torchvision.models.resnet import Bottleneck

from vizcore.arch import receptive_field as rf
from vizcore.arch.scaling import meta_cost
from vizcore.models import registry as zoo
from vizcore.models import resnet_tweaks as T

# Table 5 (He et al., 2019): ResNet-50 3.9 / ResNet-50-B 4.1 / -C 4.3 / -D 4.3 G multiply-adds, ~25.6 M parameters.
PAPER_GMACS = {"a": 3.9, "b": 4.1, "c": 4.3, "d": 4.3}


@pytest.mark.parametrize("form", T.FORMS)
def test_resnet50_forms_match_table_5(form: str) -> None:
    params, macs = meta_cost(lambda: T.resnet50_form(form), (3, 224, 224))
    assert round(macs / 1e9, 1) == PAPER_GMACS[form]
    assert round(params / 1e6, 1) == 25.6
    if form in ("a", "b"):  # same layers, only a stride moves: torchvision's published count
        assert params == ResNet50_Weights.DEFAULT.meta["num_params"]
    else:  # the 7x7x3x64 stem becomes 3x3 convs 3->32->32->64 with two BatchNorm2d(32) between them
        assert params == ResNet50_Weights.DEFAULT.meta["num_params"] - 7 * 7 * 3 * 64 + 9 * (3 * 32 + 32 * 32 + 32 * 64) + 4 * 32


@pytest.mark.slow
def test_form_b_is_torchvisions_resnet50_and_a_moves_the_stride() -> None:
    b = zoo.build_model("resnet50_b")
    assert b.layer2[0].conv2.stride == (2, 2) and b.layer2[0].conv1.stride == (1, 1)
    a = zoo.build_model("resnet50_a")
    assert a.layer2[0].conv1.stride == (2, 2) and a.layer2[0].conv2.stride == (1, 1)
    d = zoo.build_model("resnet50_d")
    assert isinstance(d.layer2[0].downsample[0], torch.nn.AvgPool2d) and d.layer2[0].downsample[1].stride == (1, 1)
    assert not isinstance(d.layer1[0].downsample[0], torch.nn.AvgPool2d)  # layer1 does not down-sample
    assert len(d.conv1) == 7  # three convs with BN + ReLU between them


def test_shapes_are_the_same_in_every_form() -> None:
    shapes = set()
    for f in T.FORMS:
        m = T.SmallBottleneckResNet(10, f).eval()
        with torch.no_grad():
            shapes.add(tuple(m.layer3(m.layer2(m.layer1(m.relu(m.bn1(m.conv1(torch.zeros(1, 3, 32, 32))))))).shape))
    assert shapes == {(1, 256, 8, 8)}


def test_form_d_shortcut_is_offset_by_half_a_pixel() -> None:
    """The 2x2 average pool of ResNet-D's shortcut is centred half a pixel away from the strided 3x3 path:
    the analytic field flags the merge as not aligned, which forms A-C are."""
    for f in ("a", "b", "c"):
        assert all(n.aligned for n in rf.zoo_fields(f"resnet_small_{f}").nodes), f
    d = rf.zoo_fields("resnet_small_d")
    first_bad = next(n for n in d.nodes if not n.aligned)
    assert first_bad.op in ("add", "iadd") and all(n.aligned for n in d.nodes if n.node.startswith("layer1"))


@pytest.mark.slow
def test_small_forms_train_a_step_and_refuse_unknown_forms() -> None:
    m = zoo.build_model("resnet_small_d", num_classes=3).train()
    loss = torch.nn.functional.cross_entropy(m(torch.rand(4, 3, 32, 32)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    assert sum(isinstance(x, Bottleneck) for x in m.modules()) == 6
    with pytest.raises(ValueError, match="expected a ResNet form in a, b, c, d"):
        T.resnet50_form("e")
