"""Searched and random augmentation policies with their draws made explicit: RandAugment, TrivialAugment, AugMix.

RandAugment (Cubuk et al., CVPR Workshops 2020): ``n`` operations drawn uniformly from 14, all at magnitude
``m`` of 30. TrivialAugment (Muller & Hutter, ICCV 2021): one operation of the wide space at a uniformly drawn
magnitude. AugMix (Hendrycks et al., ICLR 2020): ``width`` chains of 1-3 operations, mixed with Dirichlet
weights, then blended with the original by a Beta weight. The operation tables and kernels are torchvision's
(``v2.RandAugment`` / ``v2.TrivialAugmentWide`` / ``v2.AugMix``); the draws follow their ``forward`` but come from
an explicit generator, so a preview lists which operations each image got, at what signed magnitude.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2

NUM_MAGNITUDE_BINS = 31  # torchvision's default: magnitudes 0..30
_RA = v2.RandAugment()
_TA = v2.TrivialAugmentWide()
_AM = v2.AugMix()
RANDAUGMENT_OPS: tuple[str, ...] = tuple(_RA._AUGMENTATION_SPACE)
TRIVIALAUGMENT_OPS: tuple[str, ...] = tuple(_TA._AUGMENTATION_SPACE)
AUGMIX_OPS: tuple[str, ...] = tuple(_AM._AUGMENTATION_SPACE)
NO_MAGNITUDE = ("Identity", "AutoContrast", "Equalize")


def _ops_draws(space: dict, names: tuple[str, ...], idx: torch.Tensor, sign: torch.Tensor, bins: torch.Tensor,
               height: int, width: int) -> list[dict[str, Any]]:
    table = {name: space[name][0](NUM_MAGNITUDE_BINS, height, width) for name in names}
    out = []
    for i in range(idx.shape[0]):
        chosen = []
        for j in range(idx.shape[1]):
            name = names[int(idx[i, j])]
            mags, signed = table[name], space[name][1]
            mag = 0.0 if mags is None else float(mags[int(bins[i, j])])
            if signed and bool(sign[i, j]):
                mag = -mag
            chosen.append([name, mag])
        out.append({"ops": chosen})
    return out


def draw_randaugment(p: Mapping[str, Any], n: int, height: int, width: int,
                     gen: torch.Generator) -> list[dict[str, Any]]:
    """RandAugment's choices for ``n`` images: ``{"ops": [[name, signed magnitude], ...]}`` each."""
    k = int(p["n"])
    idx = torch.randint(0, len(RANDAUGMENT_OPS), (n, k), generator=gen)
    sign = (torch.rand(n * k, generator=gen) < 0.5).view(n, k)
    bins = torch.full((n, k), int(p["m"]))
    return _ops_draws(_RA._AUGMENTATION_SPACE, RANDAUGMENT_OPS, idx, sign, bins, height, width)


def draw_trivialaugment(p: Mapping[str, Any], n: int, height: int, width: int,
                        gen: torch.Generator) -> list[dict[str, Any]]:
    """TrivialAugment's choice for ``n`` images: one operation at a uniform magnitude bin."""
    idx = torch.randint(0, len(TRIVIALAUGMENT_OPS), (n, 1), generator=gen)
    sign = (torch.rand(n, generator=gen) < 0.5).view(n, 1)
    bins = torch.randint(0, NUM_MAGNITUDE_BINS, (n, 1), generator=gen)
    return _ops_draws(_TA._AUGMENTATION_SPACE, TRIVIALAUGMENT_OPS, idx, sign, bins, height, width)


def _op(images: torch.Tensor, name: str, magnitude: float) -> torch.Tensor:
    # torchvision's own kernel dispatch for the auto-augment operations (the same for the RA, TA and AugMix tables)
    return _RA._apply_image_or_video_transform(images, name, magnitude, interpolation=_RA.interpolation,
                                               fill=_RA._fill)


def apply_ops(images: torch.Tensor, draws: list[dict[str, Any]], p: Mapping[str, Any]) -> torch.Tensor:
    """Apply drawn operation lists: layer by layer, once per group of images that drew the same operation and
    magnitude (RandAugment's magnitude is shared, so groups are few). images: (N, C, H, W) uint8."""
    out = images.clone()
    for layer in range(max((len(d["ops"]) for d in draws), default=0)):
        groups: dict[tuple[str, float], list[int]] = {}
        for i, d in enumerate(draws):
            if layer < len(d["ops"]) and d["ops"][layer][0] != "Identity":
                groups.setdefault((d["ops"][layer][0], d["ops"][layer][1]), []).append(i)
        for (name, mag), members in groups.items():
            idx = torch.tensor(members, device=images.device)
            out[idx] = _op(out[idx], name, mag)
    return out


def draw_augmix(p: Mapping[str, Any], n: int, height: int, width: int, gen: torch.Generator) -> list[dict[str, Any]]:
    """AugMix's choices per image: Beta weight of the original, Dirichlet chain weights, each chain's operations."""
    space, width_, severity = _AM._AUGMENTATION_SPACE, int(p["width"]), int(p["severity"])
    table = {name: space[name][0](_AM._PARAMETER_MAX, height, width) for name in AUGMIX_OPS}
    out = []
    for _ in range(n):
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=gen)))
        m = float(rng.beta(p["alpha"], p["alpha"]))
        weights = (rng.dirichlet([p["alpha"]] * width_) * (1.0 - m)).tolist()
        chains = []
        for _ in range(width_):
            depth = int(p["depth"]) if int(p["depth"]) > 0 else int(torch.randint(1, 4, (), generator=gen))
            chain = []
            for _ in range(depth):
                name = AUGMIX_OPS[int(torch.randint(len(AUGMIX_OPS), (), generator=gen))]
                mags, signed = table[name], space[name][1]
                mag = 0.0
                if mags is not None:
                    mag = float(mags[int(torch.randint(severity, (), generator=gen))])
                    if signed and float(torch.rand((), generator=gen)) <= 0.5:
                        mag = -mag
                chain.append([name, round(mag, 4)])
            chains.append(chain)
        out.append({"original_weight": round(m, 4), "weights": [round(w, 4) for w in weights], "chains": chains})
    return out


def apply_augmix(images: torch.Tensor, draws: list[dict[str, Any]], p: Mapping[str, Any]) -> torch.Tensor:
    """Mix each image with its augmented chains: m·x + Σ w_i chain_i(x), truncated to uint8 as torchvision does."""
    out = []
    for i, d in enumerate(draws):
        x = images[i:i + 1]
        mix = d["original_weight"] * x.float()
        for w, chain in zip(d["weights"], d["chains"]):
            aug = x
            for name, mag in chain:
                aug = _op(aug, name, mag)
            mix.add_(w * aug.float())
        out.append(mix.to(images.dtype))
    return torch.cat(out)
