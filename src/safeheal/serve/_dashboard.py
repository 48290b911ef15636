"""What the dashboard at ``/ui`` shows, read from the store, the traffic table and the registry.

:class:`Dashboard` only reads: the models (zone, mode, served split, canary), each model's
windows (the State the controller recorded with each decision) and its recent decisions with
their reasons, the bandit's posteriors, and the escalations waiting for a human. It answers with
the pydantic models below, which are also the JSON the page polls (and document the OpenAPI
schema). The store reaches it through :class:`DashboardStore`, a Protocol that
:class:`~safeheal.store.SqlStore` implements: ``serve`` does not import ``store``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from safeheal.core.action import Action
from safeheal.core.decision import Decision, Outcome, Posterior
from safeheal.core.records import CanaryRecord, Escalation
from safeheal.errors import ConfigError, DataError, ModelNotFoundError, SafehealError
from safeheal.heal import CanaryState, ModelRegistry
from safeheal.policy import SLAGuard
from safeheal.serve._protocols import TrafficTable

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

__all__ = ["Dashboard", "DashboardStore"]

_log = logging.getLogger("safeheal.serve")

#: Most windows and decisions one request may ask for.
MAX_WINDOWS = 2_000
MAX_DECISIONS = 200


class IntentLike(Protocol):
    """An action the controller meant to take (:class:`~safeheal.store.IntentRecord`)."""

    @property
    def decision_id(self) -> str | None: ...

    @property
    def action(self) -> str: ...

    @property
    def status(self) -> str: ...


@runtime_checkable
class DashboardStore(Protocol):
    """What the dashboard reads from a store (:class:`~safeheal.store.SqlStore` is one)."""

    def models(self) -> list[str]: ...

    def decisions(
        self, model: str | None = None, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Decision]: ...

    def outcomes(self, decision_ids: Iterable[str]) -> dict[str, Outcome]: ...

    def canaries(self, model: str, *, limit: int | None = None) -> list[CanaryRecord]: ...

    def active_canaries(self, model: str | None = None) -> list[CanaryRecord]: ...

    def pending_escalations(self, model: str | None = None) -> list[Escalation]: ...

    def load_posteriors(self) -> list[Posterior]: ...

    def intents(self, model: str | None = None) -> Sequence[IntentLike]: ...


# --- the JSON shapes ----------------------------------------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class SplitArm(_Out):
    version: int
    weight: float = Field(description="Share of the model's traffic, in percent.")


class CanaryProgress(_Out):
    """One canary: who it deploys, where it is in its plan, and why."""

    canary_id: str
    action: str = Field(description="The action that started it (RETRAIN, FALLBACK).")
    candidate_version: int
    incumbent_version: int | None
    phase: str = Field(description="pending, progressing, paused, promoted or aborted.")
    weight: float = Field(description="The candidate's share of traffic, in percent.")
    step: int = Field(description="Steps of the plan done.")
    steps: int = Field(description="Steps in the plan (0 when the plan cannot be read).")
    checks: int
    failed_checks: int
    reasons: list[str] = Field(description="Every transition so far, in plain words.")
    started_at: datetime
    updated_at: datetime


class ModelSummary(_Out):
    """One model as the list shows it."""

    name: str
    served: bool = Field(description="Whether this gateway serves the model.")
    mode: str | None = Field(description="shadow, canary or autonomous; None when unknown.")
    zone: str | None = Field(description="The envelope zone of the last decision.")
    last_action: str | None
    last_decision_at: datetime | None
    split: list[SplitArm] = Field(description="The traffic split the gateway routes by.")
    canary: CanaryProgress | None = Field(description="The running canary, if any.")
    pending_escalations: int


class ModelList(_Out):
    generated_at: datetime
    models: list[ModelSummary]


class Window(_Out):
    """The State of one window, as recorded with the window's decision."""

    at: datetime
    drift: float = Field(description="d: largest KS statistic among drifted features.")
    accuracy_drop: float = Field(description="a: baseline accuracy minus current accuracy.")
    anomaly_rate: float = Field(description="ρ: share of anomalous inputs.")
    latency_ratio: float = Field(description="p95 latency / latency SLO.")
    error_rate: float
    sla_score: float = Field(
        description="The SLA score of the window as served (0.4·availability + 0.4·accuracy + "
        "0.2·latency, the SLA guard's prediction for NO_OP)."
    )
    zone: str
    action: str
    decision_id: str


