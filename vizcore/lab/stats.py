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

Bounded metrics (accuracy lives in [0, 100]): pass ``bounds=(0, 100)``. The t-interval of the mean is then
intersected with the bounds, and the interval says so (``clipped``). Cutting an interval at values the mean
cannot take never removes the true mean, so the interval keeps its coverage; unlike a logit-scale interval it
stays an interval for the arithmetic mean that the tables show, and needs no guess for values of exactly 0 or
100. With few seeds the interval is honest rather than useful (two seeds: t = 12.7), and the verdict says that
too few seeds cannot decide (:data:`MIN_SEEDS_TO_DECIDE`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

TestKind = Literal["paired", "welch", "none"]
Decision = Literal["better", "worse", "within noise", "too few seeds", "no variation", "can't tell"]

MIN_SEEDS_TO_DECIDE = 3  # below this per side the verdict is "too few seeds to decide", whatever p says


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
    """Mean of ``n`` values with a two-sided Student-t confidence interval [low, high].

    ``half_width`` is the t half width before any clipping: NaN for n = 1 (one value has no spread to estimate)
    and 0 when all values are equal. With ``bounds`` the interval is cut to them (``clipped`` says so), so
    ``low``/``high`` may be closer to the mean than ``half_width`` on one side.
    """

    mean: float  # sample mean
    std: float  # sample standard deviation (ddof=1); NaN for n = 1
    n: int  # number of values (seeds)
    half_width: float  # t_{(1+confidence)/2, n-1} * std / sqrt(n); NaN for n = 1
    confidence: float  # e.g. 0.95
    low: float = math.nan  # lower end (mean - half width, cut at the lower bound); NaN for n = 1
    high: float = math.nan  # upper end; NaN for n = 1
    bounds: tuple[float, float] | None = None  # the range the values can take, e.g. (0, 100) for accuracy in %
    clipped: bool = False  # the t-interval reached past a bound and was cut there

    def __post_init__(self) -> None:
        if math.isnan(self.low) and math.isnan(self.high) and not math.isnan(self.half_width):
            object.__setattr__(self, "low", self.mean - self.half_width)
            object.__setattr__(self, "high", self.mean + self.half_width)

    @property
    def too_few(self) -> bool:
        """Fewer seeds than a decision needs (:data:`MIN_SEEDS_TO_DECIDE`)."""
        return self.n < MIN_SEEDS_TO_DECIDE

    def range_text(self, digits: int = 2) -> str:
        """'79.10 to 83.30', or '' without an interval."""
        if math.isnan(self.half_width):
            return ""
        return f"{self.low:.{digits}f} to {self.high:.{digits}f}"

    def text(self, digits: int = 2) -> str:
        """'81.20 ± 0.53 (n=3)'; '9.75, 95% interval 0.00 to 70.10 (cut at 0; n=2, too few seeds)';
        '81.20 (n=1, no interval)'."""
        if math.isnan(self.half_width):
            return f"{self.mean:.{digits}f} (n=1, no interval)"
        few = ", too few seeds" if self.too_few else ""
        if self.clipped and self.bounds is not None:
            cut = [f"{b:g}" for b, hit in ((self.bounds[0], self.low <= self.bounds[0]),
                                           (self.bounds[1], self.high >= self.bounds[1])) if hit]
            return (f"{self.mean:.{digits}f}, {self.confidence * 100:.0f}% interval {self.range_text(digits)} "
                    f"(cut at {' and '.join(cut)}; n={self.n}{few})")
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f} (n={self.n}{few})"


def _clip(mean: float, half: float, bounds: tuple[float, float] | None) -> tuple[float, float, bool]:
    """(low, high, clipped) of mean ± half cut to ``bounds``."""
    if math.isnan(half):
        return math.nan, math.nan, False
    low, high = mean - half, mean + half
    if bounds is None:
        return low, high, False
    lo, hi = bounds
    clipped = low < lo or high > hi
    return max(low, lo), min(high, hi), clipped


