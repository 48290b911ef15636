"""The controller's records in the store: monitoring profiles, intents and per-model state.

:class:`ControlRecords` is a part of :class:`~safeheal.store.SqlStore` (its methods are the
store's), kept in a module of its own like :mod:`safeheal.store._heal`. The records are plain
values defined here: the store imports only ``core``, and ``safeheal.control`` reads them.

Intents are the controller's write-ahead log: one row per action, keyed by an idempotency key
(``model/window_end/ACTION``), written *before* the action runs and
moved on (``applied``, ``done``, ``abandoned``) after. A controller that restarts reads the rows
still at ``intent`` or ``applied`` and settles them instead of acting again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Connection, Row, Text, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite

from safeheal.errors import DataError
from safeheal.store._heal import _aware, _event_row, _json
from safeheal.store._schema import audit_events, feedback, utc
from safeheal.store._schema_control import control_intents, control_models, monitor_profiles

if TYPE_CHECKING:
    from safeheal.store._engine import Backend

__all__ = ["ControlRecords", "IntentRecord", "IntentStatus", "ProfileRecord"]

_F8 = np.dtype("<f8")

#: Between request ids in the labels' aggregate: a control character, which no JSON text holds
#: and a request id almost never does (if one does, the labels are read row by row instead).
_ID_SEP = "\x1f"
#: Labels fetched per round trip to the driver on that path: few enough that the rows of one
#: chunk are garbage before the collector's youngest generation fills (700 objects).
_LABEL_CHUNK = 500

IntentStatus = Literal["intent", "applied", "done", "abandoned"]
INTENT_STATUSES: tuple[IntentStatus, ...] = ("intent", "applied", "done", "abandoned")


@dataclass(frozen=True, slots=True, eq=False)
class ProfileRecord:
    """What one model version was healthy on: reference inputs (rows x features), its accuracy
    then, and its latency objective."""

    model: str
    version: int
    feature_names: tuple[str, ...]
    reference: NDArray[np.float64]
    baseline_accuracy: float
    latency_slo_ms: float
    categorical: tuple[str, ...] = ()
    source: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """One action the controller meant to take, and how far it got."""

    key: str
    model: str
    window_end: datetime
    action: str
    decision_id: str | None
    status: IntentStatus
    payload: Mapping[str, Any]
    result: Mapping[str, Any] | None
    created_at: datetime
    updated_at: datetime


class ControlRecords:
    """Profiles, intents and controller state: methods of :class:`~safeheal.store.SqlStore`."""

    if TYPE_CHECKING:

        @property
        def url(self) -> str: ...

        @property
        def backend(self) -> Backend: ...

        def _write(self, doing: str) -> AbstractContextManager[Connection]: ...

        def _read(self, doing: str) -> AbstractContextManager[Connection]: ...

    # -- monitoring profiles ---------------------------------------------------------------------

    def save_profile(self, profile: ProfileRecord) -> None:
        """Keep (or replace) the monitoring profile of ``profile.model`` version
        ``profile.version``."""
        ref = np.ascontiguousarray(profile.reference, dtype=_F8)
        names = [str(n) for n in profile.feature_names]
        if ref.ndim != 2 or ref.shape[1] != len(names) or ref.shape[0] < 1:
            raise DataError(
                f"the reference of model {profile.model!r} version {profile.version} must be "
                f"rows x {len(names)} features with at least one row; got shape {ref.shape}"
            )
        values = {
            "model": profile.model,
            "version": int(profile.version),
            "feature_names": names,
            "n_rows": int(ref.shape[0]),
            "reference": ref.tobytes(),
            "baseline_accuracy": float(profile.baseline_accuracy),
            "latency_slo_ms": float(profile.latency_slo_ms),
            "categorical": [str(c) for c in profile.categorical],
            "source": profile.source,
            "created_at": _aware(profile.created_at, "ProfileRecord.created_at"),
        }
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = insert(monitor_profiles).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["model", "version"],
            set_={k: stmt.excluded[k] for k in values if k not in ("model", "version")},
        )
        with self._write(f"saving the profile of {profile.model!r} v{profile.version}") as conn:
            conn.execute(stmt)

    def load_profile(self, model: str, version: int | None = None) -> ProfileRecord | None:
        """The profile of ``model`` version ``version``; with ``version`` None, the profile of
        its newest version that has one. None if there is none."""
        t = monitor_profiles.c
        query = select(monitor_profiles).where(t.model == model)
        if version is not None:
            query = query.where(t.version == int(version))
        query = query.order_by(t.version.desc()).limit(1)
        with self._read(f"reading the profile of {model!r}") as conn:
            row = conn.execute(query).first()
        return None if row is None else _profile(row)

    # -- intents ---------------------------------------------------------------------------------

    def claim_intent(
        self,
        *,
        key: str,
        model: str,
        window_end: datetime,
        action: str,
        decision_id: str | None,
        payload: Mapping[str, Any],
        at: datetime,
    ) -> tuple[IntentRecord, bool]:
        """Record the intent to take ``action`` on ``model`` for the window ending at
        ``window_end``, before taking it. Returns the stored intent and True if this call
        created it; False when an intent with ``key`` was already stored (by a controller that
        crashed, or a peer): then settle the stored one, never act again."""
        values = {
            "key": key,
            "model": model,
            "window_end": _aware(window_end, "window_end"),
            "action": action,
            "decision_id": decision_id,
            "status": "intent",
            "payload": _json(payload, f"the payload of intent {key!r}"),
            "result": None,
            "created_at": _aware(at, "at"),
            "updated_at": at,
        }
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = (
            insert(control_intents)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(control_intents.c.key)
        )
        t = control_intents.c
        with self._write(f"recording intent {key!r}") as conn:
            created = conn.execute(stmt).first() is not None
            row = conn.execute(select(control_intents).where(t.key == key)).first()
        if row is None:  # pragma: no cover - just written or found
            raise DataError(f"intent {key!r} vanished while it was recorded")
        return _intent(row), created

    def settle_intent(
        self,
        key: str,
        *,
        status: IntentStatus,
        at: datetime,
        result: Mapping[str, Any] | None = None,
        event: tuple[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Move intent ``key`` on to ``status`` (keeping ``result`` if given). ``event`` (kind,
        payload) is an audit event recorded in the same transaction, so the intent's new status
        and the record of what was done are never seen apart, even if the process dies."""
        if status not in INTENT_STATUSES:
            raise DataError(f"an intent status must be one of {INTENT_STATUSES}; got {status!r}")
        values: dict[str, Any] = {"status": status, "updated_at": _aware(at, "at")}
        if result is not None:
            values["result"] = _json(result, f"the result of intent {key!r}")
        row = _event_row(event[0], event[1], None, at) if event is not None else None
        t = control_intents.c
        with self._write(f"settling intent {key!r}") as conn:
            conn.execute(control_intents.update().where(t.key == key).values(**values))
            if row is not None:  # the event is about the intent's model
                row["model"] = conn.execute(select(t.model).where(t.key == key)).scalar()
                conn.execute(audit_events.insert().values(**row))

    def intents(
        self,
        model: str | None = None,
        *,
        statuses: Sequence[IntentStatus] | None = None,
        window_end: datetime | None = None,
    ) -> list[IntentRecord]:
        """Stored intents (of ``model``, with one of ``statuses``, for the window ending at
        ``window_end``), oldest first."""
        t = control_intents.c
        query = select(control_intents)
        if model is not None:
            query = query.where(t.model == model)
        if window_end is not None:
            query = query.where(t.window_end == _aware(window_end, "window_end"))
        if statuses is not None:
            query = query.where(t.status.in_(list(statuses)))
        query = query.order_by(t.window_end, t.key)
        with self._read("listing intents") as conn:
            rows = list(conn.execute(query).all())
        return [_intent(r) for r in rows]

    # -- labels, lean -----------------------------------------------------------------------------

    def labels(self, model: str, *, since: datetime, until: datetime) -> dict[tuple[str, int], Any]:
        """The labels of ``model`` logged in ``[since, until)``, by (request id, row).

        The same labels as :meth:`labels_by_request`, keyed by pairs; a label logged twice for
        one row keeps the one read last."""
        by_request = self.labels_by_request(model, since=since, until=until)
        return {(r, i): v for r, rows in by_request.items() for i, v in rows.items()}

    def labels_by_request(
        self, model: str, *, since: datetime, until: datetime
    ) -> dict[str, dict[int, Any]]:
        """The labels of ``model`` logged in ``[since, until)``, by request id then row: what the
        controller joins to a window's predictions (a label logged twice for one row keeps the
        one read last).

        The database concatenates the request ids, the rows and the labels (as JSON text) of
        the window into three strings, each aggregate fed the rows in the same order, and
        Python splits and parses each in one call: no Python container per label, and a
        third of the time of fetching 10,000 rows. Keeping 10,000 rows and 10,000
        (request id, row) tuples alive at once had the cyclic garbage collector move them to
        its oldest generation and then scan the whole heap (~200 ms) every few windows."""
        t = feedback.c
        window = (t.model == model, t.at >= utc(since), t.at < utc(until))
        joined = func.aggregate_strings
        query = select(
            joined(t.request_id, _ID_SEP),
            joined(cast(t.row, Text), ","),
            joined(cast(t.label, Text), ","),
        ).where(*window)
        with self._read(f"reading the labels of {model!r}") as conn:
            ids, rows, texts = conn.execute(query).one()
        if not rows:  # None: no label in the window (a row number is never empty text)
            return {}
        row_numbers: list[int] = json.loads("[" + rows + "]")
        values: list[Any] = json.loads("[" + texts + "]")  # one parse, not n
        request_ids: list[str] = ids.split(_ID_SEP)
        if len(request_ids) != len(row_numbers):  # a request id holds the separator
            request_ids, row_numbers, values = self._label_rows(model, window)
        out: dict[str, dict[int, Any]] = {}
        for r, i, v in zip(request_ids, row_numbers, values, strict=True):
            answered = out.get(r)
            if answered is None:
                answered = out[r] = {}
            answered[i] = v
        return out

    def _label_rows(
        self, model: str, window: tuple[ColumnElement[bool], ...]
    ) -> tuple[list[str], list[int], list[Any]]:
        """The request ids, rows and labels of the window, read row by row (in small chunks,
        so that no row outlives the collector's youngest generation)."""
        t = feedback.c
        query = select(t.request_id, t.row, cast(t.label, Text)).where(*window)
        request_ids: list[str] = []
        row_numbers: list[int] = []
        texts: list[str] = []
        with self._read(f"reading the labels of {model!r}") as conn:
            result = conn.execute(query)
            while chunk := result.fetchmany(_LABEL_CHUNK):
                chunk_ids, chunk_rows, chunk_texts = zip(*chunk, strict=True)
                request_ids += chunk_ids
                row_numbers += chunk_rows
                texts += chunk_texts
        return request_ids, row_numbers, json.loads("[" + ",".join(texts) + "]")

    # -- per-model controller state --------------------------------------------------------------

    def save_control_state(self, model: str, state: Mapping[str, Any], *, at: datetime) -> None:
        """Keep the controller's state of ``model`` (a JSON document), replacing the last."""
        values = {
            "model": model,
            "state": _json(state, f"the controller state of {model!r}"),
            "updated_at": _aware(at, "at"),
        }
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = insert(control_models).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["model"], set_={"state": stmt.excluded.state, "updated_at": at}
        )
        with self._write(f"saving the controller state of {model!r}") as conn:
            conn.execute(stmt)

    def load_control_state(self, model: str) -> dict[str, Any] | None:
        """The controller's state of ``model``, or None if it never ran a window of it."""
        query = select(control_models.c.state).where(control_models.c.model == model)
        with self._read(f"reading the controller state of {model!r}") as conn:
            doc = conn.execute(query).scalar_one_or_none()
        return None if doc is None else dict(doc)


def _profile(row: Row[Any]) -> ProfileRecord:
    m = row._mapping
    names = tuple(str(x) for x in m["feature_names"])
    ref = np.frombuffer(m["reference"], dtype=_F8).reshape(int(m["n_rows"]), len(names))
    return ProfileRecord(
        model=str(m["model"]),
        version=int(m["version"]),
        feature_names=names,
        reference=ref,
        baseline_accuracy=float(m["baseline_accuracy"]),
        latency_slo_ms=float(m["latency_slo_ms"]),
        categorical=tuple(str(c) for c in m["categorical"]),
        source=str(m["source"]),
        created_at=m["created_at"],
    )


def _intent(row: Row[Any]) -> IntentRecord:
    m = row._mapping
    status = str(m["status"])
    for s in INTENT_STATUSES:
        if s == status:
            break
    else:
        raise DataError(f"a stored intent has an unknown status {status!r}")
    return IntentRecord(
        key=str(m["key"]),
        model=str(m["model"]),
        window_end=m["window_end"],
        action=str(m["action"]),
        decision_id=None if m["decision_id"] is None else str(m["decision_id"]),
        status=s,
        payload=dict(m["payload"]),
        result=None if m["result"] is None else dict(m["result"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )
