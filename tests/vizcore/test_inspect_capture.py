"""Activation capture, filters and top patches against independent truths (module outputs, brute force)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vizcore.arch import receptive_field as rf
from vizcore.inspect import activations, capture, filters, maximize, top_patches
from vizcore.models import registry as zoo
from vizcore.models.preprocess import for_model


def _small() -> nn.Module:
    return zoo.build_model("small_cnn", seed=1)


def test_captured_tensors_equal_module_outputs_and_hooks_are_removed() -> None:
    model = _small()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = capture.capture(model, ["features.0", "features.6"], x, inputs=True)
    f = model.features
    with torch.no_grad():
        c0 = f[0](x)
        c6 = f[:7](x)
    torch.testing.assert_close(out["features.0"], c0, rtol=0, atol=0)
    torch.testing.assert_close(out["features.6"], c6, rtol=0, atol=0)
    torch.testing.assert_close(out["features.0:input"], x, rtol=0, atol=0)
    assert capture.hook_count(model) == 0
    # without stopping early the model output is returned and equals a plain forward
    with capture.Capture(model, ["fc"]) as cap, torch.no_grad():
        y = cap.run(x)
        assert capture.hook_count(model) == 1
    with torch.no_grad():
        torch.testing.assert_close(y, model(x))
    torch.testing.assert_close(cap.outputs["fc"], y)
    assert capture.hook_count(model) == 0


def test_hooks_are_removed_after_an_exception_and_bad_names_refused() -> None:
    model = _small()
    with pytest.raises(RuntimeError):
        capture.capture(model, ["features.0"], torch.zeros(1, 5, 32, 32), stop_early=False)  # wrong channels
    assert capture.hook_count(model) == 0
    with pytest.raises(RuntimeError), capture.Capture(model, ["features.3"]):
        raise RuntimeError("boom")
    assert capture.hook_count(model) == 0
    with pytest.raises(ValueError, match="expected module paths"):
        capture.Capture(model, ["features.99"])


def test_node_output_of_a_function_node_equals_the_hand_computation() -> None:
    model = zoo.build_model("se_resnet_small", seed=0)
    table = rf.analyze(model, (3, 32, 32))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    nf = table.resolve("layer1.0")  # last node of the block: relu(out + identity)
    got = capture.node_output(table.graph, nf.node, x)
    with torch.no_grad():
        want = model.layer1[0](model.stem(x))
    torch.testing.assert_close(got, want)
    stats = activations.channel_stats(got[0])
    np.testing.assert_allclose(stats["zero_fraction"], (want[0] == 0).double().flatten(1).mean(1).numpy())
    np.testing.assert_allclose(stats["max"], want[0].double().flatten(1).amax(1).numpy())


def test_top_units_equal_brute_force_search_and_patches_lie_under_the_field() -> None:
    model = _small()
    table = rf.analyze(model, (3, 32, 32))
    nf = table.resolve("features.6")
    g = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (23, 3, 32, 32), dtype=torch.uint8, generator=g)
    prep = for_model("small_cnn").batch
    runner = capture.NodeRunner(table.graph, nf.node)
    top = top_patches.top_units(runner, images, k=5, batch_size=4, prepare=prep)
    full = runner(prep(images))  # (N, C, h, w) all at once
    n, c, h, w = full.shape
    for ch in (0, 7, c - 1):
        flat = full[:, ch].flatten()
        v, idx = flat.sort(descending=True)
        torch.testing.assert_close(top.values[ch], v[:5])
        assert top.image[ch].tolist() == (idx[:5] // (h * w)).tolist()
        assert top.unit[ch, :, 0].tolist() == ((idx[:5] % (h * w)) // w).tolist()
    hwc = images.permute(0, 2, 3, 1).numpy()
    p = top_patches.channel_patches(hwc, nf, top, 7)[0]
    assert p.shape == (nf.size[0], nf.size[1], 3)
    i, j = top.unit[7, 0].tolist()
    ub = nf.unit_box(i, j, (32, 32))
    t, l_, b, r = ub.clipped
    np.testing.assert_array_equal(p[t - ub.box[0]:b - ub.box[0] + 1, l_ - ub.box[1]:r - ub.box[1] + 1],
                                  hwc[int(top.image[7, 0]), t:b + 1, l_:r + 1])
    with pytest.raises(ValueError, match="expected k between"):
        top_patches.top_units(runner, images, k=0)


def test_filter_stats_find_planted_dead_and_duplicate_filters() -> None:
    w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    w[2] = 1e-4 * w[2]  # dead
    w[4] = -2.0 * w[1]  # a negated, scaled copy
    st = filters.filter_stats(w)
    assert st.dead == [2]
    assert [(a, b) for a, b, _ in st.duplicates] == [(1, 4)] and st.duplicates[0][2] == pytest.approx(-1.0)
    np.testing.assert_allclose(st.norms, w.flatten(1).norm(dim=1).double().numpy())
    grid = filters.rgb_filters(w)
    assert grid.images.shape == (6, 3, 3, 3) and grid.images.min() == 0 and grid.images.max() == 1
    np.testing.assert_allclose(grid.low, w.flatten(1).amin(1).double().numpy())
    with pytest.raises(ValueError, match="expected an output channel"):
        filters.channel_kernels(w, 6)


def test_activation_maximisation_raises_the_channel_and_is_seeded() -> None:
    model = _small()
    table = rf.analyze(model, (3, 32, 32))
    runner = capture.NodeRunner(table.graph, table.resolve("features.2").node)
    cfg = maximize.MaximizeConfig(steps=12, seed=4)
    a = maximize.maximize(runner.sub, 3, (32, 32), for_model("small_cnn"), cfg)
    b = maximize.maximize(runner.sub, 3, (32, 32), for_model("small_cnn"), cfg)
    assert a.activation[-1] > a.activation[0]
    np.testing.assert_array_equal(a.image, b.image)
    assert all(p.grad is None for p in model.parameters())  # the shared model gets no gradient
    with pytest.raises(ValueError, match="expected steps"):
        maximize.MaximizeConfig(steps=0)


def test_unit_markers_make_every_unit_of_a_map_clickable_and_thin_out_a_large_one() -> None:
    """The overlay of the Features page and the Receptive Field grid are clicked through these markers: one on each
    unit's centre, in row-major order, and a regular subset past the limit."""
    import numpy as np

    from vizcore.figures.features import overlay_figure
    from vizcore.figures.images import unit_markers

    ys, xs = np.array([1.5, 5.5, 9.5]), np.array([2.0, 6.0])
    m = unit_markers(ys, xs, 420, "t")
    assert list(m["y"]) == [1.5, 1.5, 5.5, 5.5, 9.5, 9.5] and list(m["x"]) == [2.0, 6.0] * 3
    big = unit_markers(np.arange(112), np.arange(112), 420, "t", max_markers=4096)
    assert len(big["x"]) <= 4096 and big["x"][1] - big["x"][0] == 2  # every second unit
    fig = overlay_figure(np.zeros((12, 8, 3), np.uint8), np.ones((3, 2)), ys, xs, (0, 0, 3, 3), "t")
    markers = [t for t in fig.data if t.type == "scatter"]
    assert len(markers) == 1 and len(markers[0].x) == 6 and fig.layout.clickmode == "event+select"
    assert len(fig.layout.shapes) == 1  # the field's box
