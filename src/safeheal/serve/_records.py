"""What the gateway logs: one record per served request, one per feedback label."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: A label as JSON carries it.
Label = int | float | str | bool


@dataclass(frozen=True, slots=True, eq=False)
class InferenceRecord:
    """One request to ``predict``: its rows, the version that answered, and how it went.

    ``features`` is the request's rows as a float64 array (rows x features, in the order of
    ``feature_names``); ``predictions`` holds one JSON value per row. When the model failed,
    ``predictions`` is None and ``error`` says why; ``features`` is None when the model could
    not even be loaded. Arrays are shared with the request: treat them as read-only.
    """

    request_id: str
    model: str
    version: int
    feature_names: tuple[str, ...]
    features: NDArray[np.float64] | None
    predictions: list[Any] | None
    latency_ms: float
    error: str | None
    at: datetime

    @property
    def rows(self) -> int:
        """Number of rows in the request (0 when the features are unknown)."""
        return 0 if self.features is None else int(self.features.shape[0])


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """The true label of one row of an earlier request, joined later by ``(request_id, row)``."""

    request_id: str
    model: str
    row: int
    label: Label
    at: datetime


class MemorySink:
    """An :class:`~safeheal.serve.InferenceSink` that keeps every record in memory, thread-safely.

    Useful in notebooks, tests and demos, and as a reference for writing a sink: ``write`` is
    called from the gateway's log-writer thread with one batch at a time.

    >>> sink = MemorySink()
    >>> sink.write([], [])
    >>> len(sink.inferences), len(sink.feedback), sink.batches
    (0, 0, 1)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inferences: list[InferenceRecord] = []
        self._feedback: list[FeedbackRecord] = []
        self._batches = 0

    def write(
        self, inferences: Sequence[InferenceRecord], feedback: Sequence[FeedbackRecord]
    ) -> None:
        """Keep one batch."""
        with self._lock:
            self._inferences.extend(inferences)
            self._feedback.extend(feedback)
            self._batches += 1

    @property
    def inferences(self) -> list[InferenceRecord]:
        """A snapshot of the inference records written so far, in order."""
        with self._lock:
            return list(self._inferences)

    @property
    def feedback(self) -> list[FeedbackRecord]:
        """A snapshot of the feedback records written so far, in order."""
        with self._lock:
            return list(self._feedback)

    @property
    def batches(self) -> int:
        """How many times ``write`` was called."""
        with self._lock:
            return self._batches
