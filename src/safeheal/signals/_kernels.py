"""Compiled kernels of the KS test (imported lazily by :mod:`safeheal.signals._ks`).

Importing this module imports Numba; the kernels are cached on disk after the first compile.
Each kernel works on a range of features (or rows) and releases the GIL, so the caller spreads a
large window over its own threads; there is no OpenMP region that, on a loaded machine, would spin
waiting for a descheduled thread.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

njit = numba.njit(cache=True, nogil=True)


@njit
def merge_stat(
    ref: Any,
    ref_lo: int,
    ref_hi: int,
    cur: Any,
    cur_lo: int,
    cur_hi: int,
    i: int,
    j: int,
    best: int,
) -> int:
    # max |i*m - j*n| over one pass of both sorted runs, resuming at (i, j) with the best so far.
    # Each step consumes the smaller head (both on a tie) without branching on the comparison;
    # the two ECDFs are compared, in integers, only where the next value in either run is larger,
    # i.e. after a whole group of tied values.
    n = ref_hi - ref_lo
    m = cur_hi - cur_lo
    inf = np.inf
    while i < ref_hi and j < cur_hi:
        a = ref[i]
        b = cur[j]
        v = min(a, b)
        i += a <= b
        j += b <= a
        na = ref[i] if i < ref_hi else inf
        nb = cur[j] if j < cur_hi else inf
        if min(na, nb) > v:
            diff = (i - ref_lo) * m - (j - cur_lo) * n
            best = max(best, max(diff, -diff))
    # Past the end of one run its ECDF is 1 and the other's only climbs towards it.
    return best


@njit
def merge_stat_pair(
    r0: Any,
    rl0: int,
    rh0: int,
    c0: Any,
    cl0: int,
    ch0: int,
    r1: Any,
    rl1: int,
    rh1: int,
    c1: Any,
    cl1: int,
    ch1: int,
) -> tuple[int, int]:
    # Two features merged in one loop: each merge is a chain of dependent loads, and running two
    # independent chains side by side keeps the core busy while either waits.
    n0 = rh0 - rl0
    m0 = ch0 - cl0
    n1 = rh1 - rl1
    m1 = ch1 - cl1
    i0 = rl0
    j0 = cl0
    i1 = rl1
    j1 = cl1
    b0 = 0
    b1 = 0
    # While every run has a value after its head, the next values can be read unconditionally.
    while i0 < rh0 - 1 and j0 < ch0 - 1 and i1 < rh1 - 1 and j1 < ch1 - 1:
        a0 = r0[i0]
        x0 = c0[j0]
        a1 = r1[i1]
        x1 = c1[j1]
        v0 = min(a0, x0)
        v1 = min(a1, x1)
        i0 += int(a0 <= x0)
        j0 += int(x0 <= a0)
        i1 += int(a1 <= x1)
        j1 += int(x1 <= a1)
        d0 = (i0 - rl0) * m0 - (j0 - cl0) * n0
        d1 = (i1 - rl1) * m1 - (j1 - cl1) * n1
        if min(r0[i0], c0[j0]) > v0:
            b0 = max(b0, max(d0, -d0))
        if min(r1[i1], c1[j1]) > v1:
            b1 = max(b1, max(d1, -d1))
    b0 = merge_stat(r0, rl0, rh0, c0, cl0, ch0, i0, j0, b0)
    b1 = merge_stat(r1, rl1, rh1, c1, cl1, ch1, i1, j1, b1)
    return b0, b1


@njit
def merge_pair_into(
    ref: Any, ref_lo: Any, ref_hi: Any, cur: Any, cur_lo: Any, cur_hi: Any, f: int, g: int, out: Any
) -> None:
    # Features f and g (g may be past the end: then f alone) into out[f], out[g].
    if g < ref.shape[0]:
        out[f], out[g] = merge_stat_pair(
            ref[f], ref_lo[f], ref_hi[f], cur[f], cur_lo[f], cur_hi[f],
            ref[g], ref_lo[g], ref_hi[g], cur[g], cur_lo[g], cur_hi[g],
        )  # fmt: skip
    else:
        out[f] = merge_stat(
            ref[f], ref_lo[f], ref_hi[f], cur[f], cur_lo[f], cur_hi[f], ref_lo[f], cur_lo[f], 0
        )


@njit
def merge_stats_range(
    ref: Any, ref_lo: Any, ref_hi: Any, cur: Any, cur_lo: Any, cur_hi: Any,
    start: int, stop: int, out: Any,
) -> None:  # fmt: skip
    # Features [start, stop), two at a time.
    half = (stop - start + 1) // 2
    for p in range(half):
        f = start + p
        g = f + half
        merge_pair_into(
            ref, ref_lo, ref_hi, cur, cur_lo, cur_hi, f, g if g < stop else ref.shape[0], out
        )


@njit
def transpose_rows(x: Any, out: Any, start: int, stop: int) -> None:
    # out[f, r] = x[r, f] for rows [start, stop), in blocks that stay in cache.
    block = 256
    for b0 in range(start, stop, block):
        b1 = min(stop, b0 + block)
        for f in range(x.shape[1]):
            for r in range(b0, b1):
                out[f, r] = x[r, f]


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
            2.0 * math.lgamma(n + 1.0) - math.lgamma(n - k * h + 1.0) - math.lgamma(n + k * h + 1.0)
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


@njit
def exact_pvalue(n: int, m: int, diff: int) -> float:
    if diff == 0:
        return 1.0
    if n == m:
        return outside_square(n, diff // n)
    return outside_band(n, m, diff)


@njit
def exact_pvalues_range(
    n: Any, m: Any, diff: Any, todo: Any, start: int, stop: int, out: Any
) -> None:
    for f in range(start, stop):
        if todo[f]:
            out[f] = exact_pvalue(n[f], m[f], diff[f])


@njit
def smirnov_sf(n: int, x: float) -> float:
    # One-sided P(D_n^+ >= x) by the Birnbaum-Tingey sum, term by term in log space:
    #   x * sum_{j=0}^{floor(n(1-x))} C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1)
    if x <= 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    jmax = math.floor(n * (1.0 - x))
    log_binom = 0.0  # log C(n, 0)
    total = 0.0
    for j in range(jmax + 1):
        if j > 0:
            log_binom += math.log((n - j + 1) / j)
        a = 1.0 - x - j / n
        if a > 0.0:
            total += math.exp(log_binom + (n - j) * math.log(a) + (j - 1) * math.log(x + j / n))
    return min(1.0, x * total)


@njit
def smirnov_sf_range(n: Any, x: Any, start: int, stop: int, out: Any) -> None:
    for f in range(start, stop):
        out[f] = smirnov_sf(int(n[f]), x[f])
