"""The paper's five actions as executors: NO_OP, FALLBACK, ROLLBACK, RETRAIN, ESCALATE.

Each reads the model's roles from the :class:`~safeheal.heal.ModelRegistry`, moves traffic through
the :class:`~safeheal.heal.TrafficRouter`, and reports an
:class:`~safeheal.heal.ExecutionResult`. RETRAIN lives in its own module.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from safeheal.core.action import Action
from safeheal.core.records import Escalation
from safeheal.errors import ActionRefused, ConfigError, NotifyError
from safeheal.heal._deploy import canary_plan, start_canary
from safeheal.heal._execution import (
    ActionContext,
    EscalationStore,
    ExecutionResult,
    ExecutionStatus,
    ExecutorRegistry,
    Measurement,
    Meter,
    MeteredExecutor,
    make_result,
)
from safeheal.heal._registry import ModelVersion
from safeheal.heal._retrain import RetrainExecutor, resolve_training_function
from safeheal.heal._routing import Arm, Notifier, WebhookNotifier

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

__all__ = [
    "EscalateExecutor",
    "FallbackExecutor",
    "NoOpExecutor",
    "RollbackExecutor",
    "approve",
    "default_executors",
]


def _exposure(version: ModelVersion, weight: float) -> float:
    """Traffic put on a version nobody validated: all of ``weight`` unless it is marked healthy."""
    return 0.0 if version.health == "healthy" else weight


class NoOpExecutor:
    """NO_OP: changes nothing, costs nothing."""

    def __repr__(self) -> str:
        return "NoOpExecutor()"

    def execute(self, ctx: ActionContext) -> ExecutionResult:
        return make_result(ctx, ExecutionStatus.DONE, ("no action taken",))


class FallbackExecutor(MeteredExecutor):
    """FALLBACK: send the traffic to the version holding the ``fallback`` role.

    ``[fallback] plan = "immediate"`` (the default) routes 100% at once; ``"canary"`` deploys it
    by the ``[canary]`` plan, as the paper does. Refused, with the decision to escalate, when no
    fallback is registered or the fallback is marked unhealthy. The champion keeps its role: the
    fallback serves in its place until a heal (or a human) moves traffic back.
    """

    def __repr__(self) -> str:
        return "FallbackExecutor()"

    def _run(self, ctx: ActionContext, meter: Meter) -> ExecutionResult:
        name = ctx.model
        fallback = ctx.registry.get_role(name, "fallback")
        if fallback is None:
            raise ActionRefused(
                f"model {name!r} has no fallback registered; the decision must escalate"
            )
        if fallback.health == "unhealthy":
            why = fallback.tags.get("safeheal.health.reason", "")
            raise ActionRefused(
                f"the fallback of model {name!r} (version {fallback.version}) is marked "
                f"unhealthy ({why}); the decision must escalate"
            )
        v = fallback.version
        if ctx.current_arms() == (Arm(v, 100.0),):
            return make_result(
                ctx,
                ExecutionStatus.DONE,
                (f"the fallback (version {v}) already serves 100% of the traffic",),
                measured=Measurement(meter.cpu_seconds(), 0.0, meter.minutes()),
            )
        incumbent = ctx.serving_version()
        if ctx.settings.fallback.plan == "canary" and incumbent is not None and incumbent != v:
            if ctx.canaries is not None and ctx.canaries.active_canaries(name):
                raise ActionRefused(f"a canary of model {name!r} is still running; finish it first")
            run = start_canary(ctx, v, incumbent, canary_plan(ctx.settings))
            m = Measurement(
                meter.cpu_seconds(), _exposure(fallback, run.state.weight), meter.minutes()
            )
            return make_result(
                ctx,
                ExecutionStatus.CANARY_STARTED,
                (
                    ctx.reason("fallback"),
                    f"canary {run.id} sends the fallback (version {v}) {run.state.weight:g}% of "
                    f"the traffic against version {incumbent}",
                ),
                measured=m,
                arms=run.arms(),
                candidate_version=v,
                canary=run,
            )
        arms = ctx.route((Arm(v, 100.0),))
        m = Measurement(meter.cpu_seconds(), _exposure(fallback, 100.0), meter.minutes())
        return make_result(
            ctx,
            ExecutionStatus.DONE,
            (ctx.reason("fallback"), f"the fallback (version {v}) serves 100% of the traffic"),
            measured=m,
            arms=arms,
            candidate_version=v,
        )


class RollbackExecutor(MeteredExecutor):
    """ROLLBACK: move ``champion`` back to the last known-good version and send it all traffic.

    The last known-good version is the newest marked healthy (and not since marked unhealthy)
    other than the current champion; a version marked unhealthy is never a target. The failing
    champion is marked unhealthy with the decision's reasons. Refused, with the decision to
    escalate, when there is no such version.
    """

    def __repr__(self) -> str:
        return "RollbackExecutor()"

    def _run(self, ctx: ActionContext, meter: Meter) -> ExecutionResult:
        name, registry = ctx.model, ctx.registry
        champion = registry.get_role(name, "champion")
        target = registry.last_known_good(name)
        if target is None or target.health != "healthy":
            raise ActionRefused(
                f"model {name!r} has no last known-good version to roll back to (none other "
                f"than the champion is marked healthy); the decision must escalate"
            )
        v = target.version
        why = ctx.reason("rolled back")
        arms = ctx.route((Arm(v, 100.0),))
        registry.set_role(name, "champion", v, reason=f"rollback: {why}", actor=ctx.actor)
        reasons = [why]
        if champion is not None and champion.version != v:
            registry.mark_unhealthy(name, champion.version, f"rolled back: {why}")
            reasons.append(
                f"champion version {champion.version} marked unhealthy; rolled back to version "
                f"{v}, the last known good, which serves 100% of the traffic"
            )
        else:
            reasons.append(f"version {v}, the last known good, serves 100% of the traffic")
        m = Measurement(meter.cpu_seconds(), _exposure(target, 100.0), meter.minutes())
        return make_result(
            ctx, ExecutionStatus.DONE, reasons, measured=m, arms=arms, candidate_version=v
        )


class EscalateExecutor:
    """ESCALATE: ask a human, and keep the service on its safest model meanwhile.

    1. Route 100% to the safest available model: the fallback if registered and not marked
       unhealthy, else the last known-good version, else leave the traffic as it is.
    2. POST a JSON payload (escalation id, model, decision id, state, reasons, what the service
       is on meanwhile) to the notifier: the context's, else ``[escalation] webhook_url``.
       A notifier that fails (whatever it raises) is recorded (``notify_error``), never raised.
    3. Record the escalation, ``pending``, in the context's escalation store (required). A human
       answers it with :func:`approve`.
    """

    def __repr__(self) -> str:
        return "EscalateExecutor()"

    def execute(self, ctx: ActionContext) -> ExecutionResult:
        meter = Meter(ctx)
        store = ctx.escalations
        if store is None:
            raise ConfigError(
                "ESCALATE needs an escalation store in the ActionContext (`escalations=`), so "
                "that a human's answer can be recorded"
            )
        now = ctx.time()
        escalation_id = f"esc-{uuid.uuid4().hex[:16]}"
        serving, words, exposure = self._safest(ctx)
        state = None if ctx.decision is None else ctx.decision.to_dict()["state"]
        arms = ctx.current_arms()
        payload: dict[str, Any] = {
            "kind": "safeheal.escalation",
            "escalation_id": escalation_id,
            "model": ctx.model,
            "decision_id": ctx.decision_id,
            "zone": None if ctx.decision is None else ctx.decision.verdict.zone,
            "state": state,
            "reasons": [] if ctx.decision is None else list(ctx.decision.reasons),
            "meanwhile": {
                "version": serving,
                "what": words,
                "arms": None if arms is None else [[a.version, a.weight] for a in arms],
            },
            "created_at": now.isoformat(),
        }
        notifier = ctx.notifier or _webhook(ctx)
        notify_error: str | None = None
        if notifier is None:
            notify_error = "no notifier: `escalation.webhook_url` is not configured"
        else:
            try:
                notifier.notify(payload)
            except NotifyError as exc:
                notify_error = str(exc)
            except Exception as exc:  # a notifier breaking its contract must not lose the record
                notify_error = f"the notifier {notifier!r} failed: {type(exc).__name__}: {exc}"
        store.record_escalation(
            Escalation(
                id=escalation_id,
                model=ctx.model,
                decision_id=ctx.decision_id,
                status="pending",
                created_at=now,
                payload=payload,
                notify_error=notify_error,
            )
        )
        told = (
            "a human was notified" if notify_error is None else f"nobody was told: {notify_error}"
        )
        reasons = (
            ctx.reason("escalated"),
            f"escalation {escalation_id} is pending approval; {told}",
            f"meanwhile the service is on {words}",
        )
        m = Measurement(meter.cpu_seconds(), exposure, meter.minutes())
        return make_result(
            ctx,
            ExecutionStatus.PENDING_APPROVAL,
            reasons,
            measured=m,
            arms=arms,
            escalation_id=escalation_id,
            candidate_version=serving,
        )

    @staticmethod
    def _safest(ctx: ActionContext) -> tuple[int | None, str, float]:
        name, registry = ctx.model, ctx.registry
        fallback = registry.get_role(name, "fallback")
        if fallback is not None and fallback.health != "unhealthy":
            ctx.route((Arm(fallback.version, 100.0),))
            words = f"the fallback, version {fallback.version} (100% of the traffic)"
            return fallback.version, words, _exposure(fallback, 100.0)
        good = registry.last_known_good(name)
        if good is not None:
            ctx.route((Arm(good.version, 100.0),))
            words = f"the last known-good version {good.version} (100% of the traffic)"
            return good.version, words, 0.0
        serving = ctx.serving_version()
        return serving, f"what it served before (version {serving}): no safer model exists", 0.0


def _webhook(ctx: ActionContext) -> Notifier | None:
    e = ctx.settings.escalation
    if e.webhook_url is None:
        return None
    return WebhookNotifier(e.webhook_url, timeout_seconds=e.timeout_seconds)


def approve(
    escalations: EscalationStore,
    escalation_id: str,
    *,
    actor: str,
    decision: Literal["approve", "reject"] = "approve",
    note: str = "",
    now: datetime,
) -> Escalation:
    """Record a human's answer to an escalation and return it as it now stands.

    ``decision`` is ``"approve"`` or ``"reject"``. An unknown id raises
    :class:`~safeheal.errors.UnknownEscalationError`; the same answer twice changes nothing; a
    different answer to an answered escalation raises
    :class:`~safeheal.errors.EscalationClosedError`.
    """
    status: Literal["approved", "rejected"]
    if decision == "approve":
        status = "approved"
    elif decision == "reject":
        status = "rejected"
    else:
        raise ConfigError(
            f'an answer to an escalation must be "approve" or "reject"; got {decision!r}'
        )
    if not isinstance(actor, str) or not actor.strip():
        raise ConfigError(
            f"an answer to an escalation needs the name of who gave it; got {actor!r}"
        )
    return escalations.answer_escalation(
        escalation_id, status=status, actor=actor, note=note, at=now
    )


def default_executors(config: SafehealConfig | None = None) -> ExecutorRegistry:
    """An :class:`~safeheal.heal.ExecutorRegistry` with the paper's five actions.

    With ``config``, a configured training function is resolved now, so that a bad
    ``retrain.training_function`` fails at start-up with a ConfigError rather than at the first
    retrain.
    """
    if config is not None and config.retrain.training_function:
        resolve_training_function(config.retrain.training_function)
    return ExecutorRegistry(
        {
            Action.NO_OP: NoOpExecutor(),
            Action.FALLBACK: FallbackExecutor(),
            Action.ROLLBACK: RollbackExecutor(),
            Action.RETRAIN: RetrainExecutor(),
            Action.ESCALATE: EscalateExecutor(),
        }
    )
