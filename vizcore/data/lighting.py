"""PCA lighting noise ("fancy PCA"), Krizhevsky, Sutskever & Hinton, "ImageNet classification with deep
convolutional neural networks", NeurIPS 2012, §4.1 -- the one pipeline operation torchvision lacks.

To each RGB pixel I_xy add [p1, p2, p3] [a1·λ1, a2·λ2, a3·λ3]^T, where p_i, λ_i are the eigenvectors and
eigenvalues of the 3×3 covariance of RGB pixel values over the training set, and a_i ~ N(0, sigma²) is drawn
once per image (sigma = 0.1 in the paper): the intensity and colour of the lighting change, the object not.
Pixels are in [0, 1]; the default basis is the one published for ImageNet (fb.resnet.torch's ``Lighting``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))  # columns are the eigenvectors


def fit(images: torch.Tensor, max_pixels: int = 1_000_000) -> tuple[list[float], list[list[float]]]:
    """Eigenvalues (descending) and eigenvectors (as columns of a 3×3 list) of the RGB covariance of uint8
    images (N, 3, H, W), pixels scaled to [0, 1]; at most ``max_pixels`` pixels, evenly strided, are used."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W), got {tuple(images.shape)}")
    px = images.permute(0, 2, 3, 1).reshape(-1, 3).double() / 255.0
    px = px[:: max(1, px.shape[0] // max_pixels)]
    vals, vecs = torch.linalg.eigh(torch.cov(px.T))
    order = torch.argsort(vals, descending=True)
    return vals[order].clamp_min(0).tolist(), vecs[:, order].tolist()


def draw(p: Mapping[str, Any], n: int, height: int, width: int, gen: torch.Generator) -> list[dict[str, Any]]:
    """One a ~ N(0, sigma²) per principal component and image: ``{"alpha": [a1, a2, a3]}``."""
    a = torch.randn(n, 3, generator=gen, dtype=torch.float64) * float(p["sigma"])
    return [{"alpha": [round(v, 5) for v in row]} for row in a.tolist()]


def shift(alpha: torch.Tensor, eigval: Any, eigvec: Any) -> torch.Tensor:
    """The RGB offset per image: (N, 3) alphas -> (N, 3) = eigvec @ (alpha * eigval), on [0, 1] pixels."""
    val = torch.tensor(eigval, dtype=torch.float32)
    vec = torch.tensor(eigvec, dtype=torch.float32)
    return (alpha.float() * val) @ vec.T


def apply(images: torch.Tensor, draws: list[dict[str, Any]], p: Mapping[str, Any]) -> torch.Tensor:
    """Add each image's lighting offset to every pixel: uint8 (N, 3, H, W) -> uint8, clipped to [0, 255]."""
    if images.shape[1] != 3:
        raise ValueError(f"expected RGB images for pca_lighting, got {images.shape[1]} channel(s)")
    alpha = torch.tensor([d["alpha"] for d in draws], dtype=torch.float32)
    off = shift(alpha, p["eigval"], p["eigvec"]).to(images.device)
    return images.float().add_(off[:, :, None, None] * 255.0).round_().clamp_(0, 255).to(images.dtype)
