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

import itertools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Largest sample size for which scipy's ``method="auto"`` computes the exact distribution.
MAX_EXACT_N = 10_000
#: Windows with fewer values than this run on one core: a thread hand-off costs more than it saves.
PARALLEL_MIN_VALUES = 1_000_000
#: Threads for large windows.
THREADS = max(1, min(4, os.cpu_count() or 1))
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


@cache
def _kernels() -> Any:
    from safeheal.signals import _kernels

    return _kernels


@cache
def _pool() -> ThreadPoolExecutor:
    """Worker threads for large windows (NumPy's sort and the kernels release the GIL)."""
    return ThreadPoolExecutor(THREADS, thread_name_prefix="safeheal-ks")


def spread(work: Callable[[int, int], object], count: int, *, parallel: bool) -> None:
    """Run ``work(start, stop)`` over ``range(count)``, in one chunk per thread when parallel."""
    if not parallel or THREADS == 1 or count < 2:
        work(0, count)
        return
    bounds = np.linspace(0, count, min(THREADS, count) + 1).astype(int)
    futures = [_pool().submit(work, int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    for f in futures:
        f.result()


def transposed(x: npt.NDArray[np.float64]) -> FloatArray:
    """A fresh C-contiguous ``(k, n)`` copy of an ``(n, k)`` float64 array (blocked)."""
    out = np.empty((x.shape[1], x.shape[0]))
    kernel = _kernels().transpose_rows
    spread(lambda a, b: kernel(x, out, a, b), x.shape[0], parallel=x.size >= PARALLEL_MIN_VALUES)
    return out


def sort_rows(a: FloatArray) -> None:
    """Sort each row of a ``(k, n)`` C-contiguous array in place."""
    spread(lambda f, g: a[f:g].sort(axis=1), a.shape[0], parallel=a.size >= PARALLEL_MIN_VALUES)


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
    out = np.zeros(ref.shape[0], dtype=np.int64)
    kernel = _kernels().merge_stats_range
    spread(
        lambda a, b: kernel(ref, ref_lo, ref_hi, cur, cur_lo, cur_hi, a, b, out),
        ref.shape[0],
        parallel=ref.size + cur.size >= 2 * PARALLEL_MIN_VALUES,
    )
    return out


@lru_cache(maxsize=4096)
def critical_value(level: float, n: int, m: int) -> float:
    """The KS statistic D a two-sided test of sizes ``n``, ``m`` must reach to reject at ``level``.

    Taken from the Kolmogorov distribution with the effective size ``round(n·m/(n+m))``, the same
    distribution scipy uses for large samples.

    >>> round(critical_value(0.05, 1000, 1000), 4)
    0.0604
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
        # Unequal sizes take a lattice-path programme of ~n·m·d steps: worth both cores when big.
        work = float(np.sum(np.where(exact & (n != m), n * m, n)))
        kernel = _kernels().exact_pvalues_range
        spread(lambda a, b: kernel(n, m, diff, exact, a, b, out), n.size, parallel=work >= 1e7)
    asym = valid & ~exact
    if asym.any():
        out[asym] = _asymptotic(diff[asym], n[asym], m[asym])
    return out


def _asymptotic(diff: IntArray, n: IntArray, m: IntArray) -> FloatArray:
    """``scipy.stats.kstwo.sf(d, round(n·m/(n+m)))``, as scipy's asymptotic mode computes it.

    Two ranges are computed here rather than through ``kstwo.sf``, which is slow there at large
    effective sizes: far in the tail (Massart's bound 2·exp(−2·en·d²) below 1e-10) the limiting
    Kolmogorov distribution is used, which differs from scipy's figure by less than the bound; and
    where scipy evaluates ``2·smirnov(en, d)`` (en > 140, 2.2 <= en·d² < 370) the same
    Birnbaum-Tingey sum is computed in compiled code.
    """
    from scipy.special import kolmogorov
    from scipy.stats import kstwo

    nf = n.astype(np.float64)
    mf = m.astype(np.float64)
    d = diff / (nf * mf)
    en = np.round(nf * mf / (nf + mf))
    out = np.empty(d.shape)
    tiny = 2.0 * np.exp(-2.0 * en * d * d) < _TINY_P
    out[tiny] = kolmogorov(np.sqrt(en[tiny]) * d[tiny])
    nx2 = en * d * d
    smirnov = (
        ~tiny
        & (en > 140)
        & (nx2 >= 2.2)
        & (nx2 < 370)
        & (d < 0.5)
        & (en * d > 1)
        & (en * d < en - 1)
    )
    if smirnov.any():
        sn, sd = en[smirnov], d[smirnov]
        sf = np.empty(sd.size)
        kernel = _kernels().smirnov_sf_range
        spread(lambda a, b: kernel(sn, sd, a, b, sf), sd.size, parallel=float(sn.sum()) >= 1e5)
        out[smirnov] = 2.0 * sf
    rest = ~tiny & ~smirnov
    if rest.any():
        out[rest] = kstwo.sf(d[rest], en[rest])
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
