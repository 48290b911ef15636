"""The gateway over real HTTP: uvicorn on a loopback port in a thread, real scikit-learn models.

Routing (proportions, stickiness, the right version), feedback, the inference log after a
graceful stop, health, metrics, OpenAPI, and a model that fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from scipy.stats import binom
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.serve import (
    GatewaySettings,
    InMemoryTrafficTable,
    MemorySink,
    ServerThread,
    StaticModelSource,
    create_app,
)

MODEL = "cancer"


@dataclass(frozen=True)
class Trained:
    X: np.ndarray
    names: list[str]
    versions: dict[int, Any]


@pytest.fixture(scope="module")
def trained() -> Trained:
    data = load_breast_cancer()
    X, y = data.data, data.target
    v1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    v2 = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    return Trained(X=X, names=[str(n) for n in data.feature_names], versions={1: v1, 2: v2})


def source_of(trained: Trained) -> StaticModelSource:
    source = StaticModelSource()
    for version, model in trained.versions.items():
        source.add(MODEL, version, model, trained.names)
    return source


@contextmanager
def live(app: FastAPI) -> Iterator[httpx.Client]:
    """The app on a free loopback port; yields a client once /healthz answers; stops cleanly
    (requests finish, the log drains) on exit."""
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        yield client


def predict(client: httpx.Client, rows: Any, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"rows": rows}
    if request_id is not None:
        body["request_id"] = request_id
    response = client.post(f"/v1/models/{MODEL}/predict", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_canary_share_stickiness_and_the_log(trained: Trained) -> None:
    """2,000 request ids at a 10% canary: the canary's share is within a binomial bound, each
    answer comes from the version it names, a repeated id goes to the same version, and after
    the graceful stop the log holds exactly one record per request, as answered."""
    sink = MemorySink()
    table = InMemoryTrafficTable({MODEL: [(2, 10), (1, 90)]})
    app = create_app(models=source_of(trained), traffic=table, sink=sink)
    n = 2_000
    X = trained.X
    answers: list[dict[str, Any]] = []
    with live(app) as client:
        for i in range(n):
            answers.append(predict(client, [X[i % len(X)].tolist()], request_id=f"req-{i}"))
        repeats = [predict(client, [X[0].tolist()], request_id=f"req-{i}") for i in range(200)]

    canary = sum(a["version"] == 2 for a in answers)
    low, high = binom.ppf(1e-6, n, 0.10), binom.isf(1e-6, n, 0.10)
    assert low <= canary <= high, (canary, low, high)

    for i, answer in enumerate(answers):
        model = trained.versions[answer["version"]]
        assert answer["request_id"] == f"req-{i}"
        assert answer["predictions"] == model.predict(X[i % len(X)][None, :]).tolist()
    for i, again in enumerate(repeats):
        assert again["version"] == answers[i]["version"]

    records = sink.inferences
    assert len(records) == n + len(repeats)
    by_id = {r.request_id: r for r in records[:n]}
    assert len(by_id) == n
    for i, answer in enumerate(answers):
        record = by_id[f"req-{i}"]
        assert record.version == answer["version"]
        assert record.predictions == answer["predictions"]
        assert record.error is None
        assert record.features is not None
        np.testing.assert_array_equal(record.features, X[i % len(X)][None, :])
        assert record.feature_names == tuple(trained.names)


def test_rows_by_name_in_any_order_equal_rows_in_feature_order(trained: Trained) -> None:
    app = create_app(
        models=source_of(trained),
        traffic=InMemoryTrafficTable({MODEL: [(1, 100)]}),
        sink=MemorySink(),
    )
    rows = trained.X[:100]
    by_name = [dict(reversed(list(zip(trained.names, r.tolist(), strict=True)))) for r in rows]
    with live(app) as client:
        as_lists = predict(client, rows.tolist())
        as_objects = predict(client, by_name)
        generated = {predict(client, rows[:1].tolist())["request_id"] for _ in range(5)}
    expected = trained.versions[1].predict(rows).tolist()
    assert as_lists["predictions"] == as_objects["predictions"] == expected
    assert len(generated) == 5
    for request_id in generated:
        assert uuid.UUID(hex=request_id).version == 4


def test_feedback_is_logged_in_both_forms(trained: Trained) -> None:
    sink = MemorySink()
    app = create_app(
        models=source_of(trained),
        traffic=InMemoryTrafficTable({MODEL: [(1, 100)]}),
        sink=sink,
    )
    with live(app) as client:
        predict(client, trained.X[:3].tolist(), request_id="a")
        url = f"/v1/models/{MODEL}/feedback"
        one = client.post(url, json={"request_id": "a", "labels": [1, 0, 1]})
        items = [{"request_id": "a", "row": 2, "label": 0}, {"request_id": "b", "label": "yes"}]
        many = client.post(url, json={"labels": items})
        assert (one.status_code, one.json()) == (202, {"accepted": 3})
        assert (many.status_code, many.json()) == (202, {"accepted": 2})
    got = [(f.request_id, f.row, f.label, f.model) for f in sink.feedback]
    assert got == [
        ("a", 0, 1, MODEL),
        ("a", 1, 0, MODEL),
        ("a", 2, 1, MODEL),
        ("a", 2, 0, MODEL),
        ("b", 0, "yes", MODEL),
    ]


class Exploding:
    """A model whose predict fails, as a model with a bug or a missing dependency would."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise RuntimeError("out of memory in the model")


