"""Drift check speed: safeheal's DriftDetector.check beside scipy and the sorting floor.

Run:  .venv/bin/python benchmarks/drift.py  [--repeats N] [--quick]

For each window size it times, in one process and on the same data:

- ``check``: ``DriftDetector.check(current)`` with the reference sorted at construction;
- ``scipy loop``: ``scipy.stats.ks_2samp`` over the features, one call each;
- ``sort floor``: ``numpy.sort`` of both windows along the rows, which any KS test that sorts
  both samples must pay;

and the peak memory that ``check`` allocates (tracemalloc, which sees NumPy's buffers) against the
size of the two windows. Figures are medians over the repeats. It also checks that the statistics
and p-values agree with scipy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import stats

from safeheal import DriftDetector

SIZES = ((10_000, 20), (100_000, 20), (1_000_000, 5))


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _data(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(n, k))
    cur = rng.normal(size=(n, k))
    cur[:, : max(1, k // 10)] += 0.05  # a little drift in a tenth of the features
    return ref, cur


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="two sizes, three repeats")
    args = parser.parse_args()
    sizes = SIZES[:2] if args.quick else SIZES
    repeats = 3 if args.quick else args.repeats
    console = Console()

    table = Table(title=f"DriftDetector.check vs scipy and the sort floor ({os.cpu_count()} cores)")
    for col in (
        "window (rows × features)",
        "check ms",
        "sort floor ms",
        "scipy loop ms",
        "check / floor",
        "speed-up vs scipy",
        "peak mem / windows",
        "max |Δp| vs scipy",
    ):
        table.add_column(col, justify="right")

    # Compile (or load the cached) kernels outside the timings.
    warm_ref, warm_cur = _data(2000, 3, 0)
    DriftDetector(warm_ref).check(warm_cur)

    for n, k in sizes:
        ref, cur = _data(n, k, seed=n + k)
        det = DriftDetector(ref)
        det.check(cur)
        t_check = _median_time(lambda: det.check(cur), repeats)  # noqa: B023
        t_floor = _median_time(lambda: (np.sort(ref, axis=0), np.sort(cur, axis=0)), repeats)  # noqa: B023
        scipy_repeats = max(1, repeats // 3)
        t_scipy = _median_time(
            lambda: [stats.ks_2samp(ref[:, f], cur[:, f]) for f in range(k)],  # noqa: B023
            scipy_repeats,
        )
        tracemalloc.start()
        report = det.check(cur)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        windows = ref.nbytes + cur.nbytes
        dp = max(
            abs(report.p_value[f] - stats.ks_2samp(ref[:, f], cur[:, f]).pvalue) for f in range(k)
        )
        table.add_row(
            f"{n:,} × {k}",
            f"{t_check * 1e3:.1f}",
            f"{t_floor * 1e3:.1f}",
            f"{t_scipy * 1e3:.1f}",
            f"{t_check / t_floor:.2f}×",
            f"{t_scipy / t_check:.0f}×",
            f"{peak / windows:.2f}×",
            f"{dp:.1e}",
        )
        console.print(f"measured {n:,} × {k}")
    console.print(table)
    console.print(
        "Targets at 100,000 × 20: check / floor ≤ 1, speed-up vs scipy ≥ 20×, peak memory < 2× "
        "the two windows."
    )


if __name__ == "__main__":
    main()
