"""Searched and random augmentation policies with their draws made explicit: RandAugment, TrivialAugment, AugMix.

RandAugment (Cubuk et al., CVPR Workshops 2020): ``n`` operations drawn uniformly from 14, all at magnitude
``m`` of 30. TrivialAugment (Muller & Hutter, ICCV 2021): one operation of the wide space at a uniformly drawn
magnitude. AugMix (Hendrycks et al., ICLR 2020): ``width`` chains of 1-3 operations, mixed with Dirichlet
weights, then blended with the original by a Beta weight. The operation tables and kernels are torchvision's
(``v2.RandAugment`` / ``v2.TrivialAugmentWide`` / ``v2.AugMix``); the draws follow their ``forward`` but come from
an explicit generator, so a preview lists which operations each image got, at what signed magnitude.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

NUM_MAGNITUDE_BINS = 31  # torchvision's default: magnitudes 0..30
NO_MAGNITUDE = ("Identity", "AutoContrast", "Equalize")


@functools.cache
def policy(kind: str) -> Any:
    """torchvision's ``v2.RandAugment`` (``"ra"``), ``v2.TrivialAugmentWide`` (``"ta"``) or ``v2.AugMix``
    (``"am"``): their operation tables and kernel dispatch. Made at first use, so that importing this module (as
    every training worker does) imports no torchvision."""
    from torchvision.transforms import v2

    return {"ra": v2.RandAugment, "ta": v2.TrivialAugmentWide, "am": v2.AugMix}[kind]()


def op_names(kind: str) -> tuple[str, ...]:
    """The operation names of :func:`policy` ``kind``, in torchvision's order."""
    return tuple(policy(kind)._AUGMENTATION_SPACE)


_CONSTANTS = {"RANDAUGMENT_OPS": "ra", "TRIVIALAUGMENT_OPS": "ta", "AUGMIX_OPS": "am"}


def __getattr__(name: str) -> tuple[str, ...]:
    """RANDAUGMENT_OPS, TRIVIALAUGMENT_OPS, AUGMIX_OPS: each policy's operation names, read at first use."""
    if name in _CONSTANTS:
        return op_names(_CONSTANTS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ops_draws(space: dict, names: tuple[str, ...], idx: torch.Tensor, sign: torch.Tensor, bins: torch.Tensor,
              height: int, width: int) -> list[dict[str, Any]]:
    """Each image's operations from drawn indices ``idx`` (N, K) into ``names``, signs and magnitude bins (N, K),
    magnitudes read from torchvision's table ``space``: ``{"ops": [[name, signed magnitude], ...]}`` each."""
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
    names = op_names("ra")
    idx = torch.randint(0, len(names), (n, k), generator=gen)
    sign = (torch.rand(n * k, generator=gen) < 0.5).view(n, k)
    bins = torch.full((n, k), int(p["m"]))
    return ops_draws(policy("ra")._AUGMENTATION_SPACE, names, idx, sign, bins, height, width)


def draw_trivialaugment(p: Mapping[str, Any], n: int, height: int, width: int,
                        gen: torch.Generator) -> list[dict[str, Any]]:
    """TrivialAugment's choice for ``n`` images: one operation at a uniform magnitude bin."""
    names = op_names("ta")
    idx = torch.randint(0, len(names), (n, 1), generator=gen)
    sign = (torch.rand(n, generator=gen) < 0.5).view(n, 1)
    bins = torch.randint(0, NUM_MAGNITUDE_BINS, (n, 1), generator=gen)
    return ops_draws(policy("ta")._AUGMENTATION_SPACE, names, idx, sign, bins, height, width)


def apply_op(images: torch.Tensor, name: str, magnitude: float) -> torch.Tensor:
    """One auto-augment operation at a signed magnitude on a uint8 batch, through torchvision's own kernel
    dispatch (the same for the RA, TA and AugMix tables)."""
    ra = policy("ra")
    return ra._apply_image_or_video_transform(images, name, magnitude, interpolation=ra.interpolation, fill=ra._fill)


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
            out[idx] = apply_op(out[idx], name, mag)
    return out


def draw_augmix(p: Mapping[str, Any], n: int, height: int, width: int, gen: torch.Generator) -> list[dict[str, Any]]:
    """AugMix's choices per image: Beta weight of the original, Dirichlet chain weights, each chain's operations."""
    am = policy("am")
    space, width_, severity = am._AUGMENTATION_SPACE, int(p["width"]), int(p["severity"])
    names = op_names("am")
    table = {name: space[name][0](am._PARAMETER_MAX, height, width) for name in names}
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
                name = names[int(torch.randint(len(names), (), generator=gen))]
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
                aug = apply_op(aug, name, mag)
            mix.add_(w * aug.float())
        out.append(mix.to(images.dtype))
    return torch.cat(out)
