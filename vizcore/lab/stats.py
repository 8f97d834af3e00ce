"""Comparing training configurations over seeds: intervals, significance tests and a plain verdict.

A single training run is one draw from a distribution over seeds (initialisation, data order, augmentation).
The Bag of Tricks paper (He et al., CVPR 2019) reports gains of a few tenths of a point; on a small data set
the seed-to-seed spread is often larger than that, so a gain measured on one seed says nothing. This module
turns the final accuracies of repeated runs into

* a mean with a Student-t confidence interval per configuration (:func:`mean_interval`),
* the difference B - A with a Welch t-test (independent seeds) or a paired t-test (the same seeds on both
  sides: the seed's share of the noise cancels), an effect size and a sentence a reader can act on
  (:func:`compare`),
* mean curves with a band over seeds, epoch by epoch (:func:`band`).

The tests are scipy's (``scipy.stats.t``, ``ttest_ind(equal_var=False)``, ``ttest_rel``); this module only
handles the cases scipy leaves undefined (one seed, zero variance) and words the result.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

TestKind = Literal["paired", "welch", "none"]


def _as_values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"expected at least one value for {what}, got none")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"expected finite values for {what}, got {arr.tolist()}")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected a confidence level in (0, 1), got {confidence!r}")


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a two-sided Student-t confidence interval.

    ``half_width`` is NaN for n = 1 (one value has no spread to estimate) and 0 when all values are equal.
    """

    mean: float  # sample mean
    std: float  # sample standard deviation (ddof=1); NaN for n = 1
    n: int  # number of values (seeds)
    half_width: float  # t_{(1+confidence)/2, n-1} * std / sqrt(n); NaN for n = 1
    confidence: float  # e.g. 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def text(self, digits: int = 2) -> str:
        """'81.20 ± 0.53 (n=3)', or '81.20 (n=1, no interval)'."""
        if math.isnan(self.half_width):
            return f"{self.mean:.{digits}f} (n=1, no interval)"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f} (n={self.n})"


def t_half_width(std: float, n: int, confidence: float = 0.95) -> float:
    """Half width of the t-interval of a mean: t_{(1+c)/2, n-1} * std / sqrt(n). NaN when n < 2."""
    _check_confidence(confidence)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n))


