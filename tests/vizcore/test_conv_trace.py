"""One unit's convolution on real numbers, against the layer itself: its real input and output caught by this
test's own hooks, PyTorch's BatchNorm/ReLU/pooling modules, and gradients for which units a unit reads."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.helpers import cli_json
from vizcore.arch import receptive_field as rf
from vizcore.core.budget import MemoryBudgetError
from vizcore.inspect import conv_trace as ct
from vizcore.inspect import overview as ov
from vizcore.lab.default_model import default_model
from vizcore.models import weights as mweights

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convs: a second thread on shared cores only waits


@pytest.fixture(scope="module")
def small() -> tuple[nn.Module, rf.FieldTable, torch.Tensor]:
    """The shipped default small_cnn (trained on the shapes), its table, one input."""
    model = mweights.load_model("small_cnn", str(default_model())).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return model, rf.analyze(model, (3, 32, 32)), x


def _io(model: nn.Module, path: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's real (input[0], output[0]) in a forward pass, by this test's own hook (cloned: in-place ReLUs)."""
    got: dict[str, torch.Tensor] = {}

    def hook(_m, args, out):
        got.setdefault("in", args[0][0].detach().clone())
        got.setdefault("out", out[0].detach().clone())

    h = model.get_submodule(path).register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    return got["in"], got["out"]


@pytest.mark.parametrize("node, channel, unit", [("features.0", 3, (0, 0)), ("features.0", 7, (13, 31)),
                                                 ("features.8", 100, (7, 0)), ("features.11", 5, (4, 4))])
def test_the_patch_and_kernel_are_the_layers_own_and_their_sum_is_its_output(small, node, channel, unit) -> None:
    model, table, x = small
    tr = ct.trace_unit(model, table, x, node, channel, unit)
    x_in, y = _io(model, node, x)
    conv = model.get_submodule(node)
    assert tr.in_shape == tuple(x_in.shape) and tr.out_shape == tuple(y.shape)
    np.testing.assert_array_equal(tr.kernel, conv.weight[channel].detach().double().numpy())
    i, j = unit
    padded = F.pad(x_in, (1, 1, 1, 1))  # 3×3, stride 1, padding 1: rows i-1..i+1 of the padded input
    np.testing.assert_array_equal(tr.patch, padded[:, i:i + 3, j:j + 3].double().numpy())
    assert tr.bias == 0.0  # small_cnn's convolutions have no bias (a BatchNorm follows)
    assert tr.sum == pytest.approx(float(y[channel, i, j]), abs=1e-5)
    assert tr.output == float(y[channel, i, j])
    assert abs(tr.sum - tr.output) <= tr.rounding < 1e-5 and not tr.tf32  # float32 rounding on the CPU
    # border units read padding: zeros where the kernel leaves the map, and only there
    border = np.zeros((3, 3), bool)
    border[[0] if i == 0 else [], :] = True
    border[[2] if i == x_in.shape[1] - 1 else [], :] = True
    border[:, [0] if j == 0 else []] = True
    border[:, [2] if j == x_in.shape[2] - 1 else []] = True
    np.testing.assert_array_equal(tr.padded, border)
    assert (tr.patch[:, tr.padded] == 0).all()


def test_batchnorm_relu_and_pooling_after_the_conv_are_the_networks_own(small) -> None:
    model, table, x = small
    tr = ct.trace_unit(model, table, x, "features.4", 9, (5, 6))
    bn = model.get_submodule("features.5")
    assert [s.op for s in tr.steps] == ["BatchNorm2d", "ReLU"]
    by_hand = (tr.output - float(bn.running_mean[9])) / math.sqrt(float(bn.running_var[9]) + bn.eps) * \
        float(bn.weight.detach()[9]) + float(bn.bias.detach()[9])
    assert tr.steps[0].value == pytest.approx(by_hand, abs=1e-5)
    assert tr.activation == max(0.0, tr.steps[0].value)
    _, relu_out = _io(model, "features.6", x)
    _, pooled = _io(model, "features.7", x)
    assert tr.activation == float(relu_out[9, 5, 6])
    assert tr.pool is not None and tr.pool.op == "MaxPool2d" and tr.pool.unit == (2, 3)
    assert tr.pool.rows == (4, 5) and tr.pool.cols == (6, 7)
    assert tr.pool.window is not None
    np.testing.assert_array_equal(tr.pool.window, relu_out[9, 4:6, 6:8].double().numpy())
    assert tr.pool.value == float(pooled[9, 2, 3]) == tr.pool.window.max()


