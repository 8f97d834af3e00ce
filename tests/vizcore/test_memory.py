"""Memory figures and the depthwise-separable cost: Géron's worked example, torch's own output sizes, an independent
count of every leaf module's output, and the MobileNets cost ratio."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vizcore.arch.geometry import ConvGeometry, explain, separable_cost
from vizcore.arch.memory import training_memory
from vizcore.arch.summary import summarize
from vizcore.cli.main import main
from vizcore.core.hooks import leaf_output_numel
from vizcore.models import registry as zoo


def _cli(capsys, *args: str) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_hands_on_ml_example_from_the_cli(capsys) -> None:
    """Hands-On ML, ch. 14: 5×5, 200 maps, 150×100 RGB, "same": 15,200 parameters, 225 million multiplications,
    12 MB of float32 output per instance, 1.2 GB for a batch of 100."""
    out = _cli(capsys, "outsize", "--input", "150x100", "--kernel", "5", "--in-channels", "3", "--out-channels", "200",
               "--padding", "same", "--batch", "100")
    assert (out["params"], out["macs"], out["output_bytes"]) == (15_200, 225_000_000, 12_000_000)
    assert out["batch_output_bytes"] == 1_200_000_000
    conv = nn.Conv2d(3, 200, 5, padding="same", device="meta")  # torch's own output and parameter count
    y = conv(torch.empty(1, 3, 150, 100, device="meta"))
    assert y.numel() * 4 == out["output_bytes"] and sum(p.numel() for p in conv.parameters()) == out["params"]


def test_layer_output_bytes_are_torchs_output_sizes() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16 * 16, 5))
    s = summarize(m, (3, 67, 67))
    x = torch.zeros(1, 3, 67, 67)
    sizes = []
    for layer in m:
        x = layer(x)
        sizes.append(x.numel() * 4)
    assert [r.output_bytes for r in s.layers] == sizes and s.activation_bytes == sum(sizes)
    assert explain(ConvGeometry(67, 67, 3, 2, 0, in_channels=3, out_channels=8)).output_bytes == sizes[0]


@pytest.mark.slow
def test_resnet50_activation_bytes_equal_an_independent_count(capsys) -> None:
    """`summary --model resnet50 --json`: activation_bytes = Σ leaf outputs × 4 for one 224×224 image, counted here
    with the test's own forward hooks (and with core.hooks.leaf_output_numel, the trainer's count)."""
    out = _cli(capsys, "summary", "--model", "resnet50", "--batch", "8", "--optimizer", "adam")
    with torch.device("meta"):
        model = zoo.build_model("resnet50")
        x = torch.empty(1, 3, 224, 224)
    seen: list[int] = []
    leaves = [m for m in model.modules() if len(list(m.children())) == 0]
    handles = [m.register_forward_hook(lambda _m, _i, o: seen.append(o.numel())) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    assert out["activation_bytes"] == out["totals"]["activation_bytes"] == 4 * sum(seen)
    assert out["activation_bytes"] == 4 * leaf_output_numel(model, lambda: model(x))[0]
    assert sum(r["output_bytes"] for r in out["layers"]) == out["activation_bytes"]
    mem = out["training_memory"]
    params = 25_557_032  # torchvision's published count
    assert mem["activations"] == 8 * out["activation_bytes"]
    assert mem["parameters"] == mem["gradients"] == 4 * params and mem["optimizer_state"] == 8 * params
    assert mem["total"] == mem["activations"] + 16 * params


def test_training_memory_by_optimizer_and_frozen_layers() -> None:
    sgd = training_memory(1000, 10, 10, batch=4, optimizer="sgd")
    assert (sgd.activations, sgd.parameters, sgd.gradients, sgd.optimizer_state, sgd.total) == (4000, 40, 40, 0, 4080)
    frozen = training_memory(1000, 10, 4, batch=1, optimizer="momentum")
    assert (frozen.gradients, frozen.optimizer_state) == (16, 16)
    with pytest.raises(ValueError, match="expected an optimizer in sgd, momentum, adam, got 'lbfgs'"):
        training_memory(1, 1, 1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="expected batch as a whole number between 1"):
        training_memory(1, 1, 1, batch=0)
    with pytest.raises(ValueError, match="at most 1 trainable"):
        training_memory(1, 1, 2)


def test_separable_cost_against_torch_layers(capsys) -> None:
    """MobileNets §3.1: ratio 1/(1/C_out + 1/K²) — 8.7× at 256 maps (3×3); a narrow output makes it dearer."""
    wide = separable_cost(256, 256, 3, 14, 14)
    assert round(wide.ratio, 1) == 8.7
    std = nn.Conv2d(256, 256, 3, padding=1, bias=False)
    sep = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1, groups=256, bias=False), nn.Conv2d(256, 256, 1, bias=False))
    assert wide.standard_params == sum(p.numel() for p in std.parameters())
    assert wide.separable_params == sum(p.numel() for p in sep.parameters())
    s_std, s_sep = summarize(std, (256, 14, 14), device="meta"), summarize(sep, (256, 14, 14), device="meta")
    assert (wide.standard_macs, wide.separable_macs) == (s_std.total_macs, s_sep.total_macs)
    narrow = separable_cost(3, 1, 3, 1, 1)  # 3 input maps to one: 27 + 3 = 30 against 27
    assert narrow.separable_macs / narrow.standard_macs == pytest.approx(1.11, abs=0.005)
    out = _cli(capsys, "outsize", "--input", "14", "--kernel", "3", "--padding", "1", "--in-channels", "256",
               "--out-channels", "256", "--separable")
    assert out["separable"]["separable_macs"] == wide.separable_macs
    assert main(["outsize", "--input", "14", "--kernel", "3", "--groups", "2", "--in-channels", "4",
                 "--out-channels", "4", "--separable"]) == 2
    assert "expected --separable with a convolution of groups 1" in capsys.readouterr().err


@pytest.mark.slow
def test_named_classics_from_the_cli(capsys) -> None:
    alex = _cli(capsys, "summary", "--model", "alexnet_paper")
    assert alex["totals"]["params"] == 62_378_344
    maps = [r["out_shape"][1] for r in alex["layers"] if r["type"] in ("Conv2d", "MaxPool2d")]
    assert maps == [55, 27, 27, 13, 13, 13, 13, 6]
    lenet = _cli(capsys, "summary", "--model", "lenet5_paper")
    assert lenet["totals"]["trainable_params"] == 60_000
