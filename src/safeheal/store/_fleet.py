"""Several processes on one store: the shared traffic split and the controllers' leases.

:class:`FleetRecords` is a part of :class:`~safeheal.store.SqlStore` (its methods are the
store's), like :mod:`safeheal.store._control`.

**Traffic splits.** A model's arms, ``((version, weight), …)``, with a revision that every
write increments. The gateway reads them (cached, see :class:`safeheal.heal.SharedRouter`), the
controller's executors and canaries write them; both processes on the same store therefore
serve and steer the same split. The store checks only the shape; the router checks the weights.

**Leases.** A controller claims the models it runs (:meth:`FleetRecords.claim_leases`): in one
transaction it renews its heartbeat and its own leases, gives up the leases beyond its fair share
(the models divided by the controllers alive), and takes free or expired ones up to that share,
on PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED`` so that two controllers claiming at once
never wait for, nor take, the same row. On SQLite a write transaction (``BEGIN IMMEDIATE``)
already serialises claims. A controller that dies stops renewing: after ``ttl`` its models are
taken over by the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from safeheal.errors import DataError
from safeheal.store._heal import _aware
from safeheal.store._schema_fleet import control_leases, control_owners, traffic_splits

if TYPE_CHECKING:
    from safeheal.store._engine import Backend

__all__ = ["FleetRecords", "LeaseRecord", "SplitRecord"]

#: The expiry of a lease nobody holds: long past.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SplitRecord:
    """A model's stored traffic split."""

    model: str
    arms: tuple[tuple[int, float], ...]
    revision: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """Who runs a model, until when (``owner`` is ``""`` when nobody does)."""

    model: str
    owner: str
    expires_at: datetime
    acquired_at: datetime

    def live(self, now: datetime) -> bool:
        """Whether someone holds the lease at ``now``."""
        return bool(self.owner) and self.expires_at > now


def _arms_doc(model: str, arms: Sequence[tuple[int, float]]) -> list[list[float | int]]:
    out: list[list[float | int]] = []
    for item in arms:
        try:
            version, weight = item
            out.append([int(version), float(weight)])
        except (TypeError, ValueError):
            raise DataError(
                f"the arms of model {model!r} must be (version, weight) pairs; got {item!r}"
            ) from None
    if not out:
        raise DataError(f"the split of model {model!r} needs at least one arm; got none")
    if any(not math.isfinite(w) for _, w in out):
        raise DataError(f"the weights of model {model!r} must be finite; got {out}")
    return out


def _split(row: Any) -> SplitRecord:
    m = row._mapping
    return SplitRecord(
        model=str(m["model"]),
        arms=tuple((int(v), float(w)) for v, w in m["arms"]),
        revision=int(m["revision"]),
        updated_at=m["updated_at"],
    )


