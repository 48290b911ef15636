"""Canary deployments of healing actions: starting one, routing it, persisting it, finishing it.

The canary itself (:class:`~safeheal.heal.CanaryState`, :func:`~safeheal.heal.advance`) is pure;
a :class:`CanaryRun` adds what it deploys (model, candidate, incumbent, the action that started
it), so it can be stored (:meth:`CanaryRun.to_record`), routed (:meth:`CanaryRun.arms`) and
finished (:func:`finish_canary`). The controller's loop is :func:`~safeheal.heal.step_canary`::

    run = result.canary                                   # from RETRAIN (or a canary FALLBACK)
    step = step_canary(run, store=store, router=router, registry=registry, now=now,
                       latency_slo_ms=100)                # each window: count, advance, route, save
    if step.finished: ...                                 # step.result: promoted or aborted
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from safeheal.core.action import Action
from safeheal.core.records import CanaryRecord
from safeheal.errors import DataError
from safeheal.heal._canary import (
    CanaryPhase,
    CanaryPlan,
    CanaryState,
    Counters,
    SetWeight,
    advance,
)
from safeheal.heal._execution import (
    ActionContext,
    CanaryStore,
    ExecutionResult,
    ExecutionStatus,
    Measurement,
    _default_config,
)
from safeheal.heal._registry import ModelRegistry
from safeheal.heal._routing import Arm, TrafficRouter, check_arms

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

__all__ = ["CanaryRun", "canary_plan", "finish_canary", "route_canary"]


def canary_plan(config: SafehealConfig | None = None) -> CanaryPlan:
    """The canary plan of ``[canary]``: the paper's (1% → 10% → 50% → 100% over 30 minutes,
    abort if ΔSLA > 0.05) with the configured first weight, SLA drop and validation time.

    >>> [s.percent for s in canary_plan().steps if isinstance(s, SetWeight)]
    [1.0, 10.0, 50.0, 100.0]
    """
    c = (config if config is not None else _default_config()).canary
    return CanaryPlan.paper(
        first_percent=c.traffic_fraction * 100.0,
        max_sla_drop=c.max_sla_drop,
        validation_minutes=c.validation_minutes,
    )


@dataclass(frozen=True, slots=True)
class CanaryRun:
    """One canary deployment: ``candidate_version`` of ``model`` against ``incumbent_version``
    (what served before), started by ``action``, at the point ``state``.

    >>> from datetime import UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> run = CanaryRun("c1", "churn", Action.RETRAIN, 3, 2,
    ...                 advance(CanaryState.start(CanaryPlan(), t0), t0))
    >>> run.arms()
    (Arm(version=3, weight=1.0), Arm(version=2, weight=99.0))
    >>> CanaryRun.from_record(run.to_record(t0)) == run
    True
    """

    id: str
    model: str
    action: Action
    candidate_version: int
    incumbent_version: int
    state: CanaryState
    decision_id: str | None = None

    def arms(self) -> tuple[Arm, ...]:
        """The split the canary's weight asks for: the candidate first."""
        w = self.state.weight
        if w >= 100.0 or self.candidate_version == self.incumbent_version:
            return (Arm(self.candidate_version, 100.0),)
        if w <= 0.0:
            return (Arm(self.incumbent_version, 100.0),)
        return (Arm(self.candidate_version, w), Arm(self.incumbent_version, 100.0 - w))

    def advanced(self, now: datetime, counters: Counters | None = None) -> CanaryRun:
        """This run with its state advanced (see :func:`~safeheal.heal.advance`)."""
        return replace(self, state=advance(self.state, now, counters))

    @property
    def exposed_percent(self) -> float:
        """The largest share of traffic the candidate had before it was validated (weights
        below 100% that the canary reached)."""
        reached = self.state.plan.steps[: self.state.step_index]
        return max(
            (s.percent for s in reached if isinstance(s, SetWeight) and s.percent < 100.0),
            default=0.0,
        )

    def to_record(self, updated_at: datetime) -> CanaryRecord:
        """The record a :class:`~safeheal.heal.CanaryStore` keeps."""
        return CanaryRecord(
            id=self.id,
            model=self.model,
            action=self.action.name,
            candidate_version=self.candidate_version,
            incumbent_version=self.incumbent_version,
            decision_id=self.decision_id,
            phase=self.state.phase.value,
            state=self.state.to_dict(),
            started_at=self.state.started_at,
            updated_at=updated_at,
        )

    @classmethod
    def from_record(cls, record: CanaryRecord) -> CanaryRun:
        """Read a stored canary back; a malformed state raises DataError (abort it then)."""
        if record.incumbent_version is None:
            raise DataError(f"canary {record.id!r} has no incumbent version; it cannot resume")
        return cls(
            id=record.id,
            model=record.model,
            action=Action(record.action),
            candidate_version=record.candidate_version,
            incumbent_version=record.incumbent_version,
            state=CanaryState.from_dict(record.state),
            decision_id=record.decision_id,
        )


