"""Hypothesis strategies shared by the tests, and the settings property tests run with."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import settings
from hypothesis import strategies as st

from safeheal.bench._records import EpisodeResult
from safeheal.core import Action, Decision, State, Verdict
from safeheal.heal import (
    ArmCounters,
    CanaryPlan,
    Counters,
    Judge,
    Pause,
    SetWeight,
    Step,
    Wait,
)

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


def fallback_share() -> st.SearchStrategy[float]:
    """Share of a window's rows the fallback served: mostly none or all, sometimes a canary's."""
    return st.one_of(st.sampled_from([0.0, 1.0, 1.0 - _EPS, 0.5]), st.floats(0.0, 1.0))


def states() -> st.SearchStrategy[State]:
    """Any valid State."""
    return st.builds(
        State,
        drift=unit(),
        accuracy_drop=unit(),
        anomaly_rate=unit(),
        latency_ratio=latency_ratio(),
        error_rate=unit(),
        fallback_share=fallback_share(),
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
        fallback_share=fallback_share(),
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


# --- canary -------------------------------------------------------------------------------------
canary_judges = st.builds(
    Judge,
    min_samples=st.integers(1, 200),
    min_labelled=st.integers(1, 100),
    max_sla_drop=st.sampled_from([0.0, 0.01, 0.05, 0.1]),
    max_extensions=st.integers(0, 3),
    extension_minutes=st.sampled_from([1.0, 5.0]),
)


@st.composite
def canary_plans(draw: st.DrawFn) -> CanaryPlan:
    """Any valid plan: rising weights below 100%, each judged, an optional wait and pause after
    each, then 100%; ``min_validation_minutes`` anywhere up to the planned waits."""
    weights = sorted(
        draw(
            st.lists(
                st.sampled_from([1.0, 5.0, 10.0, 50.0]) | st.floats(0.5, 99.5),
                max_size=4,
            )
        )
    )
    steps: list[Step] = []
    for w in weights:
        steps.append(SetWeight(w))
        if draw(st.booleans()):
            steps.append(Wait(draw(st.sampled_from([0.5, 5.0, 10.0, 12.5]))))
        steps.append(draw(canary_judges))
        if draw(st.integers(0, 5)) == 0:
            steps.append(Pause())
    steps.append(SetWeight(100.0))
    planned = float(sum(s.minutes for s in steps if isinstance(s, Wait)))  # as CanaryPlan sums
    minimum = draw(st.floats(0.0, planned))
    return CanaryPlan(tuple(steps), min_validation_minutes=minimum)


@st.composite
def arm_counters(draw: st.DrawFn, max_requests: int = 3000) -> ArmCounters:
    """Consistent counts: errors ≤ requests, correct ≤ labelled ≤ requests, within_slo ≤ served."""
    requests = draw(st.integers(0, max_requests))
    errors = draw(st.integers(0, requests))
    labelled = draw(st.integers(0, requests))
    correct = draw(st.integers(0, labelled))
    within = draw(st.integers(0, requests - errors))
    return ArmCounters(requests, errors, labelled, correct, within)


_FIELDS = ("requests", "errors", "labelled", "correct", "within_slo")


@st.composite
def broken_arm_counters(draw: st.DrawFn) -> ArmCounters:
    """Counters that cannot be judged: a count missing (None, NaN), impossible (negative,
    fractional, infinite) or inconsistent with the others."""
    arm = draw(arm_counters())
    values = {k: getattr(arm, k) for k in _FIELDS}
    name = draw(st.sampled_from(_FIELDS))
    kind = draw(st.sampled_from(["none", "nan", "negative", "fraction", "inf", "inconsistent"]))
    if kind == "inconsistent":
        big = int(values["requests"] or 0) + 1
        name = draw(st.sampled_from(["errors", "labelled", "within_slo"]))
        values[name] = big
    else:
        values[name] = {
            "none": None,
            "nan": math.nan,
            "negative": -1,
            "fraction": 10.5,
            "inf": math.inf,
        }[kind]
    return ArmCounters(**values)


canary_counters = st.builds(Counters, candidate=arm_counters(), incumbent=arm_counters())


@st.composite
def broken_counters(draw: st.DrawFn) -> Counters | None:
    """No counters at all, or one or both arms broken."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return None
    good, bad = draw(arm_counters()), draw(broken_arm_counters())
    if choice == 1:
        return Counters(candidate=bad, incumbent=good)
    if choice == 2:
        return Counters(candidate=good, incumbent=bad)
    return Counters(candidate=bad, incumbent=draw(broken_arm_counters()))


#: One call of the controller: minutes since the previous call, the counters it measured, and an
#: optional operator command issued just before.
canary_events = st.tuples(
    st.sampled_from([0.0, 0.5, 1.0, 5.0, 10.0, 30.0]) | st.floats(0.0, 60.0),
    canary_counters | broken_counters(),
    st.sampled_from([None] * 8 + ["pause", "resume"]),
)


# -- benchmark episode records (tests/test_bench_metrics.py) -------------------------------------


@st.composite
def episode_results(draw: st.DrawFn, system: str | None = None) -> EpisodeResult:
    """Any well-formed :class:`EpisodeResult`: costs and rewards of either sign, missing
    detections and heals, empty windows and detection counts."""
    from safeheal.bench._records import FAMILIES, SYSTEMS, WindowCounts

    money = st.floats(-1e6, 1e6, allow_nan=False)
    minutes = st.floats(0.0, 1e4, allow_nan=False)
    windows = draw(st.integers(0, 50))
    actions = st.sampled_from(["no_op", "fallback", "rollback", "retrain", "escalate"])
    counts = st.integers(0, 30)
    return EpisodeResult(
        system=system or draw(st.sampled_from(SYSTEMS)),
        seed=draw(st.integers(0, 3)),
        episode=draw(st.integers(0, 50)),
        scenario=draw(st.sampled_from(["a", "b", "c"])),
        family=draw(st.sampled_from(FAMILIES)),
        kind="k",
        onset_minute=draw(minutes),
        duration_minutes=draw(minutes),
        detected_minute=draw(st.none() | minutes),
        healed_minute=draw(st.none() | minutes),
        actions=tuple(draw(st.lists(actions, max_size=5))),
        optimal_action=draw(actions),
        cost=draw(money),
        optimal_cost=draw(money),
        reference_cost=draw(money),
        reward=draw(money),
        optimal_reward=draw(money),
        windows=windows,
        sla_windows_met=draw(st.integers(0, windows)),
        catastrophic=draw(st.booleans()),
        safety_violation=draw(st.booleans()),
        contained=draw(st.none() | st.booleans()),
        escalations=draw(st.integers(0, 3)),
        engineer_minutes=draw(minutes),
        detection=WindowCounts(draw(counts), draw(counts), draw(counts), draw(counts)),
    )


def lease_steps() -> st.SearchStrategy[list[tuple[str, int]]]:
    """Lease claims by three controllers: who claims, and the seconds since the previous claim
    (up to 400 s, beyond a 3-minute lease; a controller that stops claiming has died)."""
    return st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 400)), min_size=1, max_size=25
    )