class FleetRecords:
    """Shared traffic splits and controller leases: methods of :class:`~safeheal.store.SqlStore`."""

    if TYPE_CHECKING:

        @property
        def url(self) -> str: ...

        @property
        def backend(self) -> Backend: ...

        def _write(self, doing: str) -> AbstractContextManager[Connection]: ...

        def _read(self, doing: str) -> AbstractContextManager[Connection]: ...

    # -- traffic splits --------------------------------------------------------------------------

    def save_split(
        self, model: str, arms: Sequence[tuple[int, float]], *, at: datetime | None = None
    ) -> int:
        """Replace the split of ``model`` with ``arms``; returns its new revision (1 for the
        first)."""
        values = {
            "model": model,
            "arms": _arms_doc(model, arms),
            "revision": 1,
            "updated_at": _aware(at, "at") if at is not None else datetime.now(UTC),
        }
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = insert(traffic_splits).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=["model"],
            set_={
                "arms": stmt.excluded.arms,
                "revision": traffic_splits.c.revision + 1,
                "updated_at": stmt.excluded.updated_at,
            },
        ).returning(traffic_splits.c.revision)
        with self._write(f"saving the traffic split of {model!r}") as conn:
            return int(conn.execute(upsert).scalar_one())

    def init_split(
        self, model: str, arms: Sequence[tuple[int, float]], *, at: datetime | None = None
    ) -> SplitRecord:
        """The stored split of ``model``; ``arms`` become it (revision 1) only if none is stored
        yet (a process starting beside others never overwrites the split they steer)."""
        values = {
            "model": model,
            "arms": _arms_doc(model, arms),
            "revision": 1,
            "updated_at": _aware(at, "at") if at is not None else datetime.now(UTC),
        }
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        stmt = insert(traffic_splits).values(**values).on_conflict_do_nothing()
        with self._write(f"initialising the traffic split of {model!r}") as conn:
            conn.execute(stmt)
            row = conn.execute(select(traffic_splits).where(traffic_splits.c.model == model)).one()
        return _split(row)

    def load_splits(self, models: Sequence[str] | None = None) -> dict[str, SplitRecord]:
        """The stored splits (of ``models``, if given), by model."""
        query = select(traffic_splits)
        if models is not None:
            query = query.where(traffic_splits.c.model.in_(list(models)))
        with self._read("reading the traffic splits") as conn:
            rows = conn.execute(query).all()
        return {r.model: r for r in map(_split, rows)}

    # -- leases ----------------------------------------------------------------------------------

    def claim_leases(
        self, owner: str, models: Sequence[str], *, now: datetime, ttl: timedelta
    ) -> tuple[str, ...]:
        """Renew and take leases on ``models`` for ``owner`` until ``now + ttl``; returns the
        models ``owner`` holds after the call, sorted.

        In one transaction: the owner's heartbeat is renewed (and dead owners' are dropped); its
        leases are renewed, those beyond its fair share (``ceil(len(models) / owners alive)``)
        released; then free or expired leases are taken up to that share, on PostgreSQL with
        ``FOR UPDATE SKIP LOCKED``. A lease live for another owner is never taken.
        """
        if not owner:
            raise DataError("a lease owner must be a non-empty string")
        now = _aware(now, "now")
        if ttl <= timedelta(0):
            raise DataError(f"a lease's ttl must be positive; got {ttl}")
        names = sorted(set(models))
        until = now + ttl
        pg = self.backend == "postgresql"
        insert = postgresql.insert if pg else sqlite.insert
        o, le = control_owners.c, control_leases.c
        with self._write(f"claiming leases for {owner!r}") as conn:
            beat = insert(control_owners).values(owner=owner, expires_at=until, started_at=now)
            conn.execute(
                beat.on_conflict_do_update(index_elements=["owner"], set_={"expires_at": until})
            )
            conn.execute(delete(control_owners).where(o.expires_at <= now, o.owner != owner))
            if not names:
                return ()
            known = set(conn.execute(select(le.model).where(le.model.in_(names))).scalars())
            if len(known) < len(names):  # a model's first claim: its row, held by nobody
                conn.execute(
                    insert(control_leases)
                    .values(
                        [
                            {"model": m, "owner": "", "expires_at": _NEVER, "acquired_at": now}
                            for m in names
                            if m not in known
                        ]
                    )
                    .on_conflict_do_nothing()
                )
            alive = int(
                conn.execute(
                    select(func.count()).select_from(control_owners).where(o.expires_at > now)
                ).scalar_one()
            )
            share = math.ceil(len(names) / max(1, alive))
            mine = sorted(
                conn.execute(
                    update(control_leases)
                    .where(le.owner == owner, le.model.in_(names))
                    .values(expires_at=until)
                    .returning(le.model)
                ).scalars()
            )
            if len(mine) > share:
                extra = mine[share:]
                conn.execute(
                    update(control_leases)
                    .where(le.owner == owner, le.model.in_(extra))
                    .values(owner="", expires_at=_NEVER)
                )
                mine = mine[:share]
            wanted = share - len(mine)
            if wanted > 0:
                free = (
                    select(le.model)
                    .where(le.model.in_(names), le.owner != owner, le.expires_at <= now)
                    .order_by(le.model)
                    .limit(wanted)
                    .with_for_update(skip_locked=True)
                )
                candidates = list(conn.execute(free).scalars())
                if candidates:
                    taken = conn.execute(
                        update(control_leases)
                        .where(le.model.in_(candidates), le.expires_at <= now)
                        .values(owner=owner, expires_at=until, acquired_at=now)
                        .returning(le.model)
                    ).scalars()
                    mine += list(taken)
        return tuple(sorted(mine))

    def release_leases(self, owner: str, *, at: datetime | None = None) -> None:
        """Give up every lease of ``owner`` and its heartbeat (a controller that stops cleanly:
        the others take its models over at once)."""
        with self._write(f"releasing the leases of {owner!r}") as conn:
            conn.execute(
                update(control_leases)
                .where(control_leases.c.owner == owner)
                .values(owner="", expires_at=_NEVER)
            )
            conn.execute(delete(control_owners).where(control_owners.c.owner == owner))

    def holds_lease(self, owner: str, model: str, *, now: datetime) -> bool:
        """Whether ``owner`` holds a live lease on ``model`` at ``now``."""
        le = control_leases.c
        query = select(le.model).where(
            le.model == model, le.owner == owner, le.expires_at > _aware(now, "now")
        )
        with self._read(f"checking the lease of {model!r}") as conn:
            return conn.execute(query).first() is not None

    def leases(self, models: Sequence[str] | None = None) -> list[LeaseRecord]:
        """The stored leases (of ``models``, if given), by model name."""
        le = control_leases.c
        query = select(le.model, le.owner, le.expires_at, le.acquired_at).order_by(le.model)
        if models is not None:
            query = query.where(le.model.in_(list(models)))
        with self._read("reading the leases") as conn:
            rows = conn.execute(query).all()
        return [LeaseRecord(str(m), str(o), e, a) for m, o, e, a in rows]