def new_canary_id() -> str:
    return f"canary-{uuid.uuid4().hex[:16]}"


def start_canary(ctx: ActionContext, candidate: int, incumbent: int, plan: CanaryPlan) -> CanaryRun:
    """Start a canary now: its first steps run (the first weight is set), traffic is routed by it
    and, when the context has a canary store, it is saved."""
    now = ctx.time()
    state = advance(CanaryState.start(plan, now), now)
    run = CanaryRun(
        id=new_canary_id(),
        model=ctx.model,
        action=ctx.act,
        candidate_version=candidate,
        incumbent_version=incumbent,
        state=state,
        decision_id=ctx.decision_id,
    )
    ctx.route(run.arms())
    if ctx.canaries is not None:
        ctx.canaries.save_canary(run.to_record(now))
    return run


def route_canary(run: CanaryRun, router: TrafficRouter) -> tuple[Arm, ...]:
    """Route ``run.model``'s traffic as the canary's weight asks; return the arms."""
    arms = check_arms(run.arms(), model=run.model)
    router.set_arms(run.model, arms)
    return arms


def finish_canary(
    run: CanaryRun,
    *,
    registry: ModelRegistry,
    router: TrafficRouter,
    now: datetime,
    config: SafehealConfig | None = None,
    canaries: CanaryStore | None = None,
    actor: str = "safeheal",
) -> ExecutionResult:
    """Carry out the end of a canary that is PROMOTED or ABORTED. Idempotent.

    - PROMOTED: the candidate takes 100% of the traffic and is marked healthy; a retrained
      candidate also becomes ``champion`` and leaves ``challenger``. Status DONE.
    - ABORTED: the incumbent takes 100% of the traffic back and the candidate is marked unhealthy
      (with the canary's last reason); a retrained candidate leaves ``challenger``. Status FAILED;
      a fallback that failed its canary also asks to escalate.

    A canary that is not final raises :class:`~safeheal.errors.DataError`.
    """
    state = run.state
    if not state.phase.is_final:
        raise DataError(
            f"canary {run.id!r} of model {run.model!r} is still {state.phase.value}; advance it "
            f"until it is promoted or aborted (or abort() it) before finishing it"
        )
    cfg = config if config is not None else _default_config()
    name, cand, inc = run.model, run.candidate_version, run.incumbent_version
    last = state.reasons[-1] if state.reasons else state.phase.value
    retrained = run.action is Action.RETRAIN
    reasons: list[str] = []
    exposed = run.exposed_percent
    if state.phase is CanaryPhase.PROMOTED:
        arms = route_canary(run, router)
        reasons.append(f"canary {run.id} promoted version {cand} to 100% of the traffic ({last})")
        registry.mark_healthy(name, cand, f"passed canary {run.id}: {last}")
        if retrained:
            registry.set_role(name, "champion", cand, reason=f"passed canary {run.id}", actor=actor)
            if registry.roles(name).get("challenger") == cand:
                registry.clear_role(
                    name,
                    "challenger",
                    reason=f"promoted to champion by canary {run.id}",
                    actor=actor,
                )
            reasons.append(f"version {cand} is the champion now")
        status, escalate, minutes = ExecutionStatus.DONE, False, 0.0
    else:
        arms = route_canary(run, router)  # weight 0: all traffic back on the incumbent
        reasons.append(f"canary {run.id} aborted: {last}; version {inc} serves 100% again")
        registry.mark_unhealthy(name, cand, f"failed canary {run.id}: {last}")
        if retrained and registry.roles(name).get("challenger") == cand:
            registry.clear_role(name, "challenger", reason=f"canary {run.id} aborted", actor=actor)
        escalate = run.action is Action.FALLBACK
        if escalate:
            reasons.append("the fallback failed its canary: escalate")
        status = ExecutionStatus.FAILED
        minutes = max(0.0, (now - state.started_at).total_seconds() / 60.0)
    if canaries is not None:
        canaries.save_canary(run.to_record(now))
    measured = Measurement(0.0, exposed, minutes)
    return ExecutionResult(
        action=run.action,
        model=name,
        status=status,
        reasons=tuple(reasons),
        arms=arms,
        candidate_version=cand,
        canary=run,
        escalate=escalate,
        decision_id=run.decision_id,
        measured=measured,
        costs=measured.normalised(cfg),
    )
