"""Healing wired into serving, end to end, over real HTTP.

The real gateway on a loopback port (uvicorn in a thread), a real MLflow registry and a real
SQLite store in a temporary directory, real scikit-learn models on the breast-cancer data. Each
action's effect is checked in what the gateway serves; canaries are followed to their end with
:func:`~safeheal.heal.step_canary` on an accelerated clock (the gateway stamps its log with the
same clock), fed by traffic and labels sent through the HTTP API.

MLflow is slow to start, so one registry, one store and one gateway serve the module; each test
works on a model of its own. Seeds are fixed and request ids are deterministic, so every run
routes the same requests to the same versions.
"""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from scipy.stats import binom
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.config import SafehealConfig, parse_config
from safeheal.core import Action
from safeheal.heal import (
    ActionContext,
    CanaryPhase,
    CanaryPlan,
    CanaryRun,
    CanaryState,
    CanaryStep,
    ExecutionStatus,
    MlflowRegistry,
    advance,
    approve,
    default_executors,
    route_canary,
    step_canary,
)
from safeheal.serve import (
    GatewaySettings,
    HealingAdmin,
    InMemoryTrafficTable,
    RegistryModelSource,
    ServerThread,
    create_app,
    traffic_from_registry,
)
from safeheal.store import SqlInferenceSink, SqlStore, open_store

TOKEN = "e2e-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: The latency SLO the canaries judge by; generous, so that no timing of this machine decides.
SLO_MS = 1_000.0
ROWS_PER_REQUEST = 10
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
#: Every model a test of the module serves through the shared gateway.
MODELS = (
    "fallback",
    "rollback",
    "retrain",
    "abort",
    "admin",
    "admin-canary",
    "admin-promote",
    "escalate",
)
EXECUTORS = default_executors()
_probes = itertools.count()


