"""Attribution maps against hand computations on a tiny hand-weighted model; hooks, threads, in-place ReLUs."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizcore.inspect import attribution as A


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: two OpenMP threads on a busy machine spend more time waiting on each other than computing
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class Square(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


W_CONV = np.array([1.5, -0.7])  # 1x1 convolution, one input channel -> two maps
B_CONV = np.array([0.2, 0.4])


def _tiny() -> tuple[nn.Module, np.ndarray]:
    """x (N, 1, 4, 4) -> conv 1x1 (2 maps) -> 2x2 average pool [layer "1"] -> square -> linear (3 classes).

    The square makes the gradients at the layer vary from place to place (a plain linear head would not)."""
    v = np.linspace(-1.0, 1.2, 3 * 8).reshape(3, 8) * np.array([1, -1, 2, 0.5, -1.5, 1, 0.3, -0.8])
    conv = nn.Conv2d(1, 2, 1, dtype=torch.float64)  # float64 from the start: hand weights copied exactly
    lin = nn.Linear(8, 3, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(W_CONV).view(2, 1, 1, 1))
        conv.bias.copy_(torch.tensor(B_CONV))
        lin.weight.copy_(torch.tensor(v))
        lin.bias.zero_()
    return nn.Sequential(conv, nn.AvgPool2d(2), Square(), nn.Flatten(), lin).eval(), v


def _hand_forward(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Layer activations A (N, 2, 2, 2) and logits (N, 3), by hand."""
    c = W_CONV[None, :, None, None] * x + B_CONV[None, :, None, None]  # (N, 2, 4, 4)
    a = c.reshape(len(x), 2, 2, 2, 2, 2).mean(axis=(3, 5))
    return a, (a * a).reshape(len(x), 8) @ v.T


X = np.random.default_rng(3).normal(size=(2, 1, 4, 4))
TARGETS = [0, 2]


@pytest.fixture(scope="module")
def hand():
    model, v = _tiny()
    a, _ = _hand_forward(X[:, 0][:, None], v)
    g = 2 * a * v[TARGETS].reshape(2, 2, 2, 2)  # dy_t / dA
    return A.prepare(model), v, a, g


def _run(model, method):
    return A.attribute(model, torch.tensor(X), method, TARGETS, "1")


