"""Records that the healing layer writes and the store keeps: role moves, canaries, escalations.

They live in ``core`` because two stages share them: ``safeheal.heal`` makes them and
``safeheal.store`` keeps them, and the store imports nothing but ``core`` (design.md 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from safeheal.errors import ConfigError

__all__ = [
    "ESCALATION_STATUSES",
    "ROLES",
    "CanaryRecord",
    "Escalation",
    "EscalationStatus",
    "Role",
    "RoleMove",
    "check_role",
]

Role = Literal["champion", "challenger", "fallback"]
#: Every role, in order of importance.
ROLES: tuple[Role, ...] = get_args(Role)

EscalationStatus = Literal["pending", "approved", "rejected"]
#: Every status of an escalation; only ``pending`` is open.
ESCALATION_STATUSES: tuple[EscalationStatus, ...] = get_args(EscalationStatus)


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


@dataclass(frozen=True, slots=True)
class CanaryRecord:
    """One canary deployment as the store keeps it.

    ``state`` is ``CanaryState.to_dict()`` (see :class:`safeheal.heal.CanaryState`) and ``phase``
    its phase, kept apart so that active canaries can be found without reading every state.
    ``action`` names the action that started the canary (``RETRAIN``, ``FALLBACK``), which says
    what promoting it means.
    """

    id: str
    model: str
    action: str
    candidate_version: int
    incumbent_version: int | None
    decision_id: str | None
    phase: str
    state: Mapping[str, Any]
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Escalation:
    """A question put to a human, and the answer once there is one.

    ``payload`` is what was sent to the webhook (model, decision, state, reasons, what the service
    is on meanwhile); ``notify_error`` says why nobody could be told, if so. ``status`` is
    ``pending`` until a human approves or rejects; then ``answered_at``, ``actor`` and ``note``
    say when, who and why.
    """

    id: str
    model: str
    decision_id: str | None
    status: EscalationStatus
    created_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    notify_error: str | None = None
    answered_at: datetime | None = None
    actor: str | None = None
    note: str | None = None

    @property
    def is_open(self) -> bool:
        """True while nobody has answered."""
        return self.status == "pending"
