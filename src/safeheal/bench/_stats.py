"""Statistics of the benchmark report (paper 5.1.4), as pure functions over arrays.

The tests themselves are scipy's and statsmodels': this module chooses them, guards their
degenerate inputs and packs the answers into small frozen values.

- :func:`bootstrap` / :func:`bootstrap_mean`: point estimate ± standard error from 1,000 bootstrap
  resamples (``scipy.stats.bootstrap``), with the 95% percentile interval; seeded.
- :func:`rate_test`: χ² test of a 2×k contingency table with Yates' continuity correction
  (``scipy.stats.chi2_contingency(correction=True)``; scipy applies it to 2×2 tables, the only
  ones with one degree of freedom) and Cramér's V (``scipy.stats.contingency.association``).
- :func:`welch_t` / :func:`compare_to_reference`: Welch's two-sample t-test
  (``scipy.stats.ttest_ind(equal_var=False)``), Bonferroni-adjusted over the comparisons of one
  table (``statsmodels.stats.multitest.multipletests``), with Cohen's d (pooled SD).
- :func:`anova`: one-way ANOVA (``scipy.stats.f_oneway``), η² = SS_between / SS_total, and
  Tukey's HSD (``scipy.stats.tukey_hsd``).
- :func:`variance_ratio_test`: the F-test of two variances (F = s₁² / s₂², two-sided p from
  ``scipy.stats.f``), as the paper compares regret variances.

Degenerate inputs never raise and never warn; each function documents what it returns. The
conventions: a statistic that cannot be computed (too few observations) is None; samples without
any spread give the limit the statistic tends to (no difference at all: statistic 0, p = 1;
perfectly separated constant groups: statistic ∞, p = 0).

>>> est = bootstrap_mean([1.0, 2.0, 3.0, 4.0], seed=0)
>>> est.value, est.n, est.low <= est.value <= est.high
(2.5, 4, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.stats.contingency import association
from statsmodels.stats.multitest import multipletests

from safeheal.errors import DataError

__all__ = [
    "RESAMPLES",
    "AnovaResult",
    "Estimate",
    "RateTest",
    "TTest",
    "VarianceTest",
    "anova",
    "bootstrap",
    "bootstrap_mean",
    "cohens_d",
    "compare_to_reference",
    "rate_test",
    "variance_ratio_test",
    "welch_t",
]

#: Bootstrap resamples, as the paper (5.1.4).
RESAMPLES = 1000

FloatArray = npt.NDArray[np.float64]


def _array(values: Sequence[float] | FloatArray) -> FloatArray:
    return np.asarray(values, dtype=float).ravel()


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its bootstrap standard error and percentile interval.

    ``se``, ``low`` and ``high`` are None with fewer than two observations (no spread can be
    estimated). ``value`` is the statistic on the whole sample.
    """

    value: float
    se: float | None
    low: float | None
    high: float | None
    n: int
    confidence: float = 0.95


def bootstrap(
    samples: Sequence[Sequence[float] | FloatArray],
    statistic: Callable[..., Any],
    *,
    paired: bool = True,
    resamples: int = RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate | None:
    """Bootstrap ``statistic(*samples, axis=-1)`` with ``scipy.stats.bootstrap`` (percentile).

    ``statistic`` must be vectorised over ``axis`` as scipy expects. ``paired`` resamples the
    samples' positions jointly (for a ratio of two columns of the same incidents). Returns None
    when a sample is empty; with one observation per sample, the point estimate without spread.
    The standard error is the standard deviation of the bootstrap distribution.
    """
    arrays = [_array(s) for s in samples]
    if not arrays or any(a.size == 0 for a in arrays):
        return None
    n = min(a.size for a in arrays)
    value = float(statistic(*arrays, axis=-1))
    if n < 2:
        return Estimate(value, None, None, None, n, confidence)
    with warnings.catch_warnings():
        # A bootstrap distribution without spread makes scipy note it; the interval is the point.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(
            tuple(arrays),
            statistic,
            paired=paired,
            vectorized=True,
            n_resamples=resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    se = float(res.standard_error)
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(se)):
        return Estimate(value, None, None, None, n, confidence)
    return Estimate(value, se, low, high, n, confidence)


def _mean(x: FloatArray, axis: int = -1) -> Any:
    return np.mean(x, axis=axis)


