"""The KS statistic and p-value agree with scipy.stats.ks_2samp, ties included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from safeheal import DriftDetector, InsufficientDataError, ks_2samp


def _cases() -> list[tuple[int, int, str, float, int]]:
    rng = np.random.default_rng(20261126)
    out = []
    for i in range(60):
        n = int(rng.integers(5, 2500))
        m = n if i % 3 == 0 else int(rng.integers(5, 2500))
        kind = ("normal", "ties", "mixed")[i % 3]
        shift = float(rng.choice([0.0, 0.05, 0.2, 1.0]))
        out.append((n, m, kind, shift, i))
    # Around scipy's exact/asymptotic switch at 10,000, and up to 10^5.
    out += [
        (9_000, 10_000, "normal", 0.03, 100),
        (10_000, 10_000, "ties", 0.0, 101),
        (10_001, 9_999, "normal", 0.02, 102),
        (100_000, 100_000, "normal", 0.0, 103),
        (100_000, 60_000, "ties", 0.01, 104),
        (5, 5, "normal", 3.0, 105),
        (5, 6, "ties", 0.0, 106),
    ]
    return out


def _sample(kind: str, size: int, shift: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1.0, size)
    if kind == "ties":
        return np.floor(rng.normal(shift, 1.0, size) * 3) / 3
    return np.where(rng.random(size) < 0.3, 0.0, rng.exponential(1.0, size) + shift)


@pytest.mark.parametrize(("n", "m", "kind", "shift", "seed"), _cases())
def test_agrees_with_scipy(n: int, m: int, kind: str, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _sample(kind, n, 0.0, rng)
    y = _sample(kind, m, shift, rng)
    ours = ks_2samp(x, y)
    ref = stats.ks_2samp(x, y, method="auto")
    assert abs(ours.statistic - ref.statistic) <= 1e-12
    assert abs(ours.p_value - ref.pvalue) <= 1e-6
    assert (ours.n, ours.m) == (n, m)


def test_detector_agrees_with_scipy_per_feature_and_drops_nan() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(800, 6))
    ref[::37, 2] = np.nan
    cur = rng.normal(size=(500, 6)) + np.array([0, 0.3, 0, 0, 1.0, 0])
    cur[::11, 1] = np.nan
    cur[5, 3] = np.inf
    cur = np.round(cur, 1)  # ties
    report = DriftDetector(ref).check(cur)
    for f in range(6):
        a = ref[:, f][np.isfinite(ref[:, f])]
        b = cur[:, f][np.isfinite(cur[:, f])]
        expected = stats.ks_2samp(a, b)
        assert report.statistic[f] == pytest.approx(expected.statistic, abs=1e-12)
        assert report.p_value[f] == pytest.approx(expected.pvalue, abs=1e-6)
        assert report.n_tested[f] == b.size
    assert report.quality.missing[1] == np.isnan(cur[:, 1]).sum()
    assert report.quality.nonfinite[3] == 1


def test_empty_sample_is_refused() -> None:
    with pytest.raises(InsufficientDataError, match="at least one finite value"):
        ks_2samp([np.nan, np.inf], [1.0, 2.0])


@pytest.mark.parametrize(("n", "m"), [(10_001, 10_001), (20_000, 100_000), (10_500, 150)])
def test_asymptotic_branch_matches_kstwo_over_the_whole_range(n: int, m: int) -> None:
    # Every branch of scipy's asymptotic p-value, from p ~ 1 down to the far tail.
    from safeheal.signals._ks import pvalues

    en = round(n * m / (n + m))
    diffs = np.unique(np.linspace(1, n * m * 0.2, 400).astype(np.int64))
    ours = pvalues(diffs, np.full(diffs.size, n), np.full(diffs.size, m))
    expected = stats.kstwo.sf(diffs / (n * m), en)
    np.testing.assert_allclose(ours, expected, atol=1e-9)
    mid = (expected > 1e-8) & (expected < 0.05)
    np.testing.assert_allclose(ours[mid], expected[mid], rtol=1e-7)
