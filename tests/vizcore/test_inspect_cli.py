"""The inspect commands: JSON numbers equal the library's; bad arguments exit 2 with one line."""
from __future__ import annotations

import json

import pytest

from vizcore.cli.main import main
from vizcore.inspect import se
from vizcore.models import registry as zoo


def _json(capsys, *args: str):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_se_command_gives_one_record_per_block_in_forward_order(capsys) -> None:
    out = _json(capsys, "se", "--model", "se_resnet_small", "--image", "coffee")
    model = zoo.build_model("se_resnet_small")
    assert [r["block"] for r in out] == zoo.se_modules(model)
    assert [len(r["excitation"]) for r in out] == [r["channels"] for r in out] == [32, 32, 64, 64, 128, 128]
    assert all(0 <= v <= 1 for r in out for v in r["excitation"])


def test_activations_and_filters_commands(capsys) -> None:
    out = _json(capsys, "activations", "--model", "small_cnn", "--node", "features.2", "--image", "coffee")
    assert out["shape"] == [32, 32, 32] and out["weights"] == "random (untrained)"
    assert all(0 <= c["zero_fraction"] <= 1 and c["max"] >= c["mean"] for c in out["channels"])
    f = _json(capsys, "filters", "--model", "small_cnn", "--layer", "features.4")
    w = zoo.build_model("small_cnn").features[4].weight.detach()
    assert f["shape"] == [64, 32, 3, 3]
    assert f["norms"] == pytest.approx(w.flatten(1).norm(dim=1).tolist(), rel=1e-5)


@pytest.mark.parametrize(("args", "message"), [
    (["se", "--model", "small_cnn"], "squeeze-and-excitation"),
    (["se", "--model", "se_resnet_small", "--n", "0", "--by-class"], "between 1 and 200"),
    (["top-patches", "--model", "small_cnn", "--node", "features.2", "--channel", "0", "--k", "500"], "k between"),
    (["activations", "--model", "small_cnn", "--node", "fc"], "spatial map"),
    (["filters", "--model", "resnet18", "--weights", "trained"], "--weights trained only"),
    (["activations", "--model", "small_cnn", "--node", "features.2", "--image", "/nonexistent.png"], "sample photo"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_blocks_report_their_parameter_cost() -> None:
    b = se.blocks(zoo.build_model("se_resnet_small"))[-1]
    assert (b.channels, b.squeeze, b.gate) == (128, 16, "Sigmoid")
    assert b.params == 2 * 128 * 16 + 16 + 128 == sum(p.numel() for p in zoo.build_model("se_resnet_small")
                                                      .layer3[1].se.parameters())



def test_default_models_are_named_per_architecture(tmp_path, monkeypatch) -> None:
    from vizcore.lab import default_model as dm

    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    assert dm.default_model_path("se_resnet_small").name == "default_se_resnet_small_shapes.pt"
    assert dm.shipped_path("small_cnn") == dm.SHIPPED_DEFAULT
    assert dm.DEFAULT_CONFIGS["se_resnet_small"].model == "se_resnet_small"
    with pytest.raises(ValueError, match="expected a default model"):
        dm.default_model(model="resnet18")
