"""`python -m vizcore cam`: the map of one image, localisation and sanity check as JSON; bad input exits 2."""
from __future__ import annotations

import json
import re

import pytest
import torch

from vizcore.cli.main import main


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # 32x32 model: one thread is faster than two contending ones
    yield
    torch.set_num_threads(n)


def _json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_map_of_a_shapes_image_with_its_localisation(capsys) -> None:
    out = _json(capsys, "cam", "--image", "shapes:2", "--method", "gradcam", "--json")
    assert out["model"] == "small_cnn" and out["layer"] == "features" and out["map_shape"] == [32, 32]
    probs = [p["probability"] for p in out["predictions"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and out["target"] == out["predictions"][0]["class"]
    grid = torch.tensor(out["map"])
    assert grid.shape == (16, 16) and float(grid.max()) <= 1.0
    r, c = out["peak"]
    assert 0 <= r < 32 and 0 <= c < 32
    loc = out["localisation"]
    assert loc["n"] == 1 and loc["pointing"] in (0.0, 1.0) and 0 < loc["energy_chance"] < 1


def test_localisation_and_sanity(capsys) -> None:
    out = _json(capsys, "cam", "--localisation", "--n", "10", "--methods", "gradcam,saliency", "--json")
    assert set(out["localisation"]) == {"gradcam", "saliency"} and out["targets"] == "true class"
    g = out["localisation"]["gradcam"]
    assert g["n"] == 10 and g["pointing_chance"] == g["energy_chance"]
    out = _json(capsys, "cam", "--sanity", "--image", "shapes:0", "--methods", "gradcam", "--steps", "2", "--json")
    s = out["sanity"]["gradcam"]
    assert s["blocks"][0] == "trained" and len(s["spearman"]) == 3 and s["spearman"][0] == 1.0


@pytest.mark.parametrize("argv, message", [
    (["--image", "no_such_photo"], "expected a sample photo"),
    (["--image", "shapes:x"], "shapes:INDEX with an integer index"),
    (["--model", "resnet18", "--image", "chelsea"], "only small_cnn has a default trained model"),
    (["--image", "chelsea", "--layer", "fc"], "spatial feature maps"),
    (["--image", "chelsea", "--target", "12"], r"target classes in \[0, 10\)"),
    (["--image", "chelsea", "--method", "lime"], "expected methods from"),
    (["--localisation", "--n", "0"], "--n between 1 and 5000"),
    ([], "expected --image"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv: list[str], message: str) -> None:
    assert main(["cam", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(message, err), err
