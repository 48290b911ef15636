"""Accuracy drop with a Wilson interval that covers as it claims."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from safeheal import AccuracyMonitor, ConfigError, DataError, InsufficientDataError
from safeheal.signals.accuracy import wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (450, 500), (1, 1)])
def test_wilson_matches_statsmodels(k: int, n: int) -> None:
    lo, hi = wilson_interval(k, n, 0.05)
    exp_lo, exp_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert lo == pytest.approx(exp_lo, abs=1e-12)
    assert hi == pytest.approx(exp_hi, abs=1e-12)


def test_interval_covers_true_accuracy_at_its_level() -> None:
    rng = np.random.default_rng(31)
    mon = AccuracyMonitor(0.9)
    trials = 400
    covered = 0
    for _ in range(trials):
        y = rng.integers(0, 2, 300)
        right = rng.random(300) < 0.8
        r = mon.check(y, np.where(right, y, 1 - y))
        covered += r.ci_low <= 0.8 <= r.ci_high
    # Coverage 95 %: at least the count a true 95 % would exceed 99.9 % of the time, give or take.
    assert covered >= stats.binom.ppf(0.001, trials, 0.95) - 2


def test_drop_is_clipped_and_labels_may_be_missing() -> None:
    mon = AccuracyMonitor(0.5)
    r = mon.check([1, 0, None, 1, float("nan")], [1, 0, 1, 1, 0])
    assert (r.accuracy, r.drop, r.n) == (1.0, 0.0, 3)
    assert r.drop_ci[0] == 0.0 < r.drop_ci[1] < 0.5  # three labels say little
    mon = AccuracyMonitor(0.9)
    r = mon.check(["a", "b", "a", "a"], ["a", "a", "b", "a"])
    assert r.accuracy == 0.5
    assert r.drop == pytest.approx(0.4)
    assert r.drop_ci[0] < r.drop < r.drop_ci[1]


def test_bad_input() -> None:
    with pytest.raises(
        ConfigError, match=r"`baseline` parameter of AccuracyMonitor must be in \(0, 1\]; got 1.2"
    ):
        AccuracyMonitor(1.2)
    with pytest.raises(ConfigError, match=r"`alpha`.*got 0"):
        AccuracyMonitor(0.9, alpha=0)
    mon = AccuracyMonitor(0.9)
    with pytest.raises(DataError, match="same length; got 3 and 2"):
        mon.check([1, 0, 1], [1, 0])
    with pytest.raises(InsufficientDataError, match="no labelled prediction"):
        mon.check([None, None], [1, 0])


def test_numeric_and_object_labels_agree() -> None:
    rng = np.random.default_rng(32)
    y = rng.integers(0, 3, 500).astype(float)
    pred = np.where(rng.random(500) < 0.7, y, (y + 1) % 3)
    y[::10] = np.nan
    mon = AccuracyMonitor(0.9)
    fast = mon.check(y, pred)
    slow = mon.check([None if np.isnan(v) else int(v) for v in y], [int(v) for v in pred])
    assert (fast.accuracy, fast.n) == (slow.accuracy, slow.n)
    assert fast.n == 450


def test_labels_of_the_wrong_kind_are_refused() -> None:
    mon = AccuracyMonitor(0.9)
    with pytest.raises(DataError, match="different kinds of labels"):
        mon.check([1, 0], ["1", "0"])
    with pytest.raises(DataError, match="not probabilities"):
        mon.check([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.3])
    with pytest.raises(DataError, match="1-D"):
        mon.check(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(DataError, match="1-D"):
        mon.check(1, 1)
