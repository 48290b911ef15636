"""Following a canary, one window at a time: the glue between the log, the judge and the router.

:func:`step_canary` is what a controller calls for each running canary at each window: it
counts what both arms served since the canary's weight was set (from the inference log),
advances the canary, routes traffic by its new weight, saves it, and when the canary ends,
carries out the end (:func:`~safeheal.heal.finish_canary`). Every call is safe to repeat, and a
controller that restarts reloads the run from the store (:meth:`CanaryRun.from_record`) and
carries on with the next call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from safeheal.core.records import ArmCounters
from safeheal.heal._canary import Counters
from safeheal.heal._deploy import CanaryRun, finish_canary, route_canary
from safeheal.heal._execution import CanaryStore, ExecutionResult
from safeheal.heal._registry import ModelRegistry
from safeheal.heal._routing import Arm, TrafficRouter

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

__all__ = ["CanaryLedger", "CanaryStep", "CounterSource", "canary_counters", "step_canary"]


@runtime_checkable
class CounterSource(Protocol):
    """Counts what one version of a model served over a period, from the inference log
    (:class:`~safeheal.store.SqlStore` implements it; see its ``arm_counters``)."""

    def arm_counters(
        self,
        model: str,
        version: int,
        *,
        since: datetime,
        until: datetime,
        latency_slo_ms: float,
    ) -> ArmCounters: ...


@runtime_checkable
class CanaryLedger(CanaryStore, CounterSource, Protocol):
    """What :func:`step_canary` needs of a store: it keeps canaries and counts the inference log
    (:class:`~safeheal.store.SqlStore` is one)."""


@dataclass(frozen=True, slots=True)
class CanaryStep:
    """What one :func:`step_canary` did.

    ``run`` is the canary after the step, as saved; ``counters`` what both arms served since its
    weight was set (None before any weight was set); ``arms`` the split routed now; ``result``
    the end of the canary (:func:`~safeheal.heal.finish_canary`) when it ended at this step or
    had ended before, else None.
    """

    run: CanaryRun
    counters: Counters | None
    arms: tuple[Arm, ...]
    result: ExecutionResult | None = None

    @property
    def finished(self) -> bool:
        """True once the canary is promoted or aborted and its end carried out."""
        return self.result is not None


def canary_counters(
    run: CanaryRun, source: CounterSource, *, until: datetime, latency_slo_ms: float
) -> Counters | None:
    """Both arms' counters over ``[run.state.window_start, until)``: what the candidate and the
    incumbent served since the canary's current weight was set. None before any weight is set."""
    since = run.state.window_start
    if since is None:
        return None

    def arm(version: int) -> ArmCounters:
        return source.arm_counters(
            run.model, version, since=since, until=until, latency_slo_ms=latency_slo_ms
        )

    return Counters(candidate=arm(run.candidate_version), incumbent=arm(run.incumbent_version))


def step_canary(
    run: CanaryRun,
    *,
    store: CanaryLedger,
    router: TrafficRouter,
    registry: ModelRegistry,
    now: datetime,
    latency_slo_ms: float,
    config: SafehealConfig | None = None,
    actor: str = "safeheal",
) -> CanaryStep:
    """Follow ``run`` one window, at time ``now``:

    1. count both arms since the current weight was set (:func:`canary_counters`);
    2. advance the canary (:meth:`CanaryRun.advanced`; a Judge step due now judges the counters);
    3. route the model's traffic by the new weight (:func:`~safeheal.heal.route_canary`);
    4. save the canary in ``store``;
    5. when it is promoted or aborted, carry out its end with
       :func:`~safeheal.heal.finish_canary` (roles, health marks, traffic) and return the result.

    Idempotent at a given ``now``: the same call again saves the same state and routes the same
    split; a canary that had already ended is finished again (which changes nothing).
    ``latency_slo_ms`` decides which answers count as within the SLO (the judge's latency term).
    """
    if run.state.phase.is_final:
        counters = None
        new = run
    else:
        counters = canary_counters(run, store, until=now, latency_slo_ms=latency_slo_ms)
        new = run.advanced(now, counters)
    arms = route_canary(new, router)
    store.save_canary(new.to_record(now))
    if not new.state.phase.is_final:
        return CanaryStep(new, counters, arms)
    result = finish_canary(
        new, registry=registry, router=router, now=now, config=config, canaries=store, actor=actor
    )
    return CanaryStep(new, counters, result.arms or arms, result)
