"""Custom stacks: the text spec builds real modules whose shapes torch confirms; errors name the line."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops import SqueezeExcitation

from vizcore.arch import spec
from vizcore.arch.summary import summarize


def test_example_builds_and_runs() -> None:
    built = spec.check(spec.EXAMPLE)
    assert built.input_shape == (3, 32, 32)
    y = built.model(torch.zeros(2, 3, 32, 32))
    assert y.shape == (2, 10)
    assert any(isinstance(m, SqueezeExcitation) for m in built.model)


def test_layers_have_the_settings_written() -> None:
    built = spec.build("input 1 28 28\nconv 5 6 s1 p2 nobias\ntanh\npool avg 2\nconv 3 16 d2 g2\ndwconv 3 s2 p1\n"
                       "upconv 2 8 s2\nbn\ndropout 0.25\nflatten\nfc 10")
    conv1, conv2, dw, up = [m for m in built.model if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert conv1.kernel_size == (5, 5) and conv1.padding == (2, 2) and conv1.bias is None
    assert conv2.dilation == (2, 2) and conv2.groups == 2 and conv2.in_channels == 6
    assert dw.groups == 16 == dw.out_channels and dw.stride == (2, 2)
    assert isinstance(up, nn.ConvTranspose2d) and up.stride == (2, 2)
    s = summarize(built.model, built.input_shape)
    # 28 -> 28 (p2) -> 14 (pool) -> 10 (3x3, d2) -> 5 (dw s2 p1) -> 10 (upconv 2, s2)
    assert [r.out_shape for r in s.layers if r.type in ("Conv2d", "ConvTranspose2d")] == [
        (6, 28, 28), (16, 10, 10), (16, 5, 5), (8, 10, 10)]
    assert s.output_shape == (10,)
    assert built.layer_lines[0] == 2


def test_same_padding_and_comments() -> None:
    built = spec.build("# comment\ninput 3 9 9\nconv 4 8 psame   # even kernel\n")
    assert built.model(torch.zeros(1, 3, 9, 9)).shape == (1, 8, 9, 9)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("input 3 32\nconv 3 8", r"line 1 .*'input C H W'"),
    ("conv 3 8\nwibble", r"line 2 .*unknown layer 'wibble'"),
    ("conv 3", r"line 1 .*expected 'conv KERNEL OUT"),
    ("conv 3 8 x4", r"line 1 .*unknown option 'x4'"),
    ("conv 3 8 g3", r"line 1 .*groups 3 must divide"),
    ("input 3 8 8\nconv 3 8\npool max 9", r"line 3 .*pooling window"),
    ("input 3 4 4\nconv 7 8", r"line 2 .*kernel to fit the padded input"),
    ("conv 3 8 s2 psame", r"needs stride 1"),
    ("fc 10\nconv 3 4", r"line 2 .*cannot follow"),
    ("conv 3 0", r"output channels between 1"),
    ("dropout 1.5", r"0 <= P < 1"),
    ("input 3 32 32\nconv 3 8\ninput 3 8 8", r"only be the first line"),
    ("relu now", r"takes no options"),
])
def test_errors_point_at_the_line(text: str, match: str) -> None:
    with pytest.raises(spec.SpecError, match=match):
        spec.build(text)


def test_huge_fc_is_refused() -> None:
    with pytest.raises(spec.SpecError, match="too large"):
        spec.build("input 3 512 512\nconv 3 64 p1\nfc 4096")