def _check_bounds(bounds: tuple[float, float] | None, x: np.ndarray | None = None, what: str = "") -> None:
    if bounds is None:
        return
    lo, hi = (float(b) for b in bounds)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"expected bounds (low, high) with low < high, got {bounds!r}")
    if x is not None and (np.any(x < lo) or np.any(x > hi)):
        raise ValueError(f"expected values of {what} within {lo:g} to {hi:g}, got {x.tolist()}")


def t_half_width(std: float, n: int, confidence: float = 0.95) -> float:
    """Half width of the t-interval of a mean: t_{(1+c)/2, n-1} * std / sqrt(n). NaN when n < 2."""
    _check_confidence(confidence)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n))


def mean_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95,
                  bounds: tuple[float, float] | None = None) -> Interval:
    """Mean and t-interval of ``values`` (shape (n,), e.g. final accuracy of n seeds).

    bounds: the range the values live in (e.g. (0, 100) for accuracy in %): the interval is cut to it.

    >>> mean_interval([80.0, 81.0, 82.0]).text()
    '81.00 ± 2.48 (n=3)'
    >>> mean_interval([99.0, 100.0, 100.0], bounds=(0, 100)).high
    100.0
    """
    _check_confidence(confidence)
    x = _as_values(values, "the interval")
    _check_bounds(bounds, x, "the interval")
    n = int(x.size)
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    half = t_half_width(std, n, confidence)
    low, high, clipped = _clip(mean, half, bounds)
    return Interval(mean, std, n, half, confidence, low, high, (float(bounds[0]), float(bounds[1])) if bounds else None,
                    clipped)


@dataclass(frozen=True)
class Difference:
    """B - A over seeds, with the test used, its p-value, an interval, an effect size and a verdict."""

    name_a: str  # label of configuration A (the baseline)
    name_b: str  # label of configuration B (the variant)
    a: Interval  # A's mean and interval
    b: Interval  # B's mean and interval
    diff: float  # mean(B) - mean(A) (paired: mean of per-seed differences, the same number)
    half_width: float  # half width of the interval of the difference; NaN when no test is possible
    p_value: float  # two-sided; NaN when no test is possible (one seed, or no spread at all)
    test: TestKind  # "paired" (same seeds both sides), "welch" (unequal variances), "none" (a side has n=1)
    df: float  # degrees of freedom of the t statistic; NaN for "none"
    effect_size: float  # Cohen's d (pooled SD) for Welch, d_z (mean/SD of differences) for paired; NaN if undefined
    significant: bool  # p < alpha with enough seeds to decide (both sides >= MIN_SEEDS_TO_DECIDE)
    alpha: float  # significance level used for the verdict
    unit: str  # "points" for accuracy in %
    verdict: str  # one plain sentence
    decision: Decision = "can't tell"  # the verdict in one word or two, for tables
    low: float = math.nan  # lower end of the difference's interval (cut at -(range) with bounds)
    high: float = math.nan  # upper end

    def __post_init__(self) -> None:
        if math.isnan(self.low) and math.isnan(self.high) and not math.isnan(self.half_width):
            object.__setattr__(self, "low", self.diff - self.half_width)
            object.__setattr__(self, "high", self.diff + self.half_width)


def _p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _t_test(t_stat_num: float, se: float, df: float) -> tuple[float, float]:
    """(t, two-sided p) for numerator / se with ``df`` degrees of freedom; (NaN, NaN) at se = 0.

    With no spread at all (every seed gave the same number, or the same difference) the t statistic is 0/0 or
    x/0: no test is defined, and a p of 0 or 1 would claim a certainty the runs do not have.
    """
    if se == 0.0:
        return math.nan, math.nan
    t = t_stat_num / se
    return t, float(2.0 * stats.t.sf(abs(t), df))


