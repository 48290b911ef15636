"""State validation and the Monitor that builds a State per window."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeheal import DataError, Monitor, State, StateError, WindowReport

rates = st.floats(0.0, 1.0)
bad_rates = st.one_of(
    st.floats(allow_nan=True).filter(lambda v: math.isnan(v) or not 0.0 <= v <= 1.0),
    st.just(float("inf")),
)


@given(d=rates, a=rates, r=rates, lat=st.floats(0.0, 1e6), e=rates)
def test_valid_states_are_kept_exactly(d: float, a: float, r: float, lat: float, e: float) -> None:
    s = State(d, a, r, lat, e)
    assert s.as_tuple() == (d, a, r, lat, e)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.drift = 0.5  # type: ignore[misc]


@given(
    field=st.sampled_from(["drift", "accuracy_drop", "anomaly_rate", "error_rate"]),
    value=bad_rates,
)
def test_rates_outside_unit_interval_are_refused(field: str, value: float) -> None:
    kwargs = {"drift": 0.0, "accuracy_drop": 0.0, "anomaly_rate": 0.0, field: value}
    with pytest.raises(StateError, match=f"State.{field} must be a number in \\[0, 1\\]"):
        State(**kwargs)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_latency_ratio_must_be_finite_and_non_negative(value: float) -> None:
    with pytest.raises(StateError, match="latency_ratio"):
        State(0.0, 0.0, 0.0, latency_ratio=value)


def test_state_refuses_non_numbers() -> None:
    with pytest.raises(StateError, match="must be a number; got str"):
        State("0.1", 0.0, 0.0)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="got bool"):
        State(True, 0.0, 0.0)


@pytest.fixture(scope="module")
def monitor() -> Monitor:
    rng = np.random.default_rng(41)
    return Monitor(rng.normal(size=(5000, 5)), baseline_accuracy=0.9, latency_slo_ms=50)


def test_healthy_window(monitor: Monitor) -> None:
    rng = np.random.default_rng(42)
    y = rng.integers(0, 2, 1000)
    pred = np.where(rng.random(1000) < 0.9, y, 1 - y)
    s = monitor.observe(rng.normal(size=(1000, 5)), y_pred=pred, y_true=y)
    assert s.drift == 0.0
    assert s.accuracy_drop < 0.05
    assert s.anomaly_rate < 0.02
    assert (s.latency_ratio, s.error_rate) == (0.0, 0.0)
    assert isinstance(s.evidence, WindowReport)
    assert s.evidence.findings() == ()


def test_sick_window(monitor: Monitor) -> None:
    rng = np.random.default_rng(43)
    x = rng.normal(size=(1000, 5))
    x[:, 0] += 1.0
    x[:100, 3] = 25.0
    y = rng.integers(0, 2, 1000)
    pred = np.where(rng.random(1000) < 0.6, y, 1 - y)
    latency = rng.gamma(2.0, 30.0, 1000)
    errors = np.zeros(1000, dtype=bool)
    errors[:20] = True
    s = monitor.observe(x, y_pred=pred, y_true=y, latency_ms=latency, errors=errors)
    assert s.drift > 0.3
    assert 0.2 < s.accuracy_drop < 0.4
    assert s.anomaly_rate >= 0.1
    assert s.latency_ratio == pytest.approx(np.percentile(latency, 95) / 50)
    assert s.error_rate == pytest.approx(0.02)
    report = s.evidence
    assert isinstance(report, WindowReport)
    text = " ".join(report.findings())
    for words in ("drifted", "Accuracy fell", "anomalous", "p95 latency", "20 of 1000 requests"):
        assert words in text


def test_missing_labels_mean_unknown_accuracy(monitor: Monitor) -> None:
    rng = np.random.default_rng(44)
    s = monitor.observe(rng.normal(size=(100, 5)), y_pred=np.ones(100), y_true=[None] * 100)
    assert s.accuracy_drop == 0.0
    assert isinstance(s.evidence, WindowReport)
    assert not s.evidence.accuracy_known


def test_monitor_bad_input(monitor: Monitor) -> None:
    x = np.zeros((10, 5))
    with pytest.raises(DataError, match="`y_true` was given without `y_pred`"):
        monitor.observe(x, y_true=np.ones(10))
    with pytest.raises(DataError, match="between 0 and the number of rows"):
        monitor.observe(x, errors=11)
    with pytest.raises(DataError, match=r"one flag per row \(10\)"):
        monitor.observe(x, errors=np.zeros(9))
    with pytest.raises(DataError, match="non-negative"):
        monitor.observe(x, latency_ms=-np.ones(10))


def test_timeouts_count_as_failed_requests(monitor: Monitor) -> None:
    x = np.random.default_rng(45).normal(size=(200, 5))
    lat = np.full(200, 20.0)
    lat[:50] = np.inf
    lat[50:60] = np.nan  # not measured
    s = monitor.observe(x, latency_ms=lat)
    assert s.error_rate == pytest.approx(0.25)
    assert s.latency_ratio == pytest.approx(20.0 / 50)
    everything_timed_out = monitor.observe(x, latency_ms=np.full(200, np.inf))
    assert everything_timed_out.error_rate == 1.0


@pytest.mark.parametrize("flags", [np.full(10, np.nan), np.full(10, 0.5), ["no"] * 10])
def test_error_flags_must_be_booleans(monitor: Monitor, flags: object) -> None:
    with pytest.raises(DataError, match="booleans or 0/1"):
        monitor.observe(np.zeros((10, 5)), errors=flags)  # type: ignore[arg-type]


def test_latency_needs_one_number_per_row(monitor: Monitor) -> None:
    with pytest.raises(DataError, match=r"one duration per row \(10\)"):
        monitor.observe(np.zeros((10, 5)), latency_ms=[1.0, 2.0])
    with pytest.raises(DataError, match="must hold numbers"):
        monitor.observe(np.zeros((10, 5)), latency_ms=["fast"] * 10)
