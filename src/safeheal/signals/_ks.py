"""Two-sample Kolmogorov-Smirnov statistic and p-values over presorted columns.

The drift detector keeps its reference sorted, one row per feature, so a window costs one sort of
the current data and one linear merge per feature. The statistic is computed in integers,
``max |i·m − j·n|`` over the merged sample, so ties are handled exactly and the same integer drives
the exact p-value. P-values follow ``scipy.stats.ks_2samp(method="auto")``: exact when both
samples have at most 10,000 values, otherwise the Kolmogorov distribution with the effective size
``round(n·m / (n + m))``.

Numba is imported lazily: importing this module costs nothing until a kernel runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Largest sample size for which scipy's ``method="auto"`` computes the exact distribution.
MAX_EXACT_N = 10_000
#: Below this Massart bound on the tail, a p-value is taken from the limiting distribution; the
#: difference from the exact value is then below the bound itself.
_TINY_P = 1e-10


@dataclass(frozen=True, slots=True)
class KSResult:
    """The result of one two-sample KS test."""

    statistic: float
    p_value: float
    n: int
    m: int


def _compile() -> dict[str, Callable[..., Any]]:
    import numba

    njit = numba.njit(cache=True, nogil=True)
    pnjit = numba.njit(cache=True, nogil=True, parallel=True)

    @njit
    def merge_stat(ref: Any, ref_lo: int, ref_hi: int, cur: Any, cur_lo: int, cur_hi: int) -> int:
        # Walk both sorted runs once; after each distinct value compare the two ECDFs in integers.
        n = ref_hi - ref_lo
        m = cur_hi - cur_lo
        i = ref_lo
        j = cur_lo
        best = 0
        while i < ref_hi and j < cur_hi:
            v = ref[i] if ref[i] <= cur[j] else cur[j]
            while i < ref_hi and ref[i] <= v:
                i += 1
            while j < cur_hi and cur[j] <= v:
                j += 1
            diff = (i - ref_lo) * m - (j - cur_lo) * n
            if diff < 0:
                diff = -diff
            if diff > best:
                best = diff
        # Past the end of one sample the other ECDF only moves towards the first, which is 1 there,
        # so the difference shrinks; nothing more to check.
        return best

    @pnjit
    def merge_stats(ref: Any, ref_lo: Any, ref_hi: Any, cur: Any, cur_lo: Any, cur_hi: Any) -> Any:
        k = ref.shape[0]
        out = np.zeros(k, dtype=np.int64)
        for f in numba.prange(k):
            if ref_hi[f] > ref_lo[f] and cur_hi[f] > cur_lo[f]:
                out[f] = merge_stat(ref[f], ref_lo[f], ref_hi[f], cur[f], cur_lo[f], cur_hi[f])
        return out

    @njit
    def outside_square(n: int, h: int) -> float:
        # P(D_{n,n} >= h/n) by the reflection principle:
        #   2 * sum_{k>=1} (-1)^(k+1) C(2n, n-kh) / C(2n, n)
        # Each ratio is a product of h-fold ratios; evaluate the alternating sum from its small
        # far end inwards so that cancellation happens between numbers of similar size.
        kmax = n // h
        total = 0.0
        for k in range(kmax, 0, -1):
            log_ratio = (
                2.0 * math.lgamma(n + 1.0)
                - math.lgamma(n - k * h + 1.0)
                - math.lgamma(n + k * h + 1.0)
            )
            term = math.exp(log_ratio)
            total = term - total
        p = 2.0 * total
        return min(max(p, 0.0), 1.0)

    @njit
    def outside_band(n1: int, n2: int, t: int) -> float:
        # P(max |i*n2 - j*n1| >= t) over a uniformly random lattice path from (0,0) to (n1,n2).
        # Dynamic programming over rows i, carrying the probability of having stayed strictly
        # inside the band; the random path is an urn draw, so every cell holds a probability <= 1.
        total = n1 + n2
        row = np.zeros(n2 + 1)
        row[0] = 1.0
        hi_prev = 0
        j = 1
        while j <= n2 and j * n1 < t:
            row[j] = row[j - 1] * (n2 - (j - 1)) / (total - (j - 1))
            j += 1
        hi_prev = j - 1
        lo_prev = 0
        for i in range(1, n1 + 1):
            lo = (i * n2 - t) // n1 + 1
            if lo < 0:
                lo = 0
            hi = (i * n2 + t - 1) // n1
            if hi > n2:
                hi = n2
            if lo > hi:
                return 1.0
            for jj in range(lo, hi + 1):
                from_left = 0.0
                if lo_prev <= jj <= hi_prev:
                    from_left = row[jj] * (n1 - (i - 1)) / (total - (i - 1) - jj)
                from_below = 0.0
                if jj - 1 >= lo:
                    from_below = row[jj - 1] * (n2 - (jj - 1)) / (total - i - (jj - 1))
                row[jj] = from_left + from_below
            lo_prev = lo
            hi_prev = hi
        inside = row[n2] if lo_prev <= n2 <= hi_prev else 0.0
        p = 1.0 - inside
        return min(max(p, 0.0), 1.0)

    @pnjit
    def exact_pvalues(n: Any, m: Any, diff: Any, todo: Any) -> Any:
        k = n.shape[0]
        out = np.full(k, np.nan)
        for f in numba.prange(k):
            if not todo[f]:
                continue
            if diff[f] == 0:
                out[f] = 1.0
            elif n[f] == m[f]:
                out[f] = outside_square(n[f], diff[f] // n[f])
            else:
                out[f] = outside_band(n[f], m[f], diff[f])
        return out

    return {"merge_stats": merge_stats, "exact_pvalues": exact_pvalues}


@cache
def _kernels() -> dict[str, Callable[..., Any]]:
    return _compile()


def merge_statistics(
    ref: FloatArray,
    ref_lo: IntArray,
    ref_hi: IntArray,
    cur: FloatArray,
    cur_lo: IntArray,
    cur_hi: IntArray,
) -> IntArray:
    """``max |i·m − j·n|`` per feature for presorted rows ``ref[f, lo:hi]`` and ``cur[f, lo:hi]``.

    Divide by ``n·m`` to get the KS statistic D. A feature with an empty run gets 0.
    """
    out: IntArray = _kernels()["merge_stats"](ref, ref_lo, ref_hi, cur, cur_lo, cur_hi)
    return out


@lru_cache(maxsize=4096)
def critical_value(level: float, n: int, m: int) -> float:
    """The KS statistic D a two-sided test of sizes ``n``, ``m`` must reach to reject at ``level``.

    Taken from the Kolmogorov distribution with the effective size ``round(n·m/(n+m))``, the same
    distribution scipy uses for large samples.

    >>> round(critical_value(0.05, 1000, 1000), 4)
    0.0602
    """
    from scipy.stats import kstwo

    if n <= 0 or m <= 0:
        return math.nan
    en = max(1, round(n * m / (n + m)))
    return float(kstwo.isf(level, en))


def pvalues(diff: IntArray, n: IntArray, m: IntArray) -> FloatArray:
    """Two-sided p-values as ``scipy.stats.ks_2samp(method="auto")`` computes them.

    ``diff`` is the integer statistic from :func:`merge_statistics`, ``n`` and ``m`` the sample
    sizes. Features with an empty sample get NaN.
    """
    diff = np.asarray(diff, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    out = np.full(diff.shape, np.nan)
    valid = (n > 0) & (m > 0)
    exact = valid & (np.maximum(n, m) <= MAX_EXACT_N)
    if exact.any():
        ex = _kernels()["exact_pvalues"](n, m, diff, exact)
        out[exact] = ex[exact]
    asym = valid & ~exact
    if asym.any():
        out[asym] = _asymptotic(diff[asym], n[asym], m[asym])
    return out


def _asymptotic(diff: IntArray, n: IntArray, m: IntArray) -> FloatArray:
    from scipy.special import kolmogorov
    from scipy.stats import kstwo

    nf = n.astype(np.float64)
    mf = m.astype(np.float64)
    d = diff / (nf * mf)
    en = np.round(nf * mf / (nf + mf))
    # Massart: P(D_en >= d) <= 2 exp(-2 en d^2). Far in the tail the Kolmogorov distribution of
    # size en is slow to evaluate, and both it and its limit are below the bound.
    bound = 2.0 * np.exp(-2.0 * en * d * d)
    out = np.empty(d.shape)
    tiny = bound < _TINY_P
    out[tiny] = kolmogorov(np.sqrt(en[tiny]) * d[tiny])
    if (~tiny).any():
        out[~tiny] = kstwo.sf(d[~tiny], en[~tiny])
    return np.clip(out, 0.0, 1.0)


def ks_2samp(x: npt.ArrayLike, y: npt.ArrayLike) -> KSResult:
    """Two-sided two-sample KS test of two 1-D samples; NaN and infinite values are left out.

    Agrees with ``scipy.stats.ks_2samp(x, y)`` on the statistic (to rounding) and the p-value.

    >>> r = ks_2samp([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0, 7.0])
    >>> r.statistic, round(r.p_value, 6)
    (0.6, 0.285714)
    """
    a = np.sort(np.asarray(x, dtype=np.float64).ravel())
    b = np.sort(np.asarray(y, dtype=np.float64).ravel())
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        from safeheal.errors import InsufficientDataError

        raise InsufficientDataError(
            f"ks_2samp needs at least one finite value in each sample; got {a.size} and {b.size}"
        )
    zero = np.zeros(1, dtype=np.int64)
    diff = merge_statistics(
        a[None, :], zero, np.array([a.size]), b[None, :], zero, np.array([b.size])
    )
    n = np.array([a.size], dtype=np.int64)
    m = np.array([b.size], dtype=np.int64)
    p = pvalues(diff, n, m)
    return KSResult(float(diff[0] / (a.size * b.size)), float(p[0]), int(a.size), int(b.size))