def _paired_values(xa: np.ndarray, xb: np.ndarray, seeds_a: Sequence[int] | None, seeds_b: Sequence[int] | None,
                   name_a: str, name_b: str) -> np.ndarray | None:
    """B's values in the order of A's seeds when both sides hold the same set of n >= 2 seeds, else None."""
    if seeds_a is None or seeds_b is None:
        return None
    sa, sb = [int(s) for s in seeds_a], [int(s) for s in seeds_b]
    if len(sa) != xa.size or len(sb) != xb.size:
        raise ValueError(
            f"expected one seed per value, got {len(sa)} seeds for {xa.size} values of {name_a} "
            f"and {len(sb)} seeds for {xb.size} values of {name_b}"
        )
    if len(set(sa)) != len(sa) or len(set(sb)) != len(sb):
        raise ValueError(f"expected distinct seeds on each side, got {sa} and {sb}")
    if set(sa) == set(sb) and len(sa) >= 2:
        order = {s: i for i, s in enumerate(sb)}
        return xb[[order[s] for s in sa]]
    return None


@dataclass(frozen=True)
class _TestResult:
    """One t-test: interval half width, p, degrees of freedom, effect size; without spread, no test (NaN)."""

    half: float
    p: float
    df: float
    eff: float
    spread: bool


def _paired_test(d: np.ndarray, confidence: float, tiny: float) -> _TestResult:
    """Paired t-test on the per-seed differences ``d`` = B - A; effect size d_z = mean / SD of ``d``."""
    n = d.size
    df = float(n - 1)
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n) if sd > tiny else 0.0
    spread = se > 0
    _, p = _t_test(float(d.mean()), se, df)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se if spread else math.nan
    eff = float(d.mean() / sd) if spread else math.nan
    return _TestResult(half, p, df, eff, spread)


def _welch_test(xa: np.ndarray, xb: np.ndarray, diff: float, confidence: float, tiny: float) -> _TestResult:
    """Welch's t-test (unequal variances) of B - A; effect size Cohen's d with the pooled SD."""
    va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
    se = math.sqrt(va + vb) if math.sqrt(va + vb) > tiny else 0.0
    spread = se > 0
    # Welch-Satterthwaite degrees of freedom; undefined with zero variance on both sides (no test then).
    df = float((va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))) if spread else math.nan
    _, p = _t_test(diff, se, df)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se if spread else math.nan
    pooled = math.sqrt(((xa.size - 1) * xa.var(ddof=1) + (xb.size - 1) * xb.var(ddof=1)) / (xa.size + xb.size - 2))
    eff = float(diff / pooled) if pooled > tiny else math.nan
    return _TestResult(half, p, df, eff, spread)


def _decision(test: TestKind, spread: bool, enough: bool, significant: bool, diff: float,
              higher_is_better: bool) -> Decision:
    """The verdict in one word or two, in the order that matters: no test, no spread, too few seeds, p."""
    if test == "none":
        return "can't tell"
    if not spread:
        return "no variation"
    if not enough:
        return "too few seeds"
    if significant:
        return "better" if (diff > 0) == higher_is_better else "worse"
    return "within noise"


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
    bounds: tuple[float, float] | None = None,
) -> Difference:
    """Compare final metrics of two configurations over seeds.

    a, b: shape (n_a,), (n_b,), one value per seed (e.g. validation accuracy in %).
    seeds_a, seeds_b: the seed of each value. When both are given and hold the same set of seeds (n >= 2),
    values are paired by seed and a paired t-test (``scipy.stats.ttest_rel``) is used; otherwise Welch's
    t-test (``scipy.stats.ttest_ind(equal_var=False)``), which does not assume equal variances.

    With one seed on a side no test is possible and the verdict says so rather than reading a number; with
    fewer than :data:`MIN_SEEDS_TO_DECIDE` seeds a side the numbers are shown but the verdict is "too few seeds
    to decide"; with no spread at all (every seed the same) there is no test either, and the verdict says why.
    words: how the verdict names a significant gain and loss ("better"/"worse"; e.g. "more shape-biased").
    bounds: the range of the values (e.g. (0, 100) for accuracy in %): the per-side intervals are cut to it,
    and the difference's interval to ±(high - low).
    """
    _check_confidence(confidence)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"expected a significance level alpha in (0, 1), got {alpha!r}")
    _check_bounds(bounds)
    xa, xb = _as_values(a, name_a), _as_values(b, name_b)
    ia, ib = mean_interval(xa, confidence, bounds), mean_interval(xb, confidence, bounds)
    diff = ib.mean - ia.mean
    xb_aligned = _paired_values(xa, xb, seeds_a, seeds_b, name_a, name_b)

    tiny = 1e-9 * max(1.0, float(np.max(np.abs(xa))), float(np.max(np.abs(xb))))  # rounding, not seed noise
    test: TestKind
    if ia.n < 2 or ib.n < 2:
        test, r = "none", _TestResult(math.nan, math.nan, math.nan, math.nan, True)
    elif xb_aligned is not None:
        test, r = "paired", _paired_test(xb_aligned - xa, confidence, tiny)
    else:
        test, r = "welch", _welch_test(xa, xb, diff, confidence, tiny)

    width = None if bounds is None else (-(bounds[1] - bounds[0]), bounds[1] - bounds[0])
    low, high, _ = _clip(float(diff), float(r.half), width)
    enough = min(ia.n, ib.n) >= MIN_SEEDS_TO_DECIDE
    significant = bool(test != "none" and r.spread and enough and r.p < alpha)
    decision = _decision(test, r.spread, enough, significant, diff, higher_is_better)
    verdict = _verdict(name_a, name_b, ia, ib, diff, r.half, low, high, r.p, test, decision, confidence, unit, words,
                       xa, xb)
    return Difference(name_a, name_b, ia, ib, float(diff), float(r.half), float(r.p), test, float(r.df),
                      float(r.eff), significant, alpha, unit, verdict, decision, low, high)