class WrongLength:
    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X) + 1)


def test_a_failing_model_is_a_503_counted_and_logged_and_the_app_lives_on(trained: Trained) -> None:
    source = source_of(trained)
    source.add("broken", 1, Exploding(), trained.names)
    source.add("sloppy", 1, WrongLength(), trained.names)
    sink = MemorySink()
    table = InMemoryTrafficTable({MODEL: [(1, 100)], "broken": [(1, 100)], "sloppy": [(1, 100)]})
    app = create_app(models=source, traffic=table, sink=sink)
    row = trained.X[:1].tolist()
    with live(app) as client:
        for name in ("broken", "sloppy"):
            body = {"rows": row, "request_id": name}
            failed = client.post(f"/v1/models/{name}/predict", json=body)
            assert failed.status_code == 503
            assert failed.json()["error"]["code"] == "model_error"
            assert name in failed.json()["error"]["message"]
        assert predict(client, row)["version"] == 1
        metrics = client.get("/metrics").text
    assert 'safeheal_gateway_predict_errors_total{model="broken",version="1"} 1.0' in metrics
    assert 'safeheal_gateway_predict_errors_total{model="sloppy",version="1"} 1.0' in metrics
    errors = {r.request_id: r for r in sink.inferences if r.error is not None}
    assert set(errors) == {"broken", "sloppy"}
    assert "out of memory" in (errors["broken"].error or "")
    assert errors["broken"].predictions is None


def test_a_version_that_cannot_load_is_a_503_and_logged(trained: Trained) -> None:
    sink = MemorySink()
    table = InMemoryTrafficTable({MODEL: [(1, 100)]})
    app = create_app(models=source_of(trained), traffic=table, sink=sink)
    with live(app) as client:
        table.set_arms(MODEL, [(7, 100)])  # the controller routes to a version nobody registered
        body = {"rows": trained.X[:1].tolist(), "request_id": "ghost"}
        failed = client.post(f"/v1/models/{MODEL}/predict", json=body)
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "model_unavailable"
        assert "version 7" in failed.json()["error"]["message"]
        table.set_arms(MODEL, [(1, 100)])
        assert predict(client, trained.X[:1].tolist())["version"] == 1
    (record,) = [r for r in sink.inferences if r.request_id == "ghost"]
    assert (record.version, record.features, record.predictions) == (7, None, None)
    assert "cannot be loaded" in (record.error or "")


def test_healthz_metrics_and_openapi(trained: Trained) -> None:
    app = create_app(
        models=source_of(trained),
        traffic=InMemoryTrafficTable({MODEL: [(1, 100)]}),
        sink=MemorySink(),
        settings=GatewaySettings(log_flush_interval_s=0.01),
    )
    with live(app) as client:
        health = client.get("/healthz").json()
        for _ in range(3):
            predict(client, trained.X[:10].tolist())
        client.post(f"/v1/models/{MODEL}/predict", json={"rows": []})
        metrics = client.get("/metrics")
        schema = client.get("/openapi.json").json()
    assert health == {"status": "ok", "models": [MODEL], "log_queue_depth": 0}
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'safeheal_gateway_predict_requests_total{model="cancer",version="1"} 3.0' in text
    assert 'safeheal_gateway_predict_rows_total{model="cancer",version="1"} 30.0' in text
    assert 'safeheal_gateway_predict_latency_seconds_count{model="cancer",version="1"} 3.0' in text
    assert (
        'safeheal_gateway_rejected_requests_total{code="empty_rows",'
        'endpoint="/v1/models/{name}/predict"} 1.0'
    ) in text
    assert "safeheal_gateway_log_queue_depth" in text
    assert "safeheal_gateway_log_records_written_total" in text
    assert "safeheal_gateway_log_records_dropped_total 0.0" in text

    predict_op = schema["paths"]["/v1/models/{name}/predict"]["post"]
    body_ref = predict_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/PredictRequest"
    assert predict_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PredictResponse"
    )
    assert predict_op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    components = schema["components"]["schemas"]
    assert {"PredictRequest", "FeedbackRequest", "LabelItem", "PromoteRequest"} <= set(components)
    assert "/v1/admin/models/{name}/promote" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_the_log_is_stamped_by_the_injected_clock(trained: Trained) -> None:
    ticks = iter(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(10))
    sink = MemorySink()
    app = create_app(
        models=source_of(trained),
        traffic=InMemoryTrafficTable({MODEL: [(1, 100)]}),
        sink=sink,
        clock=lambda: next(ticks),
    )
    with live(app) as client:
        predict(client, trained.X[:1].tolist(), request_id="a")
        client.post(f"/v1/models/{MODEL}/feedback", json={"request_id": "a", "labels": [1]})
    assert [r.at.isoformat() for r in sink.inferences] == ["2030-01-01T00:00:00+00:00"]
    assert [f.at.isoformat() for f in sink.feedback] == ["2030-01-01T00:01:00+00:00"]
