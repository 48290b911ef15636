"""SqlStore: the policy's durable memory on SQLite or PostgreSQL, through SQLAlchemy Core."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Double, bindparam, exc, func, select
from sqlalchemy.dialects import postgresql, sqlite

from safeheal.core.decision import CostEstimate, Decision, Outcome, Posterior, PosteriorUpdate
from safeheal.errors import (
    ConfigError,
    DataError,
    DuplicateOutcomeError,
    StoreError,
    UnknownDecisionError,
)
from safeheal.store import _engine, _migrate
from safeheal.store._control import ControlRecords
from safeheal.store._counters import InferenceCounts
from safeheal.store._engine import Backend, Target
from safeheal.store._fleet import FleetRecords
from safeheal.store._heal import HealRecords, _event_row
from safeheal.store._schema import (
    audit_events,
    cost_estimates,
    decisions,
    models,
    outcomes,
    posteriors,
    utc,
)

#: Seconds a write waits for another connection's lock before giving up.
DEFAULT_BUSY_TIMEOUT = 5.0


class _Statements:
    """The statements of the hot path, built once per store: executing a prepared statement with
    parameters skips SQLAlchemy's per-call statement building, which dominated a write."""

    def __init__(self, backend: Backend) -> None:
        insert = postgresql.insert if backend == "postgresql" else sqlite.insert
        self.add_model = insert(models).on_conflict_do_nothing(index_elements=["name"])
        self.add_decision = (
            insert(decisions)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(decisions.c.id)
        )
        self.decision_body = select(decisions.c.body).where(decisions.c.id == bindparam("id"))
        self.decision_and_outcome = (
            select(decisions.c.id, outcomes.c.id)
            .select_from(decisions.outerjoin(outcomes, outcomes.c.decision_id == decisions.c.id))
            .where(decisions.c.id == bindparam("id"))
        )
        self.add_outcome = outcomes.insert()
        # One statement, so the read-modify-write of a posterior is atomic on every backend: the
        # row (or the unique index, for a first outcome) is locked until the transaction ends.
        add_to_posterior = insert(posteriors)
        self.add_to_posterior = add_to_posterior.on_conflict_do_update(
            index_elements=["context", "action"],
            set_={
                "alpha": posteriors.c.alpha + bindparam("successes", type_=Double),
                "beta": posteriors.c.beta + bindparam("failures", type_=Double),
                "updated_at": add_to_posterior.excluded.updated_at,
            },
        ).returning(posteriors.c.alpha, posteriors.c.beta)
        put_cost = insert(cost_estimates)
        self.put_cost = put_cost.on_conflict_do_update(
            index_elements=["action"],
            set_={
                k: put_cost.excluded[k] for k in ("compute", "risk", "downtime", "n", "updated_at")
            },
        )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the audit trail: something the system did or saw, and its details."""

    id: int
    at: datetime
    kind: str
    model: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)


def open_store(
    target: str | os.PathLike[str] | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> SqlStore:
    """Open (creating and migrating as needed) the store at ``target``.

    ``target`` is a file path or ``sqlite:///PATH`` for an embedded SQLite store (WAL mode),
    ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE`` for PostgreSQL, ``":memory:"`` for a
    throwaway in-memory store, or None for :func:`default_store_url`. ``busy_timeout`` is how long,
    in seconds, a write waits for another writer's lock before failing with a StoreError (SQLite's
    busy timeout, PostgreSQL's ``lock_timeout``).

    >>> from safeheal.core import Action, Decision, Outcome, PosteriorUpdate, State, Verdict
    >>> store = open_store(":memory:")
    >>> verdict = Verdict(None, frozenset({Action.NO_OP}), "healthy", ("all signals below limits",))
    >>> d = Decision(action=Action.NO_OP, verdict=verdict, safe_set=verdict.permitted,
    ...              source="bandit", propensity=1.0, scores={}, reasons=(),
    ...              state=State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0),
    ...              context="healthy/low")
    >>> store.record_decision(d, model="churn")
    >>> store.get_decision(d.id) == d
    True
    >>> update = PosteriorUpdate("healthy/low", "NO_OP", successes=1, failures=0,
    ...                          prior_alpha=1, prior_beta=1)
    >>> store.record_outcome(Outcome(d.id, success=True), update, None)
    Posterior(context='healthy/low', action='NO_OP', alpha=2.0, beta=1.0)
    >>> store.load_posteriors()
    [Posterior(context='healthy/low', action='NO_OP', alpha=2.0, beta=1.0)]
    >>> store.record_outcome(Outcome(d.id, success=False), None, None)
    Traceback (most recent call last):
    ...
    safeheal.errors.DuplicateOutcomeError: decision ... already has an outcome; a decision gets \
