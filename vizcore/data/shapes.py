"""The embedded synthetic shapes data set: ten shape classes, textures, clutter, object masks, cue conflict.

Ten shape classes drawn at a random position, scale, rotation and colour, filled with one of ten textures, on a
cluttered background, with an object mask per image. In the normal set each class has a *typical* texture (used
with probability ``texture_prob``), so a network can solve the task from either cue. The cue-conflict variant
draws the outline of one class filled with the typical texture of another, as in Geirhos et al., "ImageNet-trained
CNNs are biased towards texture; increasing shape bias improves accuracy and robustness" (ICLR 2019): a
classifier's *shape bias* is the fraction of cue-conflict images it classifies by shape among those it classifies
by shape or by texture.

Rendering is vectorised: every shape is a signed distance function (formulas after Inigo Quilez's 2D distance
functions) evaluated on a batched coordinate grid, so 20k 32x32 images take a few seconds on one core
(``bench/data_gen.py`` compares with torchvision's FakeData).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vizcore.data.imageset import MAX_SHAPES_SIZE, ImageSet, check_n_size, check_seed

# ------------------------------------------------------------------------------------------- shapes

SHAPE_CLASSES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross", "ring", "crescent", "heart", "arrow", "ellipse",
)
TEXTURES: tuple[str, ...] = (
    "solid", "h_stripes", "v_stripes", "diag_stripes", "anti_diag_stripes", "checker", "dots", "grid", "noise",
    "waves",
)
# The typical texture of each class (index into TEXTURES): class k -> texture k. Fixed so a model trained on one
# seed can be tested for texture bias on another.
TYPICAL_TEXTURE: tuple[int, ...] = tuple(range(len(SHAPE_CLASSES)))
_CHUNK_PIXELS = 1 << 19  # pixels rendered at once: working maps of 2 MB stay in cache (2x faster than 8 MB)


def _length(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x * x + y * y)


def _sd_box(x: torch.Tensor, y: torch.Tensor, bx: float, by: float) -> torch.Tensor:
    qx, qy = x.abs() - bx, y.abs() - by
    return _length(qx.clamp(min=0), qy.clamp(min=0)) + torch.maximum(qx, qy).clamp(max=0)


def _sd_star(x: torch.Tensor, y: torch.Tensor, r: float, n: int, m: float) -> torch.Tensor:
    """Signed distance to an n-pointed star of outer radius r (m = 2: regular n-gon; larger m: sharper points)."""
    an, en = math.pi / n, math.pi / m
    acx, acy = math.cos(an), math.sin(an)
    ecx, ecy = math.cos(en), math.sin(en)
    bn = torch.remainder(torch.atan2(x, y), 2 * an) - an
    ln = _length(x, y)
    px, py = ln * torch.cos(bn) - r * acx, ln * torch.sin(bn).abs() - r * acy
    t = (-(px * ecx + py * ecy)).clamp(0.0, r * acy / ecy)
    px, py = px + ecx * t, py + ecy * t
    return _length(px, py) * torch.sign(px)


def _sd_polygon(x: torch.Tensor, y: torch.Tensor, r: float, n: int) -> torch.Tensor:
    """Signed distance to a regular n-gon with circumradius r, a vertex on +y."""
    an = math.pi / n
    acx, acy = math.cos(an), math.sin(an)
    bn = torch.remainder(torch.atan2(x, y), 2 * an) - an
    ln = _length(x, y)
    px, py = ln * torch.cos(bn) - r * acx, ln * torch.sin(bn).abs() - r * acy
    py = py + (-py).clamp(0.0, r * acy)
    return _length(px, py) * torch.sign(px)


def _sd_ellipse(x: torch.Tensor, y: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (semi-axes a, b): the level set scaled by its
    gradient, exact on the boundary, which is all the anti-aliased coverage needs."""
    k0 = _length(x / a, y / b)
    k1 = _length(x / (a * a), y / (b * b))
    return k0 * (k0 - 1.0) / k1.clamp(min=1e-6)


