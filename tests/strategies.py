"""Hypothesis strategies for safeheal's value types, shared by the test modules."""

from __future__ import annotations

import math

from hypothesis import strategies as st

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
