"""Your own weights: safetensors and weights-only state_dicts of any classes, read off the tensors; the CLI's
Grad-CAM on them equals Grad-CAM computed by hand on the same model; pickles that would run code run nothing."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

from tests.helpers import cli_json
from vizcore.arch import own_model
from vizcore.core import uploads
from vizcore.data.images import fit_image, sample_photos
from vizcore.models import own_weights as ow

SPEC = "input 3 32 32\nconv 3 8 p1\nrelu\nse 2\npool max 2\nconv 3 16 p1\nrelu\ngap\nfc 10\n"


@pytest.fixture(scope="module")
def resnet3(tmp_path_factory):
    """A torchvision resnet18 with 3 classes (seeded), saved as safetensors and as a torch.save state_dict."""
    torch.manual_seed(7)
    model = torchvision.models.resnet18(num_classes=3).eval()
    d = tmp_path_factory.mktemp("own")
    save_file(model.state_dict(), d / "my3class.safetensors")
    torch.save(model.state_dict(), d / "my3class.pt")
    return model, d


def _gradcam_by_hand(model: torch.nn.Module, side: int = 16) -> tuple[int, np.ndarray]:
    """Grad-CAM (Selvaraju et al. 2017) at layer4 of ``model`` for chelsea, written out: ImageNet normalisation,
    channel weights = spatial mean of the gradient, ReLU of the weighted sum, bilinear upsampling, scaled to its
    maximum, then averaged to side×side as the CLI prints it."""
    pixels = torch.from_numpy(fit_image(sample_photos()["chelsea"], 224)).permute(2, 0, 1)[None].float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (pixels - mean) / std
    kept: dict[str, torch.Tensor] = {}
    h = model.layer4.register_forward_hook(lambda _m, _i, out: kept.update(a=out) or out.retain_grad())
    try:
        logits = model(x)
    finally:
        h.remove()
    target = int(logits.argmax())
    logits[0, target].backward()
    a, g = kept["a"], kept["a"].grad
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    up = F.interpolate(cam, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].double()
    up = up / up.max()
    return target, F.adaptive_avg_pool2d(up[None, None], side)[0, 0].detach().numpy()


@pytest.fixture(scope="module")
def by_hand(resnet3) -> tuple[int, np.ndarray]:
    """Grad-CAM by hand on the saved model, once for both files (they hold the same tensors)."""
    return _gradcam_by_hand(resnet3[0])


@pytest.mark.slow
@pytest.mark.parametrize("fname", ["my3class.safetensors", "my3class.pt"])
def test_cam_on_a_3_class_resnet18_file_equals_gradcam_by_hand(resnet3, by_hand, fname):
    _, d = resnet3
    rc, out, err = cli_json(["cam", "--model", "resnet18", "--weights", str(d / fname), "--image", "chelsea", "--json"])
    assert rc == 0, err
    target, expected = by_hand
    assert len(out["predictions"]) == 3 and out["target"] == target  # 3 classes, read off fc.weight
    np.testing.assert_allclose(np.array(out["map"]), expected, atol=6e-4)


def test_first_misfit_is_named_with_what_would_fit(resnet3):
    _, d = resnet3
    state = ow.read_weights(d / "my3class.safetensors")
    with pytest.raises(ValueError, match=r"does not fit ResNet-34 with 3 classes.*no tensor 'layer1\.2\.conv1\.weight' "
                                         r"\(the model needs one of shape \(64, 64, 3, 3\)\)"):
        ow.zoo_fit("resnet34", state, "my3class.safetensors")
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(ValueError, match=r"first tensor that does not fit is 'layer1\.0\.conv1\.weight': the file has "
                                         r"\(64, 64, 1, 1\), the model needs \(64, 64, 3, 3\)"):
        ow.zoo_fit("resnet18", state, "x")


class _Payload:
    """Unpickling this creates a file: what a malicious 'checkpoint' could do."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, how):
    marker = tmp_path / "pwned"
    bad = tmp_path / "weights.pt"
    if how == "pickle":
        bad.write_bytes(pickle.dumps({"fc.weight": _Payload(str(marker))}))
    else:
        torch.save({"fc.weight": _Payload(str(marker))}, bad)
    with pytest.raises(ValueError, match="could run code"):
        ow.read_weights(bad)
    rc, _, err = cli_json(["cam", "--model", "small_cnn", "--weights", str(bad), "--image", "chelsea", "--json"])
    assert rc == 2 and "could run code" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_torchscript_refused_in_words(tmp_path):
    path = tmp_path / "scripted.pt"
    with zipfile.ZipFile(path, "w") as z:  # the entries torch.jit.save writes beside the data
        z.writestr("scripted/code/__torch__.py", "def forward(self): ...")
        z.writestr("scripted/constants.pkl", b"\x80\x02}q\x00.")
    assert ow.file_kind(path) == "torchscript"
    with pytest.raises(ValueError, match="TorchScript archive.*compiled program"):
        ow.read_weights(path)


