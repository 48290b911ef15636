"""One window of a model's traffic, read from the inference log: the rows, their predictions,
the labels that have arrived, latencies and errors, and per-version counters for a canary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from safeheal.store import SqlInferenceSink, SqlStore

__all__ = ["WindowData", "read_window"]


@dataclass(frozen=True, slots=True, eq=False)
class WindowData:
    """What the model served in ``[start, end)``."""

    start: datetime
    end: datetime
    feature_names: tuple[str, ...]
    #: rows x features of the requests that were answered.
    X: NDArray[np.float64]
    #: one prediction per row of ``X``.
    y_pred: list[Any]
    #: the label of each row of ``X``, or None where none has arrived.
    y_true: list[Any]
    #: the version that answered each row of ``X``.
    versions: NDArray[np.int64]
    #: the latency of the request that carried each row of ``X``.
    latency_ms: NDArray[np.float64]
    requests: int
    errors: int

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    def served_by(self, version: int) -> WindowData:
        """The rows ``version`` answered (a window split between versions by a canary that
        ended at its close is judged on the version that serves from now on). Failed requests
        name no rows; they are counted in proportion to the rows kept."""
        keep = self.versions == int(version)
        idx = np.flatnonzero(keep)
        share = float(keep.mean()) if keep.size else 0.0
        return WindowData(
            start=self.start,
            end=self.end,
            feature_names=self.feature_names,
            X=self.X[idx],
            y_pred=[self.y_pred[i] for i in idx],
            y_true=[self.y_true[i] for i in idx],
            versions=self.versions[idx],
            latency_ms=self.latency_ms[idx],
            requests=self.requests,
            errors=round(self.errors * share),
        )

    def labelled(self) -> tuple[NDArray[np.float64], NDArray[Any]] | None:
        """``(X, y)`` of the rows whose label has arrived, or None if none has."""
        idx = [i for i, v in enumerate(self.y_true) if v is not None]
        if not idx:
            return None
        return self.X[idx], np.asarray([self.y_true[i] for i in idx])


def read_window(
    store: SqlStore,
    sink: SqlInferenceSink,
    model: str,
    start: datetime,
    end: datetime,
    *,
    max_requests: int,
    label_since: datetime | None = None,
) -> WindowData:
    """The requests of ``model`` logged in ``[start, end)`` (at most the newest
    ``max_requests``), with the labels logged since ``label_since`` (default ``start``) and before
    ``end`` joined to them by (request id, row)."""
    logged = [r for r in sink.inferences(model, since=start, limit=max_requests) if r.at < end]
    labels = store.labels_by_request(model, since=label_since or start, until=end)
    names: tuple[str, ...] = ()
    blocks: list[NDArray[np.float64]] = []
    preds: list[Any] = []
    truth: list[Any] = []
    versions: list[NDArray[np.int64]] = []
    latency: list[NDArray[np.float64]] = []
    errors = 0
    for r in logged:
        if r.error is not None or r.features is None or r.predictions is None:
            errors += 1
            continue
        if not names:
            names = r.feature_names
        if r.feature_names != names:  # a schema change mid-window: keep the first schema's rows
            continue
        n = int(r.features.shape[0])
        blocks.append(r.features)
        preds.extend(r.predictions)
        answered = labels.get(r.request_id)
        truth.extend([None] * n if answered is None else map(answered.get, range(n)))
        versions.append(np.full(n, r.version, dtype=np.int64))
        latency.append(np.full(n, r.latency_ms, dtype=np.float64))
    width = len(names)
    X = np.concatenate(blocks) if blocks else np.empty((0, width), dtype=np.float64)
    return WindowData(
        start=start,
        end=end,
        feature_names=names,
        X=X,
        y_pred=preds,
        y_true=truth,
        versions=np.concatenate(versions) if versions else np.empty(0, dtype=np.int64),
        latency_ms=np.concatenate(latency) if latency else np.empty(0, dtype=np.float64),
        requests=len(logged),
        errors=errors,
    )
