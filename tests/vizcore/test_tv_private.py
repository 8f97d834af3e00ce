"""Each private torchvision function the batched kernels build on (vizcore/data/tv_private.py) still exists and
still does what torchvision's public functions do: an upgrade that changes one fails here, by name."""
from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from vizcore.data import tv_private as tvp

G = torch.Generator().manual_seed(0)
IMG = torch.randint(0, 256, (2, 3, 12, 10), generator=G, dtype=torch.uint8)


def test_every_private_name_resolves_to_a_function() -> None:
    assert set(tvp.NAMES) == set(tvp.__all__) - {"NAMES"}
    for name, (module, private) in tvp.NAMES.items():
        assert callable(getattr(module, private, None)), f"{module.__name__}.{private}"
        assert getattr(tvp, name) is getattr(module, private)


def test_a_missing_private_name_fails_in_words(monkeypatch) -> None:
    from torchvision.transforms.v2.functional import _color

    monkeypatch.delattr(_color, "_rgb_to_hsv")
    with pytest.raises(ImportError, match=r"_color\._rgb_to_hsv .*install the torchvision version"):
        tvp._get("rgb_to_hsv")


def test_identity_grid_and_grid_transform_give_the_image_back() -> None:
    grid = tvp.create_identity_grid((12, 10), device=torch.device("cpu"), dtype=torch.float32)
    out = tvp.apply_grid_transform(IMG, grid.expand(2, -1, -1, -1), "bilinear", fill=[0.0, 0.0, 0.0])
    assert torch.equal(out, IMG)


def test_inverse_affine_matrix_inverts_rotation_scale_and_translation() -> None:
    """The matrix maps output pixels back to input pixels: the inverse of rotate-scale-translate (what F.affine
    resamples with; the kernels built on it are checked against F.affine in test_pipeline.py)."""
    import math

    m = tvp.get_inverse_affine_matrix([0.0, 0.0], 0.0, [0.0, 0.0], 1.0, [0.0, 0.0])
    assert m == pytest.approx([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    a, s, t = 30.0, 2.0, (3.0, -1.0)
    inv = torch.tensor(tvp.get_inverse_affine_matrix([0.0, 0.0], a, list(t), s, [0.0, 0.0])).view(2, 3)
    r = math.radians(a)  # counter-clockwise on the screen: positive in (x right, y down) pixel coordinates
    fwd = torch.tensor([[s * math.cos(r), -s * math.sin(r), t[0]], [s * math.sin(r), s * math.cos(r), t[1]]])
    full = lambda m: torch.cat([m, torch.tensor([[0.0, 0.0, 1.0]])])  # noqa: E731
    assert torch.allclose(full(inv) @ full(fwd), torch.eye(3), atol=1e-5)


def test_perspective_coefficients_and_grid_are_what_perspective_applies() -> None:
    start = [[0, 0], [9, 0], [9, 11], [0, 11]]
    end = [[1, 1], [8, 0], [9, 10], [0, 11]]
    from vizcore.data import kernels

    got = kernels.perspective(IMG, torch.tensor([end, end], dtype=torch.float32))
    want = F.perspective(IMG, start, end, interpolation=F.InterpolationMode.BILINEAR, fill=0)
    assert (got.int() - want.int()).abs().max() <= 1


def test_grayscale_and_hsv_match_the_public_colour_functions() -> None:
    grey = tvp.rgb_to_grayscale_image(IMG, 1, preserve_dtype=True)
    assert torch.equal(grey, F.rgb_to_grayscale(IMG))
    x = F.to_dtype(IMG, torch.float32, scale=True)
    back = tvp.hsv_to_rgb(tvp.rgb_to_hsv(x))
    assert torch.allclose(back, x, atol=1e-5)
    assert torch.equal(F.to_dtype(back, torch.uint8, scale=True), F.adjust_hue(IMG, 0.0))