exactly one
    >>> store.close()
    """
    return SqlStore.open(target, busy_timeout=busy_timeout)


class SqlStore(HealRecords, ControlRecords, FleetRecords, InferenceCounts):
    """Decisions, outcomes, posteriors, cost estimates and the audit trail, in a SQL database.

    Implements :class:`safeheal.policy.protocols.PosteriorStore`, and keeps the healing layer's
    canaries, escalations and role moves (:class:`~safeheal.store._heal.HealRecords`), the
    controller's profiles, intents and state (:class:`~safeheal.store._control.ControlRecords`),
    the traffic split and the leases several processes share
    (:class:`~safeheal.store._fleet.FleetRecords`),
    and counts what each model version served from the inference log, for canaries
    (:meth:`~safeheal.store._counters.InferenceCounts.arm_counters`).
    Every write is one transaction
    (``BEGIN IMMEDIATE`` on SQLite, so concurrent writers queue instead of failing half-way);
    every database failure surfaces as a :class:`~safeheal.errors.StoreError` naming the store.
    Safe to share between threads (except the in-memory store, which is for one thread); several
    processes may open the same file or database.
    Use :func:`open_store` (or :meth:`SqlStore.open`) to get one.
    """

    def __init__(self, target: Target, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        if not (busy_timeout >= 0 and math.isfinite(busy_timeout)):
            raise ConfigError(
                f"the `busy_timeout` parameter of SqlStore must be a finite number of seconds "
                f">= 0; got {busy_timeout!r}"
            )
        self._target = target
        self._busy_timeout = float(busy_timeout)
        self._engine = _engine.make_engine(target, busy_timeout=self._busy_timeout)
        self._known_models: set[str] = set()
        self._file_id: tuple[int, int] | None = None
        self._sql = _Statements(target.backend)
        try:
            self._migrate()
        except BaseException:
            self._engine.dispose()
            raise
        if target.path is not None:
            st = os.stat(target.path)
            self._file_id = (st.st_dev, st.st_ino)

    @classmethod
    def open(
        cls,
        target: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> SqlStore:
        """See :func:`open_store`."""
        return cls(_engine.resolve(target), busy_timeout=busy_timeout)

    # -- identity and lifetime -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The store's URL, password masked."""
        return self._target.display

    @property
    def backend(self) -> Backend:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._target.backend

    def close(self) -> None:
        """Release the store's connections (the data stays). Idempotent."""
        self._engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (the newest one after opening)."""
        with self._read("reading the schema revision") as conn:
            return _migrate.current_revision(conn)

    # -- PosteriorStore --------------------------------------------------------------------------

    def load_posteriors(self) -> list[Posterior]:
        """Every stored posterior, ordered by context then action."""
        query = select(
            posteriors.c.context, posteriors.c.action, posteriors.c.alpha, posteriors.c.beta
        ).order_by(posteriors.c.context, posteriors.c.action)
        with self._read("loading posteriors") as conn:
            rows = conn.execute(query).all()
        return [Posterior(str(c), str(a), float(al), float(be)) for c, a, al, be in rows]

    def load_costs(self) -> list[CostEstimate]:
        """Every stored cost estimate, ordered by action."""
        t = cost_estimates.c
        query = select(t.action, t.compute, t.risk, t.downtime, t.n).order_by(t.action)
        with self._read("loading cost estimates") as conn:
            rows = conn.execute(query).all()
        return [
            CostEstimate(str(a), float(c), float(r), float(d), int(n)) for a, c, r, d, n in rows
        ]

    def record_decision(self, decision: Decision, *, model: str | None = None) -> None:
        """Keep ``decision`` (for ``model``, if given) in one transaction.

        Recording the same decision again is a no-op; a different decision under an id already
        stored is refused with a StoreError.
        """
        body = decision.to_json()
        verdict = decision.verdict
        row = {
            "id": decision.id,
            "at": decision.at,
            "model": model,
            "action": decision.action.name,
            "zone": verdict.zone,
            "mandatory": verdict.mandatory.name if verdict.mandatory is not None else None,
            "permitted": sorted(a.name for a in verdict.permitted),
            "safe_set": sorted(a.name for a in decision.safe_set),
            "source": decision.source,
            "propensity": float(decision.propensity),
            "context": decision.context,
            "mode": decision.mode,
            "reasons": list(decision.reasons),
            "body": body,
        }
        sql = self._sql
        with self._write(f"recording decision {decision.id!r}") as conn:
            if model is not None and model not in self._known_models:
                conn.execute(sql.add_model, {"name": model, "created_at": datetime.now(UTC)})
            if conn.execute(sql.add_decision, row).first() is None:
                # The id is taken: fine if it is this very decision again (a retried write).
                stored = conn.execute(sql.decision_body, {"id": decision.id}).scalar_one()
                if Decision.from_json(stored) != Decision.from_json(body):
                    raise StoreError(
                        f"the store {self.url} already holds a different decision with id "
                        f"{decision.id!r}; decision ids must be unique"
                    )
        if model is not None:
            self._known_models.add(model)

    def get_decision(self, decision_id: str) -> Decision:
        """The stored decision with ``decision_id``; UnknownDecisionError if there is none."""
        with self._read(f"reading decision {decision_id!r}") as conn:
            body = conn.execute(self._sql.decision_body, {"id": decision_id}).scalar_one_or_none()
        if body is None:
            raise UnknownDecisionError(self._unknown(decision_id))
        return Decision.from_json(body)

    def record_outcome(
        self,
        outcome: Outcome,
        update: PosteriorUpdate | None,
        cost: CostEstimate | None,
    ) -> Posterior | None:
        """Atomically keep ``outcome``, apply its posterior ``update`` and keep its ``cost``.

        In one transaction: the decision must exist (UnknownDecisionError) and have no outcome
        yet (DuplicateOutcomeError); then the outcome is inserted, ``update`` is added to the
        stored posterior of its (context, action) (starting from its prior when there is none
        yet), and ``cost`` replaces any estimate stored for its action (last writer wins). On any
        error nothing is written. Returns the posterior as stored after the update, which
        includes the outcomes other writers recorded for the pair, or None without an update.
        """
        _check_outcome(outcome)
        if update is not None:
            _check_update(update)
        if cost is not None:
            _check_cost(cost)
        now = datetime.now(UTC)
        did = outcome.decision_id
        sql = self._sql
        stored: Posterior | None = None
        with self._write(f"recording the outcome of decision {did!r}") as conn:
            found = conn.execute(sql.decision_and_outcome, {"id": did}).first()
            if found is None:
                raise UnknownDecisionError(self._unknown(did))
            if found[1] is not None:
                raise DuplicateOutcomeError(_duplicate(did))
            values = {
                "decision_id": did,
                "success": bool(outcome.success),
                "cost": None if outcome.cost is None else float(outcome.cost),
                "at": outcome.at,
            }
            try:
                conn.execute(sql.add_outcome, values)
            except exc.IntegrityError:  # another writer recorded one since our check
                raise DuplicateOutcomeError(_duplicate(did)) from None
            if update is not None:
                successes, failures = float(update.successes), float(update.failures)
                values = {
                    "context": update.context,
                    "action": update.action,
                    "alpha": float(update.prior_alpha) + successes,  # the pair's first outcome
                    "beta": float(update.prior_beta) + failures,
                    "updated_at": now,
                    "successes": successes,
                    "failures": failures,
                }
                alpha, beta = conn.execute(sql.add_to_posterior, values).one()
                stored = Posterior(update.context, update.action, float(alpha), float(beta))
            if cost is not None:
                values = {
                    "action": cost.action,
                    "compute": float(cost.compute),
                    "risk": float(cost.risk),
                    "downtime": float(cost.downtime),
                    "n": int(cost.n),
                    "updated_at": now,
                }
                conn.execute(sql.put_cost, values)
        return stored

    # -- reading back ----------------------------------------------------------------------------

    def get_outcome(self, decision_id: str) -> Outcome | None:
        """The outcome of a stored decision, or None while it has none.

        UnknownDecisionError if no decision has ``decision_id``.
        """
        query = (
            select(decisions.c.id, outcomes.c.success, outcomes.c.cost, outcomes.c.at)
            .select_from(decisions.outerjoin(outcomes, outcomes.c.decision_id == decisions.c.id))
            .where(decisions.c.id == decision_id)
        )
        with self._read(f"reading the outcome of decision {decision_id!r}") as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UnknownDecisionError(self._unknown(decision_id))
        _, success, cost, at = row
        if success is None:
            return None
        return Outcome(decision_id, bool(success), None if cost is None else float(cost), at)

    def outcomes(self, decision_ids: Iterable[str]) -> dict[str, Outcome]:
        """The outcomes recorded for ``decision_ids``, by decision id, in one query; decisions
        without an outcome yet (or unknown ids) are left out."""
        ids = sorted({str(i) for i in decision_ids})
        if not ids:
            return {}
        t = outcomes.c
        query = select(t.decision_id, t.success, t.cost, t.at).where(t.decision_id.in_(ids))
        with self._read("reading outcomes") as conn:
            rows = conn.execute(query).all()
        return {
            str(d): Outcome(str(d), bool(s), None if c is None else float(c), at)
            for d, s, c, at in rows
        }

    def decisions(
        self,
        model: str | None = None,
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Decision]:
        """Stored decisions, oldest first: all, or those for ``model``, made at or after
        ``since``; with ``limit``, only the most recent ``limit`` of them."""
        query = select(decisions.c.body)
        if model is not None:
            query = query.where(decisions.c.model == model)
        if since is not None:
            query = query.where(decisions.c.at >= utc(since))
        if limit is not None:
            if limit < 0:
                raise DataError(f"limit must be >= 0; got {limit}")
            query = query.order_by(decisions.c.at.desc(), decisions.c.id.desc()).limit(limit)
        else:
            query = query.order_by(decisions.c.at, decisions.c.id)
        with self._read("listing decisions") as conn:
            bodies = list(conn.execute(query).scalars())
        if limit is not None:
            bodies.reverse()
        return [Decision.from_json(b) for b in bodies]

    def models(self) -> list[str]:
        """Names of the models that have decisions, sorted."""
        with self._read("listing models") as conn:
            names = conn.execute(select(models.c.name).order_by(models.c.name)).scalars()
            return [str(n) for n in names]

    def count_decisions(self, model: str | None = None) -> int:
        """How many decisions are stored (for ``model``, if given)."""
        query = select(func.count()).select_from(decisions)
        if model is not None:
            query = query.where(decisions.c.model == model)
        with self._read("counting decisions") as conn:
            return int(conn.execute(query).scalar_one())

    # -- audit trail -----------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append an event of ``kind`` (e.g. ``"rollback"``) with a JSON-ready ``payload``."""
        values = _event_row(kind, payload, model, at)
        with self._write(f"recording audit event {kind!r}") as conn:
            conn.execute(audit_events.insert().values(**values))

    def audit_events(
        self,
        model: str | None = None,
        *,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events, oldest first, filtered like :meth:`decisions`."""
        t = audit_events.c
        query = select(t.id, t.at, t.kind, t.model, t.payload)
        if model is not None:
            query = query.where(t.model == model)
        if kind is not None:
            query = query.where(t.kind == kind)
        if since is not None:
            query = query.where(t.at >= utc(since))
        if limit is not None:
            if limit < 0:
                raise DataError(f"limit must be >= 0; got {limit}")
            query = query.order_by(t.at.desc(), t.id.desc()).limit(limit)
        else:
            query = query.order_by(t.at, t.id)
        with self._read("reading audit events") as conn:
            rows = list(conn.execute(query).all())
        if limit is not None:
            rows.reverse()
        return [
            AuditEvent(int(i), at, str(k), None if m is None else str(m), dict(p))
            for i, at, k, m, p in rows
        ]

    # -- plumbing --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        head = _migrate.head_revision()
        with self._connect("reading the schema revision", write=False) as conn:
            if _migrate.current_revision(conn) == head:  # the usual case: no write lock needed
                return
        with self._connect("creating or upgrading the schema", write=True) as conn:
            current = _migrate.current_revision(conn)  # again: another process may have migrated
            if current == head:
                return
            if current is not None and current not in _migrate.known_revisions():
                raise StoreError(
                    f"the store {self.url} has schema revision {current!r}, which this version "
                    f"of safeheal does not know (newest known: {head!r}); it was written by a "
                    "newer safeheal: upgrade safeheal to use it"
                )
            _migrate.upgrade(conn)

    @contextmanager
    def _connect(self, doing: str, *, write: bool) -> Iterator[Connection]:
        self._check_file(doing)
        with (
            _engine.translated(self._target, doing, busy_timeout=self._busy_timeout),
            self._engine.connect() as conn,
        ):
            if write:
                conn.execution_options(safeheal_write=True)
            with conn.begin():
                yield conn

    def _write(self, doing: str) -> AbstractContextManager[Connection]:
        return self._connect(doing, write=True)

    def _read(self, doing: str) -> AbstractContextManager[Connection]:
        return self._connect(doing, write=False)

    def _check_file(self, doing: str) -> None:
        path = self._target.path
        if path is None or self._file_id is None:
            return
        try:
            st = os.stat(path)
        except OSError as error:
            raise StoreError(
                f"the store file {path} is gone ({error.strerror}) while {doing}: it was deleted "
                "or moved after the store was opened. Restore it, or reopen the store to start "
                "a new one"
            ) from None
        if (st.st_dev, st.st_ino) != self._file_id:
            raise StoreError(
                f"the store file {path} was replaced by another file while {doing}. Reopen the "
                "store to use the new file"
            )

    def _unknown(self, decision_id: str) -> str:
        return (
            f"no decision with id {decision_id!r} in the store {self.url}; record the decision "
            "before its outcome"
        )


def _duplicate(decision_id: str) -> str:
    return f"decision {decision_id!r} already has an outcome; a decision gets exactly one"


def _finite(value: float, lo: float, hi: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and lo <= value <= hi


def _check_outcome(outcome: Outcome) -> None:
    if outcome.cost is not None and not _finite(outcome.cost, 0.0, 1.0):
        raise DataError(f"Outcome.cost must be None or a number in [0, 1]; got {outcome.cost!r}")


def _check_update(u: PosteriorUpdate) -> None:
    for name in ("successes", "failures"):
        value = getattr(u, name)
        if not _finite(value, 0.0, math.inf):
            raise DataError(f"PosteriorUpdate.{name} must be a finite number >= 0; got {value!r}")
    for name in ("prior_alpha", "prior_beta"):
        value = getattr(u, name)
        if not (_finite(value, 0.0, math.inf) and value > 0):
            raise DataError(f"PosteriorUpdate.{name} must be a finite number > 0; got {value!r}")


def _check_cost(c: CostEstimate) -> None:
    for name in ("compute", "risk", "downtime"):
        value = getattr(c, name)
        if not _finite(value, 0.0, 1.0):
            raise DataError(f"CostEstimate.{name} must be a number in [0, 1]; got {value!r}")
    if isinstance(c.n, bool) or not isinstance(c.n, int) or c.n < 0:
        raise DataError(f"CostEstimate.n must be an integer >= 0; got {c.n!r}")