def mean_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Mean ± t-interval of ``values`` (shape (n,), e.g. final accuracy of n seeds).

    >>> mean_interval([80.0, 81.0, 82.0]).text()
    '81.00 ± 2.48 (n=3)'
    """
    _check_confidence(confidence)
    x = _as_values(values, "the interval")
    n = int(x.size)
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    return Interval(mean, std, n, t_half_width(std, n, confidence), confidence)


@dataclass(frozen=True)
class Difference:
    """B - A over seeds, with the test used, its p-value, an interval, an effect size and a verdict."""

    name_a: str  # label of configuration A (the baseline)
    name_b: str  # label of configuration B (the variant)
    a: Interval  # A's mean and interval
    b: Interval  # B's mean and interval
    diff: float  # mean(B) - mean(A) (paired: mean of per-seed differences, the same number)
    half_width: float  # half width of the interval of the difference; NaN when no test is possible
    p_value: float  # two-sided; NaN when no test is possible
    test: TestKind  # "paired" (same seeds both sides), "welch" (unequal variances), "none" (a side has n=1)
    df: float  # degrees of freedom of the t statistic; NaN for "none"
    effect_size: float  # Cohen's d (pooled SD) for Welch, d_z (mean/SD of differences) for paired; NaN if undefined
    significant: bool  # p < alpha
    alpha: float  # significance level used for the verdict
    unit: str  # "points" for accuracy in %
    verdict: str  # one plain sentence

    @property
    def low(self) -> float:
        return self.diff - self.half_width

    @property
    def high(self) -> float:
        return self.diff + self.half_width


def _p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _t_test(t_stat_num: float, se: float, df: float) -> tuple[float, float]:
    """(t, two-sided p) for numerator / se with ``df`` degrees of freedom, defined at se = 0 as a limit."""
    if se == 0.0:
        # Every seed gave the same number on each side: no noise is left to explain a difference.
        return (0.0, 1.0) if t_stat_num == 0.0 else (math.copysign(math.inf, t_stat_num), 0.0)
    t = t_stat_num / se
    return t, float(2.0 * stats.t.sf(abs(t), df))


def compare(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    seeds_a: Sequence[int] | None = None,
    seeds_b: Sequence[int] | None = None,
    name_a: str = "A",
    name_b: str = "B",
    confidence: float = 0.95,
    alpha: float = 0.05,
    unit: str = "points",
    higher_is_better: bool = True,
    words: tuple[str, str] = ("better", "worse"),
) -> Difference:
    """Compare final metrics of two configurations over seeds.

    a, b: shape (n_a,), (n_b,), one value per seed (e.g. validation accuracy in %).
    seeds_a, seeds_b: the seed of each value. When both are given and hold the same set of seeds (n >= 2),
    values are paired by seed and a paired t-test (``scipy.stats.ttest_rel``) is used; otherwise Welch's
    t-test (``scipy.stats.ttest_ind(equal_var=False)``), which does not assume equal variances.

    With one seed on a side no test is possible and the verdict says so rather than reading a number.
    words: how the verdict names a significant gain and loss ("better"/"worse"; e.g. "more shape-biased").
    """
    _check_confidence(confidence)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"expected a significance level alpha in (0, 1), got {alpha!r}")
    xa, xb = _as_values(a, name_a), _as_values(b, name_b)
    ia, ib = mean_interval(xa, confidence), mean_interval(xb, confidence)
    diff = ib.mean - ia.mean

    paired = False
    if seeds_a is not None and seeds_b is not None:
        sa, sb = [int(s) for s in seeds_a], [int(s) for s in seeds_b]
        if len(sa) != xa.size or len(sb) != xb.size:
            raise ValueError(
                f"expected one seed per value, got {len(sa)} seeds for {xa.size} values of {name_a} "
                f"and {len(sb)} seeds for {xb.size} values of {name_b}"
            )
        if len(set(sa)) != len(sa) or len(set(sb)) != len(sb):
            raise ValueError(f"expected distinct seeds on each side, got {sa} and {sb}")
        if set(sa) == set(sb) and len(sa) >= 2:
            paired = True
            order = {s: i for i, s in enumerate(sb)}
            xb_aligned = xb[[order[s] for s in sa]]

    if ia.n < 2 or ib.n < 2:
        test: TestKind = "none"
        half = p = df = eff = math.nan
        t_crit = math.nan
    elif paired:
        test = "paired"
        d = xb_aligned - xa
        n = d.size
        df = float(n - 1)
        sd = float(d.std(ddof=1))
        se = sd / math.sqrt(n)
        _, p = _t_test(float(d.mean()), se, df)
        t_crit = float(stats.t.ppf(0.5 + confidence / 2.0, df))
        half = t_crit * se
        eff = float(d.mean() / sd) if sd > 0 else math.nan
    else:
        test = "welch"
        va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
        se = math.sqrt(va + vb)
        # Welch-Satterthwaite degrees of freedom; with zero variance on both sides it is undefined, and
        # the p-value is the limit (0 or 1) anyway.
        df = float((va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))) if se > 0 else math.nan
        _, p = _t_test(diff, se, df)
        t_crit = float(stats.t.ppf(0.5 + confidence / 2.0, df)) if se > 0 else 0.0
        half = t_crit * se
        pooled = math.sqrt(((xa.size - 1) * xa.var(ddof=1) + (xb.size - 1) * xb.var(ddof=1)) / (xa.size + xb.size - 2))
        eff = float(diff / pooled) if pooled > 0 else math.nan

    significant = bool(test != "none" and p < alpha)
    verdict = _verdict(name_a, name_b, ia, ib, diff, half, p, test, significant, confidence, unit, higher_is_better, words)
    return Difference(name_a, name_b, ia, ib, float(diff), float(half), float(p), test, float(df), float(eff),
                      significant, alpha, unit, verdict)


def _verdict(name_a: str, name_b: str, ia: Interval, ib: Interval, diff: float, half: float, p: float,
             test: TestKind, significant: bool, confidence: float, unit: str, higher_is_better: bool,
             words: tuple[str, str]) -> str:
    pct = f"{confidence * 100:.0f}%"
    if test == "none":
        return (f"can't tell: {name_b} - {name_a} = {diff:+.2f} {unit} from n={ia.n} vs n={ib.n} seeds; "
                f"a single seed can't tell a difference from seed-to-seed noise, so repeat each run over "
                f"at least 2 (better 3 or more) seeds.")
    how = "paired by seed" if test == "paired" else "Welch t-test"
    if not significant:
        return (f"within noise: {name_b} - {name_a} = {diff:+.2f} ± {half:.2f} {unit} ({pct} interval, "
                f"{_p_text(p)}, {how}, n={ia.n} vs {ib.n}); the seeds do not show a real difference.")
    better = (diff > 0) == higher_is_better
    zero_var = " (no seed-to-seed variation measured)" if half == 0.0 else ""
    return (f"{name_b} is {words[0] if better else words[1]} than {name_a} by {abs(diff):.2f} ± {half:.2f} {unit} "
            f"({pct} interval, {_p_text(p)}, {how}, n={ia.n} vs {ib.n}){zero_var}.")


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


def band(curves: Sequence[Sequence[float]], confidence: float = 0.95, x: Sequence[float] | None = None) -> Band:
    """Mean and ``confidence`` t-interval per position over curves (one per seed, each shape (n_epochs_i,)).

    x: optional positions (default 1..max length).
    """
    _check_confidence(confidence)
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
    return Band(xs, mean, mean - half, mean + half, n)


def _nanmean(grid: np.ndarray, n: np.ndarray) -> np.ndarray:
    s = np.nansum(grid, axis=0)
    return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _nanstd(grid: np.ndarray, n: np.ndarray, mean: np.ndarray) -> np.ndarray:
    sq = np.nansum((grid - mean) ** 2, axis=0)
    return np.where(n > 1, np.sqrt(sq / np.maximum(n - 1, 1)), np.nan)
