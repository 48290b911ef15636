"""The safety envelope: the paper's table, each boundary on both sides, first match wins."""

from __future__ import annotations

import pytest
from hypothesis import given

from safeheal import Action, ConfigError, Rule, SafetyEnvelope, State
from safeheal.policy import Condition, RiskHigh, paper_rules
from tests.strategies import PROPERTY, states

EPS = 1e-9
N, F, R, T = Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN


def s(
    d: float = 0.0,
    a: float = 0.0,
    r: float = 0.0,
    lat: float = 0.0,
    e: float = 0.0,
    fb: float = 0.0,
) -> State:
    return State(
        drift=d, accuracy_drop=a, anomaly_rate=r, latency_ratio=lat, error_rate=e, fallback_share=fb
    )


ENV = SafetyEnvelope()


# Each threshold of design.md 3.2, at the threshold and just past it (strict inequalities).
@pytest.mark.parametrize(
    ("state", "zone"),
    [
        # critical: d > 0.20 (with a ≤ 0.10, d = 0.20 is "drifting")
        (s(d=0.20), "drifting"),
        (s(d=0.20 + EPS), "critical"),
        # critical: a > 0.15 (a = 0.15 is "degraded")
        (s(a=0.15), "degraded"),
        (s(a=0.15 + EPS), "critical"),
        # critical: ρ > 0.05 (ρ = 0.05 is "watch")
        (s(r=0.05), "watch"),
        (s(r=0.05 + EPS), "critical"),
        # critical: latency_ratio > 1 and error_rate > 0.05 (SLO breach, beyond the paper)
        (s(lat=1.0), "healthy"),
        (s(lat=1.0 + EPS), "critical"),
        (s(e=0.05), "healthy"),
        (s(e=0.05 + EPS), "critical"),
        # degraded: 0.10 < a ≤ 0.15 and d ≤ 0.20
        (s(a=0.10), "healthy"),
        (s(a=0.10 + EPS), "degraded"),
        (s(a=0.12, d=0.20), "degraded"),
        (s(a=0.12, d=0.20 + EPS), "critical"),
        # drifting: 0.15 < d ≤ 0.25 and a ≤ 0.10
        (s(d=0.15), "healthy"),
        (s(d=0.15 + EPS), "drifting"),
        (s(d=0.18, a=0.10), "drifting"),
        (s(d=0.18, a=0.10 + EPS), "degraded"),
        # watch: risk_high, here by ρ > 0.03
        (s(r=0.03), "healthy"),
        (s(r=0.03 + EPS), "watch"),
        # fallback-failing: the fallback serves everything (share ≥ 1) and a > 0.10 on it, with
        # inputs and SLOs fine; otherwise the zone the signals alone give
        (s(a=0.10, fb=1.0), "healthy"),
        (s(a=0.10 + EPS, fb=1.0), "fallback-failing"),
        (s(a=0.20, fb=1.0 - EPS), "critical"),
        (s(a=0.20, fb=1.0), "fallback-failing"),
        (s(a=0.20, d=0.30, fb=1.0), "fallback-failing"),
        (s(a=0.20, r=0.05, fb=1.0), "fallback-failing"),
        (s(a=0.20, r=0.05 + EPS, fb=1.0), "critical"),
        (s(a=0.20, lat=1.0, fb=1.0), "fallback-failing"),
        (s(a=0.20, lat=1.0 + EPS, fb=1.0), "critical"),
        (s(a=0.20, e=0.05, fb=1.0), "fallback-failing"),
        (s(a=0.20, e=0.05 + EPS, fb=1.0), "critical"),
        (s(d=0.30, fb=1.0), "critical"),  # drift on the fallback without an accuracy drop
        # healthy: everything at zero
        (s(), "healthy"),
    ],
)
def test_each_boundary_on_both_sides(state: State, zone: str) -> None:
    assert ENV.assess(state).zone == zone


def test_every_zone_has_the_papers_actions() -> None:
    expected = {
        "fallback-failing": (None, {T}, T),
        "critical": (F, {F}, F),
        "degraded": (None, {R, T, F}, R),
        "drifting": (None, {T, F, N}, T),
        "watch": (None, {N, F}, None),
        "healthy": (None, {N}, None),
    }
    examples = {
        "fallback-failing": s(a=0.2, fb=1.0),
        "critical": s(d=0.28),
        "degraded": s(a=0.13, d=0.05),
        "drifting": s(d=0.18),
        "watch": s(r=0.04),
        "healthy": s(d=0.01, a=0.01, r=0.001),
    }
    for zone, state in examples.items():
        v = ENV.assess(state)
        assert v.zone == zone
        assert (v.mandatory, set(v.permitted), v.default) == expected[zone]


def test_first_match_wins_where_the_papers_rules_overlap() -> None:
    # design.md 9.2: 0.15 < d ≤ 0.25 (retrain) overlaps d > 0.20 (fallback); the fallback rule
    # comes first, so d = 0.22 is critical although the drifting rule matches it too.
    state = s(d=0.22, a=0.05)
    drifting = next(r for r in ENV.rules if r.zone == "drifting")
    assert drifting.matches(state)
    assert ENV.assess(state).zone == "critical"
    # degraded (a > 0.10) comes before watch (ρ > 0.03): both match, degraded decides.
    state = s(a=0.12, r=0.04)
    assert next(r for r in ENV.rules if r.zone == "watch").matches(state)
    assert ENV.assess(state).zone == "degraded"


