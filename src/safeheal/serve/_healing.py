"""The admin API for real: promote, rollback and approve through the registry, the traffic table
and the store, with the healing layer's own semantics.

The gateway only serves; the admin API is how a human acts on it. :class:`HealingAdmin` carries
a human's action out with ``safeheal.heal`` (the registry's roles, the ROLLBACK executor, the
canary state machine, :func:`~safeheal.heal.approve`), so that a promotion by hand and one by a
canary leave the same trail. :func:`traffic_from_registry` builds the traffic table a gateway
starts with: the champions, and the split of every canary still running (a gateway restarted
mid-canary routes exactly as before). :func:`shared_traffic` keeps that table in the store
instead, so a gateway and controllers in other processes share it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from safeheal.core.action import Action
from safeheal.core.records import CanaryRecord, Escalation
from safeheal.errors import (
    AdminConflictError,
    ConfigError,
    DataError,
    ModelNotFoundError,
    UnknownModelError,
)
from safeheal.heal import (
    ActionContext,
    CanaryRun,
    CanaryStore,
    EscalationStore,
    ExecutionStatus,
    ModelRegistry,
    RollbackExecutor,
    SharedRouter,
    SplitStore,
    StoredSplit,
    abort,
    approve,
    finish_canary,
    promote,
)
from safeheal.serve._protocols import (
    CanaryStatus,
    EscalationStatus,
    ModelSource,
    ModelStatus,
    RoleRegistry,
    TrafficTable,
)
from safeheal.serve._traffic import InMemoryTrafficTable

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

__all__ = [
    "HealingAdmin",
    "HealingStore",
    "TrafficStore",
    "shared_traffic",
    "traffic_from_registry",
]

_log = logging.getLogger("safeheal.serve")


@runtime_checkable
class HealingStore(CanaryStore, EscalationStore, Protocol):
    """What :class:`HealingAdmin` needs of a store: canaries and escalations
    (:class:`~safeheal.store.SqlStore` is one)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _canary_status(record: CanaryRecord) -> CanaryStatus:
    weight = record.state.get("weight", 0.0)
    return CanaryStatus(
        canary_id=record.id,
        action=record.action,
        candidate_version=record.candidate_version,
        incumbent_version=record.incumbent_version,
        phase=record.phase,
        weight=float(weight) if isinstance(weight, int | float) else 0.0,
        started_at=record.started_at,
        updated_at=record.updated_at,
    )


def _escalation_status(e: Escalation) -> EscalationStatus:
    if e.is_open:
        reasons = e.payload.get("reasons") or []
        meanwhile = (e.payload.get("meanwhile") or {}).get("what")
        parts = [str(r) for r in reasons] if isinstance(reasons, list) else []
        if meanwhile:
            parts.append(f"meanwhile the service is on {meanwhile}")
        detail = "; ".join(parts)
    else:
        detail = f"{e.status} by {e.actor} at {e.answered_at:%Y-%m-%d %H:%M:%S %Z}"
        if e.note:
            detail += f": {e.note}"
    return EscalationStatus(
        escalation_id=e.id,
        status=e.status,
        detail=detail,
        model=e.model,
        created_at=e.created_at,
    )


