"""The model registry as safeheal sees it: versions, roles, health, and the history of roles.

A *role* names what a version does for a model: ``champion`` serves, ``challenger`` is being
tried by a canary, ``fallback`` is the validated safe model. A role points at one version at a time;
every move of a role is a :class:`RoleMove`, kept so that one can always tell which version
served when, and why (MLflow itself keeps no history of its aliases).

:class:`ModelRegistry` is the interface the healing actions use; :class:`MlflowRegistry
<safeheal.heal.MlflowRegistry>` implements it over MLflow's model registry. Nothing in this module
imports MLflow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from safeheal.errors import ConfigError

__all__ = [
    "ROLES",
    "ModelRegistry",
    "ModelVersion",
    "Role",
    "RoleMove",
    "RoleMoveLog",
    "check_model_name",
    "check_role",
]

Role = Literal["champion", "challenger", "fallback"]
#: Every role, in order of importance.
ROLES: tuple[Role, ...] = get_args(Role)

#: Tag on a version: "healthy" or "unhealthy"; the reason and time go in the two tags after it.
HEALTH_TAG = "safeheal.health"
HEALTH_REASON_TAG = "safeheal.health.reason"
HEALTH_AT_TAG = "safeheal.health.at"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_model_name(name: object) -> str:
    """``name`` if it is a valid model name (letters, digits, ``.``, ``_``, ``-``; at most 128
    characters, starting with a letter or digit), else a :class:`ConfigError`.

    >>> check_model_name("churn-v2")
    'churn-v2'
    >>> check_model_name("a model")
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: a model name must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit; got 'a model'
    """  # noqa: E501
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"a model name must be 1-128 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit; got {name!r}"
        )
    return name


def check_role(role: object) -> Role:
    """``role`` if it is one of :data:`ROLES`, else a :class:`ConfigError`.

    >>> check_role("champ")
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: a role must be one of champion, challenger, fallback; got 'champ'
    """
    for r in ROLES:
        if role == r:
            return r
    raise ConfigError(f"a role must be one of {', '.join(ROLES)}; got {role!r}")


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model. Versions are numbered 1, 2, … in registration order
    and never change; only their tags do (a ModelVersion is a snapshot of them)."""

    name: str
    version: int
    #: The run that logged the model, if any.
    run_id: str | None
    created_at: datetime
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def health(self) -> Literal["healthy", "unhealthy"] | None:
        """What the version was last marked, or None if never."""
        h = self.tags.get(HEALTH_TAG)
        return h if h in ("healthy", "unhealthy") else None  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RoleMove:
    """One move of a role: ``role`` of ``model`` went from ``from_version`` to ``to_version``
    (None: the role was unset before / is cleared now), by ``actor``, at ``at``, because
    ``reason``."""

    model: str
    role: Role
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (time in ISO 8601)."""
        return {
            "model": self.model,
            "role": self.role,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoleMove:
        def version(v: object) -> int | None:
            return None if v is None else int(str(v))

        return cls(
            model=str(d["model"]),
            role=check_role(d["role"]),
            from_version=version(d.get("from_version")),
            to_version=version(d.get("to_version")),
            actor=str(d.get("actor", "")),
            reason=str(d.get("reason", "")),
            at=datetime.fromisoformat(d["at"]),
        )


@runtime_checkable
class RoleMoveLog(Protocol):
    """Somewhere else that wants to know of every role move (the SQL store keeps them in a table).

    A registry calls :meth:`on_role_move` after the move has happened and been recorded in the
    registry itself; an error raised here reaches the caller of ``set_role``.
    """

    def on_role_move(self, move: RoleMove) -> None: ...


@runtime_checkable
class ModelRegistry(Protocol):
    """Where model versions live and which of them hold which role.

    Unknown models or versions raise :class:`~safeheal.errors.UnknownModelError`; a registry
    that cannot be reached raises :class:`~safeheal.errors.RegistryError`; a bad name or role
    raises :class:`~safeheal.errors.ConfigError`. Nothing is ever deleted.
    """

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
        """Store a fitted estimator as the next version of ``name`` (created if new), with
        metrics and tags; give it ``role`` if one is named."""
        ...

    def get(self, name: str, version: int) -> ModelVersion:
        """One version, with its current tags."""
        ...

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        ...

    def load(self, name: str, version: int) -> Any:
        """The fitted estimator of a version (cached: versions never change)."""
        ...

    def set_role(
        self, name: str, role: Role, version: int, *, reason: str, actor: str = "safeheal"
    ) -> RoleMove | None:
        """Point ``role`` at ``version``; the move, or None if the role was already there."""
        ...

    def clear_role(
        self, name: str, role: Role, *, reason: str, actor: str = "safeheal"
    ) -> RoleMove | None:
        """Unset ``role``; the move, or None if it was not set."""
        ...

    def get_role(self, name: str, role: Role) -> ModelVersion | None:
        """The version holding ``role``, or None."""
        ...

    def roles(self, name: str) -> dict[Role, int]:
        """Every role that is set, and its version."""
        ...

    def role_history(self, name: str, role: Role | None = None) -> list[RoleMove]:
        """Every move of ``role`` (of every role if None), oldest first."""
        ...

    def mark_healthy(self, name: str, version: int, reason: str) -> None:
        """Record that the version served well (e.g. it passed a canary)."""
        ...

    def mark_unhealthy(self, name: str, version: int, reason: str) -> None:
        """Record that the version must not serve again (e.g. it was rolled back)."""
        ...

    def last_known_good(self, name: str, *, exclude: Iterable[int] = ()) -> ModelVersion | None:
        """The newest version marked healthy (and not since marked unhealthy) that is neither
        the current champion nor in ``exclude``; None if there is none."""
        ...


#: A clock: the time now, timezone-aware. The controller passes its (possibly accelerated) one.
Clock = Callable[[], datetime]