class Thresholds(_Out):
    """The lines the plots draw: the envelope's critical thresholds and the SLA threshold."""

    drift: float
    accuracy_drop: float
    anomaly_rate: float
    latency_ratio: float
    error_rate: float
    sla: float


class DecisionItem(_Out):
    id: str
    at: datetime
    zone: str
    action: str
    source: str = Field(description="envelope, bandit or fallback-of-last-resort.")
    context: str
    reasons: list[str] = Field(description="The verdict's and the policy's reasons, in order.")
    carried_out: list[str] = Field(
        description="What the controller carried out for this decision, with how far it got "
        "(e.g. `ESCALATE: done`); empty when it acted on nothing (a NO_OP, shadow mode, a "
        "human still to answer, the action already in effect)."
    )
    held_by: str | None = Field(
        description="What held a decision that was not carried out back, in plain words: a "
        "pending escalation (the controller takes no action while one waits for a human) or a "
        "canary that was running (no new action until it ends)."
    )
    outcome: Literal["succeeded", "failed"] | None = Field(
        description="The heal's outcome once known."
    )
    explain: str = Field(description="The command that explains the decision in full.")


class ModelDetail(_Out):
    generated_at: datetime
    summary: ModelSummary
    roles: dict[str, int] = Field(description="Registry roles: champion, challenger, fallback.")
    thresholds: Thresholds
    windows: list[Window] = Field(description="Oldest first.")
    decisions: list[DecisionItem] = Field(description="Newest first.")
    canaries: list[CanaryProgress] = Field(description="The model's recent canaries, newest first.")


class PosteriorAction(_Out):
    action: str
    alpha: float
    beta: float
    mean: float = Field(description="α / (α + β): the expected chance of success.")
    low: float = Field(description="2.5 % quantile of Beta(α, β).")
    high: float = Field(description="97.5 % quantile of Beta(α, β).")


class PosteriorContext(_Out):
    context: str = Field(description="The bandit's context bucket: zone/severity.")
    actions: list[PosteriorAction]


class PosteriorList(_Out):
    generated_at: datetime
    contexts: list[PosteriorContext]


class EscalationItem(_Out):
    id: str
    model: str
    decision_id: str | None
    created_at: datetime
    reasons: list[str]
    meanwhile: str | None = Field(description="What the service runs on while it waits.")
    approve: str = Field(description="The command that approves it.")


class EscalationList(_Out):
    generated_at: datetime
    escalations: list[EscalationItem]


# --- reading ------------------------------------------------------------------------------------
def _utc_now() -> datetime:
    return datetime.now(UTC)


def _progress(record: CanaryRecord) -> CanaryProgress:
    """A stored canary as progress; a state this safeheal cannot read still shows its phase."""
    raw = record.state
    try:
        state = CanaryState.from_dict(raw)
        step, steps = state.step_index, len(state.plan.steps)
        weight, checks, failed = state.weight, state.checks, state.failed_checks
        reasons = list(state.reasons)
    except (DataError, ConfigError, KeyError, TypeError, ValueError):
        w = raw.get("weight", 0.0)
        weight = float(w) if isinstance(w, int | float) and not isinstance(w, bool) else 0.0
        step, steps, checks, failed = 0, 0, 0, 0
        reasons = ["the stored canary state cannot be read by this safeheal"]
    return CanaryProgress(
        canary_id=record.id,
        action=record.action,
        candidate_version=record.candidate_version,
        incumbent_version=record.incumbent_version,
        phase=record.phase,
        weight=weight,
        step=step,
        steps=steps,
        checks=checks,
        failed_checks=failed,
        reasons=reasons,
        started_at=record.started_at,
        updated_at=record.updated_at,
    )


