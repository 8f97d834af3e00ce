"""Per-layer summaries: shapes are torch's, counts add up, shared parameters count once."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from vizcore.arch.summary import summarize


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.conv(x))  # the same conv twice
        return self.head(x.mean((2, 3)))


def test_shared_module_counts_params_once_and_macs_twice() -> None:
    s = summarize(Shared(), (4, 8, 8))
    convs = [r for r in s.layers if r.type == "Conv2d"]
    assert len(convs) == 2 and convs[1].shared and convs[1].params == 0
    assert convs[0].params == 4 * 4 * 9 + 4
    assert s.total_params == 4 * 4 * 9 + 4 + 4 * 2 + 2
    assert convs[0].macs == convs[1].macs == 4 * 4 * 9 * 64
    assert s.total_macs == 2 * 4 * 4 * 9 * 64 + 4 * 2


def test_rows_record_settings_and_shapes() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2, dilation=1, groups=1), nn.ReLU(), nn.MaxPool2d(2))
    s = summarize(m, (3, 17, 17))
    conv, relu, pool = s.layers
    assert conv.kernel == (5, 5) and conv.stride == (2, 2) and conv.padding == (2, 2) and conv.groups == 1
    assert conv.out_shape == tuple(m[0](torch.zeros(1, 3, 17, 17)).shape[1:]) == (8, 9, 9)
    assert pool.out_shape == (8, 4, 4) and pool.kernel == (2, 2)
    assert s.output_shape == (8, 4, 4)


def test_frozen_layers_are_not_trainable() -> None:
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2) if False else nn.Linear(4 * 6 * 6, 2))
    for p in m[0].parameters():
        p.requires_grad_(False)
    s = summarize(m, (3, 8, 8))
    assert s.layers[0].trainable is False and s.layers[1].trainable is None and s.layers[2].trainable is True
    assert s.trainable_params == 4 * 36 * 2 + 2


def test_mode_is_restored_and_hooks_removed() -> None:
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1)).train()
    summarize(m, (1, 5, 5))
    assert m.training
    assert all(not mod._forward_hooks for mod in m.modules())


def test_bad_inputs() -> None:
    m = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match="input shape this model accepts"):
        summarize(m, (1, 8, 8))
    with pytest.raises(ValueError, match="positive input shape"):
        summarize(m, (3, 0, 8))
    with pytest.raises(ValueError, match="at most"):
        summarize(m, (3, 4096, 4096))


def test_a_too_small_input_says_where_the_map_ran_out_in_words() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3))
    with pytest.raises(ValueError) as info:
        summarize(m, (3, 6, 6))  # 6 -> conv 4 -> pool 2: the second 3x3 conv has no room
    msg = str(info.value)
    assert "after 2 (MaxPool2d) the feature map is only 8×2×2, too small for the next layer" in msg
    assert "Calculated" not in msg and "Given input size" not in msg  # no raw PyTorch text
    with pytest.raises(ValueError, match="the first layer's kernel is larger than the input"):
        summarize(m, (3, 2, 2))
    with pytest.raises(ValueError, match="expected input.*to have 3 channels"):  # other faults keep torch's reason
        summarize(m, (1, 8, 8))
