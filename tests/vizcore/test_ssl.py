"""Few labels: the label budget and the unlabelled pool, thresholds, and one tiny run per method.

The key guard: a run's weights are identical whatever the pool's hidden labels say (they are for reports only),
while the reported pseudo-label accuracy follows them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import cli_json, tiny_config, tiny_data
from vizcore.data.unlabelled import UnlabelledPool, load_unlabelled_folder, split_labelled, stratified_indices
from vizcore.train.engine import Run
from vizcore.train.loop import Callback
from vizcore.train.ssl_thresholds import Threshold

pytestmark = pytest.mark.usefixtures("one_thread")


def ssl_config(**kw):
    """fast_cnn at 16 px on 88 images, 2 labelled per class, batches of 4 labelled + 8 unlabelled."""
    return tiny_config(**{"model": "fast_cnn", "image_size": 16, "train_size": 88, "val_size": 16, "batch_size": 4,
                          "ssl_mu": 2, "labelled_per_class": 2, **kw})


def data(n: int = 88):
    return tiny_data(n, size=16, classes=4, seed=0), tiny_data(16, size=16, classes=4, seed=1)


# ---------------------------------------------------------------------------------------- the label budget

def test_split_keeps_k_per_class_and_drops_the_rest_of_the_labels() -> None:
    ds = tiny_data(40, size=16, classes=4)
    labelled, pool, hidden = split_labelled(ds, 3, seed=5)
    assert labelled.class_counts() == {"c0": 3, "c1": 3, "c2": 3, "c3": 3}
    assert len(pool) == 40 - 12 and not hasattr(pool, "labels") and isinstance(pool, UnlabelledPool)
    keep = stratified_indices(ds.labels, 4, 3, 5)
    rest = torch.tensor([i for i in range(40) if i not in set(keep.tolist())])
    assert torch.equal(labelled.images, ds.images[keep]) and torch.equal(pool.images, ds.images[rest])
    assert torch.equal(hidden.labels, ds.labels[rest]) and hidden.known
    assert torch.equal(split_labelled(ds, 3, seed=5)[0].images, labelled.images)  # from the seed
    assert not torch.equal(split_labelled(ds, 3, seed=6)[0].images, labelled.images)


@pytest.mark.parametrize("k, match", [(0, "at least 1"), (11, "at most 10"), (True, "at least 1")])
def test_a_label_budget_outside_the_classes_is_refused(k, match) -> None:
    with pytest.raises(ValueError, match=match):
        split_labelled(tiny_data(40, size=16, classes=4), k, seed=0)


@pytest.mark.parametrize("field, value, match", [
    ("labelled_per_class", 0, "labelled_per_class in"), ("ssl_tau", 0.0, r"ssl_tau in \(0"),
    ("ssl_tau", 1.5, "ssl_tau in"), ("ssl", "mixmatch", "ssl to be one of"), ("ssl_mu", 0, "ssl_mu in"),
    ("ssl_threshold", "adaptive", "ssl_threshold to be one of")])
def test_config_refuses_bad_ssl_fields(field, value, match) -> None:
    with pytest.raises(ValueError, match=match):
        ssl_config(**{field: value})


def test_noisy_student_needs_a_teacher_and_ssl_needs_a_pool() -> None:
    with pytest.raises(ValueError, match="expected distill_teacher"):
        ssl_config(ssl="noisy_student")
    run = Run(tiny_config(ssl="fixmatch", image_size=16), data=data())
    assert run.run_sync() == "failed" and "expected an unlabelled pool" in run.message


# ---------------------------------------------------------------------------------------- hidden labels

class ScrambleHidden(Callback):
    """Replace the pool's hidden labels by others after setup (before any step)."""

    def on_setup(self, state) -> None:
        assert state.ssl is not None and state.ssl.hidden is not None
        state.ssl.hidden = (state.ssl.hidden + 1) % state.num_classes