class HealingAdmin:
    """:class:`~safeheal.serve.AdminActions` over the model registry, the gateway's traffic table
    and the store of canaries and escalations.

    - **status**: every served model's arms, registry roles, running canaries and pending
      escalations, and whether a rollback has somewhere to go.
    - **promote** ``version``: refused (409) if the version is marked unhealthy, 404 if the
      registry has no such version; checked to load (through ``models``, when given); a running
      canary of the model ends (promoted by hand if ``version`` is its candidate, else aborted,
      without judging its candidate); ``version`` becomes ``champion`` (and leaves
      ``challenger``), the move recorded with the actor and the reason; then it takes 100% of
      the traffic.
    - **rollback**: a running canary is aborted and finished
      (:func:`~safeheal.heal.finish_canary`: traffic back to the incumbent, the candidate marked
      unhealthy). Otherwise the ROLLBACK executor runs: ``champion`` moves to the last
      known-good version (never one marked unhealthy), which takes 100% of the traffic, and the
      failing champion is marked unhealthy; with no such version, 409 and nothing changes.
    - **approve**: records the approval with :func:`~safeheal.heal.approve` (404 for an unknown
      id, 409 if it was already rejected; approving twice changes nothing). What an approval
      lets happen next is the controller's business.

    ``clock`` stamps role moves, canary states and answers (the controller's, possibly
    accelerated, clock); ``actor`` names who acted in the trail.
    """

    def __init__(
        self,
        *,
        registry: ModelRegistry,
        traffic: TrafficTable,
        store: HealingStore,
        models: ModelSource | None = None,
        clock: Callable[[], datetime] | None = None,
        config: SafehealConfig | None = None,
        actor: str = "admin",
    ) -> None:
        if not isinstance(actor, str) or not actor.strip():
            raise ConfigError(
                f"the `actor` parameter of HealingAdmin must be a non-empty string; got {actor!r}"
            )
        self.registry = registry
        self.traffic = traffic
        self.store = store
        self._models = models
        self._clock = clock or _utc_now
        self._config = config
        self.actor = actor
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HealingAdmin(registry={self.registry!r}, store={self.store!r})"

    # -- reading ---------------------------------------------------------------------------------

    def _served(self, model: str) -> None:
        if self.traffic.arms(model) is None:
            served = ", ".join(self.traffic.models()) or "none"
            raise ModelNotFoundError(f"no model named {model!r} is served; served: {served}")

    def _status(self, model: str) -> ModelStatus:
        arms = self.traffic.arms(model) or ()
        roles: dict[str, int] = {str(r): v for r, v in self.registry.roles(model).items()}
        canaries = tuple(_canary_status(r) for r in self.store.active_canaries(model))
        good = self.registry.last_known_good(model)
        return ModelStatus(
            model=model,
            arms=tuple(arms),
            roles=roles,
            rollback_available=bool(canaries) or good is not None,
            canaries=canaries,
            escalations=tuple(_escalation_status(e) for e in self.store.pending_escalations(model)),
        )

    def status(self) -> Sequence[ModelStatus]:
        with self._lock:
            return [self._status(m) for m in self.traffic.models()]

    def _active(self, model: str) -> list[CanaryRun]:
        runs = []
        for record in self.store.active_canaries(model):
            try:
                runs.append(CanaryRun.from_record(record))
            except (DataError, ConfigError) as exc:
                raise AdminConflictError(
                    f"canary {record.id!r} of model {model!r} is stored in a form this safeheal "
                    f"cannot read ({exc}); resolve it in the store before acting by hand"
                ) from None
        return runs

    # -- acting ----------------------------------------------------------------------------------

    def promote(self, model: str, version: int, *, reason: str) -> ModelStatus:
        with self._lock:
            self._served(model)
            try:
                target = self.registry.get(model, version)
            except UnknownModelError as exc:
                raise ModelNotFoundError(
                    f"version {version} of model {model!r} is not in the registry: {exc}"
                ) from exc
            if target.health == "unhealthy":
                why = target.tags.get("safeheal.health.reason", "")
                raise AdminConflictError(
                    f"version {version} of model {model!r} is marked unhealthy ({why}); it is "
                    f"not promoted. Mark it healthy in the registry first if it is fixed"
                )
            if self._models is not None:
                self._models.load(model, version)  # a version that cannot serve moves nothing
            now = self._clock()
            for run in self._active(model):
                if run.candidate_version == version:
                    state = promote(run.state, now, f"by {self.actor}: {reason}")
                else:
                    state = abort(
                        run.state, now, f"{self.actor} promoted version {version}: {reason}"
                    )
                self.store.save_canary(replace(run, state=state).to_record(now))
            self.registry.set_role(model, "champion", version, reason=reason, actor=self.actor)
            if self.registry.roles(model).get("challenger") == version:
                self.registry.clear_role(
                    model,
                    "challenger",
                    reason=f"promoted to champion by {self.actor}: {reason}",
                    actor=self.actor,
                )
            self.traffic.set_arms(model, [(version, 100.0)])
            _log.info("%s promoted version %d of %r: %s", self.actor, version, model, reason)
            return self._status(model)

    def rollback(self, model: str, *, reason: str) -> ModelStatus:
        with self._lock:
            self._served(model)
            now = self._clock()
            active = self._active(model)
            for run in active:
                aborted = replace(
                    run, state=abort(run.state, now, f"rolled back by {self.actor}: {reason}")
                )
                finish_canary(
                    aborted,
                    registry=self.registry,
                    router=self.traffic,
                    now=now,
                    config=self._config,
                    canaries=self.store,
                    actor=self.actor,
                )
            if not active:
                ctx = ActionContext(
                    model=model,
                    registry=self.registry,
                    router=self.traffic,
                    now=now,
                    action=Action.ROLLBACK,
                    config=self._config,
                    actor=self.actor,
                    note=reason,
                )
                result = RollbackExecutor().execute(ctx)
                if result.status is not ExecutionStatus.DONE:
                    raise AdminConflictError("; ".join(result.reasons))
            _log.info("%s rolled %r back: %s", self.actor, model, reason)
            return self._status(model)

    def approve(self, escalation_id: str, *, note: str) -> EscalationStatus:
        answered = approve(
            self.store, escalation_id, actor=self.actor, note=note, now=self._clock()
        )
        return _escalation_status(answered)


