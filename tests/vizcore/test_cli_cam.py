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
    (["--model", "resnet18", "--image", "chelsea"], "default trained models: small_cnn, se_resnet_small"),
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


_TINY = ["--model", "small_cnn", "--dataset", "shapes", "--train-size", "64", "--val-size", "32", "--epochs", "2", "--batch-size", "32",
         "--device", "cpu"]


def _train(capsys, db, *extra: str) -> dict:
    assert main(["train", "--db", str(db), *_TINY, *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    return err


@pytest.mark.slow
def test_cam_epochs_of_a_run_that_kept_its_epochs(capsys, tmp_path) -> None:
    db = tmp_path / "runs.sqlite"
    summary = _train(capsys, db, "--keep-epochs", "2")
    assert summary["status"] == "done" and summary["kept_epochs"] == [1, 2]
    rid = summary["run_id"]
    out = _json(capsys, "cam-epochs", "--run", rid, "--db", str(db), "--n", "8", "--image-index", "2", "--json")
    assert {k: out[k] for k in ("run_id", "model", "layer", "method", "image_size", "n", "targets", "epochs")} == {
        "run_id": rid, "model": "small_cnn", "layer": "features", "method": "gradcam", "image_size": 32, "n": 8,
        "targets": "true class", "epochs": [1, 2]}
    assert [s["epoch"] for s in out["scores"]] == [1, 2]
    for s in out["scores"]:
        assert 0 <= s["pointing"] <= 1 and 0 <= s["val_acc"] <= 1 and set(s) == {
            "epoch", "val_acc", "accuracy", "pointing", "energy", "empty"}
    assert 0 < out["chance"]["pointing"] == out["chance"]["energy"] < 1
    img = out["image"]
    assert img["index"] == 2 and img["class_name"] and set(img["maps"]) == {"1", "2"}
    assert torch.tensor(img["maps"]["2"]).shape == (16, 16) and img["map_side"] == 16

    assert main(["runs", "--db", str(db), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing[0]["kept_epochs"] == [1, 2]
    by_dir = _json(capsys, "cam-epochs", "--epochs-dir", str(tmp_path / "checkpoints" / f"{rid}_epochs"), "--n", "8",
                   "--json")
    assert by_dir["run_id"] == rid and by_dir["scores"] == out["scores"]


@pytest.mark.slow
def test_cam_epochs_errors_exit_2_with_one_line(capsys, tmp_path) -> None:
    db = tmp_path / "runs.sqlite"
    rid = _train(capsys, db)["run_id"]  # keep_epochs off (the default)
    assert re.search(r"expected a run with kept epoch weights \(train with --keep-epochs E\), got run "
                     rf"{rid} \(done, keep_epochs 0", _error(capsys, "cam-epochs", "--run", rid, "--db", str(db)))
    assert "expected a stored run id" in _error(capsys, "cam-epochs", "--run", "nosuchrun", "--db", str(db))
    assert "(none there)" in _error(capsys, "cam-epochs", "--epochs-dir", str(tmp_path))
    own = tmp_path / "own"
    summary = _train(capsys, db, "--keep-epochs", "1", "--epochs-dir", str(own))
    assert sorted(p.name for p in own.iterdir()) == ["epoch_002.pt", "epoch_002.pt.json"]
    assert "--n between 1 and 1000" in _error(capsys, "cam-epochs", "--epochs-dir", str(own), "--n", "0")
    assert "image index in [0, 4)" in _error(capsys, "cam-epochs", "--run", summary["run_id"], "--db", str(db),
                                             "--n", "4", "--image-index", "4")
    assert "expected methods from" in _error(capsys, "cam-epochs", "--epochs-dir", str(own), "--method", "lime")
    assert "holding 1 (e.g. epoch_002.pt) from another run" in _error(
        capsys, "train", "--db", str(db), *_TINY, "--keep-epochs", "1", "--epochs-dir", str(own))
    assert "expected --keep-epochs E > 0 with --epochs-dir" in _error(
        capsys, "train", "--db", str(db), *_TINY, "--epochs-dir", str(tmp_path / "new"))