@pytest.mark.parametrize("method", ["pseudo_label", "fixmatch"])
def test_no_hidden_label_reaches_a_loss(method) -> None:
    cfg = ssl_config(ssl=method, ssl_tau=0.3, epochs=1)
    runs = [Run(cfg, data=data()), Run(cfg, data=data(), callbacks=[ScrambleHidden()])]
    assert [r.run_sync() for r in runs] == ["done", "done"]
    a, b = (r.model.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same training, step for step
    la, lb = (r.history[-1]["ssl"] for r in runs)
    assert la["pass_rate"] == lb["pass_rate"] > 0
    assert la["pseudo_label_accuracy"] + lb["pseudo_label_accuracy"] <= 1.0 + 1e-9  # disjoint: scrambled ≠ true
    assert la["pseudo_label_accuracy"] != lb["pseudo_label_accuracy"]


# ---------------------------------------------------------------------------------------- thresholds

def test_thresholds_against_hand_computations() -> None:
    probs = torch.tensor([[0.96, 0.02, 0.02], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    fixed = Threshold("fixed", 0.95, 3, 10, torch.device("cpu"))
    mask, pseudo, conf = fixed.mask(probs, torch.tensor([0, 1, 2]))
    assert mask.tolist() == [True, False, False] and pseudo.tolist() == [0, 0, 2]
    flex = Threshold("flexmatch", 0.7, 3, 4, torch.device("cpu"))
    flex.mask(probs, torch.tensor([0, 1, 2]))  # images 0 (class 0) and 2 (class 2) confident at 0.7
    # σ = (1, 0, 1), unused = 2 -> β = σ / max(1, 2) = (0.5, 0, 0.5); τ(c) = β / (2 - β) · 0.7
    assert flex.per_class().tolist() == pytest.approx([0.5 / 1.5 * 0.7, 0.0, 0.5 / 1.5 * 0.7])
    free = Threshold("freematch", 0.95, 3, 4, torch.device("cpu"))
    free.mask(probs, torch.tensor([0, 1, 2]))
    g = 0.999 / 3 + 0.001 * float(conf.mean())
    local = 0.999 / 3 + 0.001 * probs.mean(0)
    assert free.per_class().tolist() == pytest.approx((g * local / local.max()).tolist())


# ---------------------------------------------------------------------------------------- runs

def test_every_threshold_gives_a_run_with_its_log() -> None:
    for kind in ("flexmatch", "freematch"):
        run = Run(ssl_config(ssl="fixmatch", ssl_threshold=kind), data=data())
        assert run.run_sync() == "done", run.message
        log = run.history[-1]["ssl"]
        assert len(log["per_class_threshold"]) == 4 and 0.0 <= log["threshold"] <= 1.0


def test_pass_rate_follows_tau_and_counts_are_reported() -> None:
    low = Run(ssl_config(ssl="pseudo_label", ssl_tau=1e-6), data=data())
    assert low.run_sync() == "done"
    log = low.history[-1]["ssl"]
    assert log["pass_rate"] == 1.0 and log["per_class_pass_rate"].count(None) + sum(
        r == 1.0 for r in log["per_class_pass_rate"]) == 4
    # 88 images, 2 per class labelled: 80 unlabelled; a step takes 2·4 of them: 10 steps, each image once
    assert low.info["labelled"] == 8 and low.info["unlabelled"] == 80 and low.info["steps_per_epoch"] == 10
    assert log["unlabelled_seen"] == 80


def test_noisy_student_pseudo_label_accuracy_is_the_teachers_accuracy_on_the_pool(tmp_path: Path) -> None:
    from vizcore.models import registry as zoo
    from vizcore.models.preprocess import for_model
    from vizcore.models.weights import save_checkpoint

    teacher = zoo.build_model("fast_cnn", num_classes=4, seed=3).eval()
    ckpt = save_checkpoint(teacher, tmp_path / "teacher.pt", {"model": "fast_cnn", "num_classes": 4})
    run = Run(ssl_config(ssl="noisy_student", distill_teacher=str(ckpt), ssl_tau=1e-6), data=data())
    assert run.run_sync() == "done", run.message
    train, _ = data()
    _, pool, hidden = split_labelled(train, 2, seed=0)
    with torch.no_grad():
        pred = teacher(for_model("fast_cnn").normalize(pool.images.float() / 255)).argmax(1)
    assert run.history[-1]["ssl"]["pseudo_label_accuracy"] == pytest.approx(
        float((pred == hidden.labels).float().mean()))
    with pytest.raises(ValueError, match="equal or larger"):
        small = zoo.build_model("small_cnn", num_classes=4)
        big = save_checkpoint(small, tmp_path / "big.pt", {"model": "small_cnn", "num_classes": 4})
        r = Run(ssl_config(ssl="noisy_student", distill_teacher=str(big)), data=data())
        r.run_sync()
        raise ValueError(r.message)


# ---------------------------------------------------------------------------------------- folders and the CLI

def folder(tmp_path: Path, unlabelled: int, garbage: bool = False) -> Path:
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    (root / "unlabelled" / "deep").mkdir(parents=True)
    for i in range(unlabelled):
        Image.fromarray(rng.integers(0, 255, (24, 18, 3), dtype=np.uint8)).save(root / "unlabelled" / "deep" / f"{i}.png")
    if garbage:
        (root / "unlabelled" / "notes.png").write_bytes(b"not an image")
    return root


def test_unlabelled_folder_is_the_pool(tmp_path: Path) -> None:
    root = folder(tmp_path, 5)
    pool = load_unlabelled_folder(root, 16)
    assert pool.images.shape == (5, 3, 16, 16)
    run = Run(tiny_config(model="fast_cnn", dataset="folder", data_root=str(root), image_size=16, train_size=6,
                          val_size=4, batch_size=2, ssl_mu=2, ssl="fixmatch"))
    assert run.run_sync() == "done", run.message
    assert run.info["unlabelled"] == 5 and run.info["labelled"] == 6
    assert run.history[-1]["ssl"]["pseudo_label_accuracy"] is None  # no hidden labels exist


@pytest.mark.parametrize("args, match", [
    (["--labelled-per-class", "0"], "labelled_per_class"), (["--ssl-tau", "0"], "ssl_tau"),
    (["--ssl-tau", "1.01"], "ssl_tau"),
    (["--labelled-per-class", "500"], "at most")])
def test_cli_refuses_bad_input_in_one_line(args, match, tmp_path: Path) -> None:
    rc, _, err = cli_json(["train", "--json", "--db", str(tmp_path / "r.sqlite"), "--model", "fast_cnn",
                           "--train-size", "60", "--val-size", "10", "--ssl", "fixmatch", *args])
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("unlabelled, garbage, match", [(0, False, "got none"), (2, True, "readable image")])
def test_cli_refuses_an_empty_or_non_image_unlabelled_folder(unlabelled, garbage, match, tmp_path: Path) -> None:
    root = folder(tmp_path, unlabelled, garbage)
    rc, _, err = cli_json(["train", "--json", "--db", str(tmp_path / "r.sqlite"), "--model", "fast_cnn",
                           "--dataset", "folder", "--data-root", str(root), "--image-size", "16", "--batch-size", "2",
                           "--ssl", "fixmatch", "--ssl-mu", "2"])
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


def test_distribution_alignment_against_a_hand_computation() -> None:
    from types import SimpleNamespace

    from vizcore.train.ssl import ALIGN_MOMENTUM, SSLState

    probs = torch.tensor([[0.9, 0.1], [0.7, 0.3]])
    holder = SimpleNamespace(mean_probs=None)
    out = SSLState.align(holder, probs)  # type: ignore[arg-type]
    mean = ALIGN_MOMENTUM * torch.tensor([0.5, 0.5]) + (1 - ALIGN_MOMENTUM) * torch.tensor([0.8, 0.2])
    ref = probs * 0.5 / mean
    assert torch.allclose(out, ref / ref.sum(1, keepdim=True)) and torch.allclose(holder.mean_probs, mean)
    assert out[0, 1] > probs[0, 1]  # the class predicted less than its prior gains