def test_the_field_is_the_receptive_field_tables(small) -> None:
    model, table, x = small
    tr = ct.trace_unit(model, table, x, "features.8", 0, (0, 7))
    nf = table.resolve("features.8")
    assert tr.field == nf.unit_box(0, 7, (32, 32))
    # by hand: conv 3/1/1 -> (R, S, P) = (3, 1, 1); pool 2/2 -> (4, 2, 1); conv -> (8, 2, 3); pool -> (10, 4, 3);
    # conv -> (18, 4, 7): unit (0, 7) sees rows -7..10 and columns -7 + 28 = 21..38
    assert tr.field.box == (-7, 21, 10, 38)


class _Strided(nn.Module):
    """A grouped, strided, dilated conv with bias and padding 2, a ReLU module called twice, an average pool."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
        self.conv2 = nn.Conv2d(6, 6, 4, padding="same", padding_mode="reflect", bias=False)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.conv2(self.relu(self.conv(x)))))


def test_stride_dilation_groups_bias_and_a_shared_relu() -> None:
    model = _Strided().eval()
    x = torch.randn(1, 4, 11, 11, generator=torch.Generator().manual_seed(2))
    table = rf.analyze(model, (4, 11, 11))
    x_in, y = _io(model, "conv", x)
    assert y.shape == (6, 6, 6)
    for c, (i, j) in [(0, (0, 0)), (4, (5, 2)), (5, (5, 5))]:
        tr = ct.trace_unit(model, table, x, "conv", c, (i, j))
        assert tr.in_channels == ((0, 1) if c < 3 else (2, 3))  # groups=2: 3 outputs per group of 2 inputs
        assert tr.rows == tuple(2 * i - 2 + 2 * a for a in range(3))  # stride 2, padding 2, dilation 2
        assert tr.sum == pytest.approx(float(y[c, i, j]), abs=1e-5)
        assert tr.bias == float(model.conv.bias.detach()[c])
        relu_of_conv = max(0.0, float(y[c, i, j]))
        assert tr.activation == pytest.approx(relu_of_conv)  # the first call of the shared ReLU, not the second
    # an even kernel with 'same' reflect padding: torch puts the odd pixel after
    x2, y2 = _io(model, "conv2", x)
    tr = ct.trace_unit(model, table, x, "conv2", 2, (0, 5))
    assert tr.padding == (1, 1) and tr.padding_mode == "reflect"
    assert tr.sum == pytest.approx(float(y2[2, 0, 5]), abs=1e-5)
    assert tr.pool is not None and tr.pool.op == "AvgPool2d" and tr.pool.unit == (0, 2)


def test_refusals_say_what_was_expected(small) -> None:
    model, table, x = small
    with pytest.raises(ValueError, match=r"expected a convolution \(Conv2d\) layer.*features.1 \(BatchNorm2d\)"):
        ct.trace_unit(model, table, x, "features.1", 0, (0, 0))
    with pytest.raises(ValueError, match="expected a channel between 0 and 31 for features.0, got 32"):
        ct.trace_unit(model, table, x, "features.0", 32, (0, 0))
    with pytest.raises(ValueError, match="expected a channel"):
        ct.trace_unit(model, table, x, "features.0", True, (0, 0))
    with pytest.raises(ValueError, match=r"0 <= row < 8 and 0 <= column < 8 for features.8, got \(0, 8\)"):
        ct.trace_unit(model, table, x, "features.8", 0, (0, 8))
    with pytest.raises(ValueError, match=r"expected x of shape \(1, 3, 32, 32\)"):
        ct.trace_unit(model, table, x[:, :, :16], "features.0", 0, (0, 0))


def test_the_memory_budget_is_checked_before_the_forward(small, monkeypatch) -> None:
    model, _, _ = small
    from vizcore.core.hooks import leaf_output_numel

    x = torch.zeros(1, 3, 512, 512)  # small_cnn pools adaptively: any input size runs
    table = rf.analyze(model, (3, 512, 512))
    numel, _ = leaf_output_numel(model, lambda: model(x))
    params = sum(p.numel() * 4 for p in model.parameters())
    assert 4 * numel + params <= ct.forward_bytes(table, model) <= 3 * (4 * numel) + params  # an upper bound
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET_MB", "16")  # the estimate is about 140 MB
    calls: list[int] = []
    h = model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(MemoryBudgetError, match="at 512×512 would need about .* above this server's memory"):
            ct.trace_unit(model, table, x, "features.0", 0, (0, 0))
        with pytest.raises(MemoryBudgetError):
            ov.run_overview(model, table, x)
    finally:
        h.remove()
    assert not calls  # refused before any forward pass


def test_cli_trace_and_its_one_line_errors() -> None:
    rc, out, _ = cli_json(["trace", "--weights", "trained", "--image", "coffee", "--node", "features.0",
                           "--channel", "3", "--unit", "0,31", "--json"])
    assert rc == 0 and out is not None
    patch, kernel = np.array(out["patch"]), np.array(out["kernel"])
    assert patch.shape == kernel.shape == (3, 3, 3)
    assert (patch * kernel).sum() + out["bias"] == pytest.approx(out["output"], abs=1e-5)
    assert out["sum"] == pytest.approx(out["output"], abs=1e-5)
    assert (patch[:, 0, :] == 0).all() and (patch[:, :, 2] == 0).all()  # the top and right padding
    assert out["activation"] == max(0.0, out["steps"][0]["output"])
    assert out["field"]["box"] == [-1, 30, 1, 32] and out["field"]["clipped"] == [0, 30, 1, 31]
    for args, words in [(["--node", "features.3", "--channel", "0", "--unit", "0,0"], "expected a convolution"),
                        (["--node", "features.0", "--channel", "0", "--unit", "32,0"], "0 <= row < 32"),
                        (["--node", "features.0", "--channel", "-1", "--unit", "0,0"], "expected a channel"),
                        (["--node", "features.0", "--channel", "0", "--unit", "1"], "expected --unit as ROW,COL")]:
        rc, out, err = cli_json(["trace", *args, "--json"])
        assert rc == 2 and out is None and words in err and len(err.strip().splitlines()) == 1


def test_the_number_figures_write_the_traces_own_numbers(small) -> None:
    from vizcore.figures import conv_trace as figs

    model, table, x = small
    tr = ct.trace_unit(model, table, x, "features.0", 2, (31, 0))  # bottom-left corner: 5 padded positions
    fig = figs.numbers_figure(tr, [0, 1, 2])
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 9  # patch, kernel, products for each of the 3 input channels
    patch0 = next(t for t in heat if t.xaxis == "x" and t.yaxis == "y")
    for a in range(3):
        for b in range(3):
            want = "0<br>pad" if tr.padded[a, b] else figs._number(float(tr.patch[0, a, b]))
            assert patch0.text[a][b] == want
    titles = [a.text for a in fig.layout.annotations]
    for k in range(3):
        assert f"patch × kernel: Σ = {tr.products[k].sum():.3f}" in titles
    assert fig.layout.title.text and fig.layout.xaxis7.title.text == "input column"
    bars = figs.contributions_figure(tr, [0])
    np.testing.assert_allclose(bars.data[0].y, tr.products.reshape(3, -1).sum(1))
    assert bars.layout.xaxis.title.text and bars.layout.yaxis.title.text
    assert tr.pool is not None
    pool = figs.pool_figure(tr.pool, tr.unit)
    assert f"{tr.pool.value:.4f}" in pool.layout.title.text and pool.layout.yaxis.title.text
