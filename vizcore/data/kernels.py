"""Batched, deterministic image kernels with one parameter *per image*, built from torchvision's own kernels.

``torchvision.transforms.v2.functional`` applies one parameter value to a whole batch; an augmentation pipeline
draws a different value for every image. Calling the kernel once per image costs a Python round trip each
(hundreds of microseconds for a 32×32 image), so the kernels here take per-image parameters and run once per
batch, reusing torchvision's building blocks (its inverse affine matrix, perspective coefficients, identity grid,
grid sampler with fill mask, grayscale, HSV conversion, dtype conversion; the private ones through
:mod:`vizcore.data.tv_private`). Each is checked in the tests against
the per-image torchvision call with the same parameters.

Fill modes for geometric kernels: ``constant`` (torchvision's fill value), ``edge`` (the border pixel repeats,
``grid_sample(padding_mode="border")``) and ``reflect`` (the image mirrors at its border,
``padding_mode="reflection"``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as tF

from vizcore.core import lazy

if TYPE_CHECKING:
    from torchvision.transforms.v2 import functional as F

    from vizcore.data import tv_private as tvp
else:  # imported at the first kernel that uses them: a run without such operations trains without torchvision
    F = lazy.module("torchvision.transforms.v2.functional")
    tvp = lazy.module("vizcore.data.tv_private")

FillMode = Literal["constant", "edge", "reflect"]
FILL_MODES: tuple[str, ...] = ("constant", "edge", "reflect")


def sample_grid(images: torch.Tensor, grid: torch.Tensor, fill_mode: FillMode = "constant",
                fill: float = 0.0) -> torch.Tensor:
    """Bilinear resampling of uint8 images (N, C, H, W) at per-image grids (N, H, W, 2) in [-1, 1] coordinates.

    ``constant`` goes through torchvision's ``_apply_grid_transform`` (the same mask trick for the fill colour);
    ``edge`` and ``reflect`` use ``grid_sample``'s border and reflection padding. Returns uint8 (N, C, H, W).
    """
    if fill_mode == "constant":
        return tvp.apply_grid_transform(images, grid, "bilinear", fill=[float(fill)] * images.shape[1])
    mode = "border" if fill_mode == "edge" else "reflection"
    out = tF.grid_sample(images.float(), grid, mode="bilinear", padding_mode=mode, align_corners=False)
    return out.round_().clamp_(0, 255).to(images.dtype)


def affine_grid(matrices: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """torchvision's ``_affine_grid`` for a stack of inverse affine matrices (N, 2, 3) -> grids (N, H, W, 2)."""
    dev, dt = matrices.device, matrices.dtype
    xs = torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width, device=dev, dtype=dt)
    ys = torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height, device=dev, dtype=dt)
    base = torch.stack([xs.expand(height, width), ys[:, None].expand(height, width),
                        torch.ones(height, width, device=dev, dtype=dt)], dim=-1).view(1, height * width, 3)
    theta = matrices.transpose(1, 2) / torch.tensor([0.5 * width, 0.5 * height], device=dev, dtype=dt)
    return (base @ theta).view(-1, height, width, 2)


def affine(images: torch.Tensor, angle: list[float], translate: list[tuple[float, float]], scale: list[float],
           shear: list[tuple[float, float]], fill_mode: FillMode = "constant", fill: float = 0.0) -> torch.Tensor:
    """``F.affine`` with one (angle°, (tx, ty) px, scale, (shear_x°, shear_y°)) per image, about the centre."""
    n, _, h, w = images.shape
    mats = [tvp.get_inverse_affine_matrix([0.0, 0.0], float(a), [float(t[0]), float(t[1])], float(s),
                                               [float(sh[0]), float(sh[1])])
            for a, t, s, sh in zip(angle, translate, scale, shear)]
    theta = torch.tensor(mats, dtype=torch.float32, device=images.device).view(n, 2, 3)
    return sample_grid(images, affine_grid(theta, h, w), fill_mode, fill)


