"""How many seeds an A/B needs: the power of a t-test over seeds, from the measured seed-to-seed spread.

A comparison of two training configurations is a t-test on their final accuracies over seeds (see
:mod:`vizcore.lab.stats`). Before queueing one, the question is the converse: with the spread the runs show,
how many seeds per arm does an effect of a given size need to be found 80% of the time at α = 0.05, and what is
the smallest effect a given number of seeds can find (Cohen, *Statistical Power Analysis for the Behavioral
Sciences*, 1988, ch. 2; the same computation as G*Power's "t tests: difference between two independent means"
and "matched pairs").

Two designs, both two-sided and exact (the noncentral t distribution, ``scipy.stats.nct``), not the normal
approximation n ≈ 2 (z₁₋α/₂ + z_power)² σ² / δ², which undercounts small n:

* ``"two_sample"``: independent runs in each arm, equal spread σ (one run's standard deviation over seeds),
  n seeds per arm; Student's t with 2n − 2 degrees of freedom and noncentrality δ / (σ √(2/n)).
* ``"paired"``: both arms run the same seeds (as the Lab's A/B does) and the test is on the per-seed
  differences, whose standard deviation σ_d is given; n − 1 degrees of freedom and noncentrality δ √n / σ_d.
  Pairing pays when a seed's runs agree across arms (σ_d < σ √2).

Effects and spreads are in the same unit (accuracy points in the Lab).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, stats

Design = Literal["two_sample", "paired"]
DESIGNS: tuple[str, ...] = ("two_sample", "paired")
MAX_SEEDS = 100_000  # beyond this the answer is "not measurable with seeds": reported as None


def _check(design: str, alpha: float, power: float | None = None) -> None:
    if design not in DESIGNS:
        raise ValueError(f"expected design 'two_sample' or 'paired', got {design!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"expected alpha in (0, 1), got {alpha!r}")
    if power is not None and not alpha < power < 1.0:
        raise ValueError(f"expected power in (alpha, 1) = ({alpha:g}, 1), got {power!r}")


def _check_positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected {name} > 0, got {value!r}")


def _check_n(n: int, design: str) -> None:
    lo = 2
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < lo:
        raise ValueError(f"expected at least {lo} seeds per arm for a t-test ({design}), got {n!r}")


def _df_ncp(n: int, effect: float, sd: float, design: str) -> tuple[int, float]:
    if design == "paired":
        return n - 1, effect * math.sqrt(n) / sd
    return 2 * n - 2, effect / (sd * math.sqrt(2.0 / n))


def power(n: int, effect: float, sd: float, alpha: float = 0.05, design: Design = "two_sample") -> float:
    """Probability that a two-sided t-test at level ``alpha`` with ``n`` seeds per arm finds a true difference
    ``effect`` when runs spread with standard deviation ``sd`` (paired: of the per-seed differences).

    P(|T| > t_{1−α/2, df}) with T noncentral t (df, ncp) as in the module docstring.
    """
    _check(design, alpha)
    _check_n(n, design)
    _check_positive("sd", sd)
    if not math.isfinite(effect):
        raise ValueError(f"expected a finite effect, got {effect!r}")
    df, ncp = _df_ncp(int(n), abs(effect), sd, design)
    crit = stats.t.ppf(1.0 - alpha / 2.0, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def seeds_needed(effect: float, sd: float, alpha: float = 0.05, target: float = 0.8,
                 design: Design = "two_sample") -> int | None:
    """Fewest seeds per arm (≥ 2) whose t-test finds ``effect`` with probability ≥ ``target``; None when more
    than :data:`MAX_SEEDS` would be needed (an effect far inside the noise)."""
    _check(design, alpha, target)
    _check_positive("effect", abs(effect))
    _check_positive("sd", sd)
    # The normal approximation is a lower bound to start from; then step up (exact power grows with n).
    z = float(stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(target))
    factor = 1.0 if design == "paired" else 2.0
    ratio = z * (sd / abs(effect))  # inf for an effect far inside the noise (1e-300 at sd 1e300)
    if not ratio <= math.sqrt(MAX_SEEDS / factor):
        return None
    approx = factor * ratio**2
    n = max(2, int(math.floor(approx)) - 1)
    while n > 2 and power(n - 1, effect, sd, alpha, design) >= target:
        n -= 1
    while power(n, effect, sd, alpha, design) < target:
        n += 1
        if n > MAX_SEEDS:
            return None
    return n


def min_detectable_effect(n: int, sd: float, alpha: float = 0.05, target: float = 0.8,
                          design: Design = "two_sample") -> float:
    """Smallest true difference that ``n`` seeds per arm find with probability ``target`` (same unit as ``sd``)."""
    _check(design, alpha, target)
    _check_n(n, design)
    _check_positive("sd", sd)
    # Power depends on effect / sd only: search in units of sd, so no spread (1e-300 or 1e300) overflows.
    hi = 1.0
    while power(n, hi, 1.0, alpha, design) < target:
        hi *= 2.0
    d = optimize.brentq(lambda x: power(n, x, 1.0, alpha, design) - target, 0.0, hi, xtol=1e-12)
    return float(d * sd)


def _values(values: Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size < 2:
        raise ValueError(f"expected at least 2 values (seeds) for {what} to measure a spread, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"expected finite values for {what}, got {arr.tolist()}")
    return arr


def measured_spread(a: Sequence[float], b: Sequence[float] | None = None, paired: bool = False) -> float:
    """Seed-to-seed standard deviation from measured final values (ddof = 1).

    One arm: its standard deviation. Two arms: the pooled standard deviation √(((n_a−1)s_a² + (n_b−1)s_b²) /
    (n_a + n_b − 2)) (two-sample design), or with ``paired`` (the same seeds, in the same order) the standard
    deviation of the per-seed differences b − a (paired design).
    """
    xa = _values(a, "arm A")
    if b is None:
        if paired:
            raise ValueError("expected two arms for a paired spread, got one")
        return float(np.std(xa, ddof=1))
    xb = _values(b, "arm B")
    if paired:
        if xa.size != xb.size:
            raise ValueError(f"expected the same seeds in both arms for a paired spread, got {xa.size} and {xb.size}")
        return float(np.std(xb - xa, ddof=1))
    pooled = ((xa.size - 1) * np.var(xa, ddof=1) + (xb.size - 1) * np.var(xb, ddof=1)) / (xa.size + xb.size - 2)
    return float(math.sqrt(pooled))


@dataclass(frozen=True)
class PowerEstimate:
    """What a spread means for an A/B: seeds needed for ``effect`` and the effect ``n`` seeds can find."""

    sd: float  # seed-to-seed spread (paired: of the differences)
    design: str  # "two_sample" or "paired"
    effect: float  # the effect asked about
    seeds_needed: int | None  # per arm, for ``power`` at ``alpha``; None: more than MAX_SEEDS
    n: int  # seeds per arm asked about
    min_effect: float  # smallest effect n seeds per arm find with probability ``power``
    alpha: float
    power: float

    def text(self, unit: str = "points") -> str:
        """One sentence, e.g. 'an effect of 0.5 points needs 6 seeds per arm at the measured spread (sd 0.3
        points); 3 seeds per arm find effects of 0.9 points or more (80% power, α = 0.05, two-sample t-test).'"""
        need = (f"{self.seeds_needed} seeds per arm" if self.seeds_needed is not None
                else f"more than {MAX_SEEDS:,} seeds per arm")
        test = "paired t-test" if self.design == "paired" else "two-sample t-test"
        return (f"an effect of {self.effect:.3g} {unit} needs {need} at the measured spread (sd {self.sd:.3g} "
                f"{unit}); {self.n} seeds per arm find effects of {self.min_effect:.3g} {unit} or more "
                f"({100 * self.power:.0f}% power, α = {self.alpha:g}, {test}).")


def estimate(sd: float, effect: float, n: int = 3, alpha: float = 0.05, target: float = 0.8,
             design: Design = "two_sample") -> PowerEstimate:
    """:func:`seeds_needed` for ``effect`` and :func:`min_detectable_effect` for ``n`` seeds, at spread ``sd``."""
    return PowerEstimate(sd, design, abs(effect), seeds_needed(effect, sd, alpha, target, design), n,
                         min_detectable_effect(n, sd, alpha, target, design), alpha, target)
