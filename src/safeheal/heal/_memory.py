"""A :class:`~safeheal.heal.ModelRegistry` held in memory: versions, roles, health, history.

The benchmark (``safeheal bench``) plays thousands of simulated production runs, each with its own
registry; MLflow takes seconds to create a registry and tens of milliseconds per call, so a run of
the suite over MLflow would take hours. :class:`InMemoryRegistry` behaves as
:class:`~safeheal.heal.MlflowRegistry` does where the healing actions can tell (version numbers,
roles, health marks, last known good, the history of role moves, the errors), and is checked by the
same conformance suite (``tests/test_registry.py``). Nothing survives the process: use MLflow
where a registry must persist.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from safeheal.errors import ConfigError, UnknownModelError
from safeheal.heal._mlflow import _check_fitted
from safeheal.heal._registry import (
    HEALTH_AT_TAG,
    HEALTH_REASON_TAG,
    HEALTH_TAG,
    ROLES,
    Clock,
    ModelVersion,
    Role,
    RoleMove,
    RoleMoveLog,
    check_model_name,
    check_role,
)

__all__ = ["InMemoryRegistry"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Model:
    __slots__ = ("estimators", "history", "roles", "versions")

    def __init__(self) -> None:
        self.versions: list[ModelVersion] = []
        self.estimators: list[Any] = []
        self.roles: dict[Role, int] = {}
        self.history: list[RoleMove] = []


class InMemoryRegistry:
    """A thread-safe :class:`~safeheal.heal.ModelRegistry` in memory (see the module docstring).

    A registered estimator is copied (``copy.deepcopy``), so later changes to the caller's object
    do not reach the registry, and :meth:`load` returns that copy: the same object every time,
    as MLflow's cached load does. ``clock`` stamps role moves and health marks.

    >>> from sklearn.dummy import DummyClassifier
    >>> reg = InMemoryRegistry()
    >>> m = DummyClassifier().fit([[0], [1]], [0, 1])
    >>> reg.register("churn", m, role="champion").version, reg.register("churn", m).version
    (1, 2)
    >>> reg.mark_healthy("churn", 2, "validated"); reg.roles("churn")
    {'champion': 1}
    >>> reg.last_known_good("churn").version
    2
    """

    def __init__(self, *, clock: Clock | None = None, move_log: RoleMoveLog | None = None) -> None:
        if move_log is not None and not isinstance(move_log, RoleMoveLog):
            raise ConfigError(
                f"the `move_log` parameter of InMemoryRegistry must have an on_role_move(move) "
                f"method; got {move_log!r}"
            )
        self._clock: Clock = clock or _utc_now
        self._move_log = move_log
        self._models: dict[str, _Model] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"InMemoryRegistry(models={sorted(self._models)})"

    # --- plumbing -------------------------------------------------------------------------------
    def _model(self, name: str) -> _Model:
        check_model_name(name)
        m = self._models.get(name)
        if m is None:
            raise UnknownModelError(f"model {name!r} is not registered")
        return m

    @staticmethod
    def _check_version(version: object) -> int:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"a model version must be a whole number >= 1; got {version!r}")
        return version

    def _index(self, name: str, version: int) -> tuple[_Model, int]:
        self._check_version(version)
        m = self._model(name)
        if version > len(m.versions):
            raise UnknownModelError(f"model {name!r} has no version {version}")
        return m, version - 1

    # --- versions -------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        estimator: Any,
        *,
        role: Role | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        reason: str = "",
        actor: str = "safeheal",
    ) -> ModelVersion:
        """Keep a copy of ``estimator`` as the next version of ``name`` (created if new).

        ``metrics`` are kept as tags ``safeheal.metric.<name>`` (there is no run to hold them).
        """
        check_model_name(name)
        if role is not None:
            check_role(role)
        _check_fitted(estimator, name)
        cls = type(estimator)
        version_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        version_tags.update(
            {f"safeheal.metric.{k}": repr(float(v)) for k, v in (metrics or {}).items()}
        )
        version_tags.update(
            {
                "safeheal.registered_by": actor,
                "safeheal.reason": reason,
                "safeheal.estimator": f"{cls.__module__}.{cls.__qualname__}",
            }
        )
        stored = copy.deepcopy(estimator)
        with self._lock:
            m = self._models.setdefault(name, _Model())
            mv = ModelVersion(name, len(m.versions) + 1, None, self._clock(), version_tags)
            m.versions.append(mv)
            m.estimators.append(stored)
        if role is not None:
            self.set_role(
                name, role, mv.version, reason=reason or f"registered as {role}", actor=actor
            )
        return mv

    def get(self, name: str, version: int) -> ModelVersion:
        with self._lock:
            m, i = self._index(name, version)
            return m.versions[i]

    def versions(self, name: str) -> list[ModelVersion]:
        with self._lock:
            return list(self._model(name).versions)

    def load(self, name: str, version: int) -> Any:
        with self._lock:
            m, i = self._index(name, version)
            return m.estimators[i]

    # --- roles ----------------------------------------------------------------------------------
    def roles(self, name: str) -> dict[Role, int]:
        with self._lock:
            current = self._model(name).roles
            return {r: current[r] for r in ROLES if r in current}

    def get_role(self, name: str, role: Role) -> ModelVersion | None:
        check_role(role)
        with self._lock:
            v = self.roles(name).get(role)
            return None if v is None else self.get(name, v)

    def set_role(
        self, name: str, role: Role, version: int, *, reason: str, actor: str = "safeheal"
    ) -> RoleMove | None:
        check_model_name(name)
        check_role(role)
        self._check_version(version)
        with self._lock:
            m, _ = self._index(name, version)
            current = m.roles.get(role)
            if current == version:
                return None
            m.roles[role] = version
            move = RoleMove(name, role, current, version, actor, reason, self._clock())
            m.history.append(move)
        return self._told(move)

    def clear_role(
        self, name: str, role: Role, *, reason: str, actor: str = "safeheal"
    ) -> RoleMove | None:
        check_model_name(name)
        check_role(role)
        with self._lock:
            m = self._model(name)
            current = m.roles.pop(role, None)
            if current is None:
                return None
            move = RoleMove(name, role, current, None, actor, reason, self._clock())
            m.history.append(move)
        return self._told(move)

    def _told(self, move: RoleMove) -> RoleMove:
        if self._move_log is not None:
            self._move_log.on_role_move(move)
        return move

    def role_history(self, name: str, role: Role | None = None) -> list[RoleMove]:
        if role is not None:
            check_role(role)
        with self._lock:
            return [mv for mv in self._model(name).history if role is None or mv.role == role]

    # --- health ---------------------------------------------------------------------------------
    def _mark(self, name: str, version: int, health: str, reason: str) -> None:
        with self._lock:
            m, i = self._index(name, version)
            old = m.versions[i]
            tags = dict(old.tags)
            tags.update(
                {
                    HEALTH_TAG: health,
                    HEALTH_REASON_TAG: reason,
                    HEALTH_AT_TAG: self._clock().isoformat(),
                }
            )
            m.versions[i] = replace(old, tags=tags)

    def mark_healthy(self, name: str, version: int, reason: str) -> None:
        self._mark(name, version, "healthy", reason)

    def mark_unhealthy(self, name: str, version: int, reason: str) -> None:
        self._mark(name, version, "unhealthy", reason)

    def last_known_good(self, name: str, *, exclude: Iterable[int] = ()) -> ModelVersion | None:
        skip = set(exclude)
        with self._lock:
            champion = self.roles(name).get("champion")
            if champion is not None:
                skip.add(champion)
            good = [
                v for v in self.versions(name) if v.health == "healthy" and v.version not in skip
            ]
        return max(good, key=lambda v: v.version, default=None)
