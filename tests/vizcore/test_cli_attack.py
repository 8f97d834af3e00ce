"""`python -m vizcore attack` and ``--weights run:RUN_ID``: JSON equal to the library's numbers on the same images,
the sweep, the export file, a stored run's checkpoint; every bad input exits 2 with one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vizcore.cli.main import main
from vizcore.robust.attacks import attack


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _images(n: int, seed: int):
    from vizcore.inspect.top_patches import load_labelled

    ds = load_labelled("shapes", n, 32, seed=seed, per_class=False)
    return ds.images.float() / 255, ds.labels


@pytest.fixture(scope="module")
def trained():
    from vizcore.lab.default_model import default_model
    from vizcore.models.weights import load_trained

    return load_trained(default_model(model="small_cnn"), model="small_cnn")


def test_attack_json_equals_the_library_on_the_same_images(capsys, trained) -> None:
    out = _json(capsys, "attack", "--method", "pgd", "--eps", "8/255", "--steps", "3", "--n", "12", "--seed", "4",
                "--json")
    assert {"model", "weights", "method", "norm", "eps", "steps", "n", "clean_accuracy",
            "adversarial_accuracy"} <= set(out)
    assert out["model"] == "small_cnn" and out["norm"] == "linf" and out["steps"] == 3 and out["n"] == 12
    assert out["eps"] == pytest.approx(8 / 255) and out["weights"].startswith("trained on shapes")
    x, y = _images(12, 4)
    r = attack(trained, "small_cnn", x, y, method="pgd", eps=8 / 255, steps=3)
    assert out["clean_accuracy"] == r.clean_accuracy and out["adversarial_accuracy"] == r.adversarial_accuracy


def test_sweep_targeted_min_eps_and_export(capsys, tmp_path: Path, trained) -> None:
    out = _json(capsys, "attack", "--method", "fgsm", "--eps", "0,0.01,0.05", "--n", "8", "--json")
    assert [s["eps"] for s in out["sweep"]] == [0.0, 0.01, 0.05]
    accs = [s["adversarial_accuracy"] for s in out["sweep"]]
    assert accs[0] == out["clean_accuracy"] and accs[-1] <= accs[0]
    assert out["gradient_masking"]["suspected"] is False and out["gradient_masking"]["probe_accuracy"] == 0.0
    f = tmp_path / "adv"
    out = _json(capsys, "attack", "--eps", "0.03", "--steps", "2", "--n", "6", "--target", "star", "--min-eps",
                "--max-eps", "0.1", "--export", str(f), "--json")
    assert out["target"] == 3 and 0 <= out["target_rate"] <= 1 and out["export"] == str(f) + ".npz"
    assert out["target_probability"]["adversarial"] > out["target_probability"]["clean"]
    assert {"median", "q1", "q3", "share_never_flipped", "searched"} <= set(out["min_eps"])
    with np.load(str(f) + ".npz") as z:
        assert set(z.files) == {"clean", "adversarial", "labels", "clean_pred", "adversarial_pred"}
        clean, adv = z["clean"], z["adversarial"]
        assert clean.shape == adv.shape == (6, 3, 32, 32) and clean.dtype == adv.dtype == np.float32
        assert adv.min() >= 0 and adv.max() <= 1 and np.abs(adv - clean).max() <= 0.03 + 1e-6
        x, y = _images(6, 0)
        assert np.array_equal(clean, x.numpy()) and np.array_equal(z["labels"], y.numpy())
        with torch.no_grad():
            pred = trained((torch.from_numpy(adv) - 0.5) / 0.5).argmax(1).numpy()
        assert np.array_equal(z["adversarial_pred"], pred)


def _store_with_one_run(data_dir: Path) -> tuple[str, Path]:
    """A run store in ``data_dir`` holding one finished small_cnn run whose checkpoint this test writes."""
    from vizcore.lab.store import RunStore
    from vizcore.models import registry as zoo
    from vizcore.models.weights import save_checkpoint
    from vizcore.train.config import TrainConfig

    store = RunStore(data_dir / "runs.sqlite")
    rid = store.create(TrainConfig(model="small_cnn", dataset="shapes", train_size=64, val_size=32, epochs=1),
                       name="tiny")
    path = store.checkpoint_path(rid)
    classes = ["circle", "square", "triangle", "star", "hexagon", "cross", "ring", "heart", "arrow", "moon"]
    save_checkpoint(zoo.build_model("small_cnn", num_classes=10, seed=5), path,
                    {"model": "small_cnn", "num_classes": 10, "classes": classes, "run_id": rid})
    store.set_checkpoint(rid, path)
    store.set_status(rid, "done")
    store.close()
    return rid, path


def test_weights_from_a_stored_run_in_attack_cam_and_filters(capsys, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    rid, path = _store_with_one_run(tmp_path)
    args = ["attack", "--eps", "0.02", "--steps", "2", "--n", "6", "--json"]
    by_run = _json(capsys, *args, "--weights", f"run:{rid}")
    by_file = _json(capsys, *args, "--weights", str(path))
    assert by_run["weights"].startswith(f"run {rid} (tiny, done")
    assert {k: v for k, v in by_run.items() if k != "weights"} == {k: v for k, v in by_file.items() if k != "weights"}
    f_run = _json(capsys, "filters", "--weights", f"run:{rid}", "--json")
    f_file = _json(capsys, "filters", "--weights", str(path), "--json")
    assert f_run["norms"] == f_file["norms"]
    cam = _json(capsys, "cam", "--weights", f"run:{rid}", "--image", "shapes:1", "--json")
    assert cam["weights"] == f"run:{rid}" and cam["predictions"][0]["name"] in ("circle", "square", "triangle",
                                                                                 "star", "hexagon", "cross", "ring",
                                                                                 "heart", "arrow", "moon")
    assert main(["filters", "--model", "lenet5", "--weights", f"run:{rid}"]) == 2
    assert "expected --model small_cnn for run" in capsys.readouterr().err


def _one_error_line(capsys) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert cap.out == "" and len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("argv, message", [
    (["--weights", "run:nosuchrun"], "got 'nosuchrun' (no such run)"),
    (["--weights", "run:"], "expected --weights run:RUN_ID with a run id"),
    (["--weights", "/no/such.pt"], "(no such file)"),
    (["--model", "resnet18", "--weights", "trained"], "--weights trained only for ConvScope's default trained models"),
    (["--eps", "-0.1"], r"expected eps in [0.0, 1.0], got -0.1"),
    (["--eps", "nan"], "expected eps to be a number"),
    (["--eps", "2"], "expected eps in [0.0, 1.0], got 2.0"),
    (["--eps", "abc"], "expected --eps as numbers or fractions"),
    (["--steps", "0"], "expected steps in [1, 1000], got 0"),
    (["--steps", "1001"], "expected steps in [1, 1000], got 1001"),
    (["--method", "cw"], "expected method to be one of fgsm, pgd, noise"),
    (["--norm", "l1"], "expected norm to be one of linf, l2"),
    (["--target", "10"], "expected target classes in [0, 10)"),
    (["--target", "dragon"], "expected --target as a class index or one of circle"),
    (["--n", "0"], "expected --n between 1 and 20000"),
    (["--dataset", "photos"], "expected --dataset shapes, digits, folder"),
    (["--eps", "0,0.1", "--export", "x.npz"], "expected one --eps with --export, got 2"),
    (["--steps", "x"], "argument --steps: invalid int value"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv: list[str], message: str) -> None:
    try:
        rc = main(["attack", "--n", "2", *argv])
    except SystemExit as exc:  # argparse's own refusals (a value of the wrong type)
        rc = exc.code
    assert rc == 2
    assert message in _one_error_line(capsys)


def test_over_budget_exits_2(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET_MB", "16")
    assert main(["attack", "--n", "300", "--weights", "random"]) == 2
    assert "above this server's memory budget" in _one_error_line(capsys)


def test_trained_means_the_shipped_default_of_either_default_model() -> None:
    from vizcore.cli import weights_arg
    from vizcore.lab.default_model import default_model_path

    for name in ("small_cnn", "se_resnet_small"):
        path, label = weights_arg.resolve(name, "trained")
        assert path == str(default_model_path(name)) and label.startswith("trained on shapes (val. accuracy 0.9")
