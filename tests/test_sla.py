"""The SLA guard: the paper's weighted score, a monotone predictive model, the 0.95 filter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeheal import Action, ActionEffect, ConfigError, SLAGuard, State
from safeheal.policy import SLAWeights
from tests.strategies import PROPERTY, states

GUARD = SLAGuard()
PAPER_ACTIONS = Action.members()[:5]


def test_score_is_the_papers_weighted_sum() -> None:
    state = State(
        drift=0.1, accuracy_drop=0.08, anomaly_rate=0.0, latency_ratio=2.0, error_rate=0.02
    )
    # NO_OP keeps everything: 0.4·(1 − 0.02) + 0.4·(1 − 0.08) + 0.2·(1 / 2)
    assert GUARD.score(state, Action.NO_OP) == pytest.approx(0.4 * 0.98 + 0.4 * 0.92 + 0.2 * 0.5)
    # FALLBACK serves the fallback: 0.999 available, 0.97 − 0.1·drift accurate, within latency SLO
    assert GUARD.score(state, Action.FALLBACK) == pytest.approx(
        0.4 * 0.999 + 0.4 * (0.97 - 0.1 * 0.1) + 0.2 * 1.0
    )
    # RETRAIN restores accuracy but keeps availability and latency and pays its penalty
    assert GUARD.score(state, Action.RETRAIN) == pytest.approx(
        0.4 * 0.98 + 0.4 * 0.99 + 0.2 * 0.5 - 0.01
    )


@given(states())
@PROPERTY
def test_scores_stay_in_the_unit_interval(state: State) -> None:
    for a in PAPER_ACTIONS:
        assert 0.0 <= GUARD.score(state, a) <= 1.0
        assert all(0.0 <= c <= 1.0 for c in GUARD.components(state, a))


@given(
    states(),
    st.sampled_from(["drift", "accuracy_drop", "anomaly_rate", "error_rate", "latency_ratio"]),
    st.floats(0.0, 1.0),
)
@PROPERTY
def test_scores_never_improve_when_a_signal_worsens(state: State, signal: str, bump: float) -> None:
    worse = getattr(state, signal) + bump
    if signal != "latency_ratio":
        worse = min(1.0, worse)
    values = {
        k: getattr(state, k)
        for k in ("drift", "accuracy_drop", "anomaly_rate", "latency_ratio", "error_rate")
    }
    values[signal] = worse
    after = State(**values)
    for a in PAPER_ACTIONS:
        assert GUARD.score(after, a) <= GUARD.score(state, a) + 1e-12


def test_the_filter_keeps_scores_at_the_threshold_and_drops_those_below() -> None:
    exact = ActionEffect(availability=1.0, accuracy=1.0, latency=1.0, penalty=0.05)
    below = ActionEffect(availability=1.0, accuracy=1.0, latency=1.0, penalty=0.05 + 1e-9)
    guard = SLAGuard({Action.ROLLBACK: exact, Action.RETRAIN: below})
    state = State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0)
    assert guard.score(state, Action.ROLLBACK) == 0.95
    assert guard.filter(state, {Action.ROLLBACK, Action.RETRAIN}) == {Action.ROLLBACK}


def test_no_op_keeps_the_current_degradation() -> None:
    healthy = State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0)
    degraded = State(drift=0.0, accuracy_drop=0.13, anomaly_rate=0.0)
    assert GUARD.score(healthy, Action.NO_OP) == 1.0
    assert GUARD.score(degraded, Action.NO_OP) < GUARD.threshold
    assert GUARD.filter(degraded, {Action.NO_OP, Action.ROLLBACK}) == {Action.ROLLBACK}


def test_parameters_are_validated() -> None:
    with pytest.raises(ConfigError, match="must sum to 1"):
        SLAWeights(availability=0.5, accuracy=0.5, latency=0.5)
    with pytest.raises(ConfigError, match="threshold"):
        SLAGuard(threshold=1.5)
    with pytest.raises(ConfigError, match="accuracy"):
        ActionEffect(accuracy=1.2)
    with pytest.raises(ConfigError, match=r"sla\.effects\.GHOST_SLA"):
        SLAGuard().score(
            State(drift=0, accuracy_drop=0, anomaly_rate=0), Action.register("GHOST_SLA")
        )
