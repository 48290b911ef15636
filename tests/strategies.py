"""Hypothesis strategies shared by the tests, and the settings property tests run with."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from safeheal import State

#: Deterministic (fixed seed), no deadline: timings belong in benchmarks/.
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)

#: Every threshold of the paper's envelope, risk_high and the SLOs.
THRESHOLDS = (0.0, 0.03, 0.05, 0.10, 0.15, 0.20, 0.25, 1.0)
_EPS = 1e-9


def _near(t: float) -> st.SearchStrategy[float]:
    return st.sampled_from(sorted({t, min(1.0, t + _EPS), max(0.0, t - _EPS)}))


def unit() -> st.SearchStrategy[float]:
    """A number in [0, 1], biased towards the envelope's thresholds and the small values."""
    return st.one_of(
        st.sampled_from(THRESHOLDS).flatmap(_near),
        st.floats(0.0, 0.3),
        st.floats(0.0, 1.0),
    )


def latency_ratio() -> st.SearchStrategy[float]:
    """p95 latency / SLO: mostly within the SLO, sometimes beyond, often at the edge."""
    return st.one_of(
        st.sampled_from([0.0, 1.0 - _EPS, 1.0, 1.0 + _EPS]),
        st.floats(0.0, 1.0),
        st.floats(0.0, 5.0),
    )


def states() -> st.SearchStrategy[State]:
    """Any valid State."""
    return st.builds(
        State,
        drift=unit(),
        accuracy_drop=unit(),
        anomaly_rate=unit(),
        latency_ratio=latency_ratio(),
        error_rate=unit(),
    )


def calm_states() -> st.SearchStrategy[State]:
    """States that are not critical (so the bandit and the SLA guard get to act)."""
    small = st.one_of(st.sampled_from(THRESHOLDS[:6]).flatmap(_near), st.floats(0.0, 0.2))
    return st.builds(
        State,
        drift=small,
        accuracy_drop=small,
        anomaly_rate=st.floats(0.0, 0.05),
        latency_ratio=st.floats(0.0, 1.0),
        error_rate=st.floats(0.0, 0.05),
    )
