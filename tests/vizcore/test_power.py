"""Power of an A/B over seeds: against Cohen's / G*Power's published sample sizes and against simulation."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from vizcore.cli.main import main
from vizcore.lab import power as P


@pytest.mark.parametrize("d,two_sample,paired", [
    # G*Power 3.1, two-sided α = 0.05, power 0.80: "difference between two independent means (two groups)"
    # (n per group) and "difference between two dependent means (matched pairs)" (number of pairs); the
    # two-sample values are Cohen's (1988) Table 2.4.1 (64 for d = 0.5, 26 for 0.8) to within one.
    (0.2, 394, 199), (0.5, 64, 34), (0.8, 26, 15), (1.0, 17, 10),
])
def test_seeds_needed_matches_published_sample_sizes(d, two_sample, paired):
    assert P.seeds_needed(d, 1.0) == two_sample
    assert P.seeds_needed(d, 1.0, design="paired") == paired
    # only the ratio effect / sd matters
    assert P.seeds_needed(0.5 * d, 0.5) == two_sample


def test_power_is_the_rejection_rate_of_scipys_t_test():
    rng = np.random.default_rng(0)
    n, effect, sd, sims = 5, 1.0, 0.6, 4000
    a = rng.normal(0.0, sd, (sims, n))
    b = rng.normal(effect, sd, (sims, n))
    rate = float(np.mean(stats.ttest_ind(a, b, axis=1).pvalue < 0.05))
    assert P.power(n, effect, sd) == pytest.approx(rate, abs=0.025)  # 4000 draws: binomial sd < 0.008
    diffs = rng.normal(effect, sd, (sims, n))
    rate_paired = float(np.mean(stats.ttest_1samp(diffs, 0.0, axis=1).pvalue < 0.05))
    assert P.power(n, effect, sd, design="paired") == pytest.approx(rate_paired, abs=0.025)


def test_seeds_needed_is_the_first_n_reaching_the_target():
    n = P.seeds_needed(0.5, 0.4)
    assert n is not None and n > 2
    assert P.power(n, 0.5, 0.4) >= 0.8 > P.power(n - 1, 0.5, 0.4)
    assert P.seeds_needed(10.0, 0.1) == 2  # the fewest a t-test can use
    assert P.seeds_needed(1e-4, 10.0) is None  # far inside the noise


def test_normal_approximation_is_a_lower_bound_close_for_large_n():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    approx = 2 * (z / 0.2) ** 2  # 392.4 for d = 0.2
    n = P.seeds_needed(0.2, 1.0)
    assert n is not None and approx <= n <= approx + 2


def test_min_detectable_effect_inverts_seeds_needed():
    for n in (3, 5, 10):
        mde = P.min_detectable_effect(n, 0.5)
        assert P.power(n, mde, 0.5) == pytest.approx(0.8, abs=1e-6)
        assert P.seeds_needed(mde * 1.001, 0.5) == n


def test_measured_spread_one_arm_pooled_and_paired():
    a, b = [97.0, 98.0, 99.0], [97.5, 98.0, 100.5]
    assert P.measured_spread(a) == pytest.approx(1.0)
    pooled = np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)  # equal n: the mean of the variances
    assert P.measured_spread(a, b) == pytest.approx(pooled)
    assert P.measured_spread(a, b, paired=True) == pytest.approx(np.std(np.subtract(b, a), ddof=1))


def test_estimate_text_names_the_numbers():
    est = P.estimate(0.3, 0.5, n=3)
    assert est.seeds_needed == P.seeds_needed(0.5, 0.3)
    assert est.text().startswith(f"an effect of 0.5 points needs {est.seeds_needed} seeds per arm at the measured "
                                 "spread (sd 0.3 points)")


@pytest.mark.parametrize("call,match", [
    (lambda: P.power(1, 1.0, 1.0), "at least 2 seeds"),
    (lambda: P.power(3, 1.0, 0.0), "sd > 0"),
    (lambda: P.seeds_needed(0.0, 1.0), "effect > 0"),
    (lambda: P.seeds_needed(1.0, 1.0, alpha=1.5), "alpha in"),
    (lambda: P.seeds_needed(1.0, 1.0, target=0.01), "power in"),
    (lambda: P.seeds_needed(1.0, 1.0, design="welch"), "design"),
    (lambda: P.measured_spread([1.0]), "at least 2 values"),
    (lambda: P.measured_spread([1.0, 2.0], [1.0, 2.0, 3.0], paired=True), "same seeds"),
    (lambda: P.measured_spread([1.0, float("nan")]), "finite"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_cli_power(capsys):
    assert main(["power", "--sd", "1", "--effect", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds_needed"] == 64 and out["design"] == "two_sample"
    assert main(["power", "--a", "97,98,99", "--b", "97.5,98,100.5", "--paired", "--effect", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["design"] == "paired" and out["sd"] == pytest.approx(np.std([0.5, 0.0, 1.5], ddof=1))
    assert main(["power", "--effect", "0.5"]) == 2
    assert capsys.readouterr().err == "error: expected either --sd or --a (measured values), got neither\n"
