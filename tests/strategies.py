"""Hypothesis strategies for safeheal's value types, shared by the test modules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from safeheal.core import Action, Decision, State, Verdict

#: The paper's five actions (registered extras would make examples depend on test order).
PAPER_ACTIONS = (Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN, Action.ESCALATE)

actions = st.sampled_from(PAPER_ACTIONS)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
finite = st.floats(allow_nan=False, allow_infinity=False)

#: Text a database keeps verbatim: no NUL (PostgreSQL refuses it) and no lone surrogates.
words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=0, max_size=24
)

states = st.builds(
    State,
    drift=unit,
    accuracy_drop=unit,
    anomaly_rate=unit,
    latency_ratio=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    error_rate=unit,
)

times = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)


@st.composite
def verdicts(draw: st.DrawFn) -> Verdict:
    permitted = draw(st.frozensets(actions, min_size=1))
    mandatory = draw(st.none() | st.sampled_from(sorted(permitted)))
    reasons = tuple(draw(st.lists(words, max_size=3)))
    return Verdict(mandatory=mandatory, permitted=permitted, zone=draw(words), reasons=reasons)


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    """Any Decision the policy could make: the action is permitted and in the safe set."""
    verdict = draw(verdicts())
    action = verdict.mandatory or draw(st.sampled_from(sorted(verdict.permitted)))
    safe_set = draw(st.frozensets(st.sampled_from(sorted(verdict.permitted)))) | {action}
    considered = sorted(safe_set)
    per_action = st.fixed_dictionaries({a: finite for a in considered})
    return Decision(
        action=action,
        verdict=verdict,
        safe_set=safe_set,
        source=draw(st.sampled_from(["envelope", "bandit", "fallback-of-last-resort"])),
        propensity=draw(unit),
        scores=draw(per_action),
        reasons=tuple(draw(st.lists(words, max_size=3))),
        state=draw(states),
        context=draw(words),
        draws=draw(st.just({}) | per_action),
        costs=draw(per_action),
        impact=draw(st.none() | finite),
        mode=draw(st.sampled_from(["hybrid", "paper"])),
        id=draw(st.uuids()).hex,
        at=draw(times),
    )
