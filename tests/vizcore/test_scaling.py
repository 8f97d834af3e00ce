"""EfficientNet compound scaling: B1-B4 rebuilt from B0's table match torchvision's published totals."""
from __future__ import annotations

import pytest

from vizcore.arch import scaling as S
from vizcore.models import efficientnet_small, resnet_tweaks


@pytest.mark.parametrize("name", ["b0", "b1", "b2", "b3", "b4"])
def test_b0_scaled_by_the_table_reproduces_torchvision(name: str) -> None:
    params, gmacs, crop = S.torchvision_totals(name)
    w, d, _, _ = S.EFFICIENTNET_TABLE[name]
    ours = S.scale_b0(w, d, crop)  # at torchvision's evaluation crop (B2: 288 px)
    assert ours.params == params
    assert round(ours.macs / 1e9, 3) == pytest.approx(gmacs, abs=1e-3)


def test_compound_coefficient() -> None:
    d, w, r = S.multipliers(2.0)
    assert (d, w, r) == (pytest.approx(1.44), pytest.approx(1.21), round(224 * 1.15 ** 2))
    assert S.flops_factor() == pytest.approx(1.2 * 1.1 ** 2 * 1.15 ** 2)  # ≈ 2, as the paper constrains
    s0, s1 = S.scale_phi(0.0), S.scale_phi(1.0)
    assert s0.params == S.torchvision_totals("b0")[0]
    assert 1.6 < s1.macs / s0.macs < 2.8  # one step of φ roughly doubles the cost (channel rounding aside)
    assert s1.layers == tuple(-(-n * 1.2 // 1) for *_, n in S.B0_STAGES)  # ceil(n · α)


@pytest.mark.parametrize("kwargs, match", [
    (dict(phi=-1.0), "phi between 0.0 and 8.0"), (dict(phi=float("nan")), "phi between"),
    (dict(phi=1.0, alpha=0.5), "alpha between 1.0 and 2.0"),
])
def test_bad_coefficients_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        S.multipliers(**kwargs)
    with pytest.raises(ValueError, match="EfficientNet name"):
        S.published("b9")


@pytest.mark.parametrize("w, d, r, classes", [(1.1, 1.2, 260, 1000), (0.35, 0.5, 97, 10), (2.3, 0.1, 33, 1000)])
def test_counted_cost_equals_the_built_model_on_the_meta_device(w: float, d: float, r: int, classes: int) -> None:
    # the layer-table count against torch's own FLOP counter on the model torchvision builds from the same table
    # (odd sides: the strided convs' rounding; width 0.35: channels rounded up to 8; depth 0.1: one block a stage)
    built = S.meta_cost(lambda: S.build_b0_scaled(w, d, num_classes=classes), (3, r, r))
    assert S._b0_cost(w, d, r, classes) == built


@pytest.mark.parametrize("build, size", [
    (lambda: resnet_tweaks.resnet50_form("d"), 224),
    (lambda: S.build_b0_scaled(1.1, 1.2, num_classes=10), 65),
    (lambda: efficientnet_small.family_member(3, num_classes=10), 32),
])
def test_meta_cost_without_the_uncounted_layers_equals_the_whole_models_count(build, size: int) -> None:
    # meta_cost takes normalisation and activations out before counting: torch's counter, run on the whole model
    # (BatchNorm decomposed, every activation dispatched), gives the same multiply-adds; parameters are counted first
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        whole = build().eval()
        x = torch.empty(1, 3, size, size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        whole(x)
    assert any(isinstance(m, S._UNCOUNTED) for m in whole.modules())  # there was something to take out
    assert S.meta_cost(build, (3, size, size)) == (sum(p.numel() for p in whole.parameters()),
                                                   counter.get_total_flops() // 2)
