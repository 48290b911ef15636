"""The inference log off the request path: a bounded queue and one writer thread.

Requests :meth:`~LogWriter.offer` records to an in-memory queue (a lock, an append: well under a
microsecond) and never wait for the sink. A background thread hands the sink batches of at most
``batch_size`` records, as soon as a batch is full or ``flush_interval_s`` after the last flush.

What is kept, precisely:

- Written: a record is durable once the ``sink.write`` call that holds it has returned.
- Graceful stop (SIGINT/SIGTERM to uvicorn, or the app's lifespan ending): uvicorn first lets
  in-flight requests finish, then :meth:`~LogWriter.close` writes everything still queued
  (bounded by ``drain_timeout_s``); nothing is lost unless the sink is stuck past that timeout,
  and then the leftovers are counted as ``abandoned``.
- Crash (the process is killed): the records still queued and the batch being written are lost.
  When the sink keeps up, that is at most one flush interval of traffic (50 ms by default), which
  is at most one batch at the loads the gateway is benchmarked at.
- Full queue (the sink is slower than traffic for a long while): a request waits up to
  ``enqueue_timeout_s`` for room without blocking other requests; if none frees up its record is
  dropped and counted (``dropped``, and ``safeheal_gateway_log_records_dropped_total``), and the
  prediction is still answered: serving beats logging when the two conflict.
- A failing sink: each batch is retried ``retries`` times with exponential backoff; a batch that
  still fails is counted as ``failed`` and the writer goes on with the next one.

Every record is accounted for: whenever no batch is being written,
``enqueued = written + failed + abandoned + depth``, and every request sent is either enqueued
or ``dropped``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from safeheal.serve._protocols import InferenceSink
from safeheal.serve._records import FeedbackRecord, InferenceRecord

_log = logging.getLogger("safeheal.serve")

LogRecord = InferenceRecord | FeedbackRecord


@dataclass(frozen=True, slots=True)
class LogStats:
    """Counters of the inference log since the writer was built."""

    #: Records accepted into the queue.
    enqueued: int
    #: Records the sink kept.
    written: int
    #: Records refused: the queue stayed full, or the writer was already closed.
    dropped: int
    #: Records in batches the sink failed to write, after retries.
    failed: int
    #: Records still queued when a shutdown gave up waiting for the sink.
    abandoned: int
    #: Records waiting in the queue now.
    depth: int


class LogWriter:
    """A bounded queue of log records and the thread that writes them to a sink in batches."""

    def __init__(
        self,
        sink: InferenceSink,
        *,
        capacity: int = 100_000,
        batch_size: int = 256,
        flush_interval_s: float = 0.05,
        retries: int = 3,
        retry_backoff_s: float = 0.05,
    ) -> None:
        self._sink = sink
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._retries = retries
        self._backoff = retry_backoff_s
        self._queue: deque[LogRecord] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._give_up = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._enqueued = self._written = self._dropped = self._failed = self._abandoned = 0

    # -- producer side (any thread, usually the event loop) -------------------------------------

    def offer(self, record: LogRecord) -> bool:
        """Queue ``record`` if there is room; never blocks. False if full or closed."""
        with self._lock:
            if self._closed or len(self._queue) >= self._capacity:
                return False
            self._queue.append(record)
            self._enqueued += 1
            full = len(self._queue) >= self._batch_size
        if full:
            self._wake.set()
        return True

    async def put(self, record: LogRecord, timeout_s: float) -> bool:
        """Queue ``record``, waiting up to ``timeout_s`` (asynchronously) for room; if none frees
        up, or the writer is closed, count it as dropped and return False."""
        if self.offer(record):
            return True
        deadline = time.monotonic() + timeout_s
        while not self._closed and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.002)
            if self.offer(record):
                return True
        with self._lock:
            self._dropped += 1
        _log.warning("inference log queue full: dropped the record of %s", record.request_id)
        return False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="safeheal-log-writer", daemon=True
            )
            self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the writer thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed writer takes no more records)."""
        return self._closed

    def close(self, timeout_s: float = 30.0) -> LogStats:
        """Refuse new records, write everything queued (waiting up to ``timeout_s``), stop the
        thread, and return the final counters. Records still queued after the timeout are
        counted as abandoned. Idempotent."""
        with self._lock:
            self._closed = True
        self._stopping.set()
        self._wake.set()
        if self._thread is None:
            # Never started: write what is queued from this thread.
            self._drain(until_empty=True)
        else:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._give_up.set()
        with self._lock:
            if self._queue:
                self._abandoned += len(self._queue)
                _log.error(
                    "inference log: the sink did not drain in %.1f s; %d records abandoned",
                    timeout_s,
                    len(self._queue),
                )
                self._queue.clear()
        return self.stats()

    def stats(self) -> LogStats:
        with self._lock:
            return LogStats(
                enqueued=self._enqueued,
                written=self._written,
                dropped=self._dropped,
                failed=self._failed,
                abandoned=self._abandoned,
                depth=len(self._queue),
            )

    # -- writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            if not self._stopping.is_set():
                self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            try:
                self._drain(until_empty=stopping)
            except Exception:  # never let the thread die: log and go on
                _log.exception("inference log writer: unexpected error")
            if stopping and (not self._queue or self._give_up.is_set()):
                return

    def _take(self) -> list[LogRecord]:
        with self._lock:
            n = min(self._batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def _drain(self, *, until_empty: bool) -> None:
        while not self._give_up.is_set():
            batch = self._take()
            if not batch:
                return
            self._write(batch)
            if len(batch) < self._batch_size and not until_empty:
                return  # a partial batch: wait for more or for the next interval

    def _write(self, batch: list[LogRecord]) -> None:
        inferences = [r for r in batch if isinstance(r, InferenceRecord)]
        feedback = [r for r in batch if isinstance(r, FeedbackRecord)]
        for attempt in range(self._retries + 1):
            try:
                self._sink.write(inferences, feedback)
            except Exception:
                _log.exception(
                    "inference log: the sink failed to write %d records (attempt %d of %d)",
                    len(batch),
                    attempt + 1,
                    self._retries + 1,
                )
                if attempt < self._retries and not self._give_up.wait(self._backoff * 2**attempt):
                    continue
                break
            else:
                with self._lock:
                    self._written += len(batch)
                return
        with self._lock:
            self._failed += len(batch)
