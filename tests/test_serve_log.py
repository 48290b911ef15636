"""The inference log: batches, drain on close, a full queue, a failing or stuck sink, and what is
kept when the writer is stopped abruptly. Every record is accounted for."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

from safeheal.serve import (
    FeedbackRecord,
    GatewaySettings,
    InferenceRecord,
    InMemoryTrafficTable,
    LogStats,
    MemorySink,
    ServerThread,
    StaticModelSource,
    create_app,
)
from safeheal.serve._logwriter import LogWriter


def record(i: int) -> InferenceRecord:
    return InferenceRecord(
        request_id=f"r{i}",
        model="m",
        version=1,
        feature_names=("x",),
        features=np.array([[float(i)]]),
        predictions=[i],
        latency_ms=0.1,
        error=None,
        at=datetime.now(UTC),
    )


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def accounted(stats: LogStats) -> bool:
    return stats.enqueued == stats.written + stats.failed + stats.abandoned + stats.depth


class GatedSink(MemorySink):
    """A memory sink whose writes can be held (to stand for a slow database) or made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()
        self.failures_left = 0
        self.calls = 0

    def write(
        self, inferences: Sequence[InferenceRecord], feedback: Sequence[FeedbackRecord]
    ) -> None:
        self.calls += 1
        self.entered.set()
        self.open.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the database went away")
        super().write(inferences, feedback)


def test_full_batches_go_at_once_and_the_rest_on_close() -> None:
    sizes: list[int] = []

    class Sizes(MemorySink):
        def write(
            self, inferences: Sequence[InferenceRecord], feedback: Sequence[FeedbackRecord]
        ) -> None:
            sizes.append(len(inferences) + len(feedback))
            super().write(inferences, feedback)

    sink = Sizes()
    writer = LogWriter(sink, batch_size=10, flush_interval_s=60.0)
    writer.start()
    for i in range(25):
        assert writer.offer(record(i))
    wait_for(lambda: writer.stats().written >= 20)  # long before the 60 s interval
    stats = writer.close()
    assert (stats.written, stats.depth, stats.dropped) == (25, 0, 0)
    assert [r.request_id for r in sink.inferences] == [f"r{i}" for i in range(25)]
    assert max(sizes) == 10


def test_a_partial_batch_goes_after_the_flush_interval() -> None:
    sink = MemorySink()
    writer = LogWriter(sink, batch_size=1_000, flush_interval_s=0.01)
    writer.start()
    for i in range(3):
        writer.offer(record(i))
    wait_for(lambda: len(sink.inferences) == 3)
    writer.close()


def test_close_drains_everything_in_order_and_refuses_more() -> None:
    sink = MemorySink()
    writer = LogWriter(sink, batch_size=256, flush_interval_s=0.05)
    writer.start()
    n = 10_000
    for i in range(n):
        assert writer.offer(record(i))
    stats = writer.close()
    assert stats == LogStats(enqueued=n, written=n, dropped=0, failed=0, abandoned=0, depth=0)
    assert [r.request_id for r in sink.inferences] == [f"r{i}" for i in range(n)]
    assert not writer.offer(record(n))
    assert not asyncio.run(writer.put(record(n), timeout_s=1.0))
    assert writer.stats().dropped == 1


def test_a_full_queue_waits_then_drops_and_counts() -> None:
    sink = MemorySink()
    writer = LogWriter(sink, capacity=5, batch_size=5, flush_interval_s=60.0)
    for i in range(5):
        assert writer.offer(record(i))
    assert not writer.offer(record(5))
    assert not asyncio.run(writer.put(record(5), timeout_s=0.02))  # nobody drains: dropped
    assert writer.stats().dropped == 1

    async def put_while_draining() -> bool:
        writer.start()  # the writer frees room while put waits
        return await writer.put(record(6), timeout_s=10.0)

    assert asyncio.run(put_while_draining())
    stats = writer.close()
    assert (stats.enqueued, stats.written, stats.dropped) == (6, 6, 1)
    assert [r.request_id for r in sink.inferences] == ["r0", "r1", "r2", "r3", "r4", "r6"]


def test_a_failing_sink_is_retried_then_the_batch_is_counted_as_failed() -> None:
    sink = GatedSink()
    sink.failures_left = 2  # fails twice, then works: nothing lost
    writer = LogWriter(sink, batch_size=4, flush_interval_s=60.0, retries=3, retry_backoff_s=0.001)
    writer.start()
    for i in range(4):
        writer.offer(record(i))
    wait_for(lambda: writer.stats().written == 4)
    assert sink.calls == 3

    sink.failures_left = 4  # more failures than retries: the batch is given up, the next is fine
    for i in range(4, 8):
        writer.offer(record(i))
    wait_for(lambda: writer.stats().failed == 4)
    for i in range(8, 12):
        writer.offer(record(i))
    stats = writer.close()
    assert (stats.written, stats.failed) == (8, 4)
    assert accounted(stats)
    assert [r.request_id for r in sink.inferences][-4:] == ["r8", "r9", "r10", "r11"]


def test_what_an_abrupt_stop_keeps() -> None:
    """Records are kept once the sink call holding them returned; the batch in flight and the
    queue are what a stop that cannot wait loses, and they are counted, not silently gone."""
    sink = GatedSink()
    writer = LogWriter(sink, batch_size=10, flush_interval_s=60.0)
    writer.start()
    for i in range(10):
        writer.offer(record(i))
    wait_for(lambda: writer.stats().written == 10)  # batch 1: kept

    sink.open.clear()  # the database stalls
    sink.entered.clear()
    for i in range(10, 20):
        writer.offer(record(i))
    assert sink.entered.wait(10)  # batch 2 is in flight, stuck in the sink
    for i in range(20, 25):
        writer.offer(record(i))  # 5 more wait in the queue

    stats = writer.close(timeout_s=0.05)  # a stop that cannot wait for the sink
    assert [r.request_id for r in sink.inferences] == [f"r{i}" for i in range(10)]
    assert (stats.written, stats.abandoned, stats.depth) == (10, 5, 0)
    sink.open.set()  # the stalled call returns late: its batch is still counted, as written
    wait_for(lambda: writer.stats().written == 20)
    assert accounted(writer.stats())


def test_the_gateway_serves_while_the_sink_fails_and_logs_after_it_recovers() -> None:
    data = load_breast_cancer()
    source = StaticModelSource()
    model = DecisionTreeClassifier(max_depth=3).fit(data.data, data.target)
    source.add("m", 1, model, [str(n) for n in data.feature_names])
    sink = GatedSink()
    sink.failures_left = 2
    app = create_app(
        models=source,
        traffic=InMemoryTrafficTable({"m": [(1, 100)]}),
        sink=sink,
        settings=GatewaySettings(log_flush_interval_s=0.01),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        for i in range(50):
            body = {"rows": data.data[:1].tolist(), "request_id": f"q{i}"}
            assert client.post("/v1/models/m/predict", json=body).status_code == 200
    assert [r.request_id for r in sink.inferences] == [f"q{i}" for i in range(50)]
