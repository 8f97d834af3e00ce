"""Shape-only passes on the meta device (vizcore.core.meta): batch norm gives torch's shapes without torch's
decomposition, and whatever torch refuses is still refused in torch's words; models built with initialisation's
fills skipped (on_meta) have exactly the parameters and buffers of models built on plain meta (their counts:
tests/vizcore/test_scaling.py compares meta_cost with the whole model's count)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizcore.core.meta import on_meta, shape_only


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


def test_batch_norm_keeps_torchs_shape_and_leaves_other_devices_alone() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(1),
                              nn.LazyLinear(4), nn.BatchNorm1d(4)).eval()
    x = _meta(2, 3, 17, 17)
    plain = model(x)
    with shape_only():
        fast = model(x)
        real = nn.BatchNorm2d(3).eval()(torch.ones(1, 3, 2, 2))  # a CPU tensor: computed by torch
    assert fast.shape == plain.shape == (2, 4) and fast.is_meta and fast.dtype == plain.dtype
    assert torch.equal(real, torch.ones(1, 3, 2, 2) / (1 + 1e-5) ** 0.5)
    with shape_only():  # no running statistics: normalised with the batch's own (training=True in torch's terms)
        assert F.batch_norm(_meta(4, 3, 5, 5), None, None, training=True).shape == (4, 3, 5, 5)


@pytest.mark.parametrize("call, match", [
    (lambda: nn.BatchNorm2d(3, device="meta").eval()(_meta(1, 4, 5, 5)), "running_mean should contain 4 elements"),
    (lambda: nn.BatchNorm2d(3, device="meta").train()(_meta(1, 3, 1, 1)), "more than 1 value per channel"),
    (lambda: nn.BatchNorm2d(3, device="meta").eval()(_meta(3, 5, 5)), "expected 4D input"),
    (lambda: F.batch_norm(_meta(2, 3, 4, 4), None, None, training=False), "running_mean must be defined"),
])
def test_what_torch_refuses_is_refused_in_torchs_words(call, match: str) -> None:
    with pytest.raises((RuntimeError, ValueError)) as plain:
        call()
    with shape_only(), pytest.raises(type(plain.value), match=match) as fast:
        call()
    assert str(fast.value) == str(plain.value)


# a branching torchvision model (DenseNet: kaiming_normal_ and constant_ fills), one with uniform_ and zeros_ fills
# (EfficientNet-B0's classifier) and the default recipe's model (its whitened stem is set later, from data)
ON_META_MODELS = ("densenet121", "efficientnet_b0", "fast_cnn")


@pytest.mark.parametrize("name", ON_META_MODELS)
def test_on_meta_builds_the_same_model_as_plain_meta(name: str) -> None:
    from vizcore.models import registry as zoo

    with torch.device("meta"):
        plain = zoo.build_model(name)
    with on_meta():
        fast = zoo.build_model(name)
    shapes = lambda m: [(k, tuple(v.shape), v.dtype) for k, v in m.state_dict().items()]  # noqa: E731
    assert shapes(fast) == shapes(plain) and all(p.is_meta for p in fast.parameters())


def test_on_meta_fills_real_tensors_as_torch_does() -> None:
    with on_meta():
        lin = nn.Linear(3, 2, device="cpu")  # a real tensor made inside the block is initialised as usual
        ones = torch.ones(2, device="cpu").mul_(3)
        meta = torch.empty(4, 5).normal_()
    assert not lin.weight.is_meta and lin.weight.abs().sum() > 0 and torch.equal(ones, torch.full((2,), 3.0))
    assert meta.is_meta and meta.shape == (4, 5)