class Clock:
    """The accelerated clock the gateway, the admin API and the canaries share."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: float) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@dataclass
class Data:
    names: list[str]
    X_old: np.ndarray
    y_old: np.ndarray
    X_new: np.ndarray
    y_new: np.ndarray
    champion: Any
    fallback: Any


@pytest.fixture(scope="module")
def data() -> Data:
    bunch = load_breast_cancer()
    X, y = bunch.data, bunch.target
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    champion.fit(X[:300], y[:300])
    fallback = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X[:300], y[:300])
    names = [str(n) for n in bunch.feature_names]
    return Data(names, X[:300], y[:300], X[300:], y[300:], champion, fallback)


@dataclass
class Live:
    """A running gateway and everything behind it."""

    registry: MlflowRegistry
    store: SqlStore
    sink: SqlInferenceSink
    table: InMemoryTrafficTable
    clock: Clock
    client: httpx.Client
    data: Data
    sent: dict[str, tuple[int, int]] = field(default_factory=dict)

    # -- talking to the gateway ------------------------------------------------------------------

    def predict(self, model: str, request_id: str, start: int = 0) -> dict[str, Any]:
        rows = self.data.X_new[start : start + ROWS_PER_REQUEST]
        body = {"rows": rows.tolist(), "request_id": request_id}
        response = self.client.post(f"/v1/models/{model}/predict", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        n, labels = self.sent.get(model, (0, 0))
        self.sent[model] = (n + 1, labels)
        return answer

    def split(self, model: str) -> list[tuple[int, float]]:
        """The model's arms in the gateway's traffic table, as (version, weight) pairs."""
        return [(a.version, a.weight) for a in self.table.arms(model) or ()]

    def served(self, model: str, n: int = 30) -> set[int]:
        """The versions that answer ``n`` fresh request ids."""
        return {self.predict(model, f"probe-{next(_probes)}")["version"] for _ in range(n)}

    def feed(self, model: str, requests: int, *, truth: np.ndarray, tag: str) -> list[int]:
        """``requests`` predictions of ten rows each, then every row's true label; returns the
        version that answered each request."""
        versions, labels = [], []
        for i in range(requests):
            start = (i * 7) % (len(self.data.y_new) - ROWS_PER_REQUEST)
            request_id = f"{tag}-{i}"
            answer = self.predict(model, request_id, start)
            versions.append(answer["version"])
            labels += [
                {"request_id": request_id, "row": r, "label": int(truth[start + r])}
                for r in range(ROWS_PER_REQUEST)
            ]
        for chunk in range(0, len(labels), 1000):
            response = self.client.post(
                f"/v1/models/{model}/feedback", json={"labels": labels[chunk : chunk + 1000]}
            )
            assert response.status_code == 202, response.text
        n, known = self.sent[model]
        self.sent[model] = (n, known + len(labels))
        self.wait_logged(model)
        return versions

    def wait_logged(self, model: str, timeout_s: float = 30.0) -> None:
        """Until the log writer has put everything sent for ``model`` in the store."""
        want = self.sent.get(model, (0, 0))
        deadline = time.monotonic() + timeout_s
        while (self.sink.count(model), self.sink.count_feedback(model)) != want:
            assert time.monotonic() < deadline, f"the log of {model!r} did not reach {want}"
            time.sleep(0.02)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"/v1/admin{path}", headers=AUTH, **kwargs)

    # -- healing ---------------------------------------------------------------------------------

    def context(self, model: str, action: Action, **kwargs: Any) -> ActionContext:
        return ActionContext(
            model=model,
            registry=self.registry,
            router=self.table,
            now=self.clock(),
            action=action,
            canaries=self.store,
            escalations=self.store,
            **kwargs,
        )

    def drive(
        self,
        run: CanaryRun,
        *,
        truth: np.ndarray,
        config: SafehealConfig | None = None,
        windows: int = 12,
        stop_at_weight: float | None = None,
    ) -> CanaryStep:
        """Follow ``run`` window by window: a minute after each weight is set, traffic and its
        labels arrive; ten minutes after, :func:`step_canary` judges. Until the canary ends (or
        its weight reaches ``stop_at_weight``)."""
        step = None
        for window in range(windows):
            weight = run.state.weight
            if stop_at_weight is not None and weight >= stop_at_weight:
                break
            # Enough requests for ~300 candidate rows at this weight (and no more than 3,000).
            requests = min(3_000, max(60, math.ceil(30 / (weight / 100))))
            self.clock.tick(1)
            self.feed(run.model, requests, truth=truth, tag=f"{run.id}-w{window}")
            self.clock.tick(9)
            step = step_canary(
                run,
                store=self.store,
                router=self.table,
                registry=self.registry,
                now=self.clock(),
                latency_slo_ms=SLO_MS,
                config=config,
            )
            run = step.run
            if step.finished:
                break
        assert step is not None
        return step

    def deploy(self, model: str, *, fallback: bool = False) -> None:
        """Version 1 the champion, marked healthy, with all the traffic; version 2 the fallback
        if asked."""
        v = self.registry.register(model, self.data.champion, role="champion", reason="first")
        self.registry.mark_healthy(model, v.version, "validated offline")
        if fallback:
            self.registry.register(model, self.data.fallback, role="fallback", reason="simpler")
        self.table.set_arms(model, [(v.version, 100.0)])


def build_app(
    registry: MlflowRegistry,
    store: SqlStore,
    sink: SqlInferenceSink,
    table: InMemoryTrafficTable,
    clock: Clock,
    models: tuple[str, ...],
    names: list[str],
) -> FastAPI:
    source = RegistryModelSource(registry, feature_names=dict.fromkeys(models, names))
    admin = HealingAdmin(registry=registry, traffic=table, store=store, models=source, clock=clock)
    return create_app(
        models=source,
        traffic=table,
        sink=sink,
        admin=admin,
        settings=GatewaySettings(admin_token=TOKEN),
        clock=clock,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, data: Data) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("e2e")
    store = open_store(root / "safeheal.db")
    registry = MlflowRegistry.local(root / "mlflow", move_log=store)
    sink = SqlInferenceSink(store)
    table = InMemoryTrafficTable()
    clock = Clock(T0)
    app = build_app(registry, store, sink, table, clock, MODELS, data.names)
    try:
        with (
            ServerThread(app) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            yield Live(registry, store, sink, table, clock, client, data)
    finally:
        store.close()


def binomial_bounds(n: int, percent: float) -> tuple[float, float]:
    """Where the count of ``n`` fair draws at ``percent`` falls but once in a million runs."""
    lo, hi = binom.interval(1 - 1e-6, n, percent / 100)
    return float(lo), float(hi)


# -- the actions, as the gateway serves them -----------------------------------------------------


def test_fallback_makes_the_gateway_answer_with_the_fallback(live: Live) -> None:
    live.deploy("fallback", fallback=True)
    assert live.served("fallback") == {1}
    result = EXECUTORS.execute(live.context("fallback", Action.FALLBACK))
    assert result.status is ExecutionStatus.DONE, result.reasons
    assert live.served("fallback") == {2}
    answer = live.predict("fallback", "after-fallback")
    rows = live.data.X_new[:ROWS_PER_REQUEST]
    assert answer["predictions"] == live.data.fallback.predict(rows).tolist()
    assert live.registry.roles("fallback") == {"champion": 1, "fallback": 2}


def test_rollback_makes_the_gateway_answer_with_the_last_known_good(live: Live) -> None:
    live.deploy("rollback")
    v2 = live.registry.register("rollback", live.data.fallback, role="champion", reason="new")
    live.table.set_arms("rollback", [(v2.version, 100.0)])
    assert live.served("rollback") == {2}
    result = EXECUTORS.execute(live.context("rollback", Action.ROLLBACK))
    assert result.status is ExecutionStatus.DONE, result.reasons
    assert live.served("rollback") == {1}
    assert live.registry.roles("rollback")["champion"] == 1
    assert live.registry.get("rollback", 2).health == "unhealthy"


def test_retrain_canaries_the_candidate_and_promotes_it(live: Live) -> None:
    live.deploy("retrain")
    truth = 1 - live.data.y_new  # a concept drift the champion cannot follow
    result = EXECUTORS.execute(
        live.context("retrain", Action.RETRAIN, X=live.data.X_new, y=truth, clock=live.clock)
    )
    assert result.status is ExecutionStatus.CANARY_STARTED, result.reasons
    run = result.canary
    assert run is not None
    assert (run.candidate_version, run.incumbent_version) == (2, 1)
    assert live.split("retrain") == [(2, 1.0), (1, 99.0)]
    assert live.registry.roles("retrain") == {"champion": 1, "challenger": 2}

    # The first window at the plan's first weight: about 1% of 3,000 request ids go to version 2.
    step = live.drive(run, truth=truth, stop_at_weight=None, windows=1)
    first = live.sink.inferences("retrain", since=T0)[:3_000]
    assert len(first) == 3_000
    on_candidate = sum(r.version == 2 for r in first)
    lo, hi = binomial_bounds(3_000, 1.0)
    assert lo <= on_candidate <= hi, on_candidate
    assert step.counters is not None
    assert step.counters.candidate.requests == on_candidate * ROWS_PER_REQUEST
    assert step.counters.candidate.labelled == on_candidate * ROWS_PER_REQUEST
    assert step.run.state.weight == 10.0, step.run.state.reasons

    done = live.drive(step.run, truth=truth)
    assert done.run.state.phase is CanaryPhase.PROMOTED, done.run.state.reasons
    assert done.result is not None
    assert done.result.status is ExecutionStatus.DONE
    assert [r for r in done.run.state.reasons if r.startswith("judge passed")] == [
        r for r in done.run.state.reasons if "judge" in r
    ]
    assert sum(r.startswith("judge passed") for r in done.run.state.reasons) == 3
    assert live.served("retrain") == {2}
    assert live.split("retrain") == [(2, 100.0)]
    assert live.registry.roles("retrain") == {"champion": 2}
    assert live.registry.get("retrain", 2).health == "healthy"
    assert live.store.active_canaries("retrain") == []
    stored = live.store.load_canary(run.id)
    assert stored is not None
    assert stored.phase == "promoted"


def start_canary_of(live: Live, model: str, candidate: Any, plan: CanaryPlan) -> CanaryRun:
    """Register ``candidate`` as challenger and put it on a canary by ``plan``, as RETRAIN does."""
    v = live.registry.register(model, candidate, role="challenger", reason="a candidate")
    now = live.clock()
    run = CanaryRun(
        id=f"canary-{uuid.uuid4().hex[:12]}",
        model=model,
        action=Action.RETRAIN,
        candidate_version=v.version,
        incumbent_version=1,
        state=advance(CanaryState.start(plan, now), now),
    )
    route_canary(run, live.table)
    live.store.save_canary(run.to_record(now))
    return run


def test_a_bad_candidate_is_aborted_and_traffic_goes_back(live: Live) -> None:
    live.deploy("abort")
    constant = DummyClassifier(strategy="constant", constant=0).fit(
        live.data.X_old, live.data.y_old
    )
    run = start_canary_of(live, "abort", constant, CanaryPlan.paper(first_percent=10))
    assert live.split("abort") == [(2, 10.0), (1, 90.0)]
    done = live.drive(run, truth=live.data.y_new)
    assert done.run.state.phase is CanaryPhase.ABORTED, done.run.state.reasons
    assert "judge failed at 10%" in done.run.state.reasons[-1]
    assert done.result is not None
    assert done.result.status is ExecutionStatus.FAILED
    assert live.served("abort") == {1}
    assert live.split("abort") == [(1, 100.0)]
    candidate = live.registry.get("abort", 2)
    assert candidate.health == "unhealthy"
    assert "judge failed" in candidate.tags["safeheal.health.reason"]
    assert live.registry.roles("abort") == {"champion": 1}
    assert live.registry.last_known_good("abort") is None  # never back onto the candidate
    # Stepping an ended canary again (a controller that restarted after the end) changes nothing.
    again = step_canary(
        done.run,
        store=live.store,
        router=live.table,
        registry=live.registry,
        now=live.clock.tick(5),
        latency_slo_ms=SLO_MS,
    )
    assert (again.run, again.counters) == (done.run, None)
    assert again.result is not None
    assert again.result.status is ExecutionStatus.FAILED
    assert live.split("abort") == [(1, 100.0)]


# -- restart mid-canary --------------------------------------------------------------------------


def test_a_restart_mid_canary_resumes_it_and_reaches_the_same_end(
    live: Live, data: Data, tmp_path: Path
) -> None:
    """Everything in memory is dropped mid-canary and rebuilt from the MLflow directory and the
    SQLite file; the gateway routes as before, and the canary goes on to its end."""
    model = "restart"
    mlflow_dir, store_file = tmp_path / "mlflow", tmp_path / "safeheal.db"
    config = parse_config({"canary": {"traffic_fraction": 0.1}})  # 10% → 50% → 100%
    truth = 1 - data.y_new

    def gateway(registry: MlflowRegistry, store: SqlStore, table: InMemoryTrafficTable) -> Live:
        sink = SqlInferenceSink(store)
        app = build_app(registry, store, sink, table, live.clock, (model,), data.names)
        server = ServerThread(app).start()
        client = httpx.Client(base_url=server.url, timeout=60)
        stops.append((server, client))
        return Live(registry, store, sink, table, live.clock, client, data, sent)

    stops: list[tuple[ServerThread, httpx.Client]] = []
    sent: dict[str, tuple[int, int]] = {}  # what the log holds, across the restart
    try:
        store = open_store(store_file)
        registry = MlflowRegistry.local(mlflow_dir, move_log=store)
        registry.register(model, data.champion, role="champion", reason="first")
        registry.mark_healthy(model, 1, "validated offline")
        first = gateway(registry, store, traffic_from_registry(registry, [model], canaries=store))
        result = EXECUTORS.execute(
            first.context(model, Action.RETRAIN, X=data.X_new, y=truth, config=config)
        )
        assert result.canary is not None, result.reasons
        step = first.drive(result.canary, truth=truth, config=config, stop_at_weight=50.0)
        before_run, before_arms = step.run, first.split(model)
        assert before_run.state.weight == 50.0, before_run.state.reasons
        assert before_arms == [(2, 50.0), (1, 50.0)]
        sticky = [f"sticky-{i}" for i in range(40)]
        before_routes = [first.predict(model, rid)["version"] for rid in sticky]
        assert set(before_routes) == {1, 2}

        # Drop every object in memory: the gateway, the client, the router, the registry, the store.
        server, client = stops.pop()
        client.close()
        server.stop()
        store.close()
        del first, registry, store, step, result

        store = open_store(store_file)
        registry = MlflowRegistry.local(mlflow_dir, move_log=store)
        table = traffic_from_registry(registry, [model], canaries=store)
        second = gateway(registry, store, table)
        assert second.split(model) == before_arms  # routes exactly as before the restart
        assert [second.predict(model, rid)["version"] for rid in sticky] == before_routes
        (record,) = store.active_canaries(model)
        resumed = CanaryRun.from_record(record)
        assert resumed == before_run
        assert second.served(model, n=60) == {1, 2}
        done = second.drive(resumed, truth=truth, config=config)
        assert done.run.state.phase is CanaryPhase.PROMOTED, done.run.state.reasons
        assert [r.split(":")[0] for r in done.run.state.reasons if "judge" in r] == [
            "judge passed at 10%",
            "judge passed at 50%",
        ]
        assert second.served(model) == {2}
        assert registry.roles(model) == {"champion": 2}
        assert store.active_canaries(model) == []
        store.close()
    finally:
        for server, client in stops:
            client.close()
            server.stop()


# -- the admin API -------------------------------------------------------------------------------


def test_admin_promote_and_rollback_change_what_is_served_and_the_roles(live: Live) -> None:
    live.deploy("admin")
    live.registry.register("admin", live.data.fallback, reason="a hand-made candidate")
    for token in (None, "wrong-token-of-some-length"):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        refused = live.client.post(
            "/v1/admin/models/admin/promote", json={"version": 2}, headers=headers
        )
        assert refused.status_code == 401
    assert live.served("admin") == {1}
    assert live.registry.roles("admin") == {"champion": 1}

    promoted = live.admin(
        "POST", "/models/admin/promote", json={"version": 2, "reason": "looks better"}
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["arms"] == [{"version": 2, "weight": 100.0}]
    assert promoted.json()["roles"] == {"champion": 2}
    assert promoted.json()["rollback_available"] is True
    assert live.served("admin") == {2}
    move = live.registry.role_history("admin", "champion")[-1]
    assert (move.from_version, move.to_version, move.actor, move.reason) == (
        1,
        2,
        "admin",
        "looks better",
    )
    assert live.store.role_moves("admin", "champion")[-1].actor == "admin"

    rolled = live.admin("POST", "/models/admin/rollback", json={"reason": "it was not"})
    assert rolled.status_code == 200, rolled.text
    assert live.served("admin") == {1}
    assert live.registry.roles("admin") == {"champion": 1}
    assert live.registry.get("admin", 2).health == "unhealthy"

    again = live.admin("POST", "/models/admin/rollback", json={})
    assert again.status_code == 409
    assert "no last known-good version" in again.json()["error"]["message"]
    unhealthy = live.admin("POST", "/models/admin/promote", json={"version": 2})
    assert unhealthy.status_code == 409
    assert "marked unhealthy" in unhealthy.json()["error"]["message"]
    unknown = live.admin("POST", "/models/admin/promote", json={"version": 9})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_model")
    assert live.served("admin") == {1}


def test_admin_status_shows_a_canary_and_rollback_aborts_it(live: Live) -> None:
    model = "admin-canary"
    live.deploy(model)
    run = start_canary_of(live, model, live.data.fallback, CanaryPlan.paper(first_percent=20))
    status = live.admin("GET", f"/models/{model}").json()
    assert status["arms"] == [{"version": 2, "weight": 20.0}, {"version": 1, "weight": 80.0}]
    assert status["roles"] == {"champion": 1, "challenger": 2}
    (canary,) = status["canaries"]
    assert (canary["canary_id"], canary["candidate_version"], canary["weight"]) == (run.id, 2, 20.0)
    assert live.served(model, n=60) == {1, 2}

    rolled = live.admin("POST", f"/models/{model}/rollback", json={"reason": "not now"})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["canaries"] == []
    assert live.served(model) == {1}
    assert live.registry.get(model, 2).health == "unhealthy"
    assert live.registry.roles(model) == {"champion": 1}
    stored = live.store.load_canary(run.id)
    assert stored is not None
    assert stored.phase == "aborted"


def test_admin_promoting_a_canary_candidate_promotes_the_canary(live: Live) -> None:
    model = "admin-promote"
    live.deploy(model)
    run = start_canary_of(live, model, live.data.fallback, CanaryPlan.paper(first_percent=20))
    promoted = live.admin("POST", f"/models/{model}/promote", json={"version": 2})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["canaries"] == []
    assert live.served(model) == {2}
    assert live.registry.roles(model) == {"champion": 2}  # and no longer the challenger
    stored = live.store.load_canary(run.id)
    assert stored is not None
    assert stored.phase == "promoted"
    assert "promoted by hand: by admin" in stored.state["reasons"][-1]


def test_admin_approves_an_escalation_raised_by_escalate(live: Live) -> None:
    live.deploy("escalate", fallback=True)
    result = EXECUTORS.execute(live.context("escalate", Action.ESCALATE))
    assert result.status is ExecutionStatus.PENDING_APPROVAL, result.reasons
    assert live.served("escalate") == {2}  # the safest model meanwhile: the fallback
    eid = result.escalation_id
    assert eid is not None

    (pending,) = live.admin("GET", "/models/escalate").json()["escalations"]
    assert (pending["escalation_id"], pending["status"]) == (eid, "pending")
    assert "fallback" in pending["detail"]

    approved = live.admin("POST", f"/escalations/{eid}/approve", json={"note": "go ahead"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["model"] == "escalate"
    escalation = live.store.get_escalation(eid)
    assert (escalation.status, escalation.actor, escalation.note) == (
        "approved",
        "admin",
        "go ahead",
    )
    assert live.admin("POST", f"/escalations/{eid}/approve", json={}).status_code == 200  # again
    assert live.admin("GET", "/models/escalate").json()["escalations"] == []

    unknown = live.admin("POST", "/escalations/esc-nope/approve", json={})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_escalation")
    other = EXECUTORS.execute(live.context("escalate", Action.ESCALATE)).escalation_id
    assert other is not None
    approve(live.store, other, actor="oncall", decision="reject", now=live.clock())
    closed = live.admin("POST", f"/escalations/{other}/approve", json={})
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "conflict")
