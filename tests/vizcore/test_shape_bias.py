"""Shape bias (Geirhos et al., 2019) on cue-conflict sets: counts checked by hand on fixed predictions."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from vizcore.inspect.shape_bias import predict, shape_bias, shape_bias_from_predictions


def test_counts_by_hand():
    shape = [0, 1, 2, 3, 4, 5, 6]
    texture = [1, 2, 3, 4, 5, 6, 6]  # the last image has no conflict -> excluded
    preds = [0, 2, 2, 9, 4, 6, 6]  # shape, texture, shape, other, shape, texture, (excluded)
    sb = shape_bias_from_predictions(preds, shape, texture)
    assert (sb.shape, sb.texture, sb.other, sb.excluded) == (3, 2, 1, 1)
    assert sb.total == 6 and sb.cue_decisions == 5
    assert sb.shape_bias == pytest.approx(3 / 5)
    assert sb.text().startswith("shape bias 0.60: 3 shape vs 2 texture")


def test_no_cue_decisions_is_nan():
    sb = shape_bias_from_predictions([7, 7], [0, 1], [2, 3])
    assert math.isnan(sb.shape_bias) and sb.other == 2 and "no decision" in sb.text()


def test_length_mismatch():
    with pytest.raises(ValueError, match="equal length"):
        shape_bias_from_predictions([0, 1], [0], [1, 2])


class _PixelOracle(nn.Module):
    """Predicts the class written in pixel (channel 0, row 0, col 0) of each image; 8 classes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(x[:, 0, 0, 0].round().long(), 8).float()


def _cue_set(written: list[int]) -> SimpleNamespace:
    n = len(written)
    images = torch.zeros(n, 3, 4, 4)
    images[:, 0, 0, 0] = torch.tensor(written, dtype=torch.float)
    return SimpleNamespace(images=images, labels=torch.arange(n) % 8, texture_labels=(torch.arange(n) + 1) % 8)


def test_model_following_shape_and_texture():
    n = 10
    shape_labels = [i % 8 for i in range(n)]
    texture_labels = [(i + 1) % 8 for i in range(n)]
    follows_shape = _cue_set(shape_labels)
    assert shape_bias(_PixelOracle(), follows_shape, batch_size=3).shape_bias == 1.0
    follows_texture = _cue_set(texture_labels)
    sb = shape_bias(_PixelOracle(), follows_texture, batch_size=4)
    assert sb.shape_bias == 0.0 and sb.texture == n
    half = _cue_set(shape_labels[:5] + texture_labels[5:])
    assert shape_bias(_PixelOracle(), half).shape_bias == pytest.approx(0.5)


def test_normalize_is_applied_and_mode_restored():
    model = _PixelOracle().train()
    cue = _cue_set([1, 2, 3])  # shape labels 0,1,2 ; texture labels 1,2,3 -> all texture
    sb = shape_bias(model, cue, normalize=lambda x: x - 1.0)  # shifts to 0,1,2 -> all shape
    assert sb.shape_bias == 1.0 and model.training


def test_requires_texture_labels_and_4d_images():
    with pytest.raises(ValueError, match="texture_labels"):
        shape_bias(_PixelOracle(), SimpleNamespace(images=torch.zeros(1, 3, 4, 4), labels=torch.zeros(1)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        predict(_PixelOracle(), torch.zeros(3, 4, 4))


def test_uint8_images_are_scaled_to_unit_range():
    cue = _cue_set([0, 1, 2])
    cue.images = (cue.images * 50).to(torch.uint8)  # 0, 50, 100 -> /255 -> *255/50 recovers the written class
    sb = shape_bias(_PixelOracle(), cue, normalize=lambda x: x * 255.0 / 50.0)
    assert sb.shape_bias == 1.0


@pytest.mark.slow
def test_checkpoint_on_real_cue_conflict_set(tmp_path):
    from vizcore.data import datasets, shapes
    from vizcore.inspect.shape_bias import shape_bias_of_checkpoint
    from vizcore.models import registry as zoo
    from vizcore.models import weights as training

    model = zoo.build_model("small_cnn", num_classes=10, seed=3)
    path = training.save_checkpoint(model, tmp_path / "m.pt", {"model": "small_cnn", "num_classes": 10,
                                                                 "classes": list(shapes.SHAPE_CLASSES), "image_size": 32})
    sb = shape_bias_of_checkpoint(path, n=60, seed=1)
    # by hand: the same images, scaled and normalised with the zoo entry's statistics
    cue = datasets.load_dataset("shapes_cue_conflict", split="test", n=60, size=32, seed=1)
    entry = zoo.get_entry("small_cnn")
    x = (cue.images.float() / 255 - torch.tensor(entry.mean).view(1, 3, 1, 1)) / torch.tensor(entry.std).view(1, 3, 1, 1)
    with torch.no_grad():
        pred = model.eval()(x).argmax(1)
    shape_hits = int((pred == cue.labels).sum())
    texture_hits = int((pred == cue.texture_labels).sum())
    assert (sb.shape, sb.texture, sb.excluded) == (shape_hits, texture_hits, 0)
    assert sb.total == 60

    other = training.save_checkpoint(model, tmp_path / "d.pt", {"model": "small_cnn", "num_classes": 10,
                                                                 "classes": [str(i) for i in range(10)]})
    with pytest.raises(ValueError, match="trained on the shapes classes"):
        shape_bias_of_checkpoint(other)
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)
    with pytest.raises(ValueError, match="metadata"):
        shape_bias_of_checkpoint(bare)
