"""The gateway logging into the store's database (a real SQLite file): what is kept after a
graceful stop, and after a stop that cannot wait for the database."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

from safeheal.serve import (
    FeedbackRecord,
    GatewaySettings,
    InferenceRecord,
    InMemoryTrafficTable,
    ServerThread,
    StaticModelSource,
    create_app,
)
from safeheal.store import SqlInferenceSink

DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]


def source() -> StaticModelSource:
    models = StaticModelSource()
    for version, depth in ((1, 1), (2, 3)):
        tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(DATA.data, DATA.target)
        models.add("cancer", version, tree, NAMES)
    return models


def test_every_request_and_label_is_in_the_database_after_a_graceful_stop(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    sink = SqlInferenceSink.open(path)
    app = create_app(
        models=source(),
        traffic=InMemoryTrafficTable({"cancer": [(2, 30), (1, 70)]}),
        sink=sink,
        settings=GatewaySettings(log_batch_size=16),
    )
    answers = []
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        for i in range(120):
            rows = DATA.data[i : i + 1 + i % 3].tolist()
            body = {"rows": rows, "request_id": f"r{i}"}
            answers.append(client.post("/v1/models/cancer/predict", json=body).json())
        labels = {"request_id": "r5", "labels": [1, 0, 1]}
        assert client.post("/v1/models/cancer/feedback", json=labels).status_code == 202
    sink.close()

    reopened = SqlInferenceSink.open(path)  # as the controller, in another process, would
    logged = reopened.inferences("cancer")
    assert reopened.count() == 120
    assert [r.request_id for r in logged] == [f"r{i}" for i in range(120)]
    for i, (record, answer) in enumerate(zip(logged, answers, strict=True)):
        assert record.version == answer["version"]
        assert record.predictions == answer["predictions"]
        assert record.feature_names == tuple(NAMES)
        assert record.features is not None
        np.testing.assert_array_equal(record.features, DATA.data[i : i + 1 + i % 3])
        assert record.error is None
        assert record.latency_ms > 0
    assert [(f.request_id, f.row, f.label) for f in reopened.feedback("cancer")] == [
        ("r5", 0, 1),
        ("r5", 1, 0),
        ("r5", 2, 1),
    ]
    assert len(reopened.inferences("cancer", limit=10)) == 10
    reopened.close()


class StallingSink:
    """The SQL sink behind a gate: closing the gate stands for a database that stops answering."""

    def __init__(self, sink: SqlInferenceSink) -> None:
        self.sink = sink
        self.gate = threading.Event()
        self.gate.set()
        self.stalled = threading.Event()

    def write(
        self, inferences: Sequence[InferenceRecord], feedback: Sequence[FeedbackRecord]
    ) -> None:
        if not self.gate.is_set():
            self.stalled.set()
            self.gate.wait()
        self.sink.write(inferences, feedback)


def test_what_a_stop_that_cannot_wait_keeps(tmp_path: Path) -> None:
    """Batches the database committed are kept; the batch stuck in flight and the records still
    queued are not, and the gateway reports them (abandoned) instead of losing them silently."""
    path = tmp_path / "log.db"
    sink = StallingSink(SqlInferenceSink.open(path))
    settings = GatewaySettings(
        log_batch_size=10, log_flush_interval_s=0.01, log_drain_timeout_s=0.1
    )
    app = create_app(
        models=source(),
        traffic=InMemoryTrafficTable({"cancer": [(1, 100)]}),
        sink=sink,
        settings=settings,
    )
    gateway = app.state.gateway
    row = DATA.data[:1].tolist()
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        for i in range(30):
            client.post("/v1/models/cancer/predict", json={"rows": row, "request_id": f"a{i}"})
        while gateway.log.stats().written < 30:
            threading.Event().wait(0.005)
        sink.gate.clear()  # the database stalls
        for i in range(25):
            client.post("/v1/models/cancer/predict", json={"rows": row, "request_id": f"b{i}"})
        assert sink.stalled.wait(10)
    stats = gateway.log.stats()  # the server stopped without waiting for the database

    on_disk = SqlInferenceSink.open(path)
    assert [r.request_id for r in on_disk.inferences("cancer")] == [f"a{i}" for i in range(30)]
    in_flight = stats.enqueued - stats.written - stats.abandoned
    assert 0 < in_flight <= 10  # at most one batch
    assert stats.abandoned == 25 - in_flight
    sink.gate.set()  # the database answers again: the batch in flight commits late
    while gateway.log.stats().written < 30 + in_flight:
        threading.Event().wait(0.005)
    assert on_disk.count() == 30 + in_flight
    on_disk.close()
    sink.sink.close()


def _postgres_url() -> str | None:
    url = os.environ.get("SAFEHEAL_TEST_POSTGRES_URL", "").strip()
    if not url and os.environ.get("CI"):
        pytest.fail("SAFEHEAL_TEST_POSTGRES_URL is not set (CI must run the PostgreSQL tests)")
    return url or None


def test_the_sink_round_trips_on_postgresql() -> None:
    """Same records in, same records out, on PostgreSQL (skipped without a server, as the store's
    conformance suite is)."""
    base = _postgres_url()
    if base is None:
        pytest.skip("SAFEHEAL_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        sink = SqlInferenceSink.open(url.render_as_string(hide_password=False))
        now = datetime.now(UTC)
        X = DATA.data[:3]
        records = [
            InferenceRecord("r1", "m", 2, tuple(NAMES), X, [0, 1, 1], 1.5, None, now),
            InferenceRecord("r2", "m", 1, (), None, None, 0.2, "model_unavailable: gone", now),
        ]
        sink.write(records, [FeedbackRecord("r1", "m", 2, "yes", now)])
        logged = sink.inferences("m")
        assert [(r.request_id, r.version, r.predictions, r.error) for r in logged] == [
            ("r1", 2, [0, 1, 1], None),
            ("r2", 1, None, "model_unavailable: gone"),
        ]
        assert logged[0].features is not None
        np.testing.assert_array_equal(logged[0].features, X)
        assert logged[1].features is None
        assert [(f.request_id, f.row, f.label) for f in sink.feedback("m")] == [("r1", 2, "yes")]
        sink.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
