"""Holding a canary at its first weight until a human promotes it (canary mode).

Following a canary each window is :func:`safeheal.heal.step_canary`.
"""

from __future__ import annotations

from dataclasses import replace

from safeheal.heal import (
    CanaryPlan,
    CanaryRun,
    Judge,
    Pause,
)

__all__ = ["CANARY_MODE_PAUSE", "gate_canary"]

#: The reason of the Pause step that holds a canary-mode canary at its first weight.
CANARY_MODE_PAUSE = "canary mode: held at the first weight until a human promotes"


def gate_canary(run: CanaryRun) -> CanaryRun:
    """``run`` with a :class:`~safeheal.heal.Pause` right after its first Judge, so that it
    holds its first weight until a human resumes it (canary mode). Idempotent; a canary already
    past its first Judge is returned unchanged.

    >>> from datetime import UTC, datetime
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