def beta_interval(alpha: float, beta: float, level: float = 0.95) -> tuple[float, float]:
    """The equal-tailed ``level`` interval of Beta(alpha, beta).

    >>> [round(x, 4) for x in beta_interval(1.0, 1.0)]
    [0.025, 0.975]
    """
    from scipy.special import betaincinv

    tail = (1.0 - level) / 2.0
    return float(betaincinv(alpha, beta, tail)), float(betaincinv(alpha, beta, 1.0 - tail))


def _reasons(decision: Decision) -> list[str]:
    out = list(decision.verdict.reasons)
    out.extend(r for r in decision.reasons if r not in out)
    return out


def _escalation(e: Escalation) -> EscalationItem:
    reasons = e.payload.get("reasons")
    meanwhile = e.payload.get("meanwhile")
    what = meanwhile.get("what") if isinstance(meanwhile, Mapping) else meanwhile
    return EscalationItem(
        id=e.id,
        model=e.model,
        decision_id=e.decision_id,
        created_at=e.created_at,
        reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
        meanwhile=None if what is None else str(what),
        approve=f"safeheal approve {e.id}",
    )


def _held_by(
    d: Decision, pending: Sequence[Escalation], canaries: Sequence[CanaryRecord]
) -> str | None:
    """Why ``d`` was not carried out, when the store shows it: an escalation raised before it
    still waits for a human, or another decision's canary was running when it was made."""
    for e in pending:
        if e.created_at < d.at:
            return f"escalation {e.id} waits for a human"
    final = ("promoted", "aborted")
    for c in canaries:
        running = c.phase not in final or c.updated_at > d.at
        if c.decision_id != d.id and c.started_at < d.at and running:
            return f"canary {c.id} was running"
    return None


