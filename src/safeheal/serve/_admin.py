"""A real, minimal :class:`~safeheal.serve.AdminActions` over the traffic table.

:class:`~safeheal.serve.HealingAdmin` also moves registry roles, follows the ROLLBACK executor
and answers escalations; this one moves traffic only (for a gateway without a registry), and
keeps the splits it replaced so a rollback can restore them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from safeheal.serve._errors import AdminConflictError, ModelNotFoundError, NotSupportedError
from safeheal.serve._protocols import EscalationStatus, ModelSource, ModelStatus, TrafficTable
from safeheal.serve._traffic import Arm

_log = logging.getLogger("safeheal.serve")


class TrafficAdmin:
    """Promote sends all of a model's traffic to one version; rollback restores the split that
    the last promote replaced (a stack per model, ``history`` deep). Approving an escalation is
    not supported here: there are no escalations without the controller.

    >>> from safeheal.serve import InMemoryTrafficTable, StaticModelSource
    >>> from sklearn.dummy import DummyClassifier
    >>> source = StaticModelSource()
    >>> for v in (1, 2):
    ...     source.add("m", v, DummyClassifier().fit([[0.0]], [v]), ["x"])
    >>> admin = TrafficAdmin(InMemoryTrafficTable({"m": [(1, 100)]}), source)
    >>> admin.promote("m", 2, reason="better").arms
    (Arm(version=2, weight=100.0),)
    >>> admin.rollback("m", reason="worse").arms
    (Arm(version=1, weight=100.0),)
    """

    def __init__(self, table: TrafficTable, models: ModelSource, *, history: int = 20) -> None:
        self._table = table
        self._models = models
        self._history_limit = history
        self._lock = threading.Lock()
        self._history: dict[str, list[tuple[Arm, ...]]] = {}

    def _arms(self, model: str) -> tuple[Arm, ...]:
        arms = self._table.arms(model)
        if arms is None:
            served = ", ".join(self._table.models()) or "none"
            raise ModelNotFoundError(f"no model named {model!r} is served; served: {served}")
        return arms

    def _status(self, model: str) -> ModelStatus:
        return ModelStatus(
            model=model,
            arms=self._arms(model),
            rollback_available=bool(self._history.get(model)),
        )

    def status(self) -> Sequence[ModelStatus]:
        with self._lock:
            return [self._status(m) for m in self._table.models()]

    def promote(self, model: str, version: int, *, reason: str) -> ModelStatus:
        with self._lock:
            current = self._arms(model)
            # Refuse a version that cannot serve before any traffic moves (raises 404 if unknown).
            self._models.load(model, version)
            target = (Arm(version, 100.0),)
            if current != target:
                stack = self._history.setdefault(model, [])
                stack.append(current)
                del stack[: -self._history_limit]
                self._table.set_arms(model, target)
                _log.info("admin: promoted %r to version %d (%s)", model, version, reason)
            return self._status(model)

    def rollback(self, model: str, *, reason: str) -> ModelStatus:
        with self._lock:
            self._arms(model)
            stack = self._history.get(model)
            if not stack:
                raise AdminConflictError(
                    f"model {model!r} has no earlier traffic split to roll back to"
                )
            restored = stack.pop()
            self._table.set_arms(model, restored)
            _log.info("admin: rolled %r back to %s (%s)", model, restored, reason)
            return self._status(model)

    def approve(self, escalation_id: str, *, note: str) -> EscalationStatus:
        raise NotSupportedError(
            "escalations are raised and approved by the safeheal controller; this gateway runs "
            "without one, so there is nothing to approve"
        )
