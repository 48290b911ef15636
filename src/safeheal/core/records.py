"""Records that the healing layer and the store share: role moves, canaries, escalations, and the
counters a canary is judged on.

They live in ``core`` because two stages share them: ``safeheal.heal`` makes the records and the
store keeps them; the store counts :class:`ArmCounters` from the inference log and ``safeheal.heal``
judges them. The store imports nothing but ``core`` (design.md 1).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from safeheal.errors import ConfigError, DataError

__all__ = [
    "COUNTS",
    "ESCALATION_STATUSES",
    "ROLES",
    "ArmCounters",
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


#: The counters of one arm of a canary, in the order :class:`ArmCounters` lists them.
COUNTS = ("requests", "errors", "labelled", "correct", "within_slo")


@dataclass(frozen=True, slots=True)
class ArmCounters:
    """What one arm (candidate or incumbent) served over the judged period.

    All are counts. ``None`` or NaN means the counter was not measured: the canary's judge
    (:func:`safeheal.heal.assess`) then fails closed rather than guess. The store counts them from
    the inference log (``SqlStore.arm_counters``); the healing layer judges them.

    - ``requests``: requests routed to the arm;
    - ``errors``: of those, requests that failed;
    - ``labelled``: predictions whose true label has arrived;
    - ``correct``: of those, predictions that were right;
    - ``within_slo``: successful requests answered within the latency SLO.
    """

    requests: float | None = 0
    errors: float | None = 0
    labelled: float | None = 0
    correct: float | None = 0
    within_slo: float | None = 0

    def __post_init__(self) -> None:
        for name in COUNTS:
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
                raise DataError(
                    f"ArmCounters.{name} must be a count, None or NaN; got {type(v).__name__}"
                )

    def problems(self) -> list[str]:
        """Why these counters cannot be judged: missing, not whole, or inconsistent."""
        out: list[str] = []
        values: dict[str, int] = {}
        for name in COUNTS:
            v = getattr(self, name)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                out.append(f"`{name}` is missing")
            elif not math.isfinite(v) or v < 0 or v != int(v):
                out.append(f"`{name}` is {v!r}, not a count")
            else:
                values[name] = int(v)
        if out:
            return out
        r, e, n, c, s = (values[k] for k in COUNTS)
        for small, big, what in (
            (e, r, "errors > requests"),
            (n, r, "labelled > requests"),
            (c, n, "correct > labelled"),
            (s, r - e, "within_slo > requests − errors"),
        ):
            if small > big:
                out.append(f"inconsistent counters: {what} ({small} > {big})")
        return out