class Dashboard:
    """Reads what the dashboard shows. ``config`` gives the models' controller modes, the
    thresholds the plots draw and the SLA weights (the paper's defaults without it);
    ``registry`` (optional) the roles of a model's versions; ``clock`` stamps the answers.

    Every method only reads. :meth:`model` raises :class:`~safeheal.errors.ModelNotFoundError`
    for a model that is neither served, nor in the store, nor configured.
    """

    def __init__(
        self,
        *,
        store: DashboardStore,
        traffic: TrafficTable,
        registry: ModelRegistry | None = None,
        config: SafehealConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from safeheal.config import SafehealConfig

        self.store = store
        self.traffic = traffic
        self.registry = registry
        self.config = config if config is not None else SafehealConfig()
        self._guard = SLAGuard.from_config(self.config)
        self._clock = clock or _utc_now

    def __repr__(self) -> str:
        return f"Dashboard(store={self.store!r})"

    def _mode(self, model: str) -> str:
        c = self.config.control
        return c.models[model].mode if model in c.models else c.default_mode

    def names(self) -> list[str]:
        """Every model to show: served, in the store, or configured for the controller."""
        served = set(self.traffic.models())
        return sorted(served | set(self.store.models()) | set(self.config.control.models))

    def _summary(self, name: str, last: Decision | None) -> ModelSummary:
        arms = self.traffic.arms(name)
        running = self.store.active_canaries(name)
        return ModelSummary(
            name=name,
            served=arms is not None,
            mode=self._mode(name),
            zone=None if last is None else last.verdict.zone,
            last_action=None if last is None else last.action.name,
            last_decision_at=None if last is None else last.at,
            split=[SplitArm(version=a.version, weight=a.weight) for a in arms or ()],
            canary=_progress(running[-1]) if running else None,
            pending_escalations=len(self.store.pending_escalations(name)),
        )

    def models(self) -> ModelList:
        """The list: every model's zone, mode, split, canary and pending escalations."""
        out = []
        for name in self.names():
            last = self.store.decisions(name, limit=1)
            out.append(self._summary(name, last[-1] if last else None))
        return ModelList(generated_at=self._clock(), models=out)

    def _roles(self, name: str) -> dict[str, int]:
        if self.registry is None:
            return {}
        try:
            return {str(r): int(v) for r, v in self.registry.roles(name).items()}
        except SafehealError as exc:  # not registered, or the registry is down: show no roles
            _log.debug("dashboard: no registry roles for %r: %s", name, exc)
            return {}

    def thresholds(self) -> Thresholds:
        t = self.config.envelope.thresholds
        return Thresholds(
            drift=t.fallback_drift,
            accuracy_drop=t.fallback_accuracy_drop,
            anomaly_rate=t.fallback_anomaly_rate,
            latency_ratio=t.slo_latency_ratio,
            error_rate=t.slo_error_rate,
            sla=self.config.sla.threshold,
        )

    def _window(self, d: Decision) -> Window:
        s = d.state
        return Window(
            at=d.at,
            drift=s.drift,
            accuracy_drop=s.accuracy_drop,
            anomaly_rate=s.anomaly_rate,
            latency_ratio=s.latency_ratio,
            error_rate=s.error_rate,
            sla_score=self._guard.score(s, Action.NO_OP),
            zone=d.verdict.zone,
            action=d.action.name,
            decision_id=d.id,
        )

    def model(self, name: str, *, windows: int = 200, decisions: int = 20) -> ModelDetail:
        """One model: its last ``windows`` windows, its last ``decisions`` decisions with their
        reasons and outcomes, its roles and its recent canaries."""
        if name not in self.names():
            shown = ", ".join(self.names()) or "none yet"
            raise ModelNotFoundError(f"no model named {name!r} is known; known models: {shown}")
        recent = self.store.decisions(name, limit=max(windows, decisions))
        shown_decisions = list(reversed(recent[-decisions:]))
        done = self.store.outcomes(d.id for d in shown_decisions)
        shown_ids = {d.id for d in shown_decisions}
        acted: dict[str, list[str]] = {}
        for intent in self.store.intents(name):
            if intent.decision_id in shown_ids:
                acted.setdefault(intent.decision_id, []).append(f"{intent.action}: {intent.status}")
        pending = self.store.pending_escalations(name)
        canaries = self.store.canaries(name, limit=5)
        items = []
        for d in shown_decisions:
            o = done.get(d.id)
            held = None
            if d.id not in acted and d.action is not Action.NO_OP:
                held = _held_by(d, pending, canaries)
            items.append(
                DecisionItem(
                    id=d.id,
                    at=d.at,
                    zone=d.verdict.zone,
                    action=d.action.name,
                    source=d.source,
                    context=d.context,
                    reasons=_reasons(d),
                    carried_out=acted.get(d.id, []),
                    held_by=held,
                    outcome=None if o is None else ("succeeded" if o.success else "failed"),
                    explain=f"safeheal explain {d.id}",
                )
            )
        return ModelDetail(
            generated_at=self._clock(),
            summary=self._summary(name, recent[-1] if recent else None),
            roles=self._roles(name),
            thresholds=self.thresholds(),
            windows=[self._window(d) for d in recent[-windows:]],
            decisions=items,
            canaries=[_progress(c) for c in reversed(canaries)],
        )

    def posteriors(self) -> PosteriorList:
        """The bandit's Beta posteriors, per context and action: mean and 95 % interval."""
        by_context: dict[str, list[PosteriorAction]] = {}
        for p in self.store.load_posteriors():
            low, high = beta_interval(p.alpha, p.beta)
            by_context.setdefault(p.context, []).append(
                PosteriorAction(
                    action=p.action,
                    alpha=p.alpha,
                    beta=p.beta,
                    mean=p.alpha / (p.alpha + p.beta),
                    low=low,
                    high=high,
                )
            )
        return PosteriorList(
            generated_at=self._clock(),
            contexts=[PosteriorContext(context=c, actions=a) for c, a in by_context.items()],
        )

    def escalations(self) -> EscalationList:
        """Escalations waiting for a human, oldest first, each with the command to approve."""
        pending: Sequence[Escalation] = self.store.pending_escalations()
        return EscalationList(
            generated_at=self._clock(), escalations=[_escalation(e) for e in pending]
        )
