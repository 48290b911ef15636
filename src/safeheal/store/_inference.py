"""The inference log in SQL: what the serving gateway answered, and the labels that came later.

:class:`SqlInferenceSink` is the gateway's ``InferenceSink`` (``safeheal.serve``) on the store's
database. The store does not import the gateway: the records it takes are described here by the
attributes it reads. Features are kept as float64 bytes (NumPy's ``tobytes``, little-endian,
row-major), which costs the log writer a copy instead of a JSON encoding of every number.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select

from safeheal.store._schema import feedback, inferences, utc
from safeheal.store._sql import DEFAULT_BUSY_TIMEOUT, SqlStore

_F8 = np.dtype("<f8")


class InferenceLike(Protocol):
    """What the sink reads from an inference record (``safeheal.serve.InferenceRecord``)."""

    @property
    def request_id(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def feature_names(self) -> Sequence[str]: ...
    @property
    def features(self) -> NDArray[np.float64] | None: ...
    @property
    def predictions(self) -> list[Any] | None: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def error(self) -> str | None: ...
    @property
    def at(self) -> datetime: ...


class FeedbackLike(Protocol):
    """What the sink reads from a feedback record (``safeheal.serve.FeedbackRecord``)."""

    @property
    def request_id(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def row(self) -> int: ...
    @property
    def label(self) -> int | float | str | bool: ...
    @property
    def at(self) -> datetime: ...


@dataclass(frozen=True, slots=True, eq=False)
class LoggedInference:
    """One logged request, as read back."""

    id: int
    request_id: str
    model: str
    version: int
    at: datetime
    latency_ms: float
    error: str | None
    feature_names: tuple[str, ...]
    #: rows x features, or None when the request failed before its rows were read.
    features: NDArray[np.float64] | None
    predictions: list[Any] | None


@dataclass(frozen=True, slots=True)
class LoggedFeedback:
    """One logged label, as read back."""

    request_id: str
    model: str
    row: int
    label: int | float | str | bool
    at: datetime


class SqlInferenceSink:
    """The inference log in the store's database (SQLite or PostgreSQL).

    ``write`` keeps one batch in one transaction: after it returns, the batch survives a crash.

    >>> from datetime import UTC, datetime
    >>> from safeheal.store import SqlInferenceSink, open_store
    >>> sink = SqlInferenceSink(open_store(":memory:"))
    >>> sink.count(), sink.count_feedback()
    (0, 0)
    """

    def __init__(self, store: SqlStore, *, owns_store: bool = False) -> None:
        self._store = store
        self._owns = owns_store

    @classmethod
    def open(
        cls,
        target: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> SqlInferenceSink:
        """A sink on the store at ``target`` (see :func:`~safeheal.store.open_store`), closed
        with the sink."""
        return cls(SqlStore.open(target, busy_timeout=busy_timeout), owns_store=True)

    def close(self) -> None:
        """Close the store if this sink opened it."""
        if self._owns:
            self._store.close()

    def write(
        self, inferences_: Sequence[InferenceLike], feedback_: Sequence[FeedbackLike]
    ) -> None:
        """Keep one batch, atomically."""
        inference_rows = [
            {
                "request_id": r.request_id,
                "model": r.model,
                "version": int(r.version),
                "at": r.at,
                "latency_ms": float(r.latency_ms),
                "error": r.error,
                "n_rows": 0 if r.features is None else int(r.features.shape[0]),
                "feature_names": list(r.feature_names),
                "features": None
                if r.features is None
                else np.ascontiguousarray(r.features, dtype=_F8).tobytes(),
                "predictions": r.predictions,
            }
            for r in inferences_
        ]
        feedback_rows = [
            {
                "request_id": f.request_id,
                "model": f.model,
                "row": f.row,
                "label": f.label,
                "at": f.at,
            }
            for f in feedback_
        ]
        if not inference_rows and not feedback_rows:
            return
        doing = f"writing {len(inference_rows)} inferences and {len(feedback_rows)} labels"
        with self._store._write(doing) as conn:
            if inference_rows:
                conn.execute(inferences.insert(), inference_rows)
            if feedback_rows:
                conn.execute(feedback.insert(), feedback_rows)

    def count(self, model: str | None = None) -> int:
        """How many requests are logged (for ``model``, if given)."""
        query = select(func.count()).select_from(inferences)
        if model is not None:
            query = query.where(inferences.c.model == model)
        with self._store._read("counting inferences") as conn:
            return int(conn.execute(query).scalar_one())

    def count_feedback(self, model: str | None = None) -> int:
        """How many labels are logged (for ``model``, if given)."""
        query = select(func.count()).select_from(feedback)
        if model is not None:
            query = query.where(feedback.c.model == model)
        with self._store._read("counting labels") as conn:
            return int(conn.execute(query).scalar_one())

    def inferences(
        self, model: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[LoggedInference]:
        """Logged requests of ``model``, oldest first (the newest ``limit`` if given)."""
        t = inferences.c
        query = select(
            t.id,
            t.request_id,
            t.model,
            t.version,
            t.at,
            t.latency_ms,
            t.error,
            t.n_rows,
            t.feature_names,
            t.features,
            t.predictions,
        ).where(t.model == model)
        if since is not None:
            query = query.where(t.at >= utc(since))
        if limit is not None:
            query = query.order_by(t.at.desc(), t.id.desc()).limit(limit)
        else:
            query = query.order_by(t.at, t.id)
        with self._store._read("reading inferences") as conn:
            rows = list(conn.execute(query).all())
        if limit is not None:
            rows.reverse()
        out = []
        for i, rid, m, version, at, latency, error, n, names, blob, predictions in rows:
            names = tuple(str(x) for x in names)
            X = None if blob is None else np.frombuffer(blob, dtype=_F8).reshape(n, len(names))
            out.append(
                LoggedInference(
                    int(i),
                    str(rid),
                    str(m),
                    int(version),
                    at,
                    float(latency),
                    error,
                    names,
                    X,
                    predictions,
                )
            )
        return out

    def feedback(self, model: str, *, since: datetime | None = None) -> list[LoggedFeedback]:
        """Logged labels of ``model``, oldest first."""
        t = feedback.c
        query = select(t.request_id, t.model, t.row, t.label, t.at).where(t.model == model)
        if since is not None:
            query = query.where(t.at >= utc(since))
        with self._store._read("reading feedback") as conn:
            rows = conn.execute(query.order_by(t.at, t.id)).all()
        return [
            LoggedFeedback(str(r), str(m), int(row), label, at) for r, m, row, label, at in rows
        ]
