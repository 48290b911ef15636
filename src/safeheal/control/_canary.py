"""Following a canary from the controller, and holding one at its first weight (canary mode).

:func:`step_canary` is the controller's side of a canary for one window: read both arms'
counters from the inference log since the canary's weight was set, advance the canary, route
traffic as it says, save it, and carry out its end when it is final.

.. note:: ``safeheal.heal.step_canary`` (with the store's counters query) is being added on
   main with this same signature; when it lands the controller uses it and this one goes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from safeheal.control._window import _labels, arm_counters
from safeheal.heal import (
    CanaryPlan,
    CanaryRun,
    Counters,
    Judge,
    ModelRegistry,
    Pause,
    TrafficRouter,
    finish_canary,
    route_canary,
)
from safeheal.store import SqlInferenceSink, SqlStore

__all__ = ["CANARY_MODE_PAUSE", "gate_canary", "step_canary"]

#: The reason of the Pause step that holds a canary-mode canary at its first weight.
CANARY_MODE_PAUSE = "canary mode: held at the first weight until a human promotes"


def step_canary(
    run: CanaryRun,
    *,
    store: SqlStore,
    router: TrafficRouter,
    registry: ModelRegistry,
    now: datetime,
    latency_slo_ms: float,
) -> CanaryRun:
    """Advance ``run`` by one window (see the module docstring) and return it as saved."""
    state = run.state
    counters: Counters | None = None
    if state.window_start is not None:
        sink = SqlInferenceSink(store)
        logged = [r for r in sink.inferences(run.model, since=state.window_start) if r.at < now]
        labels = _labels(sink.feedback(run.model, since=state.window_start), now)
        counters = Counters(
            candidate=arm_counters(
                logged, labels, run.candidate_version, latency_slo_ms=latency_slo_ms
            ),
            incumbent=arm_counters(
                logged, labels, run.incumbent_version, latency_slo_ms=latency_slo_ms
            ),
        )
    advanced = run.advanced(now, counters)
    route_canary(advanced, router)
    store.save_canary(advanced.to_record(now))
    if advanced.state.phase.is_final:
        finish_canary(advanced, registry=registry, router=router, now=now, canaries=store)
    return advanced


def gate_canary(run: CanaryRun) -> CanaryRun:
    """``run`` with a :class:`~safeheal.heal.Pause` right after its first Judge, so that it
    holds its first weight until a human resumes it (canary mode). Idempotent; a canary already
    past its first Judge is returned unchanged.

    >>> from datetime import UTC
    >>> from safeheal.core import Action
    >>> from safeheal.heal import CanaryState, SetWeight, advance
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> run = CanaryRun("c", "m", Action.RETRAIN, 2, 1, advance(CanaryState.start(CanaryPlan(), t0), t0))
    >>> gated = gate_canary(run)
    >>> [type(s).__name__ for s in gated.state.plan.steps][:5]
    ['SetWeight', 'Wait', 'Judge', 'Pause', 'SetWeight']
    >>> gate_canary(gated) == gated
    True
    """  # noqa: E501
    steps = run.state.plan.steps
    first = next((i for i, s in enumerate(steps) if isinstance(s, Judge)), None)
    if first is None:  # nothing is judged (an immediate plan): nothing may be held either
        return run
    if first + 1 < len(steps) and isinstance(steps[first + 1], Pause):
        return run
    if run.state.step_index > first + 1:  # a human let it past its first weight
        return run
    plan = CanaryPlan(
        (*steps[: first + 1], Pause(CANARY_MODE_PAUSE), *steps[first + 1 :]),
        min_validation_minutes=run.state.plan.min_validation_minutes,
    )
    return replace(run, state=replace(run.state, plan=plan))
