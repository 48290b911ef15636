"""The hybrid policy: its safety invariants for every state, in both modes, and its decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeheal import (
    Action,
    ConfigError,
    Decision,
    HybridPolicy,
    SafehealConfig,
    SLAGuard,
    State,
    StateError,
)
from safeheal.policy import MODES, RiskHigh
from tests.strategies import PROPERTY, calm_states, states

N, F, R, T = Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN
SOURCES = {"envelope", "bandit", "fallback-of-last-resort"}

# One policy per mode, shared by the examples so that posteriors move as examples accumulate.
POLICIES = {mode: HybridPolicy(mode=mode, seed=0) for mode in MODES}


def _check_common(d: Decision, policy: HybridPolicy) -> None:
    assert isinstance(d.action, Action)  # never empty
    assert d.source in SOURCES
    assert 0.0 < d.propensity <= 1.0
    assert d.scores
    assert all(0.0 <= v <= 1.0 for v in d.scores.values())
    assert d.action in d.scores
    assert d.action in d.costs
    assert d.impact is not None
    assert d.reasons[: len(d.verdict.reasons)] == d.verdict.reasons
    assert d.context.startswith(d.verdict.zone + "/")
    assert d.mode == policy.mode


@given(st.one_of(states(), calm_states()), st.booleans())
@PROPERTY
def test_hybrid_mode_stays_in_the_envelope(state: State, success: bool) -> None:
    policy = POLICIES["hybrid"]
    d = policy.decide(state)
    _check_common(d, policy)
    v = d.verdict
    assert d.action in v.permitted
    if v.mandatory is not None:
        assert d.action is v.mandatory
        assert d.source == "envelope"
        assert d.propensity == 1.0
    assert d.safe_set <= v.permitted
    if d.source == "bandit":
        assert d.action in d.safe_set
        assert all(d.scores[a] >= policy.sla.threshold for a in d.safe_set)
        removed = v.permitted - d.safe_set
        assert all(d.scores[a] < policy.sla.threshold for a in removed)
    if d.source == "fallback-of-last-resort":
        assert not d.safe_set
        assert all(d.scores[a] < policy.sla.threshold for a in v.permitted)
        assert d.scores[d.action] == max(d.scores[a] for a in v.permitted)
    policy.update(d, success)


@given(st.one_of(states(), calm_states()), st.booleans())
@PROPERTY
def test_paper_mode_keeps_what_the_paper_guarantees(state: State, success: bool) -> None:
    """π_hybrid ∈ A_safe(x) = π_det(x) ∪ {NO_OP}, and = π_det(x) when π_det(x) ≠ ∅ and risk_high.

    That is all the paper promises (Corollary 1). It does not promise the project's envelope: a
    state that is critical by an operational SLO breach alone is not risk_high in the paper's
    terms, so paper mode may answer NO_OP where hybrid mode forces FALLBACK.
    """
    policy = POLICIES["paper"]
    d = policy.decide(state)
    _check_common(d, policy)
    v = d.verdict
    det = v.mandatory or v.default
    risk_high = RiskHigh()(state)
    assert d.action in {det, N} - {None}
    if det is not None and risk_high:
        assert d.action is det
        assert d.source == "envelope"
    if d.action not in v.permitted:
        assert d.action is N
        assert v.zone == "critical"
        assert not risk_high
        assert state.latency_ratio > 1.0 or state.error_rate > 0.05
    policy.update(d, success)


@given(
    st.lists(st.one_of(states(), calm_states()), min_size=1, max_size=30),
    st.sampled_from(MODES),
    st.integers(0, 2**32 - 1),
)
@settings(PROPERTY, max_examples=100)
def test_same_seed_same_decisions(sequence: list[State], mode: str, seed: int) -> None:
    def run() -> list[tuple[object, ...]]:
        policy = HybridPolicy(mode=mode, seed=seed)  # type: ignore[arg-type]
        out = []
        for i, state in enumerate(sequence):
            d = policy.decide(state)
            out.append((d.action, d.source, d.propensity, dict(d.draws), d.impact, d.context))
            policy.update(d, success=i % 3 != 0)
        return out

    assert run() == run()


def test_the_case_study_states() -> None:
    policy = HybridPolicy(seed=0)
    # paper 6.3.1: KS D = 0.28 > 0.20 → fallback, safety first
    d = policy.decide(State(drift=0.28, accuracy_drop=0.02, anomaly_rate=0.01))
    assert (d.action, d.source, d.safe_set) == (F, "envelope", frozenset({F}))
    assert any("drift 0.28 > 0.20" in r for r in d.reasons)
    # paper 6.3.2: accuracy 0.89 → 0.76 (Δ = 0.13): the adaptive layer chooses, retrain included
    chosen = {
        policy.decide(State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0)).action
        for _ in range(200)
    }
    assert T in chosen
    assert chosen <= {R, T, F}


def test_the_sla_guard_removes_actions_and_says_so() -> None:
    policy = HybridPolicy(seed=0)
    d = policy.decide(State(drift=0.18, accuracy_drop=0.09, anomaly_rate=0.0, error_rate=0.04))
    assert d.verdict.zone == "drifting"
    assert N not in d.safe_set  # 0.4·0.96 + 0.4·0.91 + 0.2 = 0.948 < 0.95
    assert any(
        r.startswith("SLA guard removed NO_OP: predicted SLA score 0.948 < 0.95") for r in d.reasons
    )


def test_last_resort_when_the_guard_removes_everything() -> None:
    policy = HybridPolicy(sla=SLAGuard(threshold=1.0), seed=0)
    d = policy.decide(State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0))
    assert d.source == "fallback-of-last-resort"
    assert d.safe_set == frozenset()
    assert d.action is max(d.verdict.permitted, key=lambda a: d.scores[a])
    assert "safest permitted action" in d.reasons[-1]


def test_a_healthy_state_at_the_edge_falls_back_on_the_only_permitted_action() -> None:
    # healthy (a = 0.10 is not > 0.10, e = 0.05 is not > 0.05) but NO_OP's predicted SLA score is
    # 0.4·0.95 + 0.4·0.90 + 0.2 = 0.94 < 0.95: the set empties, NO_OP is the safest permitted
    d = HybridPolicy(seed=0).decide(
        State(drift=0.0, accuracy_drop=0.10, anomaly_rate=0.0, error_rate=0.05)
    )
    assert (d.verdict.zone, d.action, d.source) == ("healthy", N, "fallback-of-last-resort")


def test_an_slo_breach_alone_is_critical_in_hybrid_mode_but_not_risk_high_in_paper_mode() -> None:
    state = State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0, latency_ratio=1.5)
    hybrid = HybridPolicy(seed=0)
    assert {hybrid.decide(state).action for _ in range(50)} == {F}
    paper = HybridPolicy(mode="paper", seed=0)
    chosen = [paper.decide(state) for _ in range(50)]
    assert {d.action for d in chosen} == {F, N}
    assert all(d.source == "bandit" and d.safe_set == {F, N} for d in chosen)


def test_paper_mode_never_consults_the_bandit_with_the_papers_thresholds() -> None:
    # design.md 9.1: whenever π_det(x) ≠ ∅, risk_high(x) holds, so π_det decides
    policy = HybridPolicy(mode="paper", seed=0)
    for state, action in [
        (State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0), R),
        (State(drift=0.18, accuracy_drop=0.0, anomaly_rate=0.0), T),
        (State(drift=0.28, accuracy_drop=0.0, anomaly_rate=0.0), F),
        (State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.04), N),
    ]:
        d = policy.decide(state)
        assert d.action is action
        assert d.source == ("bandit" if action is N else "envelope")


def test_a_decision_carries_everything_and_round_trips_through_json() -> None:
    t0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    policy = HybridPolicy(seed=5, clock=lambda: t0)
    d = policy.decide(State(drift=0.18, accuracy_drop=0.02, anomaly_rate=0.0))
    assert d.at == t0
    assert d.context == "drifting/high"
    assert set(d.draws) == set(d.safe_set)
    assert len(d.safe_set) == 3
    assert set(d.costs) == set(d.scores) == set(d.verdict.permitted)
    assert d.verdict.default is T
    back = Decision.from_json(d.to_json())
    assert back == d


def test_from_config_matches_the_constructor() -> None:
    cfg = SafehealConfig()
    a, b = HybridPolicy(seed=9), HybridPolicy.from_config(cfg, seed=9)
    state = State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0)
    for _ in range(30):
        da, db = a.decide(state), b.decide(state)
        assert (da.action, da.draws, da.propensity, da.impact) == (
            db.action,
            db.draws,
            db.propensity,
            db.impact,
        )


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="`mode` parameter of HybridPolicy"):
        HybridPolicy(mode="rl")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="PosteriorStore"):
        HybridPolicy(store=object())  # type: ignore[arg-type]
    with pytest.raises(StateError, match=r"needs a safeheal\.State"):
        HybridPolicy().decide((0.1, 0.2, 0.0))  # type: ignore[arg-type]
    with pytest.raises(StateError, match="drift must be a number in"):
        State(drift=float("nan"), accuracy_drop=0.0, anomaly_rate=0.0)


def test_on_the_fallback_an_accuracy_breach_asks_for_a_retrain_not_a_fallback() -> None:
    """Paper 6.3.1: fallback first, then a retrain on fresh data. Off the fallback, a = 0.2 is
    critical (FALLBACK forced); on it (the fallback suffers too), RETRAIN is chosen, not forced."""
    policy = HybridPolicy(seed=3)
    off = policy.decide(State(drift=0.0, accuracy_drop=0.2, anomaly_rate=0.0))
    assert (off.action, off.source) == (Action.FALLBACK, "envelope")
    on = policy.decide(State(drift=0.0, accuracy_drop=0.2, anomaly_rate=0.0, fallback_share=1.0))
    assert on.verdict.zone == "fallback-failing"
    assert on.verdict.mandatory is None
    assert on.action is Action.RETRAIN
    assert on.source in {"bandit", "fallback-of-last-resort"}
    assert on.context.startswith("fallback-failing/")