def test_gradcam_is_relu_of_activations_weighted_by_mean_gradients(hand) -> None:
    model, _, a, g = hand
    w = g.mean(axis=(2, 3))
    cam = np.maximum((w[:, :, None, None] * a).sum(1), 0)
    res = _run(model, "gradcam")
    np.testing.assert_allclose(res.low_res.numpy(), cam, rtol=1e-6, atol=1e-12)
    up = F.interpolate(torch.tensor(cam)[:, None], size=(4, 4), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(res.maps.numpy(), up.numpy(), rtol=1e-5, atol=1e-9)
    assert res.maps.shape == (2, 4, 4) and res.layer == "1" and res.targets.tolist() == TARGETS
    assert cam.max() > 0  # the check is not vacuous


def test_gradcam_pp_and_layercam_follow_their_formulas(hand) -> None:
    model, _, a, g = hand
    alpha = g ** 2 / (2 * g ** 2 + a.sum(axis=(2, 3), keepdims=True) * g ** 3)
    w = (alpha * np.maximum(g, 0)).sum(axis=(2, 3))
    pp = np.maximum((w[:, :, None, None] * a).sum(1), 0)
    np.testing.assert_allclose(_run(model, "gradcam_pp").low_res.numpy(), pp, rtol=1e-6, atol=1e-12)
    lc = np.maximum((np.maximum(g, 0) * a).sum(1), 0)
    np.testing.assert_allclose(_run(model, "layercam").low_res.numpy(), lc, rtol=1e-6, atol=1e-12)
    assert not np.allclose(pp / pp.max(), lc / lc.max())  # two different formulas, both matched


def _input_gradient(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """dy_t/dx (N, 4, 4) for activations a: each pixel feeds one pooled place with weight w_k / 4."""
    g = 2 * a * v[TARGETS].reshape(2, 2, 2, 2)
    per_place = (g * W_CONV[None, :, None, None] / 4).sum(1)  # (N, 2, 2)
    return per_place.repeat(2, axis=1).repeat(2, axis=2)


def test_saliency_and_guided_gradcam_against_the_input_gradient(hand) -> None:
    model, v, a, g = hand
    grad = _input_gradient(a, v)
    np.testing.assert_allclose(_run(model, "saliency").maps.numpy(), np.abs(grad), rtol=1e-6)
    # no ReLU in the model: guided backpropagation is the plain gradient, times the upsampled Grad-CAM
    cam = _run(model, "gradcam").maps.numpy()
    np.testing.assert_allclose(_run(model, "guided_gradcam").maps.numpy(), np.abs(cam * grad), rtol=1e-5, atol=1e-12)


def test_integrated_gradients_is_exact_for_a_quadratic_model(hand) -> None:
    model, v, _, _ = hand
    # along the path alpha * x the gradient is linear in alpha: integrate by hand (activations at alpha = 1/2)
    a_half, _ = _hand_forward(X / 2, v)
    ig = X[:, 0] * _input_gradient(a_half, v)
    np.testing.assert_allclose(_run(model, "integrated_gradients").maps.numpy(), np.abs(ig), rtol=1e-6)
    # completeness (Sundararajan et al., 2017): the attributions add up to y(x) - y(0)
    _, y = _hand_forward(X, v)
    _, y0 = _hand_forward(np.zeros_like(X), v)
    np.testing.assert_allclose(ig.sum(axis=(1, 2)), (y - y0)[[0, 1], TARGETS], rtol=1e-9)


def test_occlusion_is_the_mean_score_drop_over_windows_covering_a_pixel(hand) -> None:
    model, v, _, _ = hand
    win, stride = A.occlusion_window(4)
    assert (win, stride) == (2, 1)
    _, y = _hand_forward(X, v)
    drop, count = np.zeros((2, 4, 4)), np.zeros((4, 4))
    for r in range(3):
        for c in range(3):
            xo = X.copy()
            xo[:, :, r:r + 2, c:c + 2] = 0
            _, yo = _hand_forward(xo, v)
            d = (y - yo)[[0, 1], TARGETS]
            drop[:, r:r + 2, c:c + 2] += d[:, None, None]
            count[r:r + 2, c:c + 2] += 1
    np.testing.assert_allclose(_run(model, "occlusion").maps.numpy(), np.maximum(drop / count, 0), rtol=1e-6,
                               atol=1e-12)


def _relu_net(width: int = 8) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(width, 8, 3, padding=1),
                        nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():  # class 0 reads maps 0-3, class 1 maps 4-7: their Grad-CAMs differ clearly
        net[6].weight.zero_()
        net[6].weight[0, :4] = 1.0
        net[6].weight[1, 4:] = 1.0
    return net.eval()


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) +
               len(m._backward_pre_hooks) for m in model.modules())


def test_prepare_copies_and_leaves_the_shared_model_alone() -> None:
    net = _relu_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model = A.prepare(net)
    assert net[1].inplace and not model[1].inplace and not any(p.requires_grad for p in model.parameters())
    A.attribute(model, torch.randn(1, 3, 8, 8), "guided_gradcam", 0, "2")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="in-place ReLU at '1'"):
        A.attribute(net, torch.randn(1, 3, 8, 8), "gradcam", 0, "2")
    # a model handed to a cache (shared) is prepared in place: the same object, not a copy
    owned = _relu_net()
    held, _lock = A.shared(owned)
    assert held is owned and not owned[1].inplace and not any(p.requires_grad for p in owned.parameters())
    assert not owned.training


@pytest.mark.slow
def test_no_hook_left_after_1000_calls_and_after_an_exception() -> None:
    model = A.prepare(_relu_net())
    x = torch.randn(1, 3, 6, 6)
    methods = ["gradcam", "gradcam_pp", "layercam", "guided_gradcam", "saliency"]
    for i in range(1000):
        A.attribute(model, x, methods[i % len(methods)], i % 3, "2")
    assert _hook_count(model) == 0

    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom in the head")

    model[6] = Boom()  # fails after captum attached its hooks
    for method in A.METHODS:
        with pytest.raises(RuntimeError, match="boom in the head"):
            A.attribute(model, x, method, 0, "2", ig_steps=2)
    assert _hook_count(model) == 0