def perspective(images: torch.Tensor, endpoints: list[list[list[int]]], fill_mode: FillMode = "constant",
                fill: float = 0.0) -> torch.Tensor:
    """``F.perspective`` from the image corners to per-image ``endpoints`` (4 corners (x, y) each)."""
    _, _, h, w = images.shape
    start = [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]
    grids = [tvp.perspective_grid(tvp.perspective_coefficients(start, e, None), ow=w, oh=h,
                                       dtype=torch.float32, device=images.device) for e in endpoints]
    return sample_grid(images, torch.cat(grids), fill_mode, fill)


def elastic_displacement(seeds: list[int], alpha: float, sigma: float, height: int, width: int) -> torch.Tensor:
    """The displacement fields of ``v2.ElasticTransform`` (uniform noise in [-1, 1], Gaussian-smoothed with a
    kernel of side 8·sigma + 1, scaled by alpha / side), one per seed -> (N, H, W, 2) in grid units (Simard et
    al., ICDAR 2003). All fields share the kernel, so they are smoothed in one call."""
    noise = torch.stack([torch.rand(2, height, width, generator=torch.Generator().manual_seed(int(s)))
                         for s in seeds]) * 2 - 1  # (N, 2, H, W): dx, dy
    if sigma > 0.0:
        k = int(8 * sigma + 1)
        k += 1 - k % 2  # the kernel side must be odd
        while k // 2 >= min(height, width):  # reflect padding needs a margin smaller than the image
            k -= 2
        noise = F.gaussian_blur(noise, [k, k], [sigma, sigma])
    return (noise * torch.tensor([alpha / width, alpha / height]).view(1, 2, 1, 1)).permute(0, 2, 3, 1)


def elastic(images: torch.Tensor, seeds: list[int], alpha: float, sigma: float, fill_mode: FillMode = "constant",
            fill: float = 0.0) -> torch.Tensor:
    """``F.elastic`` with one displacement field per image (from its seed), in one resampling."""
    _, _, h, w = images.shape
    base = tvp.create_identity_grid((h, w), device=images.device, dtype=torch.float32)
    disp = elastic_displacement(seeds, alpha, sigma, h, w).to(images.device)
    return sample_grid(images, base + disp, fill_mode, fill)


def shifted_crop(images: torch.Tensor, offsets: torch.Tensor, padding: int,
                 fill_mode: FillMode = "reflect", fill: float = 0.0) -> torch.Tensor:
    """``v2.RandomCrop(size, padding, padding_mode)``: pad by ``padding`` and crop at per-image (top, left)
    ``offsets`` (N, 2), done as one gather of indices into the unpadded images (no padded copy)."""
    n, c, h, w = images.shape
    off = offsets.to(images.device)
    rows = off[:, 0, None] - padding + torch.arange(h, device=images.device)  # (N, H)
    cols = off[:, 1, None] - padding + torch.arange(w, device=images.device)  # (N, W)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    if fill_mode == "reflect":
        rows, cols = _reflect(rows, h), _reflect(cols, w)
    else:
        rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    b = torch.arange(n, device=images.device)[:, None, None]
    out = images.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if fill_mode == "constant":
        out = torch.where(inside[:, None], out, torch.tensor(int(fill), dtype=images.dtype, device=images.device))
    return out.contiguous()


