"""Convolution filters as pictures (Zeiler & Fergus, ECCV 2014, Fig. 2; Krizhevsky et al., 2012, Fig. 3), with
statistics that point out dead and duplicate filters.

First-layer kernels act on RGB pixels, so each (3, k, k) kernel is shown as a k×k colour patch after min–max
scaling per filter (the scale is returned with it: a faint and a strong filter look alike after scaling).
Deeper kernels act on feature maps, so one output channel is shown as its C_in single-channel k×k kernels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

DEAD_RELATIVE_NORM = 0.05  # a filter with norm below 5% of the median norm contributes almost nothing
DUPLICATE_COSINE = 0.98  # |cosine| between flattened filters above this: the same (or negated) feature


def conv_layers(model: nn.Module) -> list[str]:
    """Module paths of the 2-D convolutions of ``model``, in definition order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def conv_weight(model: nn.Module, layer: str) -> torch.Tensor:
    """The weight (C_out, C_in/groups, kh, kw) of conv layer ``layer``, detached on the CPU."""
    convs = conv_layers(model)
    if layer not in convs:
        raise ValueError(f"expected a Conv2d path of this model (e.g. {', '.join(convs[:5])}), got {layer!r}")
    conv = model.get_submodule(layer)
    assert isinstance(conv, nn.Conv2d)
    return conv.weight.detach().float().cpu()


@dataclass(frozen=True)
class FilterGrid:
    """Filters scaled to [0, 1] for display, with the scale each was mapped from."""

    images: NDArray[np.float64]  # (n, kh, kw, 3) RGB or (n, kh, kw) grey, each filter min–max scaled to [0, 1]
    low: NDArray[np.float64]  # (n,) weight value shown as 0
    high: NDArray[np.float64]  # (n,) weight value shown as 1


def _minmax(w: torch.Tensor) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    a = w.double().numpy()
    flat = a.reshape(a.shape[0], -1)
    lo, hi = flat.min(1), flat.max(1)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (a - lo.reshape(-1, *[1] * (a.ndim - 1))) / span.reshape(-1, *[1] * (a.ndim - 1))
    return scaled, lo, hi


def rgb_filters(weight: torch.Tensor) -> FilterGrid:
    """First-layer kernels weight: (C_out, 3, k, k) -> C_out RGB patches (k, k, 3), each min–max scaled."""
    if weight.ndim != 4 or weight.shape[1] not in (1, 3):
        raise ValueError(f"expected a first-layer weight (C_out, 3 or 1, k, k), got {tuple(weight.shape)}")
    scaled, lo, hi = _minmax(weight)
    img = np.transpose(scaled, (0, 2, 3, 1))
    return FilterGrid(img if img.shape[-1] == 3 else img[..., 0], lo, hi)


def channel_kernels(weight: torch.Tensor, out_channel: int) -> FilterGrid:
    """The kernels of one output channel: weight (C_out, C_in, k, k) -> C_in grey (k, k) patches, each scaled."""
    if weight.ndim != 4:
        raise ValueError(f"expected a conv weight (C_out, C_in, k, k), got {tuple(weight.shape)}")
    if not 0 <= out_channel < weight.shape[0]:
        raise ValueError(f"expected an output channel in 0..{weight.shape[0] - 1}, got {out_channel}")
    scaled, lo, hi = _minmax(weight[out_channel][:, None])
    return FilterGrid(scaled[:, 0], lo, hi)


@dataclass(frozen=True)
class FilterStats:
    """Per-filter norms and the filters that look dead or duplicated."""

    norms: NDArray[np.float64]  # (C_out,) L2 norm of each output filter
    order: NDArray[np.int64]  # filters sorted by norm, largest first
    dead: list[int]  # norm < DEAD_RELATIVE_NORM x median norm
    duplicates: list[tuple[int, int, float]]  # (i, j, cosine) pairs with |cosine| > DUPLICATE_COSINE, i < j

    def to_dict(self) -> dict[str, object]:
        return {"norms": [float(v) for v in self.norms], "dead": self.dead,
                "duplicates": [[i, j, round(c, 4)] for i, j, c in self.duplicates]}


def filter_stats(weight: torch.Tensor, max_pairs: int = 50) -> FilterStats:
    """Norm of every output filter of weight (C_out, C_in, k, k); dead and (anti-)duplicate filters.

    Duplicates: pairs whose flattened filters have |cosine similarity| > :data:`DUPLICATE_COSINE` (a negated copy
    is as redundant after BatchNorm as a copy), at most ``max_pairs``, most similar first.
    """
    if weight.ndim != 4:
        raise ValueError(f"expected a conv weight (C_out, C_in, k, k), got {tuple(weight.shape)}")
    flat = weight.double().flatten(1)
    norms = flat.norm(dim=1)
    med = float(norms.median())
    dead = [int(i) for i in torch.nonzero(norms < DEAD_RELATIVE_NORM * med).flatten()] if med > 0 else \
        list(range(len(norms)))
    unit = flat / norms.clamp_min(1e-12)[:, None]
    cos = unit @ unit.T
    alive = norms >= DEAD_RELATIVE_NORM * med
    iu = torch.triu_indices(len(norms), len(norms), offset=1)
    c = cos[iu[0], iu[1]]
    keep = (c.abs() > DUPLICATE_COSINE) & alive[iu[0]] & alive[iu[1]]
    pairs = sorted(((int(a), int(b), float(v)) for a, b, v in zip(iu[0][keep], iu[1][keep], c[keep], strict=True)),
                   key=lambda t: -abs(t[2]))[:max_pairs]
    n = norms.numpy()
    return FilterStats(n, np.argsort(-n, kind="stable").astype(np.int64), dead, pairs)