def _verdict(name_a: str, name_b: str, ia: Interval, ib: Interval, diff: float, half: float, low: float,
             high: float, p: float, test: TestKind, decision: Decision, confidence: float, unit: str,
             words: tuple[str, str], xa: np.ndarray, xb: np.ndarray) -> str:
    pct = f"{confidence * 100:.0f}%"
    seeds = f"n={ia.n} vs {ib.n}"
    if decision == "can't tell":
        return (f"can't tell: {name_b} - {name_a} = {diff:+.2f} {unit} from n={ia.n} vs n={ib.n} seeds; "
                f"a single seed can't tell a difference from seed-to-seed noise, so repeat each run over "
                f"at least {MIN_SEEDS_TO_DECIDE} (better 5) seeds.")
    how = "paired by seed" if test == "paired" else "Welch t-test"
    if decision == "no variation":
        if test == "paired":
            same = (f"each seed gave exactly the same value with {name_a} and with {name_b}" if diff == 0
                    else f"every seed gave the same difference ({diff:+.2f} {unit})")
        else:
            same = f"every seed of {name_a} gave {xa[0]:.2f} and every seed of {name_b} gave {xb[0]:.2f}"
        return (f"can't tell: no seed-to-seed variation — {same} ({seeds}), so there is no noise to test a "
                f"difference against. Identical results across seeds usually mean the runs were too short or "
                f"too small to learn anything that depends on the seed (see the steps per run); train longer "
                f"or on more images.")
    ci = f"{pct} interval {low:+.2f} to {high:+.2f} {unit}"
    if decision == "too few seeds":
        return (f"too few seeds to decide: {name_b} - {name_a} = {diff:+.2f} {unit} ({ci}, {_p_text(p)}, {how}, "
                f"{seeds}). With under {MIN_SEEDS_TO_DECIDE} seeds a side the spread itself is barely measured "
                f"and the interval is too wide to separate a trick from seed noise: repeat with at least "
                f"{MIN_SEEDS_TO_DECIDE} (better 5) seeds.")
    if decision == "within noise":
        return (f"within noise: {name_b} - {name_a} = {diff:+.2f} ± {half:.2f} {unit} ({pct} interval, "
                f"{_p_text(p)}, {how}, {seeds}); the seeds do not show a real difference.")
    word = words[0] if decision == "better" else words[1]
    return (f"{name_b} is {word} than {name_a} by {abs(diff):.2f} ± {half:.2f} {unit} "
            f"({pct} interval, {_p_text(p)}, {how}, {seeds}).")
