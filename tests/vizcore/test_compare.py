"""Statistics of comparisons over seeds, checked against scipy and closed forms on fixed numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from vizcore.lab.bands import band
from vizcore.lab.stats import compare, mean_interval, t_half_width

A = [80.1, 81.3, 79.8, 80.6]
B = [81.0, 82.2, 80.9, 81.9]


def test_interval_matches_scipy_t_interval():
    iv = mean_interval(A)
    lo, hi = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
    assert iv.n == 4 and iv.mean == pytest.approx(np.mean(A))
    assert iv.low == pytest.approx(lo) and iv.high == pytest.approx(hi)
    assert iv.std == pytest.approx(np.std(A, ddof=1))


def test_interval_closed_form_three_values():
    # 80, 81, 82: sd = 1, t_{0.975,2} = 4.302652729911275 -> half width 4.3027/sqrt(3)
    iv = mean_interval([80.0, 81.0, 82.0])
    assert iv.half_width == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert iv.text() == "81.00 ± 2.48 (n=3)"


def test_interval_other_confidence_is_wider_at_99():
    assert mean_interval(A, 0.99).half_width > mean_interval(A, 0.95).half_width > mean_interval(A, 0.8).half_width


def test_interval_single_and_constant_values():
    one = mean_interval([77.0])
    assert one.n == 1 and math.isnan(one.half_width) and "no interval" in one.text()
    same = mean_interval([5.0, 5.0, 5.0])
    assert same.half_width == 0.0 and same.low == same.high == 5.0


def test_interval_rejects_bad_input():
    with pytest.raises(ValueError, match="expected at least one value"):
        mean_interval([])
    with pytest.raises(ValueError, match="expected finite values"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="expected a confidence level"):
        mean_interval([1.0, 2.0], confidence=1.5)


def test_welch_matches_scipy():
    a, b = [70.0, 72.0, 71.0], [74.0, 73.5, 76.0, 75.0]
    d = compare(a, b)
    res = stats.ttest_ind(b, a, equal_var=False)
    assert d.test == "welch"
    assert d.p_value == pytest.approx(res.pvalue)
    assert d.df == pytest.approx(res.df)
    assert d.diff == pytest.approx(np.mean(b) - np.mean(a))
    ci = res.confidence_interval(0.95)
    assert d.low == pytest.approx(ci.low) and d.high == pytest.approx(ci.high)
    pooled = math.sqrt((2 * np.var(a, ddof=1) + 3 * np.var(b, ddof=1)) / 5)
    assert d.effect_size == pytest.approx((np.mean(b) - np.mean(a)) / pooled)
    assert d.significant and d.verdict.startswith("B is better than A by")


def test_paired_when_seeds_match_even_in_other_order():
    seeds_a, seeds_b = [0, 1, 2, 3], [3, 2, 1, 0]
    b_by_seed = dict(zip([0, 1, 2, 3], B))
    b_reordered = [b_by_seed[s] for s in seeds_b]
    d = compare(A, b_reordered, seeds_a=seeds_a, seeds_b=seeds_b, name_a="step", name_b="cosine")
    res = stats.ttest_rel(B, A)
    assert d.test == "paired"
    assert d.p_value == pytest.approx(res.pvalue)
    diffs = np.array(B) - np.array(A)
    assert d.effect_size == pytest.approx(diffs.mean() / diffs.std(ddof=1))
    ci = res.confidence_interval(0.95)
    assert d.low == pytest.approx(ci.low) and d.high == pytest.approx(ci.high)
    assert d.verdict.startswith(f"cosine is better than step by {diffs.mean():.2f} ± {d.half_width:.2f} points")
    assert d.diff == pytest.approx(81.5 - 80.45)
    assert "paired by seed" in d.verdict


def test_different_seeds_fall_back_to_welch():
    d = compare(A, B, seeds_a=[0, 1, 2, 3], seeds_b=[4, 5, 6, 7])
    assert d.test == "welch"
    assert d.p_value == pytest.approx(stats.ttest_ind(B, A, equal_var=False).pvalue)


def test_within_noise_verdict():
    a, b = [80.0, 83.0, 78.0], [81.0, 79.0, 83.5]
    d = compare(a, b)
    assert not d.significant
    assert d.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert d.verdict.startswith("within noise: B - A = +0.83")


def test_worse_and_lower_is_better():
    d = compare([10.0, 10.5, 9.8], [12.0, 12.4, 11.9], name_a="A", name_b="B", higher_is_better=False, unit="s")
    assert d.significant and d.verdict.startswith("B is worse than A by 2.00")


def test_single_seed_cannot_tell():
    d = compare([80.0], [80.6])
    assert d.test == "none" and math.isnan(d.p_value) and not d.significant
    assert "a single seed can't tell" in d.verdict
    d2 = compare([80.0], [80.6, 81.0, 79.0])
    assert d2.test == "none"


def test_two_seeds_use_one_degree_of_freedom_when_paired():
    d = compare([80.0, 81.0], [81.0, 82.5], seeds_a=[0, 1], seeds_b=[0, 1])
    diffs = np.array([1.0, 1.5])
    se = diffs.std(ddof=1) / math.sqrt(2)
    assert d.df == 1
    assert d.half_width == pytest.approx(stats.t.ppf(0.975, 1) * se)  # 12.706 * 0.25
    assert d.p_value == pytest.approx(stats.ttest_rel([81.0, 82.5], [80.0, 81.0]).pvalue)


def test_zero_variance_has_no_test_and_says_why():
    """Issue 9: two seeds giving identical accuracies read "+0.00 ± 0.00, p = 1.000" — a certainty the runs do not
    have. With no spread there is no t statistic: p and the interval are undefined and the verdict says why."""
    same = compare([75.0, 75.0, 75.0], [75.0, 75.0, 75.0])
    assert math.isnan(same.p_value) and not same.significant and same.decision == "no variation"
    assert same.verdict.startswith("can't tell: no seed-to-seed variation") and "± 0.00" not in same.verdict
    paired_zero = compare([9.38, 9.38], [9.38, 9.38], seeds_a=[0, 1], seeds_b=[0, 1], bounds=(0, 100))
    assert math.isnan(paired_zero.p_value) and math.isnan(paired_zero.half_width)
    assert "exactly the same value" in paired_zero.verdict and "p=1.000" not in paired_zero.verdict
    shifted = compare([75.0, 75.0, 75.0], [76.0, 76.0, 76.0])
    assert math.isnan(shifted.p_value) and not shifted.significant and "no seed-to-seed variation" in shifted.verdict
    assert math.isnan(shifted.effect_size)


def test_two_seeds_a_side_are_too_few_to_decide():
    """Even a small p from one degree of freedom is not a decision: the verdict says plainly n is too small."""
    d = compare([80.0, 81.0], [85.0, 86.1], seeds_a=[0, 1], seeds_b=[0, 1], bounds=(0, 100))
    assert d.p_value < 0.05 and not d.significant and d.decision == "too few seeds"
    assert d.verdict.startswith("too few seeds to decide") and "at least 3" in d.verdict
    three = compare([80.0, 81.0, 80.5], [85.0, 86.1, 85.2], seeds_a=[0, 1, 2], seeds_b=[0, 1, 2])
    assert three.significant and three.decision == "better"


@pytest.mark.parametrize("values", [
    [0.0, 3.1], [1.0, 0.0, 6.0], [0.0, 0.0, 0.0, 1.6, 9.4],  # near 0: n = 2, 3, 5
    [100.0, 93.8], [99.0, 100.0, 94.0], [100.0, 100.0, 96.9, 100.0, 90.6],  # near 100
    [10.0, 19.5], [48.0, 52.0, 50.0],  # the wide case, and one far from the bounds
])
def test_accuracy_interval_stays_in_0_100(values):
    """Issue 9: 2 seeds gave accuracy intervals from -30% to +49%. Bounded intervals stay inside [0, 100],
    keep the arithmetic mean inside, equal the t-interval wherever it did not cross a bound, and say when cut."""
    iv = mean_interval(values, bounds=(0, 100))
    t_lo, t_hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert 0.0 <= iv.low <= iv.mean <= iv.high <= 100.0
    assert iv.mean == pytest.approx(np.mean(values)) and iv.n == len(values)
    assert iv.low == pytest.approx(max(t_lo, 0.0)) and iv.high == pytest.approx(min(t_hi, 100.0))
    assert iv.clipped == (t_lo < 0 or t_hi > 100)
    if iv.clipped:
        assert "cut at" in iv.text()
    assert ("too few seeds" in iv.text()) == (len(values) < 3)


def test_bounded_interval_and_difference_edge_cases():
    exact = mean_interval([100.0, 100.0, 100.0], bounds=(0, 100))
    assert exact.low == exact.high == 100.0 and not exact.clipped
    assert math.isnan(mean_interval([42.0], bounds=(0, 100)).low)
    with pytest.raises(ValueError, match="within 0 to 100"):
        mean_interval([101.0, 50.0], bounds=(0, 100))
    with pytest.raises(ValueError, match="low < high"):
        mean_interval([1.0, 2.0], bounds=(5, 5))
    d = compare([0.0, 0.0, 3.1], [100.0, 96.9, 100.0], bounds=(0, 100))  # a difference can reach +-100 at most
    assert -100.0 <= d.low <= d.diff <= d.high <= 100.0
    assert -100.0 <= d.b.low and d.b.high <= 100.0 and d.a.low >= 0.0
    bd = band([[0.0, 50.0], [3.0, 100.0]], bounds=(0, 100))
    assert bd.low.min() >= 0.0 and bd.high.max() <= 100.0


def test_compare_rejects_bad_input():
    with pytest.raises(ValueError, match="expected one seed per value"):
        compare([1.0, 2.0], [1.0, 2.0], seeds_a=[0], seeds_b=[0, 1])
    with pytest.raises(ValueError, match="expected distinct seeds"):
        compare([1.0, 2.0], [1.0, 2.0], seeds_a=[0, 0], seeds_b=[0, 1])
    with pytest.raises(ValueError, match="alpha"):
        compare([1.0, 2.0], [1.0, 2.0], alpha=0)


def test_band_mean_and_interval_per_epoch():
    curves = [[50.0, 60.0, 70.0], [52.0, 62.0, 71.0], [48.0, 61.0]]
    bd = band(curves)
    assert bd.n.tolist() == [3, 3, 2]
    assert bd.mean.tolist() == pytest.approx([50.0, 61.0, 70.5])
    for j in range(3):
        col = [c[j] for c in curves if len(c) > j]
        lo, hi = stats.t.interval(0.95, len(col) - 1, loc=np.mean(col), scale=stats.sem(col))
        assert bd.low[j] == pytest.approx(lo) and bd.high[j] == pytest.approx(hi)
    assert bd.x.tolist() == [1.0, 2.0, 3.0]


def test_band_single_curve_collapses_and_errors():
    bd = band([[1.0, 2.0]])
    assert bd.low.tolist() == bd.high.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="at least one curve"):
        band([])
    with pytest.raises(ValueError, match="x positions"):
        band([[1.0, 2.0]], x=[1.0])


def test_t_half_width_nan_for_one():
    assert math.isnan(t_half_width(1.0, 1))


def test_cli_compare_json_and_bad_input(capsys):
    import json

    from vizcore.cli.main import main

    assert main(["compare", "--a", "70,72,71", "--b", "74,73.5,76,75", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["test"] == "welch"
    assert out["p_value"] == pytest.approx(stats.ttest_ind([74, 73.5, 76, 75], [70, 72, 71], equal_var=False).pvalue)
    assert main(["compare", "--a", "80", "--b", "81", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["p_value"] is None and single["test"] == "none"
    assert main(["compare", "--a", "80,x", "--b", "81"]) == 2
    assert capsys.readouterr().err.startswith("error: expected comma-separated numbers")


def test_cli_help_lists_the_lab_commands(capsys):
    from vizcore.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("compare", "reference", "experiments", "ab", "shape-bias"):
        assert f" {name} " in out
