"""The canary (paper 3.4.2): plan validation, the judgement, the state machine, persistence.

Every limit is tested on both sides of its boundary; the invariants that make a canary safe are
properties over random plans and random sequences of controller calls (tests/strategies.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeheal.errors import ConfigError, DataError
from safeheal.heal import (
    ArmCounters,
    CanaryPhase,
    CanaryPlan,
    CanaryState,
    Counters,
    Judge,
    Judgement,
    Pause,
    SetWeight,
    Wait,
    abort,
    advance,
    assess,
    pause,
    promote,
    resume,
)
from tests.strategies import (
    arm_counters,
    broken_arm_counters,
    broken_counters,
    canary_counters,
    canary_events,
    canary_plans,
)

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def arm(
    requests: int = 1000,
    errors: int = 0,
    labelled: int | None = None,
    correct: int | None = None,
    within_slo: int | None = None,
) -> ArmCounters:
    """A perfect arm unless told otherwise."""
    labelled = requests if labelled is None else labelled
    return ArmCounters(
        requests=requests,
        errors=errors,
        labelled=labelled,
        correct=labelled if correct is None else correct,
        within_slo=requests - errors if within_slo is None else within_slo,
    )


PERFECT = Counters(candidate=arm(), incumbent=arm())


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


# --- phases -------------------------------------------------------------------------------------
def test_only_promoted_and_aborted_are_final() -> None:
    assert {p for p in CanaryPhase if p.is_final} == {CanaryPhase.PROMOTED, CanaryPhase.ABORTED}


# --- plans --------------------------------------------------------------------------------------
def test_the_default_plan_is_the_papers() -> None:
    plan = CanaryPlan()
    weights = [s.percent for s in plan.steps if isinstance(s, SetWeight)]
    assert weights == [1.0, 10.0, 50.0, 100.0]
    assert plan.validation_minutes == 30.0
    assert plan.min_validation_minutes == 30.0
    judges = [s for s in plan.steps if isinstance(s, Judge)]
    assert len(judges) == 3
    assert all(j.max_sla_drop == 0.05 for j in judges)
    assert all(j.weights == (0.4, 0.4, 0.2) for j in judges)
    assert CanaryPlan.paper() == plan


J = Judge()


@pytest.mark.parametrize(
    ("steps", "extra", "words"),
    [
        ((), {}, r"`steps` parameter of CanaryPlan must hold at least one step"),
        ((SetWeight(10), J, "wait"), {}, r"`steps\[2\]` of CanaryPlan must be SetWeight"),
        ((SetWeight(10), Wait(30), J, SetWeight(5), J, SetWeight(100)), {}, r"steps\[3\]\.percent"),
        ((SetWeight(10), Wait(30), J, SetWeight(100), Wait(1)), {}, r"steps\[3\]` .* sets 100%"),
        ((SetWeight(10), Wait(30), SetWeight(100)), {}, r"steps\[0\]` .* no Judge follows"),
        ((J, SetWeight(10), Wait(30), J, SetWeight(100)), {}, r"steps\[0\]` .* judges before"),
        ((SetWeight(10), Wait(30), J), {}, r"last step of CanaryPlan must be SetWeight\(100\)"),
        ((SetWeight(1), Wait(29.999), J, SetWeight(100)), {}, r"add up to 29.999 minutes"),
        ((SetWeight(100),), {}, r"add up to 0 minutes; `min_validation_minutes` is 30"),
        ((SetWeight(100),), {"min_validation_minutes": -1}, r"`min_validation_minutes`"),
    ],
)
def test_invalid_plans_are_refused_naming_the_step(
    steps: Sequence[Any], extra: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        CanaryPlan(tuple(steps), **extra)


def test_validation_minutes_boundary_and_the_immediate_plan() -> None:
    CanaryPlan((SetWeight(1), Wait(30), J, SetWeight(100)))  # exactly 30: accepted
    CanaryPlan((SetWeight(1), Wait(10), J, SetWeight(5), Wait(20), J, SetWeight(100)))
    assert CanaryPlan.immediate().steps == (SetWeight(100.0),)
    # Equal weights are not a decrease.
    CanaryPlan((SetWeight(5), Wait(15), J, SetWeight(5), Wait(15), J, SetWeight(100)))


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: SetWeight(0), r"`percent` parameter of SetWeight must be in \(0, 100\]; got 0"),
        (lambda: SetWeight(100.0001), r"`percent` .* got 100.0001"),
        (lambda: SetWeight(math.nan), r"`percent`"),
        (lambda: Wait(0), r"`minutes` parameter of Wait must be > 0; got 0"),
        (lambda: Wait(-5), r"`minutes`"),
        (lambda: Judge(min_samples=0), r"`min_samples` parameter of Judge .* >= 1; got 0"),
        (lambda: Judge(min_samples=2.5), r"`min_samples`"),
        (lambda: Judge(min_labelled=0), r"`min_labelled`"),
        (lambda: Judge(max_sla_drop=1.5), r"`max_sla_drop` parameter of Judge must be in \[0, 1\]"),
        (lambda: Judge(max_extensions=-1), r"`max_extensions`"),
        (lambda: Judge(extension_minutes=0), r"`extension_minutes`"),
        (lambda: Judge(weights=(0.5, 0.5, 0.5)), r"`weights` parameter of Judge must add up"),
        (lambda: Judge(weights=(0.5, 0.5)), r"three numbers"),
    ],
)
def test_invalid_steps_are_refused_naming_the_parameter(build: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        build()


def test_step_limits_accept_their_boundaries() -> None:
    assert SetWeight(100).percent == 100.0
    assert SetWeight(1e-9).percent == 1e-9
    assert Judge(min_samples=1, min_labelled=1, max_extensions=0).min_samples == 1
    assert Judge(max_sla_drop=0).max_sla_drop == 0.0
    assert Judge(max_sla_drop=1).max_sla_drop == 1.0


@given(canary_plans())
def test_plans_survive_a_round_trip_through_json(plan: CanaryPlan) -> None:
    assert CanaryPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_a_plan_from_configuration_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"`steps\[0\]` of CanaryPlan must be a mapping"):
        CanaryPlan.from_dict({"steps": [{"kind": "teleport"}]})
    with pytest.raises(ConfigError, match=r"`steps\[0\]` of CanaryPlan: .*unexpected keyword"):
        CanaryPlan.from_dict({"steps": [{"kind": "wait", "minutes": 1, "hours": 2}]})
    with pytest.raises(ConfigError, match="`percent`"):
        CanaryPlan.from_dict({"steps": [{"kind": "set_weight", "percent": 0}]})


# --- assess -------------------------------------------------------------------------------------
def test_identical_arms_pass_and_scores_are_as_documented() -> None:
    a = assess(J, Counters(arm(1000, errors=100, labelled=200, correct=150, within_slo=450), arm()))
    assert a.candidate is not None
    assert a.candidate.availability == 0.9
    assert a.candidate.accuracy == 0.75
    assert a.candidate.latency == 0.5  # 450 of the 900 successful requests within the SLO
    assert a.candidate.sla == pytest.approx(0.4 * 0.9 + 0.4 * 0.75 + 0.2 * 0.5)
    assert assess(J, PERFECT).judgement is Judgement.PASSED


@pytest.mark.parametrize(
    ("max_drop", "errors_ok", "errors_fail", "requests"),
    [
        # 0.4 · errors/requests is the drop when only availability differs.
        (0.05, 125, 126, 1000),  # exactly 0.05 passes, 0.0504 fails
        (0.05, 12_500, 12_501, 100_000),  # 0.05 + 4e-6 fails
        (0.1, 250, 251, 1000),
        (0.0, 0, 1, 1000),
    ],
)
def test_sla_drop_boundary_is_exact(
    max_drop: float, errors_ok: int, errors_fail: int, requests: int
) -> None:
    judge = Judge(max_sla_drop=max_drop)
    ok = assess(judge, Counters(arm(requests, errors=errors_ok), arm(requests)))
    assert ok.judgement is Judgement.PASSED, ok.reasons
    bad = assess(judge, Counters(arm(requests, errors=errors_fail), arm(requests)))
    assert bad.judgement is Judgement.FAILED, bad.reasons
    assert bad.sla_drop is not None
    assert bad.sla_drop > max_drop
    assert "SLA drop" in bad.reasons[0]


def test_a_better_candidate_passes_whatever_the_limit() -> None:
    worse_incumbent = Counters(arm(), arm(errors=500))
    assert assess(Judge(max_sla_drop=0), worse_incumbent).judgement is Judgement.PASSED


@pytest.mark.parametrize("side", ["candidate", "incumbent"])
def test_min_samples_boundary(side: str) -> None:
    judge = Judge(min_samples=100, min_labelled=30)

    def counters(requests: int, labelled: int) -> Counters:
        short = arm(requests, labelled=labelled)
        return Counters(short, arm()) if side == "candidate" else Counters(arm(), short)

    few = assess(judge, counters(99, 99))
    assert few.judgement is Judgement.INCONCLUSIVE
    assert few.reasons == (f"the {side} served 99 requests; at least 100 are needed",)
    assert assess(judge, counters(100, 100)).judgement is Judgement.PASSED
    few_labels = assess(judge, counters(100, 29))
    assert few_labels.judgement is Judgement.INCONCLUSIVE
    assert "29 labelled predictions; at least 30" in few_labels.reasons[0]
    assert assess(judge, counters(100, 30)).judgement is Judgement.PASSED


@pytest.mark.parametrize(
    ("counters", "words"),
    [
        (None, "no counters were measured"),
        (Counters(ArmCounters(errors=None), arm()), "candidate's `errors` is missing"),
        (Counters(arm(), ArmCounters(labelled=math.nan)), "incumbent's `labelled` is missing"),
        (Counters(ArmCounters(requests=-1), arm()), "`requests` is -1, not a count"),
        (Counters(ArmCounters(requests=10.5), arm()), "`requests` is 10.5, not a count"),
        (Counters(ArmCounters(requests=math.inf), arm()), "`requests` is inf"),
        (Counters(arm(100, errors=101, within_slo=0), arm()), r"errors > requests \(101 > 100\)"),
        (Counters(arm(100, labelled=50, correct=51), arm()), "correct > labelled"),
        (Counters(arm(100, errors=10, within_slo=91), arm()), "within_slo > requests − errors"),
    ],
)
def test_missing_or_impossible_counters_fail_closed(counters: Counters | None, words: str) -> None:
    a = assess(J, counters)
    assert a.judgement is Judgement.FAILED
    assert any(re.search(words, r) for r in a.reasons), a.reasons
    assert all("failing closed" in r for r in a.reasons)


def test_counters_must_be_numbers() -> None:
    with pytest.raises(DataError, match=r"ArmCounters.requests must be a count"):
        ArmCounters(requests="12")
    with pytest.raises(DataError, match=r"ArmCounters.errors must be a count"):
        ArmCounters(errors=True)


@given(canary_counters)
def test_sla_scores_stay_in_the_unit_interval(counters: Counters) -> None:
    a = assess(Judge(min_samples=1, min_labelled=1), counters)
    for score in (a.candidate, a.incumbent):
        if score is not None:
            for v in (score.availability, score.accuracy, score.latency, score.sla):
                assert 0.0 <= v <= 1.0


@given(broken_counters())
def test_broken_counters_are_never_passed(counters: Counters | None) -> None:
    assert assess(J, counters).judgement is Judgement.FAILED


@given(arm_counters(max_requests=500).filter(lambda a: (a.requests or 0) >= 1))
def test_a_candidate_like_the_incumbent_always_passes(same: ArmCounters) -> None:
    judge = Judge(min_samples=1, min_labelled=1, max_sla_drop=0)
    a = assess(judge, Counters(same, same))
    assert a.judgement in (Judgement.PASSED, Judgement.INCONCLUSIVE)
    if (same.labelled or 0) >= 1:
        assert a.judgement is Judgement.PASSED


@given(arm_counters(), st.integers(1, 100))
def test_more_candidate_errors_never_turn_a_failure_into_a_pass(
    candidate: ArmCounters, extra: int
) -> None:
    judge = Judge(min_samples=1, min_labelled=1)
    incumbent = arm()
    before = assess(judge, Counters(candidate, incumbent))
    r, e = int(candidate.requests or 0), int(candidate.errors or 0)
    worse = ArmCounters(
        requests=r + extra,
        errors=e + extra,
        labelled=candidate.labelled,
        correct=candidate.correct,
        within_slo=candidate.within_slo,
    )
    after = assess(judge, Counters(worse, incumbent))
    if before.judgement is Judgement.FAILED:
        assert after.judgement is not Judgement.PASSED


# --- the state machine: the paper's plan end to end ---------------------------------------------
def test_the_papers_plan_promotes_after_exactly_30_minutes_and_not_before() -> None:
    s = advance(CanaryState.start(CanaryPlan(), T0), T0)
    assert (s.phase, s.weight, s.window_start) == (CanaryPhase.PROGRESSING, 1.0, T0)
    for at, weight in ((10, 10.0), (20, 50.0)):
        early = advance(s, T0 + minutes(at) - TICK, PERFECT)
        assert early == s  # the wait is not over: nothing changes
        s = advance(s, T0 + minutes(at), PERFECT)
        assert (s.phase, s.weight, s.window_start) == (
            CanaryPhase.PROGRESSING,
            weight,
            T0 + minutes(at),
        )
    assert advance(s, T0 + minutes(30) - TICK, PERFECT).weight == 50.0
    s = advance(s, T0 + minutes(30), PERFECT)
    assert (s.phase, s.weight, s.checks, s.failed_checks) == (CanaryPhase.PROMOTED, 100.0, 3, 0)
    assert s.reasons[0] == "weight set to 1%"
    assert s.reasons[-1] == "promoted"


def test_a_failed_judgement_aborts_with_no_traffic() -> None:
    s = advance(CanaryState.start(CanaryPlan(), T0), T0)
    s = advance(s, T0 + minutes(10), Counters(arm(errors=200), arm()))
    assert (s.phase, s.weight, s.failed_checks) == (CanaryPhase.ABORTED, 0.0, 1)
    assert s.reasons[-1].startswith("judge failed at 1%: SLA drop 0.08 > 0.05")


def test_missing_counters_at_a_judgement_abort() -> None:
    s = advance(CanaryState.start(CanaryPlan(), T0), T0)
    # Counters are not needed while waiting ...
    assert advance(s, T0 + minutes(5), None) == s
    # ... but missing when the judge is due: fail closed.
    s = advance(s, T0 + minutes(10), None)
    assert (s.phase, s.weight) == (CanaryPhase.ABORTED, 0.0)
    assert "no counters were measured" in s.reasons[-1]


def test_inconclusive_extends_a_bounded_number_of_times_then_aborts() -> None:
    judge = Judge(min_samples=100, max_extensions=2, extension_minutes=5)
    plan = CanaryPlan((SetWeight(1), Wait(30), judge, SetWeight(100)))
    few = Counters(arm(50), arm())
    s = advance(advance(CanaryState.start(plan, T0), T0), T0 + minutes(30), few)
    assert (s.phase, s.extensions, s.weight) == (CanaryPhase.PROGRESSING, 1, 1.0)
    assert "inconclusive at 1%, extended by 5 min (1/2)" in s.reasons[-1]
    assert advance(s, T0 + minutes(35) - TICK, few) == s  # not due yet
    s = advance(s, T0 + minutes(35), few)
    assert s.extensions == 2
    s2 = advance(s, T0 + minutes(40), few)  # the third inconclusive check: out of extensions
    assert (s2.phase, s2.weight) == (CanaryPhase.ABORTED, 0.0)
    assert "still inconclusive at 1% after 2 extensions; failing closed" in s2.reasons[-1]
    # Enough samples at the last extension: it passes and the extensions reset.
    s3 = advance(s, T0 + minutes(40), PERFECT)
    assert (s3.phase, s3.weight, s3.extensions) == (CanaryPhase.PROMOTED, 100.0, 0)


def test_no_extensions_means_the_first_inconclusive_check_aborts() -> None:
    plan = CanaryPlan((SetWeight(1), Wait(30), Judge(max_extensions=0), SetWeight(100)))
    s = advance(advance(CanaryState.start(plan, T0), T0), T0 + minutes(30), Counters(arm(1), arm()))
    assert s.phase is CanaryPhase.ABORTED


def test_a_pause_step_holds_until_resumed_and_still_aborts_on_a_failed_check() -> None:
    plan = CanaryPlan((SetWeight(5), Wait(30), J, Pause("a human promotes"), SetWeight(100)))
    s = advance(advance(CanaryState.start(plan, T0), T0), T0 + minutes(30), PERFECT)
    assert (s.phase, s.weight) == (CanaryPhase.PAUSED, 5.0)
    assert s.reasons[-1] == "paused: a human promotes"
    later = T0 + timedelta(days=3)
    assert advance(s, later, PERFECT) == s  # time alone never promotes
    assert advance(s, later, Counters(arm(10), arm())) == s  # inconclusive: nothing
    failed = advance(s, later, Counters(arm(errors=500), arm()))
    assert (failed.phase, failed.weight, failed.failed_checks) == (CanaryPhase.ABORTED, 0.0, 1)
    assert failed.reasons[-1].startswith("check while paused failed")
    s = advance(resume(s, later, "approved by alice"), later, PERFECT)
    assert (s.phase, s.weight) == (CanaryPhase.PROMOTED, 100.0)
    assert "approved by alice" in s.reasons


def test_an_operator_pause_restarts_the_wait_on_resume() -> None:
    s = advance(CanaryState.start(CanaryPlan(), T0), T0)
    s = pause(s, T0 + minutes(5), "investigating")
    assert s.phase is CanaryPhase.PAUSED
    assert pause(s, T0 + minutes(6), "again") == s
    s = resume(s, T0 + minutes(8))
    assert advance(s, T0 + minutes(18) - TICK, PERFECT).weight == 1.0  # waits never shorten
    assert advance(s, T0 + minutes(18), PERFECT).weight == 10.0


def test_manual_promote_and_abort_and_final_phases_never_change() -> None:
    s = advance(CanaryState.start(CanaryPlan(), T0), T0)
    promoted = promote(s, T0 + minutes(1), "hotfix approved by bob")
    assert (promoted.phase, promoted.weight) == (CanaryPhase.PROMOTED, 100.0)
    aborted = abort(s, T0 + minutes(1), "operator")
    assert (aborted.phase, aborted.weight, aborted.reasons[-1]) == (
        CanaryPhase.ABORTED,
        0.0,
        "aborted: operator",
    )
    t = T0 + minutes(90)
    for final in (promoted, aborted):
        assert advance(final, t, PERFECT) == final
        assert advance(final, t, None) == final
        assert pause(final, t, "x") == final
        assert resume(final, t) == final
        assert abort(final, t, "x") == final
        assert promote(final, t, "x") == final  # an aborted canary is never promoted


def test_time_must_be_timezone_aware() -> None:
    s = CanaryState.start(CanaryPlan(), T0)
    with pytest.raises(DataError, match="`now` must be a timezone-aware datetime"):
        advance(s, datetime(2026, 5, 4, 12, 0))


# --- persistence --------------------------------------------------------------------------------
def test_a_restarted_controller_resumes_mid_canary_to_the_same_end() -> None:
    plan = CanaryPlan()
    calls = [(T0 + minutes(m), PERFECT) for m in (0, 4, 10, 12, 20, 25, 30, 31)]
    straight = CanaryState.start(plan, T0)
    for t, c in calls:
        straight = advance(straight, t, c)
    s = CanaryState.start(plan, T0)
    for t, c in calls[:4]:
        s = advance(s, t, c)
    assert (s.phase, s.weight) == (CanaryPhase.PROGRESSING, 10.0)
    stored = json.dumps(s.to_dict())  # what the store keeps
    restored = CanaryState.from_dict(json.loads(stored))
    assert restored == s
    for t, c in calls[4:]:
        restored = advance(restored, t, c)
    assert restored == straight
    assert restored.phase is CanaryPhase.PROMOTED


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("phase"), "malformed"),
        (lambda d: d.update(phase="flying"), "malformed"),
        (lambda d: d.update(step_index=99), r"step_index must be in \[0, 10\]"),
        (lambda d: d.update(weight=150), "weight"),
        (lambda d: d.update(started_at="2026-05-04T12:00:00"), "timezone-aware"),
        (lambda d: d.update(version=2), "unknown canary state version"),
        (lambda d: d.update(extensions=-1), "extensions"),
    ],
)
def test_a_malformed_stored_state_is_refused(change: Any, words: str) -> None:
    d = advance(CanaryState.start(CanaryPlan(), T0), T0).to_dict()
    change(d)
    with pytest.raises(DataError, match=words):
        CanaryState.from_dict(d)


# --- properties over random plans and random controller calls ----------------------------------
Event = tuple[float, Counters | None, str | None]


def drive(plan: CanaryPlan, events: Sequence[Event]) -> list[tuple[datetime, Event, CanaryState]]:
    """Run a canary through the events as a controller would; every state along the way."""
    t = T0
    s = CanaryState.start(plan, T0)
    out = []
    for event in events:
        dt, counters, command = event
        t += minutes(dt)
        if command == "pause":
            s = pause(s, t, "operator")
        elif command == "resume":
            s = resume(s, t, "operator")
        s = advance(s, t, counters)
        out.append((t, event, s))
    return out


def expected_weight(s: CanaryState) -> float:
    if s.phase is CanaryPhase.ABORTED:
        return 0.0
    applied = [x.percent for x in s.plan.steps[: s.step_index] if isinstance(x, SetWeight)]
    return applied[-1] if applied else 0.0


def unjudgeable(counters: Counters | None) -> bool:
    return counters is None or bool(counters.candidate.problems() or counters.incumbent.problems())


@given(canary_plans(), st.lists(canary_events, max_size=25))
def test_canary_invariants(plan: CanaryPlan, events: list[Event]) -> None:
    previous = CanaryState.start(plan, T0)
    for t, (_, counters, _), s in drive(plan, events):
        # The weight is the last weight set by the plan (0 before any, and after an abort).
        assert s.weight == expected_weight(s)
        assert 0.0 <= s.weight <= 100.0
        # Final phases never change.
        if previous.phase.is_final:
            assert s == previous
        # A judgement made on missing or impossible counters aborts.
        if s.checks > previous.checks and unjudgeable(counters):
            assert s.phase is CanaryPhase.ABORTED
        if s.phase is CanaryPhase.PROMOTED and not previous.phase.is_final:
            # Never promoted after a failed check, nor before the planned validation time.
            assert s.failed_checks == 0
            slack = TICK * len(plan.steps)  # each wait is rounded to the microsecond
            assert t - s.started_at >= minutes(plan.validation_minutes) - slack
            assert s.weight == 100.0
        # Whatever happens, the state can be stored and read back.
        assert CanaryState.from_dict(json.loads(json.dumps(s.to_dict()))) == s
        previous = s


@given(
    canary_plans().filter(lambda p: any(isinstance(s, Judge) for s in p.steps)),
    st.lists(st.tuples(st.floats(0.0, 60.0), broken_counters(), st.just(None)), max_size=25),
)
def test_a_canary_fed_only_missing_counters_never_promotes(
    plan: CanaryPlan, events: list[Event]
) -> None:
    for _, _, s in drive(plan, events):
        assert s.phase is not CanaryPhase.PROMOTED


@given(
    canary_plans(),
    st.lists(st.tuples(st.floats(0.0, 60.0), broken_arm_counters(), st.just(None)), max_size=25),
)
def test_a_broken_candidate_never_promotes_unless_nothing_is_judged(
    plan: CanaryPlan, events: list[tuple[float, ArmCounters, None]]
) -> None:
    has_judge = any(isinstance(s, Judge) for s in plan.steps)
    fed: list[Event] = [(dt, Counters(c, arm()), cmd) for dt, c, cmd in events]
    for _, _, s in drive(plan, fed):
        if has_judge:
            assert s.phase is not CanaryPhase.PROMOTED


@given(canary_plans(), st.lists(canary_events, min_size=1, max_size=20), st.data())
def test_stopping_and_restoring_anywhere_changes_nothing(
    plan: CanaryPlan, events: list[Event], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(events)))
    straight = drive(plan, events)[-1][2]
    t = T0
    s = CanaryState.start(plan, T0)
    for i, (dt, counters, command) in enumerate(events):
        if i == cut:  # the controller restarts: only the stored state survives
            s = CanaryState.from_dict(json.loads(json.dumps(s.to_dict())))
        t += minutes(dt)
        if command == "pause":
            s = pause(s, t, "operator")
        elif command == "resume":
            s = resume(s, t, "operator")
        s = advance(s, t, counters)
    assert s == straight
