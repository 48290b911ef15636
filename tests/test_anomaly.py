"""Anomaly rate: calibrated to the nominal Z=3 rate on healthy data, rising with outliers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from safeheal import AnomalyDetector, ConfigError, InsufficientDataError


def _healthy(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "gaussian":
        return rng.normal(size=(n, 20))
    if kind == "lognormal":
        return rng.lognormal(0.0, 1.0, size=(n, 20))
    # correlated Gaussian features
    base = rng.normal(size=(n, 1))
    return 0.8 * base + 0.6 * rng.normal(size=(n, 20))


@pytest.mark.parametrize("kind", ["gaussian", "lognormal", "correlated"])
def test_healthy_rate_is_nominal(kind: str) -> None:
    rng = np.random.default_rng(21)
    det = AnomalyDetector(_healthy(kind, rng, 20_000))
    assert det.nominal_rate == pytest.approx(2 * stats.norm.sf(3.0))
    rate = det.rate(_healthy(kind, rng, 50_000))
    assert 0.001 <= rate <= 0.005


def test_naive_per_feature_rule_would_fire_far_more_often() -> None:
    # The reason for calibration: "any |z| > 3" on 20 features flags ~5.3 % of healthy rows.
    rng = np.random.default_rng(22)
    x = rng.normal(size=(50_000, 20))
    naive = float((np.abs(x) > 3).any(axis=1).mean())
    assert naive == pytest.approx(1 - 0.9973**20, abs=0.005)
    assert AnomalyDetector(rng.normal(size=(20_000, 20))).rate(x) < naive / 5


def test_rate_rises_with_injected_outliers() -> None:
    rng = np.random.default_rng(23)
    det = AnomalyDetector(rng.normal(size=(20_000, 20)))
    rates = []
    for share in (0.0, 0.01, 0.05, 0.2):
        x = rng.normal(size=(10_000, 20))
        k = int(share * len(x))
        cols = rng.integers(0, 20, k)
        x[np.arange(k), cols] = rng.choice([-1, 1], k) * rng.uniform(6, 10, k)
        rates.append(det.rate(x))
    assert rates == sorted(rates)
    assert rates[-1] >= 0.2
    assert rates[1] >= 0.01


def test_nonfinite_values_where_reference_had_none_are_anomalous() -> None:
    rng = np.random.default_rng(24)
    det = AnomalyDetector(rng.normal(size=(2000, 3)))
    x = rng.normal(scale=0.1, size=(100, 3))
    x[:10, 1] = np.nan
    x[10, 2] = np.inf
    report = det.check(x)
    assert report.flagged == 11
    assert report.nonfinite_rows == 10  # the inf row also scores as infinite
    assert det.flags(x)[:11].all()


def test_constant_reference_feature() -> None:
    rng = np.random.default_rng(25)
    ref = rng.normal(size=(2000, 2))
    ref[:, 1] = 1.0
    det = AnomalyDetector(ref)
    x = rng.normal(scale=0.1, size=(100, 2))
    x[:, 1] = 1.0
    assert det.rate(x) == 0.0
    x[:4, 1] = 1.5
    assert det.rate(x) == pytest.approx(0.04)


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="`z` parameter of AnomalyDetector must be > 0; got -1"):
        AnomalyDetector(np.zeros((1000, 2)), z=-1)
    with pytest.raises(InsufficientDataError, match=r"at least 500 reference rows.*got 100"):
        AnomalyDetector(np.zeros((100, 2)))


def test_all_missing_reference_column_is_refused() -> None:
    ref = np.random.default_rng(26).normal(size=(1000, 3))
    ref[:, 2] = np.nan
    with pytest.raises(InsufficientDataError, match=r"\['x2'\] hold no finite value"):
        AnomalyDetector(ref)
