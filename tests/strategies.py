"""Hypothesis strategies shared by the tests, and the settings property tests run with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import settings
from hypothesis import strategies as st

from safeheal.core import Action, Decision, State, Verdict

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


# -- decisions, as the store keeps them --------------------------------------------------------

#: The paper's five actions (registered extras would make examples depend on test order).
PAPER_ACTIONS = (Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN, Action.ESCALATE)

actions = st.sampled_from(PAPER_ACTIONS)
probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
finite = st.floats(allow_nan=False, allow_infinity=False)

#: Text a database keeps verbatim: no NUL (PostgreSQL refuses it) and no lone surrogates.
words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=0, max_size=24
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
        propensity=draw(probability),
        scores=draw(per_action),
        reasons=tuple(draw(st.lists(words, max_size=3))),
        state=draw(states()),
        context=draw(words),
        draws=draw(st.just({}) | per_action),
        costs=draw(per_action),
        impact=draw(st.none() | finite),
        mode=draw(st.sampled_from(["hybrid", "paper"])),
        id=draw(st.uuids()).hex,
        at=draw(times),
    )
