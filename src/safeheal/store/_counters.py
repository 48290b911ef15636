"""Canary counters from the inference log: what one version served over a period, and how well.

:class:`InferenceCounts` is a part of :class:`~safeheal.store.SqlStore` (its method is the
store's): the controller asks it, every window, for the counters of both arms of a canary and
hands them to the canary's judge (``safeheal.heal.assess``). Everything is counted by the
database, in two aggregate queries, so a window of a million logged rows costs no Python loop.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal_column,
    select,
)

from safeheal.core.records import ArmCounters
from safeheal.core.validate import number_in
from safeheal.errors import DataError
from safeheal.store._schema import feedback, inferences, utc

if TYPE_CHECKING:
    from safeheal.store._engine import Backend

_OWNER = "SqlStore.arm_counters"


def _aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise DataError(f"`{name}` of {_OWNER} must be a timezone-aware datetime; got {value!r}")
    return value


def _prediction_equals_label(
    backend: Backend, predictions: Any, row: Any, label: Any
) -> ColumnElement[bool]:
    """SQL: element ``row`` of the JSON array ``predictions`` equals the JSON value ``label``.

    Numbers compare by value (1 equals 1.0), strings by text, and a boolean equals the number it
    stands for (true equals 1), on both backends, as Python's ``==`` would have it.
    """
    if backend == "postgresql":

        def norm(x: Any) -> Any:
            return case(
                (
                    func.jsonb_typeof(x) == "boolean",
                    case(
                        (x == literal_column("'true'::jsonb"), literal_column("'1'::jsonb")),
                        else_=literal_column("'0'::jsonb"),
                    ),
                ),
                else_=x,
            )

        element = predictions.op("->")(cast(row, Integer))
        return norm(element) == norm(label)  # type: ignore[no-any-return]
    # SQLite's json_extract gives SQL values: numbers compare by value, true is 1.
    element = func.json_extract(predictions, "$[" + cast(row, String) + "]")
    return element == func.json_extract(label, "$")


class InferenceCounts:
    """Counters of the inference log: methods of :class:`~safeheal.store.SqlStore`."""

    if TYPE_CHECKING:

        @property
        def backend(self) -> Backend: ...

        def _read(self, doing: str) -> AbstractContextManager[Connection]: ...

    def arm_counters(
        self,
        model: str,
        version: int,
        *,
        since: datetime,
        until: datetime,
        latency_slo_ms: float,
    ) -> ArmCounters:
        """The canary counters of ``version`` of ``model`` over the requests it served in
        ``[since, until)`` (by the time the gateway logged them).

        Counts are of predictions (rows): a request of n rows counts n times, and a request that
        failed before its rows were read counts once. So that a one-row request and a batch weigh
        what they serve:

        - ``requests``: rows served, failed or not;
        - ``errors``: of those, rows of requests that failed;
        - ``within_slo``: rows of successful requests answered within ``latency_slo_ms``;
        - ``labelled``: rows of successful requests whose label has arrived (joined on request
          id and row, whenever it arrived; of several labels for one row the last one counts);
        - ``correct``: of those, rows whose prediction equals the label (numbers by value, so 1
          equals 1.0 and true equals 1).

        >>> from datetime import UTC, datetime
        >>> from safeheal.store import open_store
        >>> store = open_store(":memory:")
        >>> t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
        >>> store.arm_counters("churn", 1, since=t0, until=t1, latency_slo_ms=100)
        ArmCounters(requests=0, errors=0, labelled=0, correct=0, within_slo=0)
        """
        since = utc(_aware(since, "since"))
        until = utc(_aware(until, "until"))
        if until < since:
            raise DataError(
                f"the period of {_OWNER} must not end before it starts; got since={since} "
                f"and until={until}"
            )
        slo = number_in(latency_slo_ms, name="latency_slo_ms", owner=_OWNER, low=0, low_open=True)
        if isinstance(version, bool) or not isinstance(version, int):
            raise DataError(f"`version` of {_OWNER} must be an integer; got {version!r}")
        i = inferences.c
        served = and_(i.model == model, i.version == version, i.at >= since, i.at < until)
        rows = case((i.n_rows > 0, i.n_rows), else_=1)
        totals = select(
            func.coalesce(func.sum(rows), 0),
            func.coalesce(func.sum(case((i.error.is_not(None), rows), else_=0)), 0),
            func.coalesce(
                func.sum(case((and_(i.error.is_(None), i.latency_ms <= slo), i.n_rows), else_=0)),
                0,
            ),
        ).where(served)

        # The last label of each (request, row) that a successful request in the period served.
        f = feedback.c
        pairs = (
            select(
                i.id.label("inference_id"),
                f.row.label("row"),
                func.max(f.id).label("feedback_id"),
            )
            .select_from(
                inferences.join(feedback, and_(f.model == i.model, f.request_id == i.request_id))
            )
            .where(served, i.error.is_(None), f.row >= 0, f.row < i.n_rows)
            .group_by(i.id, f.row)
            .subquery("pairs")
        )
        inf = inferences.alias("inf")
        fb = feedback.alias("fb")
        correct = _prediction_equals_label(self.backend, inf.c.predictions, pairs.c.row, fb.c.label)
        labels = select(
            func.count(),
            func.coalesce(func.sum(case((correct, 1), else_=0)), 0),
        ).select_from(
            pairs.join(inf, inf.c.id == pairs.c.inference_id).join(
                fb, fb.c.id == pairs.c.feedback_id
            )
        )
        with self._read(f"counting what version {version} of {model!r} served") as conn:
            requests, errors, within = conn.execute(totals).one()
            labelled, right = conn.execute(labels).one()
        return ArmCounters(
            requests=int(requests),
            errors=int(errors),
            labelled=int(labelled),
            correct=int(right),
            within_slo=int(within),
        )
