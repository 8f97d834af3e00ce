"""Conv arithmetic against torch's own layers (property-based) and hand-checked classics."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from vizcore.arch import geometry as g

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 4), d=st.integers(1, 3))
def test_conv_out_matches_torch(size: int, k: int, s: int, p: int, d: int) -> None:
    assume(size + 2 * p >= d * (k - 1) + 1)
    conv = nn.Conv2d(1, 1, k, s, p, d)
    y = conv(torch.zeros(1, 1, size, size + 1))
    assert y.shape[-2] == g.conv_out(size, k, s, p, d)
    assert y.shape[-1] == g.conv_out(size + 1, k, s, p, d)


@FAST
@given(size=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 3), d=st.integers(1, 3))
def test_same_and_valid_padding_match_torch(size: int, k: int, s: int, d: int) -> None:
    x = torch.zeros(1, 1, size, size)
    if s == 1:
        assert nn.Conv2d(1, 1, k, 1, "same", d)(x).shape[-1] == g.conv_out(size, k, 1, "same", d) == size
    before, after = g.same_padding(k, s, d, size)
    padded = F.pad(x, (before, after, before, after))
    assume(padded.shape[-1] >= d * (k - 1) + 1)
    y = F.conv2d(padded, torch.zeros(1, 1, k, k), stride=s, dilation=d)
    assert y.shape[-1] == g.conv_out(size, k, s, "same", d) == -(-size // s)
    if size >= d * (k - 1) + 1:
        assert nn.Conv2d(1, 1, k, s, "valid", d)(x).shape[-1] == g.conv_out(size, k, s, "valid", d)


@FAST
@given(size=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3),
       ceil=st.booleans(), mode=st.sampled_from(["max", "avg"]))
def test_pool_out_matches_torch(size: int, k: int, s: int, p: int, ceil: bool, mode: str) -> None:
    assume(p <= k // 2 and size + 2 * p >= k)
    layer = nn.MaxPool2d(k, s, p, ceil_mode=ceil) if mode == "max" else nn.AvgPool2d(k, s, p, ceil_mode=ceil)
    assert layer(torch.zeros(1, 1, size, size)).shape[-1] == g.pool_out(size, k, s, p, 1, ceil)


@FAST
@given(size=st.integers(1, 20), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3),
       op=st.integers(0, 3), d=st.integers(1, 2))
def test_conv_transpose_out_matches_torch(size: int, k: int, s: int, p: int, op: int, d: int) -> None:
    assume(op < max(s, d))
    expected = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    assume(expected >= 1)
    layer = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d)
    assert layer(torch.zeros(1, 1, size, size)).shape[-1] == g.conv_transpose_out(size, k, s, p, op, d)


@FAST
@given(cin=st.integers(1, 8), cout_mult=st.integers(1, 4), k=st.integers(1, 5), groups=st.sampled_from([1, 2, 4]),
       bias=st.booleans())
def test_conv_params_match_torch(cin: int, cout_mult: int, k: int, groups: int, bias: bool) -> None:
    cin, cout = cin * groups, cout_mult * groups
    layer = nn.Conv2d(cin, cout, k, groups=groups, bias=bias)
    assert g.conv_params(cin, cout, k, groups, bias) == sum(p.numel() for p in layer.parameters())


def test_conv_macs_match_flop_counter() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    layer = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2)
    with FlopCounterMode(display=False) as fc:
        y = layer(torch.zeros(1, 8, 15, 15))
    assert g.conv_macs(8, 16, 3, y.shape[-2], y.shape[-1], 2) * 2 == fc.get_total_flops()


@pytest.mark.parametrize("size,k,s,p,expected", [
    (227, 11, 4, 0, 55),  # AlexNet paper, conv1
    (224, 11, 4, 2, 55),  # torchvision AlexNet conv1
    (32, 5, 1, 0, 28),  # LeNet-5 C1
    (224, 7, 2, 3, 112),  # ResNet stem
])
def test_classic_sizes(size: int, k: int, s: int, p: int, expected: int) -> None:
    assert g.conv_out(size, k, s, p) == expected


def test_explain_alexnet_formula_and_counts() -> None:
    e = g.explain(g.ConvGeometry(227, 227, 11, 4, 0, in_channels=3, out_channels=96))
    assert (e.out_height, e.out_width) == (55, 55)
    assert e.filled[0].endswith("= 55") and "227" in e.filled[0]
    assert e.params == (11 * 11 * 3 + 1) * 96 == 34944
    assert e.macs == 11 * 11 * 3 * 96 * 55 * 55
    assert e.warnings == []  # (227 - 11) / 4 = 54 exactly
    assert e.n_windows == 55 * 55 and len(e.windows) == g.MAX_WINDOWS  # counted, sampled up to the frame cap


def test_explain_warns_when_floor_drops_pixels() -> None:
    e = g.explain(g.ConvGeometry(224, 224, 11, 4, 2))  # (224 + 4 - 11) = 217 = 54*4 + 1
    assert any("drops the last 1 row" in w for w in e.warnings)
    assert any("drops the last 1 column" in w for w in e.warnings)


def test_explain_warns_even_kernel_and_large_padding() -> None:
    e = g.explain(g.ConvGeometry(8, 8, 4, 1, "same"))
    assert e.pad == (1, 2, 1, 2) and e.out_height == 8
    assert any("Even kernel" in w for w in e.warnings)
    e = g.explain(g.ConvGeometry(8, 8, 3, 1, 2))
    assert any("larger than half the kernel" in w for w in e.warnings)


def test_explain_pool_ceil_mode_matches_torch() -> None:
    e = g.explain(g.ConvGeometry(14, 14, 3, 2, 0, kind="pool", ceil_mode=True))
    assert e.out_height == nn.MaxPool2d(3, 2, ceil_mode=True)(torch.zeros(1, 1, 14, 14)).shape[-1] == 7
    assert any("partial window" in w for w in e.warnings)
    assert e.params == 0


def test_explain_transposed() -> None:
    e = g.explain(g.ConvGeometry(7, 7, 4, 2, 1, kind="transposed", in_channels=8, out_channels=4))
    layer = nn.ConvTranspose2d(8, 4, 4, 2, 1)
    assert e.out_height == layer(torch.zeros(1, 8, 7, 7)).shape[-1] == 14
    assert e.params == sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize("kwargs,match", [
    (dict(height=4, width=4, kernel=7, padding=0), "smaller than 1"),
    (dict(kernel=0), "kernel between 1"),
    (dict(stride=0), "stride between 1"),
    (dict(padding="full"), "'same' or 'valid'"),
    (dict(padding=-1), "padding between 0"),
    (dict(in_channels=3, out_channels=16, groups=2), "groups to divide"),
    (dict(kind="pool", padding="same"), "number as padding"),
    (dict(height=2.5), "integer input height"),
])
def test_impossible_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        g.explain(g.ConvGeometry(**kwargs))


def test_pool_padding_limit_and_transposed_output_padding() -> None:
    with pytest.raises(ValueError, match="at most half the kernel"):
        g.pool_out(10, 2, 2, 2)
    with pytest.raises(ValueError, match="output padding smaller"):
        g.conv_transpose_out(5, 3, 2, 1, output_padding=2)


def test_stacked_field() -> None:
    assert g.stacked_field(2, 3) == 5 and g.stacked_field(3, 3) == 7


def test_what_would_work_suggests_settings_torch_accepts() -> None:
    """The suggestions shown under an impossible layer (page and CLI) are themselves possible: each is checked by
    building the layer torch would build with it."""
    import torch

    from vizcore.arch import fixes

    hints = fixes.what_would_work("conv", 5, 7, 1, 0, 1, 3, 16, 1, 0)
    k = int(next(h for h in hints if h.startswith("Largest kernel")).rsplit("K = ", 1)[1].rstrip("."))
    p = int(next(h for h in hints if h.startswith("Smallest padding")).split("P = ")[1].split()[0])
    assert (k, p) == (5, 1)
    assert torch.nn.Conv2d(3, 16, k)(torch.zeros(1, 3, 5, 5)).shape[-1] == 1  # the largest kernel fits...
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(3, 16, k + 1)(torch.zeros(1, 3, 5, 5))  # ...and one more does not
    assert torch.nn.Conv2d(3, 16, 7, padding=p)(torch.zeros(1, 3, 5, 5)).shape[-1] == 1
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(3, 16, 7, padding=p - 1)(torch.zeros(1, 3, 5, 5))
    groups = fixes.what_would_work("conv", 32, 3, 1, 1, 1, 6, 9, 4, 0)
    assert groups == ["Groups must divide C_in = 6 and C_out = 9: 1, 3."]
    assert fixes.what_would_work("conv", 32, 3, 1, 1, 1, 3, 16, 1, 0) == []  # nothing wrong, nothing to say
    assert fixes.reason(ValueError("impossible settings: the kernel spans 7 pixels")) == "The kernel spans 7 pixels"


def test_outsize_cli_says_what_would_work(capsys) -> None:
    from vizcore.cli.main import main

    assert main(["outsize", "--input", "5", "--kernel", "7", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: impossible settings: the kernel spans 7 pixels") and len(err.splitlines()) == 1
    assert "what would work: Largest kernel that fits 5 px with padding 0 and dilation 1: K = 5." in err
