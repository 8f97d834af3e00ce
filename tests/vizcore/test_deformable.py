"""Deformable convolution: the sampling points read off the offset tensor are where torchvision's DeformConv2d
really reads (zero offsets = a regular conv, an integer offset = a shifted read), and training moves them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from tests.helpers import cli_json
from vizcore.inspect import deformable as dfm


def test_zero_offsets_are_the_regular_grid_and_a_plain_conv():
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(1, 1, 9, 9, generator=g), torch.randn(1, 1, 3, 3, generator=g)
    off = torch.zeros(1, 18, 9, 9)
    torch.testing.assert_close(deform_conv2d(x, off, w, padding=(1, 1)), F.conv2d(x, w, padding=1))
    pts = dfm.sampling_points(off[0])
    assert pts.shape == (9, 9, 9, 2)
    # unit (4, 2) reads rows 3..5 and columns 1..3, row-major
    rows, cols = np.meshgrid([3, 4, 5], [1, 2, 3], indexing="ij")
    assert pts[4, 2].tolist() == np.stack([rows.ravel(), cols.ravel()], axis=1).astype(float).tolist()


@pytest.mark.parametrize("point,dy,dx", [(0, 1, 0), (4, -2, 1), (8, 0, -1)])
def test_an_integer_offset_reads_the_pixel_sampling_points_names(point, dy, dx):
    """A kernel that is 1 at one point only: DeformConv2d's output at each unit is the input at that point's
    sampling position, wherever :func:`sampling_points` says it is (zero outside the picture)."""
    x = torch.arange(1, 101, dtype=torch.float32).reshape(1, 1, 10, 10)
    w = torch.zeros(1, 1, 3, 3)
    w.view(-1)[point] = 1.0
    off = torch.zeros(1, 18, 10, 10)
    off[0, 2 * point], off[0, 2 * point + 1] = dy, dx
    out = deform_conv2d(x, off, w, padding=(1, 1))[0, 0]
    pts = dfm.sampling_points(off[0])[:, :, point]
    for i in range(10):
        for j in range(10):
            r, c = (int(v) for v in pts[i, j])
            expected = float(x[0, 0, r, c]) if 0 <= r < 10 and 0 <= c < 10 else 0.0
            assert float(out[i, j]) == expected


def test_ideal_offsets_make_the_deformable_conv_a_dilated_one():
    g = torch.Generator().manual_seed(1)
    x, w = torch.rand(1, 1, 12, 12, generator=g), torch.randn(1, 1, 3, 3, generator=g)
    off = dfm.ideal_offsets(3).reshape(18, 1, 1).expand(18, 12, 12)[None]
    got = deform_conv2d(x, off, w, padding=(1, 1))
    want = F.conv2d(x, w, padding=3, dilation=3)
    torch.testing.assert_close(got[..., 3:-3, 3:-3], want[..., 3:-3, 3:-3])


@pytest.mark.slow
def test_training_lowers_the_error_and_reports_where_deformconv_reads():
    g = np.random.default_rng(0)
    picture = g.random((6, 6)).repeat(4, axis=0).repeat(4, axis=1).astype(np.float32)  # 24×24 blocks
    r = dfm.train_offsets(picture, dfm.DeformConfig(size=24, dilation=2, steps=30, lr=0.05))
    assert r.loss_curve[-1] < 0.5 * r.loss_regular and r.loss_ideal < 1e-10
    # the reported points are the reported offsets added to the regular grid, in DeformConv2d's layout
    torch.testing.assert_close(torch.from_numpy(r.points), dfm.sampling_points(torch.from_numpy(r.offsets)))
    assert np.abs(r.offsets).max() > 0.05  # the offsets moved from the zero (regular) start


def test_config_refuses_out_of_range():
    with pytest.raises(ValueError, match="expected dilation between 1 and 4, got 5"):
        dfm.DeformConfig(dilation=5)
    with pytest.raises(ValueError, match="expected size between 16"):
        dfm.DeformConfig(size=8)
    with pytest.raises(ValueError, match=r"expected offsets of shape \(18, Ho, Wo\)"):
        dfm.sampling_points(torch.zeros(9, 4, 4))


@pytest.mark.slow
def test_cli_deformable_and_its_refusal():
    rc, out, _ = cli_json(["deformable", "--size", "16", "--steps", "10", "--unit", "8,8", "--json"])
    assert rc == 0 and out is not None
    assert len(out["sampling_points"]) == 9 and out["loss_ideal"] < out["loss_regular"]
    rc, out, err = cli_json(["deformable", "--dilation", "9", "--json"])
    assert rc == 2 and "expected dilation between 1 and 4, got 9" in err and len(err.strip().splitlines()) == 1
