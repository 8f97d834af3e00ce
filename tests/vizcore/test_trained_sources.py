"""Weights the app owns: stored runs of an architecture, and uploaded state_dicts checked before they are kept."""
from __future__ import annotations

import io
import pickle

import pytest
import torch

from tests.seed import seed_store
from vizcore.lab.trained import store_stamp, trained_runs
from vizcore.models import weights as mweights


def _bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_trained_runs_lists_finished_runs_of_that_model_only(tmp_path) -> None:
    seeded = seed_store(tmp_path)
    runs = trained_runs("small_cnn", tmp_path / "runs.sqlite")
    assert {r.run_id for r in runs} >= set(seeded.done)
    assert all(r.checkpoint.endswith(".pt") and f"#{r.run_id}" in r.label for r in runs)
    assert trained_runs("lenet5", tmp_path / "runs.sqlite") == []
    assert trained_runs("small_cnn", tmp_path / "none.sqlite") == []
    assert store_stamp(tmp_path / "runs.sqlite") > 0 and store_stamp(tmp_path / "none.sqlite") == 0.0


def test_import_state_dict_keeps_a_fitting_file_with_its_classes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    model = mweights.get_model("small_cnn", num_classes=3, seed=1)
    raw = _bytes(model.state_dict())
    path = mweights.import_state_dict("small_cnn", raw, "mine.pt")
    assert path.parent == tmp_path / "uploads" and mweights.checkpoint_meta(path)["num_classes"] == 3
    assert mweights.import_state_dict("small_cnn", raw, "again.pt") == path  # same bytes, same file
    back = mweights.load_trained(path)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(back(x), model(x))
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == [path.name, path.name + ".json"]


@pytest.mark.parametrize(("raw", "words"), [
    (b"not a checkpoint", "expected a PyTorch state_dict file, got 'x.pt'"),
    (_bytes({"a": 1}), "expected a state_dict"),
    (pickle.dumps(object()), "x.pt"),
])
def test_import_state_dict_refuses_what_is_no_state_dict(tmp_path, monkeypatch, raw, words) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        mweights.import_state_dict("small_cnn", raw, "x.pt")
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == []  # nothing kept, no temporary left


def test_import_state_dict_refuses_another_architecture_and_oversize(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="checkpoint, got one without fc.weight"):
        mweights.import_state_dict("small_cnn", _bytes(mweights.get_model("lenet5").state_dict()), "lenet.pt")
    monkeypatch.setattr(mweights, "UPLOAD_MAX_BYTES", 1000)
    with pytest.raises(ValueError, match="expected a file of at most"):
        mweights.import_state_dict("small_cnn", b"x" * 2000, "big.pt")


def test_class_names_come_from_the_weights_of_the_model_shown() -> None:
    """Issue 25: the SE Attention page named every pretrained model's outputs with ResNet-18's ImageNet list. The
    names come from the model's own weights (torchvision's meta), a checkpoint's sidecar, else numbers."""
    import torchvision

    from vizcore.lab.default_model import shipped_path
    from vizcore.models import weights as mweights

    b0 = torchvision.models.get_model_weights("efficientnet_b0").DEFAULT.meta["categories"]
    assert mweights.class_names("efficientnet_b0", "pretrained", 1000) == list(b0)
    shipped = mweights.class_names("se_resnet_small", str(shipped_path("se_resnet_small")), 10)
    assert shipped[:3] == ["circle", "square", "triangle"]
    assert mweights.class_names("se_resnet_small", "random", 3) == ["class 0", "class 1", "class 2"]
    assert mweights.class_names("small_cnn", "pretrained", 10) == [f"class {i}" for i in range(10)]  # none published