def _reflect(i: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect indices into [0, size) like ``F.pad(mode="reflect")`` (edge not repeated); |overshoot| < size."""
    i = torch.where(i < 0, -i, i)
    return torch.where(i >= size, 2 * (size - 1) - i, i)


def box_mask(height: int, width: int, boxes: torch.Tensor) -> torch.Tensor:
    """Boolean masks (N, 1, H, W) of per-image boxes (N, 4) = (top, left, box height, box width)."""
    r = torch.arange(height, device=boxes.device)[None, :, None]
    c = torch.arange(width, device=boxes.device)[None, None, :]
    t, left, bh, bw = (boxes[:, k, None, None] for k in range(4))
    return ((r >= t) & (r < t + bh) & (c >= left) & (c < left + bw))[:, None]


# ---------------------------------------------------------------------------------------- colour


def _per_image(values: list[float], images: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=images.device).view(-1, 1, 1, 1)


def _blend(image1: torch.Tensor, image2: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    # torchvision's _blend with a per-image ratio (N, 1, 1, 1); uint8 output truncates as torchvision's does
    out = image1.float().mul(ratio).add_(image2 * (1.0 - ratio)).clamp_(0, 255)
    return out.to(image1.dtype)


def brightness(images: torch.Tensor, factors: list[float]) -> torch.Tensor:
    """``F.adjust_brightness`` per image: blend with black."""
    return _blend(images, torch.zeros((), device=images.device), _per_image(factors, images))


def contrast(images: torch.Tensor, factors: list[float]) -> torch.Tensor:
    """``F.adjust_contrast`` per image: blend with the mean of the (floored) grey image."""
    grey = (tvp.rgb_to_grayscale_image(images, 1, preserve_dtype=False).floor_() if images.shape[1] == 3
            else images.float())
    return _blend(images, grey.mean(dim=(-3, -2, -1), keepdim=True), _per_image(factors, images))


def saturation(images: torch.Tensor, factors: list[float]) -> torch.Tensor:
    """``F.adjust_saturation`` per image: blend with the grey image (grey images pass unchanged)."""
    if images.shape[1] == 1:
        return images
    grey = tvp.rgb_to_grayscale_image(images, 1, preserve_dtype=False).floor_()  # as torchvision for uint8
    return _blend(images, grey, _per_image(factors, images))


def blend_jitter(images: torch.Tensor, factors: list[float], kind: torch.Tensor) -> torch.Tensor:
    """Brightness (kind 2), contrast (3) or saturation (4) per image in one blend; other kinds pass unchanged
    (their factor must be 1). kind: (N, 1, 1, 1) int."""
    if images.shape[1] == 3:  # torchvision floors the grey image of uint8 input for both contrast and saturation
        grey = tvp.rgb_to_grayscale_image(images, 1, preserve_dtype=False).floor_()
    else:
        grey = images.float()
    mean = grey.mean(dim=(-3, -2, -1), keepdim=True)
    if images.shape[1] == 1:  # torchvision leaves grey images unchanged by saturation
        grey = torch.where(kind == 4, images.float(), grey)
    other = torch.where(kind == 2, 0.0, torch.where(kind == 3, mean, grey))
    return _blend(images, other, _per_image(factors, images))


def hue(images: torch.Tensor, factors: list[float]) -> torch.Tensor:
    """``F.adjust_hue`` per image: rotate the hue in HSV space by ``factor`` of a turn, in [-0.5, 0.5]."""
    if images.shape[1] == 1:
        return images
    hsv = tvp.rgb_to_hsv(F.to_dtype(images, torch.float32, scale=True))
    h = hsv[:, 0]
    h.add_(torch.tensor(factors, dtype=h.dtype, device=h.device).view(-1, 1, 1)).remainder_(1.0)
    return F.to_dtype(tvp.hsv_to_rgb(hsv), images.dtype, scale=True)


def gamma(images: torch.Tensor, gammas: list[float]) -> torch.Tensor:
    """``F.adjust_gamma`` per image: pixels in [0, 1] raised to ``gamma``."""
    out = F.to_dtype(images, torch.float32, scale=True).pow_(_per_image(gammas, images))
    return F.to_dtype(out, images.dtype, scale=True)


def gaussian_blur(images: torch.Tensor, kernel_size: int, sigmas: list[float]) -> torch.Tensor:
    """``F.gaussian_blur`` with one sigma per image: one depthwise convolution with per-image kernels,
    reflect-padded as torchvision pads."""
    n, c, h, w = images.shape
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, steps=kernel_size, device=images.device)
    k1 = torch.exp(-0.5 * (x[None] / torch.tensor(sigmas, device=images.device)[:, None]).pow(2))
    k1 = k1 / k1.sum(1, keepdim=True)  # (N, K)
    k2 = (k1[:, :, None] * k1[:, None, :]).repeat_interleave(c, 0)[:, None]  # (N*C, 1, K, K)
    p = kernel_size // 2
    xp = tF.pad(images.float().reshape(1, n * c, h, w), [p, p, p, p], mode="reflect")
    out = tF.conv2d(xp, k2, groups=n * c).reshape(n, c, h, w)
    return out.round_().clamp_(0, 255).to(images.dtype)