def _sd_heart(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Quilez's heart spans x in [-0.6, 0.6], y in [0, 1.1] (tip at the origin); centre and scale it to ~radius 1.
    k = 0.62
    x, y = (x * k).abs(), y * k + 0.5
    upper = _length(x - 0.25, y - 0.75) - math.sqrt(2.0) / 4.0
    s = (x + y).clamp(min=0) * 0.5
    lower = torch.sqrt(torch.minimum((x * x + (y - 1.0) ** 2), (x - s) ** 2 + (y - s) ** 2)) * torch.sign(x - y)
    return torch.where(x + y > 1.0, upper, lower) / k


def _shape_sdf(k: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Signed distance (in object radii; < 0 inside) of class ``SHAPE_CLASSES[k]`` at local coordinates x, y."""
    name = SHAPE_CLASSES[k]
    if name == "circle":
        return _length(x, y) - 0.9
    if name == "square":
        return _sd_box(x, y, 0.72, 0.72)
    if name == "triangle":
        return _sd_polygon(x, y + 0.15, 1.1, 3)
    if name == "star":
        return _sd_star(x, y, 1.05, 5, 3.2)
    if name == "cross":
        return torch.minimum(_sd_box(x, y, 0.95, 0.3), _sd_box(x, y, 0.3, 0.95))
    if name == "ring":
        return (_length(x, y) - 0.72).abs() - 0.24
    if name == "crescent":
        return torch.maximum(_length(x, y) - 0.95, -(_length(x - 0.5, y) - 0.75))
    if name == "heart":
        return _sd_heart(x, y)
    if name == "arrow":
        return torch.minimum(_sd_polygon(x, y - 0.35, 0.65, 3), _sd_box(x, y + 0.35, 0.2, 0.6))
    if name == "ellipse":
        return _sd_ellipse(x, y, 1.0, 0.5)
    raise AssertionError(name)


def _texture(t: int, x: torch.Tensor, y: torch.Tensor, phase: torch.Tensor, period: float,
             noise: torch.Tensor) -> torch.Tensor:
    """Texture ``TEXTURES[t]`` in [0, 1] at pixel coordinates (x, y); phase: (B, 1, 1) in [0, 1)."""
    name = TEXTURES[t]
    w = 2 * math.pi / period
    ph = phase * 2 * math.pi
    if name == "solid":
        return torch.zeros_like(x)
    if name == "h_stripes":
        return (torch.sin(y * w + ph) > 0).float()
    if name == "v_stripes":
        return (torch.sin(x * w + ph) > 0).float()
    if name == "diag_stripes":
        return (torch.sin((x + y) * (w / math.sqrt(2)) + ph) > 0).float()
    if name == "anti_diag_stripes":
        return (torch.sin((x - y) * (w / math.sqrt(2)) + ph) > 0).float()
    if name == "checker":
        s = period / 2
        o = phase * period
        return torch.remainder(torch.floor((x + o) / s) + torch.floor((y + o) / s), 2)
    if name == "dots":
        o = phase * period
        dx = torch.remainder(x + o, period) - period / 2
        dy = torch.remainder(y + o, period) - period / 2
        return (dx * dx + dy * dy < (0.3 * period) ** 2).float()
    if name == "grid":
        o = phase * period
        return ((torch.remainder(x + o, period) < 1.0) | (torch.remainder(y + o, period) < 1.0)).float()
    if name == "noise":
        return noise
    if name == "waves":
        return (torch.sin(y * w + 1.8 * torch.sin(x * (w / 1.5)) + ph) > 0).float()
    raise AssertionError(name)


_N_DOTS, _N_SEGS = 2, 2  # clutter: two dots and two short line segments per image
_N_LAYERS = 1 + _N_DOTS + _N_SEGS + 2  # colour layers: background, clutter items, the two fill colours


@dataclass(frozen=True)
class _Draws:
    """Every random parameter of a set, per image, drawn up front (see :func:`_draw`)."""

    labels: torch.Tensor  # (n,) class index
    radius: torch.Tensor  # (n,) object radius in pixels
    cx: torch.Tensor  # (n,) object centre x in pixels
    cy: torch.Tensor  # (n,) object centre y in pixels
    theta: torch.Tensor  # (n,) rotation in radians
    bg: torch.Tensor  # (n, 3) background colour in [0, 1]
    c1: torch.Tensor  # (n, 3) first fill colour
    c2: torch.Tensor  # (n, 3) second fill colour
    phase: torch.Tensor  # (n,) texture phase in [0, 1)
    textures: torch.Tensor  # (n,) texture index
    texture_labels: torch.Tensor | None  # (n,) the class whose texture fills the object (cue conflict only)
    cl_pos: torch.Tensor  # (n, items, 4) clutter: dot centre (x, y) / segment start, end, in pixels
    cl_on: torch.Tensor  # (n, items) 1.0 where the clutter item is drawn
    cl_col: torch.Tensor  # (n, items, 3) clutter colours
    cl_r: torch.Tensor  # (n, items) clutter radii in pixels
    tiles: torch.Tensor  # (tiles, size, size) the bank of noise tiles in [0, 1)
    tile_of: torch.Tensor  # (n,) each image's tile
    tile_ops: torch.Tensor  # (n,) each image's flips and transpose (bits 1, 2, 4)


def _draw(n: int, size: int, g: torch.Generator, cue_conflict: bool, texture_prob: float) -> _Draws:
    """All per-image parameters from ``g``, in one fixed order: the images depend only on (seed, n), not on the
    chunking."""
    k = len(SHAPE_CLASSES)
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    u = torch.rand(n, 16, generator=g)
    radius = (0.25 + 0.13 * u[:, 0]) * size
    # Keep the object inside the image: its extent is at most ~1.05 radii from the centre.
    margin = radius * 1.05 + 0.5
    cx = margin + (size - 2 * margin) * u[:, 1]
    cy = margin + (size - 2 * margin) * u[:, 2]
    theta = 2 * math.pi * u[:, 3]
    bg = torch.rand(n, 3, generator=g)
    # Both fill colours differ from the background by a circular distance >= 0.25 per channel (the outline is
    # always visible) and from each other by >= 0.2 (the texture is visible); which one is brighter is random.
    off = torch.stack([0.25 + 0.15 * torch.rand(n, 3, generator=g), 0.6 + 0.15 * torch.rand(n, 3, generator=g)])
    swap = torch.rand(n, 3, generator=g) < 0.5
    c1 = torch.remainder(bg + torch.where(swap, off[1], off[0]), 1.0)
    c2 = torch.remainder(bg + torch.where(swap, off[0], off[1]), 1.0)
    phase = u[:, 4]
    if cue_conflict:
        texture_labels = torch.remainder(labels + torch.randint(1, k, (n,), generator=g), k)
        textures = torch.tensor(TYPICAL_TEXTURE)[texture_labels]
    else:
        texture_labels = None
        typical = torch.tensor(TYPICAL_TEXTURE)[labels]
        textures = torch.where(u[:, 5] < texture_prob, typical, torch.randint(0, len(TEXTURES), (n,), generator=g))
    # Clutter: each item present with probability 0.8.
    items = _N_DOTS + _N_SEGS
    cl_pos = torch.rand(n, items, 4, generator=g) * size
    cl_on = (torch.rand(n, items, generator=g) < 0.8).float()
    cl_col = torch.rand(n, items, 3, generator=g)
    cl_r = (0.03 + 0.04 * torch.rand(n, items, generator=g)) * size
    # Pixel noise comes from a bank of noise tiles, each image taking one tile, flipped and transposed at random:
    # drawing a fresh random number per pixel was the slowest single step.
    n_tiles = min(n, 257)
    tiles = torch.rand(n_tiles, size, size, generator=g)
    tile_of = torch.randint(0, n_tiles, (n,), generator=g)
    tile_ops = torch.randint(0, 8, (n,), generator=g)
    return _Draws(labels, radius, cx, cy, theta, bg, c1, c2, phase, textures, texture_labels, cl_pos, cl_on, cl_col,
                  cl_r, tiles, tile_of, tile_ops)


def _noise(d: _Draws, order: torch.Tensor) -> torch.Tensor:
    """(b, size, size) uniform noise of the images at ``order``: each one's tile, flipped/transposed."""
    u01 = d.tiles[d.tile_of[order]]
    ops = d.tile_ops[order]
    u01 = torch.where((ops & 1).bool()[:, None, None], u01.flip(-1), u01)
    u01 = torch.where((ops & 2).bool()[:, None, None], u01.flip(-2), u01)
    return torch.where((ops & 4).bool()[:, None, None], u01.transpose(-1, -2), u01)


def _object_distance(d: _Draws, order: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(signed distance to the object in radii (b, size, size), radius in pixels (b, 1, 1)) of the images at
    ``order``, which are sorted by class: each class's distance function runs on one contiguous slice."""
    # Object: local coordinates in radii, rotated by -theta.
    th = d.theta[order]
    ct, st = torch.cos(th)[:, None, None], torch.sin(th)[:, None, None]
    r = d.radius[order, None, None]  # object radius in pixels
    dx, dy = xs - d.cx[order, None, None], ys - d.cy[order, None, None]
    lx, ly = (ct * dx + st * dy) / r, (-st * dx + ct * dy) / r
    sd = torch.empty(len(order), ys.shape[1], xs.shape[2])
    lab = d.labels[order]
    k = len(SHAPE_CLASSES)
    bounds = torch.searchsorted(lab, torch.arange(k + 1)).tolist()
    for c in range(k):
        lo, hi = bounds[c], bounds[c + 1]
        if hi > lo:
            sd[lo:hi] = _shape_sdf(c, lx[lo:hi], ly[lo:hi])
    return sd, r


def _clutter_weights(d: _Draws, order: torch.Tensor, sd_px: torch.Tensor, cover: torch.Tensor, xs: torch.Tensor,
                     ys: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Fill the background and clutter layers of ``weights`` ("over" compositing, back to front, under the
    object's ``cover``); returns the transmittance left for the background. ``sd_px``: object distance in pixels."""
    # Clutter keeps a gap of 2-3 pixels from the object, so it never changes the object's silhouette.
    halo = (sd_px - 2.0).clamp_(0, 1)
    pos, r_cl, on = d.cl_pos[order], d.cl_r[order], d.cl_on[order]
    covs = []
    for j in range(_N_DOTS + _N_SEGS):
        p = pos[:, j, :, None, None]
        rc = r_cl[:, j, None, None]
        if j < _N_DOTS:
            dist = _length(xs - p[:, 0], ys - p[:, 1]) - rc * 1.5
        else:
            # Segments are short: the end point is pulled to within 30% of the side of the start.
            ax, ay = (p[:, 2] - p[:, 0]) * 0.3, (p[:, 3] - p[:, 1]) * 0.3
            qx, qy = xs - p[:, 0], ys - p[:, 1]
            h = ((qx * ax + qy * ay) / (ax * ax + ay * ay + 1e-6)).clamp_(0, 1)
            dist = _length(qx - h * ax, qy - h * ay) - rc * 0.5
        covs.append((0.5 - dist).clamp_(0, 1).mul_(on[:, j, None, None]).mul_(halo))
    above = 1.0 - cover  # transmittance of everything above the current layer
    for j in reversed(range(_N_DOTS + _N_SEGS)):
        torch.mul(covs[j], above, out=weights[:, 1 + j])
        above = above * (1.0 - covs[j])
    weights[:, 0] = above
    return above


def _texture_map(d: _Draws, order: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, period: float,
                 noise: torch.Tensor) -> torch.Tensor:
    """(b, size, size) texture in [0, 1] of the images at ``order``, one texture at a time."""
    tx = d.textures[order]
    tex = torch.empty(len(order), ys.shape[1], xs.shape[2])
    ph = d.phase[order]
    for t in range(len(TEXTURES)):
        idx = (tx == t).nonzero().squeeze(1)
        if idx.numel():
            tex[idx] = _texture(t, xs, ys, ph[idx, None, None], period, noise[idx]).expand(idx.numel(), *tex.shape[1:])
    return tex


def _render(d: _Draws, order: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, period: float
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (b, 3, size, size) uint8, masks (b, size, size) bool) of the images at ``order``.

    The image is a per-pixel mix of per-image colours (background, clutter, two fill colours): each layer's
    weight is a one-channel map, and all three channels are mixed in one batched matrix product instead of
    blending the RGB image layer by layer."""
    b, size = len(order), ys.shape[1]
    u01 = _noise(d, order)
    sd, r = _object_distance(d, order, xs, ys)
    cover = (0.5 - sd * r).clamp_(0, 1)  # anti-aliased coverage: signed distance in pixels
    weights = torch.empty(b, _N_LAYERS, size, size)
    above = _clutter_weights(d, order, sd * r, cover, xs, ys, weights)
    tex = _texture_map(d, order, xs, ys, period, (u01 >= 0.5).float())
    torch.mul(cover, tex, out=weights[:, -1])
    torch.sub(cover, weights[:, -1], out=weights[:, -2])
    colours = torch.cat([d.bg[order, :, None], d.cl_col[order].transpose(1, 2), d.c1[order, :, None],
                         d.c2[order, :, None]], dim=2).mul_(255.0)  # (b, 3, layers)
    img = torch.bmm(colours, weights.view(b, _N_LAYERS, -1)).view(b, 3, size, size)
    img.add_((above * (0.06 * 255.0) * (u01 - 0.5)).unsqueeze(1))  # background grain
    return img.round_().clamp_(0, 255).to(torch.uint8), cover > 0.5


def make_shapes(n: int, size: int = 32, seed: int = 0, cue_conflict: bool = False,
                texture_prob: float = 0.7) -> ImageSet:
    """Render ``n`` synthetic shape images, deterministic in ``seed``.

    Classes are balanced (``n // 10`` or one more each) in a seeded random order. Each image: a background colour
    with faint noise and up to four small clutter items (dots, line segments) that keep ~2 pixels away from
    the object, then one object of radius 25-38% of the
    side, anywhere it fits, rotated uniformly, filled with two contrasting colours in a texture. In the normal set
    the texture is the class's typical one (``TYPICAL_TEXTURE``) with probability ``texture_prob``, otherwise
    uniform over all ten. With ``cue_conflict`` the texture is always the typical texture of another class,
    recorded in ``texture_labels``.

    Returns an ImageSet with images (n, 3, size, size) uint8, masks (n, size, size) bool (coverage > 0.5).
    """
    check_n_size(n, size, MAX_SHAPES_SIZE)
    check_seed(seed)
    if not 0.0 <= texture_prob <= 1.0:
        raise ValueError(f"expected texture_prob in [0, 1], got {texture_prob!r}")
    n = int(n)
    size = int(size)
    d = _draw(n, size, torch.Generator().manual_seed(int(seed)), cue_conflict, texture_prob)
    period = max(5.0, size / 6.0)
    ys = (torch.arange(size, dtype=torch.float32) + 0.5).view(1, size, 1)  # broadcast grids: no (N, H, W) copies
    xs = (torch.arange(size, dtype=torch.float32) + 0.5).view(1, 1, size)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    masks = torch.empty(n, size, size, dtype=torch.bool)
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    for s in range(0, n, chunk):
        # Images of a chunk are rendered sorted by class, so each class's distance function runs on a contiguous
        # slice (no pixel-level gather); the result is scattered back to the images' places at the end.
        e = min(n, s + chunk)
        order = s + torch.argsort(d.labels[s:e], stable=True)
        images[order], masks[order] = _render(d, order, xs, ys, period)
    name = "shapes_cue_conflict" if cue_conflict else "shapes"
    return ImageSet(images, d.labels.to(torch.int64), SHAPE_CLASSES, name, masks, d.texture_labels)