def test_reasons_name_the_signal_its_value_and_the_threshold() -> None:
    v = ENV.assess(s(d=0.28, r=0.07))
    assert v.reasons == ("critical: drift 0.28 > 0.20 and anomaly_rate 0.07 > 0.05",)
    v = ENV.assess(s(a=0.13, d=0.05))
    assert v.reasons == (
        "degraded: accuracy_drop 0.13 > 0.10 and accuracy_drop 0.13 ≤ 0.15 and drift 0.05 ≤ 0.20",
    )
    v = ENV.assess(s(lat=1.4))
    assert "latency_ratio 1.4 > 1.00" in v.reasons[0]
    v = ENV.assess(s(d=0.01))
    assert v.reasons[0].startswith("healthy: no earlier rule matched (drift 0.01,")


@given(states())
@PROPERTY
def test_every_state_gets_a_consistent_verdict(state: State) -> None:
    v = ENV.assess(state)
    assert v.permitted
    assert v.mandatory is None or v.mandatory in v.permitted
    assert v.default is None or v.default in v.permitted
    assert v.reasons
    assert v.reasons[0].startswith(v.zone + ":")
    # the verdict is the first matching rule's
    first = next(r for r in ENV.rules if r.matches(state))
    assert first.zone == v.zone
    # Only the critical zone forces an action (design.md 3.2/3.5); the zone that asks for a
    # retrain while the fallback serves forces nothing and permits only RETRAIN.
    assert (v.mandatory is not None) == (v.zone == "critical")
    if v.zone == "fallback-failing":
        assert state.fallback_share >= 1.0
        assert state.accuracy_drop > 0.10
        assert v.permitted == {T}


@given(states())
@PROPERTY
def test_an_sla_breach_off_the_fallback_is_always_critical(state: State) -> None:
    """Whatever the fallback share, a state that breaches the paper's fallback thresholds or an
    SLO is answered by FALLBACK, unless the fallback already serves everything and the breach
    is its accuracy alone (then RETRAIN, the next safe step)."""
    t = 1e-12
    breach = (
        state.drift > 0.20 + t
        or state.accuracy_drop > 0.15 + t
        or state.anomaly_rate > 0.05 + t
        or state.latency_ratio > 1.0 + t
        or state.error_rate > 0.05 + t
    )
    v = ENV.assess(state)
    if breach and v.zone != "critical":
        assert v.zone == "fallback-failing"
        assert state.fallback_share >= 1.0
        assert state.accuracy_drop > 0.10
        assert state.anomaly_rate <= 0.05
        assert state.latency_ratio <= 1.0
        assert state.error_rate <= 0.05


def test_thresholds_can_be_moved() -> None:
    env = SafetyEnvelope.paper(fallback_drift=0.25)
    assert env.assess(s(d=0.22)).zone == "drifting"
    assert env.assess(s(d=0.25 + EPS)).zone == "critical"
    with pytest.raises(ConfigError, match="unknown envelope threshold"):
        SafetyEnvelope.paper(fallback_dirft=0.25)


def test_risk_high_is_the_papers_predicate() -> None:
    rh = RiskHigh()
    assert not rh(s(d=0.15, a=0.10, r=0.03))
    assert rh(s(d=0.15 + EPS))
    assert rh(s(a=0.10 + EPS))
    assert rh(s(r=0.03 + EPS))
    assert not rh(s(lat=3.0, e=0.5))  # the paper's state has no operational signals


def test_conditions_parse_and_compare() -> None:
    assert Condition.parse("drift>=0.2").holds(s(d=0.2))
    assert not Condition.parse("drift > 0.2").holds(s(d=0.2))
    assert Condition.parse("accuracy_drop ≤ 0.15").op == "<="
    assert str(Condition.parse("drift > 0.20")) == "drift > 0.20"
    for bad in ("drift >> 0.2", "drfit > 0.2", "drift > x", "", "drift > inf"):
        with pytest.raises(ConfigError):
            Condition.parse(bad)


def _table(*rules: Rule) -> SafetyEnvelope:
    return SafetyEnvelope(rules)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ((), "at least one rule"),
        ((Rule("a", any=["drift > 0.2"], permitted=[N]),), "last rule must have no conditions"),
        ((Rule("a", permitted=[N]), Rule("b", permitted=[N])), "must be the last rule"),
        (
            (Rule("a", any=["drift > 0.2"], permitted=[N]), Rule("a", permitted=[N])),
            "unique",
        ),
        ((Rule("a", permitted=[]),), "at least one action"),
        ((Rule("a", mandatory=F, permitted=[N]),), "mandatory action FALLBACK must be permitted"),
        ((Rule("a", default=T, permitted=[N]),), "default action RETRAIN must be permitted"),
        ((Rule("a/b", permitted=[N]),), "without '/'"),
    ],
)
def test_rule_tables_are_validated(rules: tuple[Rule, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _table(*rules)


def test_unknown_actions_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown action 'REBOOT'"):
        Rule("a", permitted=["REBOOT"])


def test_a_custom_table_and_a_registered_action() -> None:
    restart = Action.register("RESTART_REPLICA")
    env = _table(
        Rule("leak", any=["latency_ratio > 1.5"], mandatory=restart, permitted=[restart]),
        Rule("ok", permitted=[N]),
    )
    assert env.assess(s(lat=1.6)).mandatory is restart
    assert env.assess(s(lat=1.5)).zone == "ok"
    assert env.actions() == {restart, N}
    assert env.default_for("leak") is restart


def test_paper_rules_are_the_default_table() -> None:
    assert SafetyEnvelope().rules == paper_rules()
