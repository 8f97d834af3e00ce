"""One image through the network, against the network itself: each column's maps are the layer's output caught by
a hook, the probabilities are the softmax of the model's own logits, stages end where the map shrinks, and the
units a unit reads are those its gradient reaches."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vizcore.arch import receptive_field as rf
from vizcore.inspect import overview as ov
from vizcore.models import registry as zoo

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convs: a second thread on shared cores only waits


def test_small_model_every_layer_its_real_maps_and_probabilities() -> None:
    model = zoo.build_model("small_cnn", num_classes=4).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    table = rf.analyze(model, (3, 32, 32))
    res = ov.run_overview(model, table, x, n_channels=5, classes=["a", "b", "c", "d"])
    assert res.mode == ov.default_mode(table) == "layers"
    assert [c.label for c in res.columns] == [f"features.{k}" for k in range(14)] + ["pool"]
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_m, _a, out) -> None:
            seen.setdefault(name, out[0].detach().clone())  # cloned before an in-place ReLU changes it
        return hook

    hooks = [model.get_submodule(c.label).register_forward_hook(keep(c.label)) for c in res.columns]
    try:
        with torch.no_grad():
            logits = model(x)[0]
    finally:
        for h in hooks:
            h.remove()
    for c in res.columns:
        real = seen[c.label]
        assert c.shape == tuple(real.shape)
        means = real.flatten(1).mean(1)
        assert list(c.channels) == torch.argsort(-means, stable=True)[:5].tolist()  # strongest first
        np.testing.assert_allclose(c.maps, real[list(c.channels)].numpy(), rtol=1e-5, atol=1e-6)
    assert res.probabilities is not None
    np.testing.assert_allclose(res.probabilities, torch.softmax(logits.double(), 0).numpy(), rtol=1e-6)
    assert res.top(2)[0] == (["a", "b", "c", "d"][int(logits.argmax())], pytest.approx(res.probabilities.max()))


def test_big_model_by_stage_ends_where_the_map_shrinks() -> None:
    table = rf.zoo_fields("resnet50")  # geometry only: the meta device, no weights
    assert ov.default_mode(table) == "stages"
    cols = ov.columns_for(table, "stages")
    assert [c.module for c in cols] == ["relu", "layer1.2.relu", "layer2.3.relu", "layer3.5.relu", "layer4.2.relu",
                                        "avgpool"]
    assert [c.map_size for c in cols] == [(112, 112), (56, 56), (28, 28), (14, 14), (7, 7), (1, 1)]
    vgg = ov.columns_for(rf.zoo_fields("vgg16"), "stages")  # one `features` block: the last layer before each pool
    assert [c.module for c in vgg] == ["features.3", "features.8", "features.15", "features.22", "features.29",
                                       "avgpool"]
    with pytest.raises(ValueError, match="expected at most 40 layers to show one by one, got 1"):
        ov.columns_for(table, "layers")
    with pytest.raises(ValueError, match="expected mode 'layers' or 'stages'"):
        ov.columns_for(table, "all")  # type: ignore[arg-type]


def test_big_model_runs_by_stage_with_random_weights() -> None:
    model = zoo.build_model("resnet18").eval()
    table = rf.analyze(model, (3, 224, 224))
    res = ov.run_overview(model, table, torch.zeros(1, 3, 224, 224), n_channels=2)
    assert res.mode == "stages" and [c.shape[1] for c in res.columns] == [112, 56, 28, 14, 7, 1]
    assert res.probabilities is not None and res.probabilities.shape == (1000,)
    assert res.probabilities.sum() == pytest.approx(1.0)


def test_the_units_a_unit_reads_are_those_its_gradient_reaches() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AvgPool2d(2), nn.Conv2d(2, 2, 3, stride=2, padding=1),
                          nn.Conv2d(2, 2, 5, padding=2, dilation=1), nn.AvgPool2d(3, stride=1)).eval()
    table = rf.analyze(model, (1, 24, 24))
    cols = ov.columns_for(table, "layers")
    for prev, cur in zip(cols, cols[1:], strict=False):
        h, w = cur.map_size  # type: ignore[misc]
        for unit in [(0, 0), (h // 2, w - 1), (h - 1, w // 2)]:
            acts: dict[str, torch.Tensor] = {}
            x = torch.randn(1, 1, 24, 24)
            out = x
            for k, m in enumerate(model):
                out = m(out)
                if str(k) == prev.module:
                    out.retain_grad()
                    acts["prev"] = out
                if str(k) == cur.module:
                    out[0, :, unit[0], unit[1]].sum().backward()
                    break
            reached = acts["prev"].grad[0].abs().sum(0) > 0  # type: ignore[union-attr]
            rows, cols_ = np.nonzero(reached.numpy())
            assert ov.reads_from(prev, cur, unit) == ((rows.min(), rows.max()), (cols_.min(), cols_.max())), \
                (prev.module, cur.module, unit)


def test_refusals() -> None:
    model = zoo.build_model("small_cnn").eval()
    table = rf.analyze(model, (3, 32, 32))
    with pytest.raises(ValueError, match="expected between 1 and 16 channels per column, got 0"):
        ov.run_overview(model, table, torch.zeros(1, 3, 32, 32), n_channels=0)
    with pytest.raises(ValueError, match=r"expected x of shape \(1, 3, 32, 32\)"):
        ov.run_overview(model, table, torch.zeros(1, 3, 16, 16))


def test_the_overview_figure_puts_each_value_at_its_unit() -> None:
    from vizcore.figures import overview as figs

    model = zoo.build_model("small_cnn", num_classes=3).eval()
    table = rf.analyze(model, (3, 32, 32))
    res = ov.run_overview(model, table, torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)),
                          n_channels=3)
    reads = ov.reads_from(res.columns[3].field, res.columns[4].field, (2, 5))
    fig = figs.overview_figure(res, 4, (2, 5), reads)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == len(res.columns)
    for t, c in zip(heat, res.columns, strict=True):
        h = c.shape[1]
        custom = np.asarray(t.customdata)
        for m, i, j in [(0, 0, 0), (2, h - 1, c.shape[2] - 1), (1, h // 2, 0)]:
            cell = custom[m * (h + 1) + i, j]  # maps stacked with one gap row
            assert cell[0] == pytest.approx(c.maps[m, i, j], rel=1e-6) and cell[1] == c.channels[m]
            assert (cell[2], cell[3]) == (i, j)
    bar = next(t for t in fig.data if t.type == "bar")
    assert list(bar.x) == pytest.approx([100 * p for _, p in res.top(3)][::-1])
    assert len(fig.layout.shapes) == 2 * 3  # the unit on each of 3 maps, the window it reads on each of 3 maps
    assert fig.layout.title.text and fig.layout[f"xaxis{len(heat) + 1}"].title.text == "probability (%)"
