"""Curves over seeds: the mean validation curve of a configuration with a t-interval band per epoch (the
Training Lab's live comparison and its figures). Split from :mod:`vizcore.lab.stats`, whose intervals it uses."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vizcore.lab.stats import _check_bounds, _check_confidence, t_half_width

__all__ = ["Band", "band"]


@dataclass(frozen=True)
class Band:
    """Mean curve over seeds with a t-interval band; arrays have shape (n_epochs,).

    Curves of different lengths (a cancelled seed) are averaged over the seeds that reached each epoch;
    ``n`` says how many did. Where n = 1 the band collapses to the curve (``low`` = ``high`` = mean).
    """

    x: np.ndarray  # epoch numbers 1..n_epochs
    mean: np.ndarray  # mean over seeds
    low: np.ndarray  # mean - half width
    high: np.ndarray  # mean + half width
    n: np.ndarray  # seeds contributing at each epoch (int)


def band(curves: Sequence[Sequence[float]], confidence: float = 0.95, x: Sequence[float] | None = None,
         bounds: tuple[float, float] | None = None) -> Band:
    """Mean and ``confidence`` t-interval per position over curves (one per seed, each shape (n_epochs_i,)).

    x: optional positions (default 1..max length). bounds: the band is cut to this range (accuracy: (0, 100)).
    """
    _check_confidence(confidence)
    _check_bounds(bounds)
    if len(curves) == 0:
        raise ValueError("expected at least one curve, got none")
    length = max(len(c) for c in curves)
    if length == 0:
        raise ValueError("expected curves with at least one point, got only empty curves")
    grid = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves):
        grid[i, : len(c)] = np.asarray(c, dtype=np.float64)
    n = np.sum(np.isfinite(grid), axis=0).astype(int)
    mean = _nanmean(grid, n)
    std = _nanstd(grid, n, mean)
    half = np.array([t_half_width(float(s), int(k), confidence) if k > 1 else 0.0 for s, k in zip(std, n)])
    xs = np.arange(1, length + 1, dtype=np.float64) if x is None else np.asarray(x, dtype=np.float64)
    if xs.shape != (length,):
        raise ValueError(f"expected {length} x positions, got {xs.shape[0] if xs.ndim else 0}")
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = np.maximum(low, bounds[0]), np.minimum(high, bounds[1])
    return Band(xs, mean, low, high, n)


def _nanmean(grid: np.ndarray, n: np.ndarray) -> np.ndarray:
    s = np.nansum(grid, axis=0)
    return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _nanstd(grid: np.ndarray, n: np.ndarray, mean: np.ndarray) -> np.ndarray:
    sq = np.nansum((grid - mean) ** 2, axis=0)
    return np.where(n > 1, np.sqrt(sq / np.maximum(n - 1, 1)), np.nan)