def traffic_from_registry(
    registry: RoleRegistry,
    models: Sequence[str],
    *,
    canaries: CanaryStore | None = None,
) -> InMemoryTrafficTable:
    """The traffic table a gateway starts with: each model's ``champion`` with all its traffic,
    except where a canary of the model is still running in ``canaries``: then the canary's split
    (the candidate at the canary's weight, the incumbent the rest), exactly as before a restart.

    A stored canary that cannot be read routes its incumbent alone (the safe side) and is logged.
    A model that is not registered raises :class:`~safeheal.errors.UnknownModelError`; one with
    neither a champion nor a running canary, a :class:`~safeheal.errors.ConfigError`.
    """
    if not models:
        raise ConfigError("the gateway needs at least one model to serve; got none")
    table = InMemoryTrafficTable()
    for name in models:
        try:
            holder = registry.get_role(name, "champion")
        except UnknownModelError as exc:
            raise UnknownModelError(
                f"model {name!r} is not in the model registry {registry!r}; register it "
                f"first ({exc})"
            ) from exc
        active = canaries.active_canaries(name) if canaries is not None else []
        if active:
            record = active[-1]  # the newest, should there ever be several
            try:
                table.set_arms(name, CanaryRun.from_record(record).arms())
                continue
            except (DataError, ConfigError) as exc:
                _log.error(
                    "canary %r of %r cannot be read (%s); routing its incumbent",
                    record.id,
                    name,
                    exc,
                )
                if record.incumbent_version is not None:
                    table.set_arms(name, [(record.incumbent_version, 100.0)])
                    continue
        if holder is None:
            raise ConfigError(f"model {name!r} has no champion version in the registry to serve")
        table.set_arms(name, [(int(holder.version), 100.0)])
    return table


@runtime_checkable
class TrafficStore(CanaryStore, SplitStore, Protocol):
    """A store that keeps canaries and traffic splits (``safeheal.store.SqlStore``)."""

    def init_split(
        self, model: str, arms: Sequence[tuple[int, float]], *, at: datetime | None = None
    ) -> StoredSplit:
        """The stored split of ``model``, which becomes ``arms`` only if none is stored yet."""
        ...


def shared_traffic(
    registry: RoleRegistry,
    models: Sequence[str],
    store: TrafficStore,
    *,
    refresh_seconds: float = 0.25,
) -> SharedRouter:
    """The traffic table of ``models`` kept in ``store``, shared with every other process on it
    (``safeheal serve`` and ``safeheal run`` on one store serve and steer the same split).

    A model the store has no split for yet starts as :func:`traffic_from_registry` would start
    it (its champion, or its running canary's split); one it has keeps the stored split, which
    the controllers and the admin API have been steering. Errors as
    :func:`traffic_from_registry`'s, for models without a stored split.
    """
    if not models:
        raise ConfigError("the gateway needs at least one model to serve; got none")
    stored = store.load_splits(list(models))
    missing = [m for m in models if m not in stored]
    if missing:
        start = traffic_from_registry(registry, missing, canaries=store)
        for name in missing:
            arms = start.arms(name) or ()
            store.init_split(name, [(a.version, a.weight) for a in arms])
    return SharedRouter(store, models=list(models), refresh_seconds=refresh_seconds)
