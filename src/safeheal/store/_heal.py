"""The healing layer's records in the store: canaries, escalations and role moves.

:class:`HealRecords` is a part of :class:`~safeheal.store.SqlStore` (its methods are the store's),
kept in a module of its own. With it the store implements ``safeheal.heal``'s ``CanaryStore``,
``EscalationStore`` and ``RoleMoveLog`` protocols, structurally: the store imports only ``core``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Row, select
from sqlalchemy.dialects import postgresql, sqlite

from safeheal.core.records import (
    ESCALATION_STATUSES,
    CanaryRecord,
    Escalation,
    RoleMove,
    check_role,
)
from safeheal.errors import (
    DataError,
    EscalationClosedError,
    StoreError,
    UnknownEscalationError,
)
from safeheal.store._schema import utc
from safeheal.store._schema_heal import canaries, escalations, role_moves

if TYPE_CHECKING:
    from safeheal.store._engine import Backend

#: Canary phases after which nothing changes (``CanaryPhase.is_final``).
FINAL_PHASES = ("promoted", "aborted")


def _json(document: Mapping[str, Any], what: str) -> dict[str, Any]:
    out = dict(document)
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise DataError(
            f"{what} must be JSON (strings, finite numbers, booleans, None, lists, mappings with "
            f"string keys); {error}"
        ) from None
    return out


def _event_row(
    kind: str, payload: Mapping[str, Any] | None, model: str | None, at: datetime | None
) -> dict[str, Any]:
    """The values of one ``audit_events`` row, checked (a non-empty kind, a JSON payload)."""
    if not kind:
        raise DataError("an audit event needs a non-empty kind")
    document = _json(payload or {}, f"the payload of audit event {kind!r}")
    return {
        "at": datetime.now(UTC) if at is None else at,
        "kind": kind,
        "model": model,
        "payload": document,
    }


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise DataError(f"{what} must be a timezone-aware datetime; got {value!r}")
    return value


class HealRecords:
    """Canaries, escalations and role moves: methods of :class:`~safeheal.store.SqlStore`."""

    if TYPE_CHECKING:

        @property
        def url(self) -> str: ...

        @property
        def backend(self) -> Backend: ...

        def _write(self, doing: str) -> AbstractContextManager[Connection]: ...

        def _read(self, doing: str) -> AbstractContextManager[Connection]: ...

    # -- canaries --------------------------------------------------------------------------------

    def save_canary(self, record: CanaryRecord) -> None:
        """Keep a canary, or its new state if ``record.id`` is already stored (then only
        ``phase``, ``state`` and ``updated_at`` change: who and what a canary deploys is fixed
        when it starts)."""
        state = _json(record.state, f"the state of canary {record.id!r}")
        if state.get("phase", record.phase) != record.phase:
            raise DataError(
                f"canary {record.id!r} has phase {record.phase!r} but its state says "
                f"{state.get('phase')!r}"
            )
        values = {
            "id": record.id,
            "model": record.model,
            "action": record.action,
            "candidate_version": int(record.candidate_version),
            "incumbent_version": (
                None if record.incumbent_version is None else int(record.incumbent_version)
            ),
            "decision_id": record.decision_id,
            "phase": record.phase,
            "state": state,
            "started_at": _aware(record.started_at, "CanaryRecord.started_at"),
            "updated_at": _aware(record.updated_at, "CanaryRecord.updated_at"),
        }
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = insert(canaries).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in ("phase", "state", "updated_at")},
        )
        with self._write(f"saving canary {record.id!r}") as conn:
            conn.execute(stmt)

    def load_canary(self, canary_id: str) -> CanaryRecord | None:
        """The stored canary with ``canary_id``, or None."""
        query = select(canaries).where(canaries.c.id == canary_id)
        with self._read(f"reading canary {canary_id!r}") as conn:
            row = conn.execute(query).first()
        return None if row is None else _canary(row)

    def active_canaries(self, model: str | None = None) -> list[CanaryRecord]:
        """Canaries not yet promoted or aborted (of ``model``, if given), oldest first: what a
        controller that restarts must resume or abort."""
        query = select(canaries).where(canaries.c.phase.not_in(FINAL_PHASES))
        if model is not None:
            query = query.where(canaries.c.model == model)
        query = query.order_by(canaries.c.started_at, canaries.c.id)
        with self._read("listing active canaries") as conn:
            rows = list(conn.execute(query).all())
        return [_canary(r) for r in rows]

    def canaries(self, model: str, *, limit: int | None = None) -> list[CanaryRecord]:
        """Every canary of ``model``, running or ended, oldest first; with ``limit``, only the
        ``limit`` started last (what a dashboard shows as the model's canary history)."""
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise DataError(f"limit must be >= 0; got {limit!r}")
        t = canaries.c
        query = select(canaries).where(t.model == model)
        if limit is not None:
            query = query.order_by(t.started_at.desc(), t.id.desc()).limit(limit)
        else:
            query = query.order_by(t.started_at, t.id)
        with self._read(f"listing the canaries of {model!r}") as conn:
            rows = list(conn.execute(query).all())
        if limit is not None:
            rows.reverse()
        return [_canary(r) for r in rows]

    # -- escalations -----------------------------------------------------------------------------

    def record_escalation(self, escalation: Escalation) -> None:
        """Keep a new escalation. Recording the same one again is a no-op; another escalation
        under a stored id is refused with a StoreError."""
        e = escalation
        if e.status not in ESCALATION_STATUSES:
            raise DataError(
                f"Escalation.status must be one of {', '.join(ESCALATION_STATUSES)}; "
                f"got {e.status!r}"
            )
        values = {
            "id": e.id,
            "model": e.model,
            "decision_id": e.decision_id,
            "status": e.status,
            "created_at": _aware(e.created_at, "Escalation.created_at"),
            "answered_at": None
            if e.answered_at is None
            else _aware(e.answered_at, "Escalation.answered_at"),
            "actor": e.actor,
            "note": e.note,
            "payload": _json(e.payload, f"the payload of escalation {e.id!r}"),
            "notify_error": e.notify_error,
        }
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = (
            insert(escalations)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(escalations.c.id)
        )
        with self._write(f"recording escalation {e.id!r}") as conn:
            if conn.execute(stmt).first() is None:
                stored = conn.execute(select(escalations).where(escalations.c.id == e.id)).one()
                if _escalation(stored) != _escalation_from_values(values):
                    raise StoreError(
                        f"the store {self.url} already holds a different escalation with id "
                        f"{e.id!r}; escalation ids must be unique"
                    )

    def answer_escalation(
        self,
        escalation_id: str,
        *,
        status: Literal["approved", "rejected"],
        actor: str,
        note: str = "",
        at: datetime,
    ) -> Escalation:
        """Record a human's answer and return the escalation as it now stands.

        UnknownEscalationError if there is no such escalation. Answering again with the same
        status changes nothing (a retried call); a different answer to an escalation already
        answered is refused with EscalationClosedError.
        """
        if status not in ("approved", "rejected"):
            raise DataError(f"an answer must be 'approved' or 'rejected'; got {status!r}")
        if not isinstance(actor, str) or not actor.strip():
            raise DataError(f"an answer needs the name of who gave it; got {actor!r}")
        _aware(at, "the time of an answer")
        query = select(escalations).where(escalations.c.id == escalation_id)
        if self.backend == "postgresql":
            query = query.with_for_update()
        with self._write(f"answering escalation {escalation_id!r}") as conn:
            row = conn.execute(query).first()
            if row is None:
                raise UnknownEscalationError(self._unknown_escalation(escalation_id))
            current = _escalation(row)
            if not current.is_open:
                if current.status == status:
                    return current
                raise EscalationClosedError(
                    f"escalation {escalation_id!r} was already {current.status} by "
                    f"{current.actor} at {current.answered_at}; an escalation is answered once"
                )
            conn.execute(
                escalations.update()
                .where(escalations.c.id == escalation_id)
                .values(status=status, answered_at=at, actor=actor, note=note)
            )
            row = conn.execute(query).one()
        return _escalation(row)

    def get_escalation(self, escalation_id: str) -> Escalation:
        """The stored escalation; UnknownEscalationError if there is none with that id."""
        query = select(escalations).where(escalations.c.id == escalation_id)
        with self._read(f"reading escalation {escalation_id!r}") as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UnknownEscalationError(self._unknown_escalation(escalation_id))
        return _escalation(row)

    def pending_escalations(self, model: str | None = None) -> list[Escalation]:
        """Escalations still waiting for a human (of ``model``, if given), oldest first."""
        query = select(escalations).where(escalations.c.status == "pending")
        if model is not None:
            query = query.where(escalations.c.model == model)
        query = query.order_by(escalations.c.created_at, escalations.c.id)
        with self._read("listing pending escalations") as conn:
            rows = list(conn.execute(query).all())
        return [_escalation(r) for r in rows]

    def _unknown_escalation(self, escalation_id: str) -> str:
        return f"no escalation with id {escalation_id!r} in the store {self.url}"

    # -- role moves (RoleMoveLog) ----------------------------------------------------------------

    def on_role_move(self, move: RoleMove) -> None:
        """Keep one move of a registry role (the registry calls this after every move)."""
        values = {
            "model": move.model,
            "role": check_role(move.role),
            "from_version": move.from_version,
            "to_version": move.to_version,
            "actor": move.actor,
            "reason": move.reason,
            "at": _aware(move.at, "RoleMove.at"),
        }
        with self._write(f"recording a move of role {move.role!r} of {move.model!r}") as conn:
            conn.execute(role_moves.insert().values(**values))

    def role_moves(self, model: str, role: str | None = None) -> list[RoleMove]:
        """Every recorded move of ``model``'s roles (of ``role`` only, if given), oldest first."""
        t = role_moves.c
        query = select(t.model, t.role, t.from_version, t.to_version, t.actor, t.reason, t.at)
        query = query.where(t.model == model)
        if role is not None:
            query = query.where(t.role == check_role(role))
        query = query.order_by(t.at, t.id)
        with self._read(f"reading the role moves of {model!r}") as conn:
            rows = list(conn.execute(query).all())
        return [
            RoleMove(
                model=str(m),
                role=check_role(r),
                from_version=None if f is None else int(f),
                to_version=None if to is None else int(to),
                actor=str(a),
                reason=str(why),
                at=at,
            )
            for m, r, f, to, a, why, at in rows
        ]


def _canary(row: Row[Any]) -> CanaryRecord:
    m = row._mapping
    return CanaryRecord(
        id=str(m["id"]),
        model=str(m["model"]),
        action=str(m["action"]),
        candidate_version=int(m["candidate_version"]),
        incumbent_version=None if m["incumbent_version"] is None else int(m["incumbent_version"]),
        decision_id=None if m["decision_id"] is None else str(m["decision_id"]),
        phase=str(m["phase"]),
        state=dict(m["state"]),
        started_at=m["started_at"],
        updated_at=m["updated_at"],
    )


def _escalation_from_values(m: Mapping[str, Any]) -> Escalation:
    status = str(m["status"])
    for s in ESCALATION_STATUSES:
        if s == status:
            break
    else:
        raise StoreError(f"a stored escalation has an unknown status {status!r}")

    def opt(key: str) -> str | None:
        return None if m[key] is None else str(m[key])

    return Escalation(
        id=str(m["id"]),
        model=str(m["model"]),
        decision_id=opt("decision_id"),
        status=s,
        created_at=utc(m["created_at"]),
        payload=dict(m["payload"]),
        notify_error=opt("notify_error"),
        answered_at=None if m["answered_at"] is None else utc(m["answered_at"]),
        actor=opt("actor"),
        note=opt("note"),
    )


def _escalation(row: Row[Any]) -> Escalation:
    return _escalation_from_values(dict(row._mapping))
