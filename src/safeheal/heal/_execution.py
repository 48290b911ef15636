"""What every healing action gets and gives back: :class:`ActionContext` in,
:class:`ExecutionResult` out, and the registry that maps an :class:`~safeheal.Action` to the
:class:`Executor` that carries it out.

An executor does I/O (the registry, the router, the network) but decides nothing: the policy has
decided. It reports what it did, in plain words, with what it cost, measured: CPU seconds, the
share of traffic put on a version nobody had validated yet, and minutes of degraded service, each
also normalised to [0, 1] by the budgets of ``[costs.budgets]`` for the cost model.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from safeheal.core.action import Action
from safeheal.core.decision import Decision
from safeheal.core.records import CanaryRecord, Escalation
from safeheal.errors import ActionRefused, ConfigError, DataError
from safeheal.heal._registry import Clock, ModelRegistry, check_model_name
from safeheal.heal._routing import Arm, Notifier, TrafficRouter, check_arms
from safeheal.policy import CostTerms

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig
    from safeheal.heal._deploy import CanaryRun

__all__ = [
    "ActionContext",
    "CanaryStore",
    "EscalationStore",
    "ExecutionResult",
    "ExecutionStatus",
    "Executor",
    "ExecutorRegistry",
]


# --- where records go ---------------------------------------------------------------------------
@runtime_checkable
class CanaryStore(Protocol):
    """Durable canary state, so that a controller restarted mid-canary resumes or aborts it
    (:class:`~safeheal.store.SqlStore` implements it)."""

    def save_canary(self, record: CanaryRecord) -> None: ...

    def load_canary(self, canary_id: str) -> CanaryRecord | None: ...

    def active_canaries(self, model: str | None = None) -> list[CanaryRecord]: ...


@runtime_checkable
class EscalationStore(Protocol):
    """Escalations and the answers humans give them (:class:`~safeheal.store.SqlStore`
    implements it). Unknown ids raise :class:`~safeheal.errors.UnknownEscalationError`."""

    def record_escalation(self, escalation: Escalation) -> None: ...

    def answer_escalation(
        self,
        escalation_id: str,
        *,
        status: Literal["approved", "rejected"],
        actor: str,
        note: str = "",
        at: datetime,
    ) -> Escalation: ...

    def get_escalation(self, escalation_id: str) -> Escalation: ...

    def pending_escalations(self, model: str | None = None) -> list[Escalation]: ...


# --- the context --------------------------------------------------------------------------------
@functools.cache
def _default_config() -> SafehealConfig:
    from safeheal.config import SafehealConfig

    return SafehealConfig()


@dataclass(frozen=True, kw_only=True)
class ActionContext:
    """Everything an executor needs to carry out one action on one model.

    Give ``decision`` (its action is the one carried out) or ``action``. ``now`` is the time the
    action starts (timezone-aware); ``clock``, when given, is read again to measure how long the
    action took, so an accelerated clock measures accelerated minutes. ``X`` and ``y`` are the
    recent labelled data (RETRAIN needs them). ``config`` defaults to the paper's defaults.
    ``escalations`` (ESCALATE) and ``canaries`` (any action that starts a canary) are where
    records are kept; ``notifier`` overrides the webhook of ``[escalation]``. ``note`` says why
    when there is no decision (a human's reason, given through the admin API).
    """

    model: str
    registry: ModelRegistry
    router: TrafficRouter
    now: datetime
    decision: Decision | None = None
    action: Action | None = None
    X: Any = None
    y: Any = None
    config: SafehealConfig | None = None
    clock: Clock | None = None
    notifier: Notifier | None = None
    escalations: EscalationStore | None = None
    canaries: CanaryStore | None = None
    actor: str = "safeheal"
    note: str | None = None

    def __post_init__(self) -> None:
        check_model_name(self.model)
        if self.decision is None and self.action is None:
            raise ConfigError("an ActionContext needs a `decision` or an `action`; got neither")
        if self.decision is not None:
            if self.action is not None and Action(self.action) is not self.decision.action:
                raise ConfigError(
                    f"the `action` of an ActionContext ({self.action!r}) differs from its "
                    f"decision's ({self.decision.action!r})"
                )
            object.__setattr__(self, "action", self.decision.action)
        else:
            object.__setattr__(self, "action", Action(self.action))  # type: ignore[arg-type]
        if not isinstance(self.now, datetime) or self.now.utcoffset() is None:
            raise DataError(
                f"`now` of an ActionContext must be a timezone-aware datetime; got {self.now!r}"
            )

    @property
    def act(self) -> Action:
        """The action to carry out."""
        if self.action is None:  # pragma: no cover - set in __post_init__
            raise ConfigError("no action")
        return self.action

    @property
    def settings(self) -> SafehealConfig:
        """``config``, or the defaults."""
        return self.config if self.config is not None else _default_config()

    @property
    def decision_id(self) -> str | None:
        return None if self.decision is None else self.decision.id

    def time(self) -> datetime:
        """The time now: ``clock()`` if there is a clock, else ``now``."""
        return self.clock() if self.clock is not None else self.now

    def reason(self, default: str) -> str:
        """The decision's reasons in one line, else the ``note``, else ``default``."""
        if self.decision is not None and self.decision.reasons:
            return "; ".join(self.decision.reasons)
        return self.note if self.note else default

    def current_arms(self) -> tuple[Arm, ...] | None:
        """The model's arms as the router holds them now, or None if it routes none."""
        arms = self.router.arms(self.model)
        if not arms:
            return None
        return tuple(Arm(int(a.version), float(a.weight)) for a in arms)

    def serving_version(self) -> int | None:
        """The version with the largest share of traffic now, else the champion's, else None."""
        arms = self.current_arms()
        if arms:
            return max(arms, key=lambda a: a.weight).version
        champion = self.registry.get_role(self.model, "champion")
        return None if champion is None else champion.version

    def route(self, arms: tuple[Arm, ...]) -> tuple[Arm, ...]:
        """Set the model's arms (checked first) and return them."""
        checked = check_arms(arms, model=self.model)
        self.router.set_arms(self.model, checked)
        return checked


# --- the result ---------------------------------------------------------------------------------
class ExecutionStatus(enum.Enum):
    """How an action ended."""

    DONE = "done"  #: carried out; traffic is where the action meant it to be
    CANARY_STARTED = "canary-started"  #: a candidate is on a canary; follow it, then finish it
    REFUSED = "refused"  #: nothing could be done, nothing changed (the decision should escalate)
    FAILED = "failed"  #: tried and did not work (a retrain that lost, a canary that aborted)
    PENDING_APPROVAL = "pending-approval"  #: a human was asked; the service is on its safest model


@dataclass(frozen=True, slots=True)
class Measurement:
    """What an action cost, raw: CPU seconds, percent of traffic put on a version not yet
    validated, minutes the service stayed degraded while the action ran."""

    cpu_seconds: float = 0.0
    traffic_exposed_percent: float = 0.0
    minutes_degraded: float = 0.0

    def __post_init__(self) -> None:
        for name in ("cpu_seconds", "traffic_exposed_percent", "minutes_degraded"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise DataError(f"Measurement.{name} must be a number >= 0; got {v!r}")
            object.__setattr__(self, name, float(v))

    def normalised(self, config: SafehealConfig) -> CostTerms:
        """Each measurement over its budget of ``[costs.budgets]``, capped at 1."""
        b = config.costs.budgets
        return CostTerms(
            compute=min(1.0, self.cpu_seconds / b.cpu_seconds),
            risk=min(1.0, self.traffic_exposed_percent / b.exposed_percent),
            downtime=min(1.0, self.minutes_degraded / b.degraded_minutes),
        )


class Meter:
    """Measures an action as it runs: CPU seconds of the process (``time.process_time``, so
    every thread of the process counts) and elapsed minutes (by the context's clock when it has
    one, else by the monotonic clock)."""

    def __init__(self, ctx: ActionContext) -> None:
        self._ctx = ctx
        self._cpu = time.process_time()
        self._mono = time.monotonic()
        self._start = ctx.clock() if ctx.clock is not None else None

    def cpu_seconds(self) -> float:
        return max(0.0, time.process_time() - self._cpu)

    def minutes(self) -> float:
        if self._start is not None and self._ctx.clock is not None:
            return max(0.0, (self._ctx.clock() - self._start).total_seconds() / 60.0)
        return max(0.0, (time.monotonic() - self._mono) / 60.0)


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What an executor did, why, and what it cost.

    ``arms`` is the model's traffic split after the action (None if the router holds none).
    ``escalate`` says the decision should go to a human (a refused FALLBACK or ROLLBACK, a
    fallback whose canary failed). ``costs`` are the measurements normalised to [0, 1], ready for
    ``CostModel.observe(action, **result.cost_terms())``.
    """

    action: Action
    model: str
    status: ExecutionStatus
    reasons: tuple[str, ...]
    arms: tuple[Arm, ...] | None = None
    candidate_version: int | None = None
    #: A RETRAIN run while the fallback served also refits the fallback: its new version.
    fallback_version: int | None = None
    canary: CanaryRun | None = None
    escalation_id: str | None = None
    escalate: bool = False
    decision_id: str | None = None
    measured: Measurement = field(default_factory=Measurement)
    costs: CostTerms = field(default_factory=lambda: CostTerms(0.0, 0.0, 0.0))

    @property
    def ok(self) -> bool:
        """True unless the action was refused or failed."""
        return self.status not in (ExecutionStatus.REFUSED, ExecutionStatus.FAILED)

    @property
    def cpu_seconds(self) -> float:
        return self.measured.cpu_seconds

    @property
    def traffic_exposed_percent(self) -> float:
        return self.measured.traffic_exposed_percent

    @property
    def minutes_degraded(self) -> float:
        return self.measured.minutes_degraded

    def cost_terms(self) -> dict[str, float]:
        """``{"compute": …, "risk": …, "downtime": …}``, for ``CostModel.observe``."""
        return {
            "compute": self.costs.compute,
            "risk": self.costs.risk,
            "downtime": self.costs.downtime,
        }

    def raise_for_status(self) -> ExecutionResult:
        """``self``, or :class:`~safeheal.errors.ActionRefused` if the action was refused."""
        if self.status is ExecutionStatus.REFUSED:
            raise ActionRefused(
                f"{self.action.name} of model {self.model!r} was refused: "
                + "; ".join(self.reasons)
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary, for the audit trail."""
        return {
            "action": self.action.name,
            "model": self.model,
            "status": self.status.value,
            "reasons": list(self.reasons),
            "arms": None if self.arms is None else [[a.version, a.weight] for a in self.arms],
            "candidate_version": self.candidate_version,
            "fallback_version": self.fallback_version,
            "canary_id": None if self.canary is None else self.canary.id,
            "escalation_id": self.escalation_id,
            "escalate": self.escalate,
            "decision_id": self.decision_id,
            "cpu_seconds": self.measured.cpu_seconds,
            "traffic_exposed_percent": self.measured.traffic_exposed_percent,
            "minutes_degraded": self.measured.minutes_degraded,
            "costs": self.cost_terms(),
        }


def make_result(
    ctx: ActionContext,
    status: ExecutionStatus,
    reasons: tuple[str, ...] | list[str],
    *,
    measured: Measurement | None = None,
    **kwargs: Any,
) -> ExecutionResult:
    """An :class:`ExecutionResult` for ``ctx``, with the router's current arms and the
    measurement normalised by the context's budgets."""
    m = measured if measured is not None else Measurement()
    kwargs.setdefault("arms", ctx.current_arms())
    return ExecutionResult(
        action=ctx.act,
        model=ctx.model,
        status=status,
        reasons=tuple(reasons),
        decision_id=ctx.decision_id,
        measured=m,
        costs=m.normalised(ctx.settings),
        **kwargs,
    )


def refused(ctx: ActionContext, why: str, meter: Meter | None = None) -> ExecutionResult:
    """The result of a refusal: nothing changed, and the decision should escalate."""
    m = Measurement(cpu_seconds=meter.cpu_seconds() if meter else 0.0)
    return make_result(ctx, ExecutionStatus.REFUSED, (why,), measured=m, escalate=True)


class MeteredExecutor:
    """Base of the built-in executors: runs :meth:`_run` with a cost :class:`Meter`, and turns an
    :class:`~safeheal.errors.ActionRefused` into a REFUSED result carrying the CPU time spent."""

    def execute(self, ctx: ActionContext) -> ExecutionResult:
        meter = Meter(ctx)
        try:
            return self._run(ctx, meter)
        except ActionRefused as refusal:
            return refused(ctx, str(refusal), meter)

    def _run(self, ctx: ActionContext, meter: Meter) -> ExecutionResult:
        raise NotImplementedError


# --- executors and their registry ---------------------------------------------------------------
@runtime_checkable
class Executor(Protocol):
    """Carries out one kind of action. Returns a result for every outcome it can foresee
    (refused, failed); raises :class:`~safeheal.errors.ActionRefused` to refuse (the
    :class:`ExecutorRegistry` turns it into a REFUSED result), and lets configuration errors
    (:class:`~safeheal.errors.ConfigError`) and an unreachable registry or store through."""

    def execute(self, ctx: ActionContext) -> ExecutionResult: ...


class ExecutorRegistry:
    """Which :class:`Executor` carries out which :class:`~safeheal.Action`: a table, so a newly
    registered action (e.g. ``RESTART_REPLICA``) plugs in its own executor without touching the
    others.

    >>> from safeheal.heal import default_executors
    >>> registry = default_executors()
    >>> [a.name for a in registry.actions()]
    ['NO_OP', 'FALLBACK', 'ROLLBACK', 'RETRAIN', 'ESCALATE']
    """

    def __init__(self, executors: Mapping[Action | str, Executor] | None = None) -> None:
        self._table: dict[Action, Executor] = {}
        for action, executor in (executors or {}).items():
            self.register(action, executor)

    def register(self, action: Action | str, executor: Executor, *, replace: bool = False) -> None:
        """Let ``executor`` carry out ``action``; ``replace`` to swap out an existing one."""
        a = Action(action)
        if not callable(getattr(executor, "execute", None)):
            raise ConfigError(
                f"the executor for {a.name} must have an execute(ctx) method; got {executor!r}"
            )
        if a in self._table and not replace:
            raise ConfigError(
                f"{a.name} already has an executor ({self._table[a]!r}); pass replace=True to "
                f"swap it"
            )
        self._table[a] = executor

    def get(self, action: Action | str) -> Executor:
        a = Action(action)
        try:
            return self._table[a]
        except KeyError:
            raise ConfigError(
                f"no executor is registered for {a.name}; register one with "
                f"ExecutorRegistry.register({a.name!r}, executor)"
            ) from None

    def __contains__(self, action: object) -> bool:
        return isinstance(action, Action | str) and Action(action) in self._table

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions())

    def actions(self) -> tuple[Action, ...]:
        """The actions with an executor, in registration order of the actions."""
        return tuple(a for a in Action.members() if a in self._table)

    def execute(self, ctx: ActionContext) -> ExecutionResult:
        """Carry out ``ctx``'s action with its executor; a refusal comes back as a result."""
        executor = self.get(ctx.act)
        try:
            return executor.execute(ctx)
        except ActionRefused as refusal:
            return refused(ctx, str(refusal))