def bootstrap_mean(
    values: Sequence[float] | FloatArray,
    *,
    resamples: int = RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate | None:
    """Mean ± bootstrap SE with the percentile interval; None for an empty sample."""
    return bootstrap(
        [values], _mean, paired=False, resamples=resamples, confidence=confidence, seed=seed
    )


# -- rates ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateTest:
    """χ² test of independence of a contingency table (Yates-corrected when 2×2) and Cramér's V.

    A table with an all-zero row or column (e.g. no catastrophic failure in either system) shows
    no association that could be tested: ``chi2`` 0, ``p`` 1, ``cramers_v`` 0.
    """

    chi2: float
    dof: int
    p: float
    cramers_v: float
    n: int


def rate_test(table: Sequence[Sequence[int]] | npt.NDArray[np.int64]) -> RateTest:
    """χ² with Yates' correction and Cramér's V for a contingency table of counts.

    For two rates, ``table`` is ``[[events_a, n_a − events_a], [events_b, n_b − events_b]]``.
    All-zero columns (an action neither system took) are dropped first.

    >>> t = rate_test([[0, 100], [10, 90]])
    >>> round(t.chi2, 3), t.dof, t.p < 0.01
    (8.526, 1, True)
    """
    arr = np.asarray(table, dtype=np.int64)
    if arr.ndim != 2:
        raise DataError(f"a contingency table must be 2-dimensional; got shape {arr.shape}")
    arr = arr[:, arr.sum(axis=0) > 0]
    arr = arr[arr.sum(axis=1) > 0, :]
    n = int(arr.sum())
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        dof = max(0, (len(table) - 1) * (max(len(row) for row in table) - 1))
        return RateTest(chi2=0.0, dof=dof, p=1.0, cramers_v=0.0, n=n)
    res = stats.chi2_contingency(arr, correction=True)
    v = float(association(arr, method="cramer", correction=False))
    return RateTest(
        chi2=float(res.statistic), dof=int(res.dof), p=float(res.pvalue), cramers_v=v, n=n
    )


# -- continuous ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TTest:
    """Welch's t-test of sample ``a`` against sample ``b`` with Cohen's d.

    ``t``, ``df``, ``p`` and ``d`` are None when a sample has fewer than two observations.
    ``p_adjusted`` is the Bonferroni-adjusted p of the table the test belongs to (equal to ``p``
    for a single test).
    """

    t: float | None
    df: float | None
    p: float | None
    d: float | None
    n_a: int
    n_b: int
    p_adjusted: float | None = None


def cohens_d(a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray) -> float | None:
    """Cohen's d = (mean a − mean b) / pooled SD (ddof = 1).

    None with fewer than two observations in a sample; with no spread in either sample, 0 when the
    means are equal and ±∞ when they differ.

    >>> cohens_d([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    -1.0
    """
    x, y = _array(a), _array(b)
    if x.size < 2 or y.size < 2:
        return None
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        # Compare the constants themselves: means of equal floats can differ in the last bit.
        diff = float(x[0] - y[0])
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    diff = float(x.mean() - y.mean())
    pooled = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2)
    return diff / math.sqrt(float(pooled))


def welch_t(a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray) -> TTest:
    """Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``) and Cohen's d.

    Neither sample with any spread: t = 0 and p = 1 when the means are equal, t = ±∞ and p = 0
    when they differ (df is then n_a + n_b − 2).
    """
    x, y = _array(a), _array(b)
    if x.size < 2 or y.size < 2:
        return TTest(None, None, None, None, int(x.size), int(y.size))
    d = cohens_d(x, y)
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        diff = float(x[0] - y[0])
        t = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else 0.0
        df = float(x.size + y.size - 2)
        return TTest(t, df, p, d, int(x.size), int(y.size), p)
    with warnings.catch_warnings():
        # Nearly constant samples make scipy note a loss of precision; the answer stands.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(x, y, equal_var=False)
    t, p, df = float(res.statistic), float(res.pvalue), float(res.df)
    return TTest(t, df, p, d, int(x.size), int(y.size), p)


def compare_to_reference(
    reference: Sequence[float] | FloatArray,
    others: Mapping[str, Sequence[float] | FloatArray],
    *,
    alpha: float = 0.05,
) -> dict[str, TTest]:
    """Welch's t of each of ``others`` against ``reference``, Bonferroni-adjusted together.

    The adjustment (``multipletests(method="bonferroni")``) counts only the comparisons that have
    a p-value; the others keep ``p_adjusted`` None.
    """
    tests = {name: welch_t(values, reference) for name, values in others.items()}
    names = [name for name, t in tests.items() if t.p is not None]
    if not names:
        return tests
    pvals = np.array([tests[name].p for name in names], dtype=float)
    _, adjusted, _, _ = multipletests(pvals, alpha=alpha, method="bonferroni")
    out = dict(tests)
    for name, p_adj in zip(names, adjusted, strict=True):
        t = tests[name]
        out[name] = TTest(t.t, t.df, t.p, t.d, t.n_a, t.n_b, float(p_adj))
    return out