def test_two_threads_with_different_targets_on_one_shared_model() -> None:
    model, lock = A.shared(_relu_net(width=32))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ref = {t: A.attribute(model, x, "gradcam", t, "2").maps for t in (0, 1)}
    assert (ref[0] - ref[1]).abs().max() > 0.1 * ref[0].max()
    wrong: list[str] = []
    barrier = threading.Barrier(2)

    def work(t: int) -> None:
        barrier.wait()
        for _ in range(15):
            try:
                m = A.attribute(model, x, "gradcam", t, "2", lock=lock).maps
                if not torch.allclose(m, ref[t], rtol=1e-5, atol=1e-7):
                    wrong.append(f"target {t}: wrong map")
            except Exception as exc:  # noqa: BLE001 - any failure in a thread must reach the assertion
                wrong.append(f"target {t}: {exc!r}")

    threads = [threading.Thread(target=work, args=(t,)) for t in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert wrong == []
    assert _hook_count(model) == 0


def test_spatial_layers_skip_reused_modules_and_contain_the_zoo_default() -> None:
    from vizcore.models import registry as zoo
    from vizcore.models.weights import get_model

    layers = A.spatial_layers(A.prepare(get_model("resnet18")), (3, 224, 224))
    paths = [la.path for la in layers]
    assert "layer4" in paths and "relu" in paths and "layer4.1.relu" not in paths  # reused twice per block
    l4 = layers[paths.index("layer4")]
    assert l4.out_shape == (512, 7, 7) and "512 maps of 7×7" in A.default_layer_reason(l4)
    for name in ("lenet5", "small_cnn", "se_resnet_small"):
        e = zoo.get_entry(name)
        real = A.spatial_layers(get_model(name), e.input_size)
        assert e.cam_layer in [la.path for la in real]
        assert A.zoo_spatial_layers(name) == real  # the meta device's list: the same layers, kinds and shapes
    assert A.zoo_spatial_layers("resnet18") == layers  # (prepare() leaves the layers as they are)


def test_helpers_and_errors(hand) -> None:
    model = hand[0]
    x = torch.tensor(X)
    maps = torch.tensor([[[0.0, 2.0], [1.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]])
    assert A.peak_location(maps) == [(0, 1), (0, 0)]
    np.testing.assert_allclose(A.normalise(maps)[0].numpy(), [[0, 1], [0.5, 1]])
    p, i = A.predict(model, x, k=2)
    _, y = _hand_forward(X, hand[1])
    assert i.tolist() == np.argsort(-y, axis=1)[:, :2].tolist() and p.shape == (2, 2)
    with pytest.raises(ValueError, match="expected a method from"):
        A.attribute(model, x, "lime", 0, "1")
    with pytest.raises(ValueError, match="expected a layer for Grad-CAM"):
        A.attribute(model, x, "gradcam", 0)
    with pytest.raises(ValueError, match="module path of this model"):
        A.attribute(model, x, "gradcam", 0, "layer9")
    with pytest.raises(ValueError, match="spatial feature maps"):
        A.attribute(model, x, "gradcam", 0, "4")
    with pytest.raises(ValueError, match=r"target classes in \[0, 3\)"):
        A.attribute(model, x, "saliency", [0, 3])
    with pytest.raises(ValueError, match="one target class per image"):
        A.attribute(model, x, "saliency", [0, 1, 2])
    with pytest.raises(ValueError, match="float tensor"):
        A.attribute(model, x[0], "saliency", 0)
    with pytest.raises(ValueError, match="positive ig_steps"):
        A.attribute(model, x, "integrated_gradients", 0, ig_steps=0)


def test_layer_gradients_give_captums_public_grad_cam() -> None:
    """Grad-CAM++ and Layer-CAM take their layer gradients from plain autograd (no private captum function): the
    same gradients and activations rebuild Grad-CAM exactly as captum's public LayerGradCam computes it."""
    from captum.attr import LayerGradCam

    from vizcore.inspect.attribution import layer_gradients
    from vizcore.models import registry as zoo

    model = zoo.build_model("small_cnn", num_classes=4, seed=0).eval()
    for p in model.parameters():
        p.requires_grad_(False)  # frozen weights: the input keeps a graph
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0, 2, 3])
    layer = model.features[6]
    grads, acts = layer_gradients(model, layer, x, t)
    assert grads.shape == acts.shape and acts.shape[0] == 3
    mine = torch.relu((grads.mean((2, 3), keepdim=True) * acts).sum(1, keepdim=True))
    theirs = LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
    assert torch.allclose(mine, theirs, atol=1e-6)


def test_the_peak_is_marked_where_the_map_peaks_on_the_shown_image() -> None:
    """The page's peak marker (both the maps and CAM over training): the peak pixel's centre, scaled from the
    map's 32 pixels to the 224 shown — checked by upsampling the map and finding its peak there."""
    import numpy as np

    from vizcore.inspect.attribution import shown_peak

    m = np.zeros((32, 32))
    m[5, 20] = 1.0
    y, x = shown_peak(m, 224)
    up = np.kron(m, np.ones((7, 7)))  # nearest upsampling 32 -> 224: the peak pixel becomes a 7x7 block
    rows, cols = np.nonzero(up)
    assert (y, x) == (rows.mean(), cols.mean())  # its centre
    assert shown_peak(np.zeros((8, 8)), 224) is None
