"""The report's statistics agree with scipy and statsmodels, cover at their nominal rate, and
give defined answers on degenerate input (warnings are errors in this test run)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats.contingency import association
from statsmodels.stats.multicomp import pairwise_tukeyhsd
from statsmodels.stats.multitest import multipletests

from safeheal.bench import _stats as S

# -- bootstrap -----------------------------------------------------------------------------


def test_bootstrap_mean_is_scipys_percentile_bootstrap() -> None:
    x = np.random.default_rng(1).normal(3.0, 2.0, size=50)
    est = S.bootstrap_mean(x, seed=7)
    ref = stats.bootstrap(
        (x,), np.mean, n_resamples=1000, method="percentile", rng=np.random.default_rng(7)
    )
    assert est is not None
    assert est.value == pytest.approx(float(x.mean()))
    assert est.se == pytest.approx(float(ref.standard_error))
    assert est.low == pytest.approx(float(ref.confidence_interval.low))
    assert est.high == pytest.approx(float(ref.confidence_interval.high))
    assert est.n == 50
    # Seeded: the same seed gives the same interval.
    assert S.bootstrap_mean(x, seed=7) == est


def test_bootstrap_se_is_close_to_the_standard_error_of_the_mean() -> None:
    x = np.random.default_rng(2).normal(0.0, 1.0, size=200)
    est = S.bootstrap_mean(x, seed=0)
    assert est is not None
    assert est.se is not None
    assert est.se == pytest.approx(x.std(ddof=1) / math.sqrt(x.size), rel=0.15)


def test_bootstrap_interval_covers_the_true_mean_at_about_95_percent() -> None:
    rng = np.random.default_rng(20261126)
    trials, covered = 300, 0
    for i in range(trials):
        x = rng.normal(5.0, 2.0, size=40)
        est = S.bootstrap_mean(x, seed=i)
        assert est is not None
        assert est.low is not None
        assert est.high is not None
        covered += est.low <= 5.0 <= est.high
    # The percentile interval undercovers slightly at n=40; bounds at 99.9% under p in [0.92, 0.97].
    assert covered >= stats.binom.ppf(0.001, trials, 0.92)
    assert covered <= stats.binom.ppf(0.999, trials, 0.97)


def test_bootstrap_of_a_ratio_resamples_pairs() -> None:
    num = np.array([1.0, 2.0, 3.0, 4.0])
    den = np.array([2.0, 4.0, 6.0, 8.0])

    def ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:  # type: ignore[type-arg]
        return np.sum(a, axis=axis) / np.sum(b, axis=axis)

    est = S.bootstrap([num, den], ratio, paired=True, seed=0)
    # Every pair has ratio 1/2, so every resample does too.
    assert est is not None
    assert (est.value, est.low, est.high) == (0.5, 0.5, 0.5)


def test_bootstrap_degenerate_inputs() -> None:
    assert S.bootstrap_mean([]) is None
    one = S.bootstrap_mean([4.0])
    assert one is not None
    assert (one.value, one.se, one.low, one.high, one.n) == (4.0, None, None, None, 1)
    flat = S.bootstrap_mean([0.0] * 30)
    assert flat is not None
    assert (flat.value, flat.se, flat.low, flat.high) == (0.0, 0.0, 0.0, 0.0)


# -- rates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table", [[[0, 215], [11, 204]], [[30, 70], [12, 88]], [[5, 10, 3, 1], [2, 8, 9, 4]]]
)
def test_rate_test_is_scipys_yates_chi2_and_cramers_v(table: list[list[int]]) -> None:
    res = S.rate_test(table)
    ref = stats.chi2_contingency(np.array(table), correction=True)
    assert res.chi2 == pytest.approx(float(ref.statistic))
    assert res.p == pytest.approx(float(ref.pvalue))
    assert res.dof == int(ref.dof)
    assert res.cramers_v == pytest.approx(float(association(np.array(table), method="cramer")))


def test_yates_correction_is_applied_to_2x2_tables() -> None:
    table = np.array([[10, 90], [25, 75]])
    corrected = S.rate_test(table).chi2
    plain = float(stats.chi2_contingency(table, correction=False).statistic)
    assert corrected < plain


def test_rate_test_without_events_is_no_association() -> None:
    res = S.rate_test([[0, 100], [0, 100]])
    assert (res.chi2, res.p, res.cramers_v, res.dof) == (0.0, 1.0, 0.0, 1)
    res = S.rate_test([[0, 0], [0, 0]])
    assert (res.chi2, res.p, res.cramers_v, res.n) == (0.0, 1.0, 0.0, 0)


def test_rate_test_drops_actions_nobody_took() -> None:
    with_zero = S.rate_test([[5, 0, 3], [2, 0, 9]])
    without = S.rate_test([[5, 3], [2, 9]])
    assert with_zero == without


def test_rate_test_rejects_a_flat_table() -> None:
    with pytest.raises(ValueError, match="2-dimensional"):
        S.rate_test([1, 2, 3])  # type: ignore[list-item]


# -- t-tests -------------------------------------------------------------------------------


def test_welch_t_is_scipys_and_cohens_d_uses_the_pooled_sd() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 30), rng.normal(0.0, 2.0, 45)
    res = S.welch_t(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert res.t == pytest.approx(float(ref.statistic))
    assert res.p == pytest.approx(float(ref.pvalue))
    assert res.df == pytest.approx(float(ref.df))
    pooled = math.sqrt((29 * a.var(ddof=1) + 44 * b.var(ddof=1)) / 73)
    assert res.d == pytest.approx((a.mean() - b.mean()) / pooled)


def test_cohens_d_by_hand() -> None:
    assert S.cohens_d([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(-1.0)
    assert S.cohens_d([1.0, 1.0], [1.0, 1.0]) == 0.0
    assert S.cohens_d([2.0, 2.0], [1.0, 1.0]) == math.inf
    assert S.cohens_d([1.0], [1.0, 2.0]) is None


def test_welch_t_degenerate_inputs() -> None:
    same = S.welch_t([0.9] * 5, [0.9] * 7)
    assert (same.t, same.p, same.d) == (0.0, 1.0, 0.0)
    apart = S.welch_t([2.0] * 5, [1.0] * 5)
    assert (apart.t, apart.p) == (math.inf, 0.0)
    short = S.welch_t([1.0], [1.0, 2.0, 3.0])
    assert (short.t, short.p, short.d, short.n_a, short.n_b) == (None, None, None, 1, 3)


def test_compare_to_reference_adjusts_by_bonferroni() -> None:
    rng = np.random.default_rng(4)
    ref = rng.normal(0.0, 1.0, 40)
    others = {
        name: rng.normal(shift, 1.0, 40) for name, shift in [("a", 0.2), ("b", 0.6), ("c", 1.0)]
    }
    out = S.compare_to_reference(ref, others)
    raw = [float(stats.ttest_ind(others[n], ref, equal_var=False).pvalue) for n in "abc"]
    _, adjusted, _, _ = multipletests(raw, method="bonferroni")
    for name, p_raw, p_adj in zip("abc", raw, adjusted, strict=True):
        assert out[name].p == pytest.approx(p_raw)
        assert out[name].p_adjusted == pytest.approx(float(p_adj))
        assert out[name].p_adjusted == pytest.approx(min(1.0, 3 * p_raw))


def test_compare_to_reference_skips_tests_without_p() -> None:
    out = S.compare_to_reference([1.0, 2.0, 3.0], {"short": [1.0], "ok": [2.0, 3.0, 4.0]})
    assert out["short"].p_adjusted is None
    assert out["ok"].p_adjusted == pytest.approx(out["ok"].p)


def test_welch_t_rejects_at_about_alpha_when_there_is_no_difference() -> None:
    rng = np.random.default_rng(5)
    trials = 400
    rejections = sum(
        (S.welch_t(rng.normal(0, 1, 20), rng.normal(0, 3, 35)).p or 1.0) < 0.05
        for _ in range(trials)
    )
    assert rejections <= stats.binom.ppf(0.999, trials, 0.05)


# -- ANOVA and Tukey -----------------------------------------------------------------------


def test_anova_is_scipys_with_eta_squared_and_tukey() -> None:
    rng = np.random.default_rng(6)
    groups = {"x": rng.normal(0, 1, 20), "y": rng.normal(0.5, 1, 25), "z": rng.normal(1.5, 1, 15)}
    res = S.anova(groups)
    ref = stats.f_oneway(*groups.values())
    assert res.f == pytest.approx(float(ref.statistic))
    assert res.p == pytest.approx(float(ref.pvalue))
    assert (res.df_between, res.df_within) == (2, 57)
    allv = np.concatenate(list(groups.values()))
    ss_total = ((allv - allv.mean()) ** 2).sum()
    ss_between = sum(len(v) * (v.mean() - allv.mean()) ** 2 for v in groups.values())
    assert res.eta2 == pytest.approx(ss_between / ss_total)
    hsd = stats.tukey_hsd(*groups.values())
    assert res.tukey[("x", "z")] == pytest.approx(float(hsd.pvalue[0, 2]))
    # statsmodels' implementation agrees with scipy's.
    labels = np.repeat(list(groups), [len(v) for v in groups.values()])
    sm = pairwise_tukeyhsd(allv, labels)
    assert sorted(np.round(sm.pvalues, 3)) == pytest.approx(
        sorted(round(p, 3) for p in res.tukey.values()), abs=2e-3
    )


def test_anova_degenerate_inputs() -> None:
    one = S.anova({"a": [1.0, 2.0]})
    assert (one.f, one.p, one.eta2, one.tukey) == (None, None, None, {})
    flat = S.anova({"a": [0.9] * 4, "b": [0.9] * 5})
    assert (flat.f, flat.p, flat.eta2) == (0.0, 1.0, 0.0)
    apart = S.anova({"a": [1.0] * 4, "b": [2.0] * 5})
    assert (apart.f, apart.p, apart.eta2) == (math.inf, 0.0, 1.0)
    singletons = S.anova({"a": [1.0], "b": [2.0]})
    assert singletons.f is None
    small = S.anova({"a": [1.0], "b": [2.0, 3.0, 5.0]})
    assert small.f is not None
    assert small.tukey == {}
    empty = S.anova({"a": [], "b": [1.0, 2.0]})
    assert empty.f is None


# -- variance ratio ------------------------------------------------------------------------


def test_variance_ratio_test_by_hand_and_by_scipy() -> None:
    a, b = [1.0, 3.0, 5.0, 9.0], [1.0, 2.0, 3.0, 2.5, 1.5]
    res = S.variance_ratio_test(a, b)
    f = np.var(a, ddof=1) / np.var(b, ddof=1)
    assert res.f == pytest.approx(f)
    assert (res.df_a, res.df_b) == (3, 4)
    dist = stats.f(3, 4)
    assert res.p == pytest.approx(2 * min(dist.cdf(f), dist.sf(f)))
    # Symmetric: swapping the samples inverts F and keeps p.
    swapped = S.variance_ratio_test(b, a)
    assert swapped.f == pytest.approx(1 / f)
    assert swapped.p == pytest.approx(res.p)


def test_variance_ratio_test_degenerate_inputs() -> None:
    assert S.variance_ratio_test([1.0], [1.0, 2.0]).p is None
    both = S.variance_ratio_test([0.3] * 3, [0.3] * 4)
    assert (both.f, both.p) == (1.0, 1.0)
    assert S.variance_ratio_test([1.0, 2.0], [0.3] * 4).f == math.inf
    only_a = S.variance_ratio_test([0.3] * 3, [1.0, 2.0])
    assert (only_a.f, only_a.p) == (0.0, 0.0)
