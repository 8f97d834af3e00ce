"""The classics as their papers drew them, and the architectures the notes name: counts against the papers' own
figures and torchvision's, layers against the papers' formulas. Large models are counted on the meta device."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import get_model_weights

from vizcore.arch.summary import summarize
from vizcore.models import classic
from vizcore.models import registry as zoo


def _meta_summary(name: str):
    entry = zoo.get_entry(name)
    with torch.device("meta"):
        model = entry.builder(num_classes=entry.num_classes).eval()
    return summarize(model, entry.input_size, device="meta")


def test_lenet5_paper_has_the_papers_60000_trainable_parameters() -> None:
    s = summarize(zoo.build_model("lenet5_paper"), (1, 32, 32))
    assert s.trainable_params == s.total_params == 60_000
    by_layer: dict[str, int] = {}
    for r in s.layers:
        key = "C3" if r.name.startswith("features.4.") else r.name
        by_layer[key] = by_layer.get(key, 0) + r.params
    # §II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164
    assert [by_layer[k] for k in ("features.0", "features.2", "C3", "features.6", "features.8", "f6.1")] == [
        156, 12, 1516, 32, 48120, 10164]
    maps = [r.out_shape for r in s.layers if r.name in ("features.0", "features.2", "features.6", "features.8")]
    assert maps == [(6, 28, 28), (6, 14, 14), (16, 5, 5), (120, 1, 1)]
    # C3: 151,600 connections (§II.B) = 1,516 weights and biases × 100 positions; without the biases 150,000 MACs
    assert sum(r.macs for r in s.layers if r.name.startswith("features.4.")) == 151_600 - 16 * 100
    assert s.output_shape == (10,)


def test_c3_connection_table_is_table_one() -> None:
    """§II.B: the first six C3 maps read every contiguous triple of S2 maps, the next six every contiguous
    quadruple, the next three some non-contiguous quadruples, the last all six; every S2 map feeds ten C3 maps."""
    ins = classic.c3_inputs()

    def contiguous(s: tuple[int, ...]) -> bool:
        return any(set(s) == {(a + i) % 6 for i in range(len(s))} for a in range(6))

    assert sorted(ins[:6]) == sorted(tuple(sorted((a + i) % 6 for i in range(3))) for a in range(6))
    assert sorted(ins[6:12]) == sorted(tuple(sorted((a + i) % 6 for i in range(4))) for a in range(6))
    assert all(len(s) == 4 and not contiguous(s) for s in ins[12:15]) and ins[15] == tuple(range(6))
    assert [sum(r in s for s in ins) for r in range(6)] == [10] * 6


def test_lenet5_paper_layers_follow_the_papers_formulas() -> None:
    m = zoo.build_model("lenet5_paper")
    x = torch.randn(2, 6, 14, 14)
    s2 = classic.Subsample(6)
    with torch.no_grad():
        s2.weight.copy_(torch.arange(1.0, 7.0))
        s2.bias.fill_(0.5)
        want = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2)) * torch.arange(1.0, 7.0).view(1, 6, 1, 1) + 0.5
        assert torch.allclose(s2(x), want, atol=1e-5)
        # the RBF output: minus the squared distance to fixed ±1 centres, which are buffers, not parameters
        f = torch.randn(3, 84)
        assert torch.allclose(m.output(f), -torch.cdist(f, m.output.weight) ** 2, atol=1e-3)
        assert set(m.output.weight.unique().tolist()) == {-1.0, 1.0} and m.output.weight.shape == (10, 84)
        assert "output.weight" not in dict(m.named_parameters())
        # f(a) = 1.7159 tanh(2a/3): f(1) = 1 (Appendix A)
        assert classic.ScaledTanh()(torch.tensor([1.0])).item() == pytest.approx(1.0, abs=1e-4)


def test_lenet5_paper_head_can_be_replaced() -> None:
    m = zoo.build_model("lenet5_paper")
    assert zoo.classifier_path(m) == "output"
    zoo.replace_classifier(m, 12)
    assert m(torch.zeros(1, 1, 32, 32)).shape == (1, 12)


@pytest.mark.parametrize("name,params", [("alexnet_paper", 62_378_344), ("alexnet_paper_grouped", 60_965_224)])
def test_alexnet_paper_counts_and_maps(name: str, params: int) -> None:
    s = _meta_summary(name)
    g = 2 if name.endswith("grouped") else 1
    # the paper's layers by hand: (K·K·C_in/groups + 1)·C_out for each conv, (in + 1)·out for each fc
    convs = [(11, 3, 96, 1), (5, 96, 256, g), (3, 256, 384, 1), (3, 384, 384, g), (3, 384, 256, g)]
    fcs = [(9216, 4096), (4096, 4096), (4096, 1000)]
    assert s.total_params == params == sum((k * k * i // gr + 1) * o for k, i, o, gr in convs) + sum(
        (i + 1) * o for i, o in fcs)
    assert [r.out_shape[1] for r in s.layers if r.type in ("Conv2d", "MaxPool2d")] == [55, 27, 27, 13, 13, 13, 13, 6]
    assert [r.out_shape[0] for r in s.layers if r.type == "Conv2d"] == [96, 256, 384, 384, 256]
    assert sum(r.type == "LocalResponseNorm" for r in s.layers) == 2


def test_alexnet_lrn_is_the_papers_formula() -> None:
    """§3.3: b = a / (k + α Σ a²)^β over n = 5 adjacent maps, k = 2, α = 1e-4, β = 0.75 (PyTorch divides α by n)."""
    lrn = classic.paper_lrn()
    with torch.device("meta"):
        used = [m for m in zoo.build_model("alexnet_paper").modules() if isinstance(m, torch.nn.LocalResponseNorm)]
    assert [repr(m) for m in used] == [repr(lrn)] * 2
    a = torch.randn(1, 8, 3, 3) * 30
    sq = torch.nn.functional.pad(a * a, (0, 0, 0, 0, 2, 2))
    sums = torch.stack([sq[:, i:i + 5].sum(1) for i in range(8)], 1)
    assert torch.allclose(lrn(a), a / (2.0 + 1e-4 * sums) ** 0.75, rtol=1e-5)


def test_xception_matches_the_paper() -> None:
    s = _meta_summary("xception")
    assert s.total_params == 22_855_952  # Chollet 2017, §4.5 / Table 3
    sizes = [r.out_shape[1] for r in s.layers if r.type in ("Conv2d", "MaxPool2d") and len(r.out_shape) == 3]
    assert sorted(set(sizes), reverse=True) == [149, 147, 74, 37, 19, 10]
    depthwise = [r for r in s.layers if r.type == "Conv2d" and r.groups == r.in_shape[0] > 1]
    assert len(depthwise) == 2 + 2 + 2 + 8 * 3 + 2 + 2  # entry 3×2, middle 8×3, exit 2 + 2 separable convs


@pytest.mark.slow
def test_auxiliary_heads_are_shown_and_counted() -> None:
    inc = _meta_summary("inception_v3_aux")
    pub = get_model_weights("inception_v3").DEFAULT.meta
    aux = [r for r in inc.layers if r.name.startswith("AuxLogits.")]
    # Mixed_6e (768 × 17 × 17) -> avg pool 5/3 -> 5×5 -> 1×1 conv 128 -> 5×5 conv 768 -> fc 1000
    assert sum(r.macs for r in aux) == 768 * 128 * 25 + 128 * 768 * 25 + 768 * 1000
    assert inc.total_params == pub["num_params"]
    assert inc.total_macs == _meta_summary("inception_v3").total_macs + sum(r.macs for r in aux)
    goo = _meta_summary("googlenet_aux")
    with torch.device("meta"):
        tv = torchvision.models.googlenet(aux_logits=True, init_weights=True)
    assert goo.total_params == sum(p.numel() for p in tv.parameters())
    assert {r.name.split(".")[0] for r in goo.layers} >= {"aux1", "aux2"}
    with torch.device("meta"):
        model = zoo.build_model("googlenet_aux")
        out = model(torch.zeros(1, 3, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1000) and not model.training