def test_spec_weights_set_channels_and_classes_and_pick_the_last_spatial_conv(tmp_path):
    from vizcore.arch import spec

    theirs = spec.build(SPEC.replace("input 3", "input 1").replace("fc 10", "fc 4")).model
    save_file(theirs.state_dict(), tmp_path / "s.safetensors")
    (tmp_path / "names.txt").write_text("a\nb\n\nc\nd\n")
    own = own_model.validate(own_model.SPEC, tmp_path / "s.safetensors", SPEC, (tmp_path / "names.txt").read_bytes(),
                             in_child=False)
    assert own.input_shape == (1, 32, 32) and own.num_classes == 4 and own.classes == ("a", "b", "c", "d")
    convs = [n for n, m in theirs.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == ["0", "2.fc1", "2.fc2", "4"]  # the SE block's two convs work on 1×1 maps
    assert own_model.spatial_convs(theirs, (1, 32, 32)) == ["0", "4"] and own.cam_layer == "4"
    entry = own_model.register(own)
    assert "se" in entry.tags and entry.name not in own_model.zoo.list_models()
    from vizcore.models import weights as mweights

    mine = mweights.load_model(own.name, own.weights)
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(mine(x), theirs(x))
    with pytest.raises(ValueError, match="expected 4 class names .* got 2"):
        own_model.validate(own_model.SPEC, tmp_path / "s.safetensors", SPEC, b"a\nb\n", in_child=False)


@pytest.mark.slow
def test_the_child_check_runs_the_file_and_refuses_payloads(tmp_path):
    torch.manual_seed(0)
    from vizcore.models import weights as mweights

    save_file(mweights.get_model("small_cnn", num_classes=3).state_dict(), tmp_path / "ok.safetensors")
    info = own_model.check_in_child("small_cnn", tmp_path / "ok.safetensors")
    assert info["num_classes"] == 3 and info["cam_layer"] == "features"
    marker = tmp_path / "pwned"
    torch.save({"w": _Payload(str(marker))}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="could run code"):
        own_model.check_in_child("small_cnn", tmp_path / "bad.pt")
    assert not marker.exists()
    with pytest.raises(ValueError, match="within 0 s"):
        own_model.check_in_child("small_cnn", tmp_path / "ok.safetensors", timeout_s=0.01)


def test_session_uploads_capped_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(uploads, "SESSION_CAP", 10)
    token, other = "a" * 32, "b" * 32
    p = uploads.keep(token, b"12345678", "w.safetensors")
    assert p.parent.name == token and p.suffix == ".safetensors" and uploads.keep(token, b"12345678", "again.safetensors") == p
    with pytest.raises(ValueError, match="this session's uploads to stay under"):
        uploads.keep(token, b"abcdef", "v.pt")
    q = uploads.keep(other, b"abcdef", "v.pt")
    with pytest.raises(ValueError, match="a file of this session's uploads"):
        uploads.remove(token, q)  # another session's file is out of reach
    with pytest.raises(ValueError, match="session token"):
        uploads.session_dir("../x")
    uploads.remove_session(token)
    assert not p.exists() and q.exists()
    assert uploads.sweep_stale(max_age_s=60, now=q.stat().st_mtime + 61) == 1 and not q.exists()