# -- many groups ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnovaResult:
    """One-way ANOVA across groups, η², and Tukey HSD p-values for every pair of groups.

    ``f``, ``p`` and ``eta2`` are None with fewer than two non-empty groups or no residual degrees
    of freedom. No variation at all: F 0, p 1, η² 0. Constant groups with different means: F ∞,
    p 0, η² 1. ``tukey`` maps (group a, group b) to the HSD p-value; empty when a group has fewer
    than two observations or the groups have no spread.
    """

    f: float | None
    df_between: int
    df_within: int
    p: float | None
    eta2: float | None
    tukey: dict[tuple[str, str], float]


def anova(groups: Mapping[str, Sequence[float] | FloatArray]) -> AnovaResult:
    """``scipy.stats.f_oneway`` over the non-empty groups, with η² and ``scipy.stats.tukey_hsd``.

    >>> r = anova({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    >>> round(r.f, 2), r.df_between, r.df_within, round(r.eta2, 3)
    (13.5, 1, 4, 0.771)
    """
    named = {k: _array(v) for k, v in groups.items() if len(v) > 0}
    k = len(named)
    n = sum(v.size for v in named.values())
    df_b, df_w = max(0, k - 1), max(0, n - k)
    if k < 2 or df_w < 1:
        return AnovaResult(None, df_b, df_w, None, None, {})
    values = list(named.values())
    # Exact tests for "no spread" (sums of squares of equal floats need not be exactly 0).
    if all(np.ptp(v) == 0 for v in values):
        if np.ptp(np.concatenate(values)) == 0:
            return AnovaResult(0.0, df_b, df_w, 1.0, 0.0, {})
        return AnovaResult(math.inf, df_b, df_w, 0.0, 1.0, {})
    grand = np.concatenate(values).mean()
    ss_between = float(sum(v.size * (v.mean() - grand) ** 2 for v in values))
    ss_within = float(sum(((v - v.mean()) ** 2).sum() for v in values))
    ss_total = ss_between + ss_within
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.f_oneway(*values)
    tukey: dict[tuple[str, str], float] = {}
    if all(v.size >= 2 for v in values):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hsd = stats.tukey_hsd(*values)
        names = list(named)
        for i in range(k):
            for j in range(i + 1, k):
                tukey[(names[i], names[j])] = float(hsd.pvalue[i, j])
    return AnovaResult(
        float(res.statistic), df_b, df_w, float(res.pvalue), ss_between / ss_total, tukey
    )


# -- variances -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VarianceTest:
    """F-test of the ratio of two sample variances, F = s_a² / s_b², two-sided p.

    None statistic and p with fewer than two observations in a sample. Both variances 0: F 1
    (equal) and p 1; only ``b``'s 0: F ∞ and p 0; only ``a``'s 0: F 0 and p 0.
    """

    f: float | None
    df_a: int
    df_b: int
    p: float | None


def variance_ratio_test(
    a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray
) -> VarianceTest:
    """Two-sided F-test of equal variances: p = 2 · min(F_cdf(F), F_sf(F)), capped at 1.

    >>> r = variance_ratio_test([1.0, 3.0, 5.0], [1.0, 2.0, 3.0])
    >>> r.f, r.df_a, r.df_b
    (4.0, 2, 2)
    """
    x, y = _array(a), _array(b)
    df_a, df_b = int(x.size) - 1, int(y.size) - 1
    if df_a < 1 or df_b < 1:
        return VarianceTest(None, max(df_a, 0), max(df_b, 0), None)
    flat_a, flat_b = np.ptp(x) == 0, np.ptp(y) == 0
    if flat_b:
        return VarianceTest(1.0 if flat_a else math.inf, df_a, df_b, 1.0 if flat_a else 0.0)
    if flat_a:
        return VarianceTest(0.0, df_a, df_b, 0.0)
    f = float(x.var(ddof=1)) / float(y.var(ddof=1))
    dist = stats.f(df_a, df_b)
    p = min(1.0, 2.0 * min(float(dist.cdf(f)), float(dist.sf(f))))
    return VarianceTest(f, df_a, df_b, p)
