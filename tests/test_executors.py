"""The healing actions on real parts: an MLflow registry and a SQLite store in a temporary
directory, scikit-learn models on the breast-cancer data, and a webhook receiver on loopback.

MLflow is slow to start and each registered version costs ~0.1 s, so one registry and one store
serve the whole module; each test works on a model of its own.
"""

from __future__ import annotations

import http.server
import json
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.config import SafehealConfig, parse_config
from safeheal.core import Action, Decision, State, Verdict
from safeheal.errors import (
    ActionRefused,
    ConfigError,
    DataError,
    EscalationClosedError,
    UnknownEscalationError,
)
from safeheal.heal import (
    ActionContext,
    Arm,
    CanaryPhase,
    CanaryRun,
    CanaryStore,
    EscalationStore,
    ExecutionResult,
    ExecutionStatus,
    ExecutorRegistry,
    InMemoryRouter,
    MlflowRegistry,
    RoleMoveLog,
    TrafficRouter,
    abort,
    approve,
    default_executors,
    finish_canary,
    promote,
)
from safeheal.policy import CostModel
from safeheal.store import SqlStore, open_store

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class StepClock:
    """A clock that moves ``minutes`` on at every reading."""

    def __init__(self, minutes: float = 1.0) -> None:
        self.minutes, self.ticks = minutes, 0

    def __call__(self) -> datetime:
        self.ticks += 1
        return T0 + timedelta(minutes=self.minutes * self.ticks)


@dataclass
class World:
    registry: MlflowRegistry
    store: SqlStore
    X_old: np.ndarray
    y_old: np.ndarray
    X_new: np.ndarray
    y_new: np.ndarray
    champion: Any
    fallback: Any


TRAINERS = """
import time
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

def always_majority(X, y):
    return DummyClassifier(strategy="most_frequent").fit(X, y)

def broken(X, y):
    raise RuntimeError("the feature store is down")

def slow(X, y):
    time.sleep(3)
    return DummyClassifier().fit(X, y)

def good(X, y):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)

not_a_function = 42
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("executors")
    (root / "safeheal_test_trainers.py").write_text(textwrap.dedent(TRAINERS))
    sys.path.insert(0, str(root))
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    X_old, y_old, X_new, y_new = X[:300], y[:300], X[300:], y[300:]
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_old, y_old)
    fallback = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X_old, y_old)
    store = open_store(root / "safeheal.db")
    registry = MlflowRegistry.local(root / "mlflow", move_log=store)
    try:
        yield World(registry, store, X_old, y_old, X_new, y_new, champion, fallback)
    finally:
        store.close()
        sys.path.remove(str(root))
        sys.modules.pop("safeheal_test_trainers", None)


@pytest.fixture
def router() -> InMemoryRouter:
    return InMemoryRouter()


_names = iter(range(1_000_000))


def deploy(
    world: World,
    router: InMemoryRouter,
    *,
    fallback: bool = True,
    healthy_fallback: bool = False,
) -> str:
    """A fresh model: version 1 the champion (marked healthy, serving 100%), version 2 the
    fallback if asked."""
    name = f"exec-{next(_names)}"
    v = world.registry.register(name, world.champion, role="champion", reason="first fit")
    world.registry.mark_healthy(name, v.version, "validated offline")
    if fallback:
        fb = world.registry.register(name, world.fallback, role="fallback", reason="simpler")
        if healthy_fallback:
            world.registry.mark_healthy(name, fb.version, "validated offline")
    router.set_arms(name, [(v.version, 100.0)])
    return name


def decision(action: Action, *reasons: str) -> Decision:
    verdict = Verdict(
        mandatory=None,
        permitted=frozenset(Action.members()[:5]),
        zone="degraded",
        reasons=("accuracy drop 0.13 > 0.10",),
    )
    return Decision(
        action=action,
        verdict=verdict,
        safe_set=verdict.permitted,
        source="bandit",
        propensity=0.5,
        scores={},
        reasons=reasons or ("accuracy drop 0.13 > 0.10",),
        state=State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.01),
        context="degraded/high",
    )


def context(
    world: World,
    router: TrafficRouter,
    name: str,
    action: Action,
    *,
    config: SafehealConfig | None = None,
    flipped: bool = True,
    **kwargs: Any,
) -> ActionContext:
    """``flipped``: the recent labels are the old ones inverted (a concept drift the champion
    cannot follow, so a retrained candidate beats it for sure)."""
    y = 1 - world.y_new if flipped else world.y_new
    kwargs.setdefault("X", world.X_new)
    kwargs.setdefault("y", y)
    return ActionContext(
        model=name,
        registry=world.registry,
        router=router,
        now=T0,
        decision=decision(action),
        config=config,
        canaries=world.store,
        escalations=world.store,
        **kwargs,
    )


EXECUTORS = default_executors()


def run(ctx: ActionContext) -> ExecutionResult:
    return EXECUTORS.execute(ctx)


def assert_costs_in_unit(result: ExecutionResult) -> None:
    for term in (result.costs.compute, result.costs.risk, result.costs.downtime):
        assert 0.0 <= term <= 1.0
    assert result.cpu_seconds >= 0
    assert result.minutes_degraded >= 0
    assert 0 <= result.traffic_exposed_percent <= 100


# --- the parts ----------------------------------------------------------------------------------
def test_the_store_implements_the_heal_protocols(world: World) -> None:
    assert isinstance(world.store, CanaryStore)
    assert isinstance(world.store, EscalationStore)
    assert isinstance(world.store, RoleMoveLog)
    assert isinstance(InMemoryRouter(), TrafficRouter)


def test_the_registry_of_executors_is_a_table(world: World, router: InMemoryRouter) -> None:
    restart = Action.register("RESTART_REPLICA")

    class Restart:
        def execute(self, ctx: ActionContext) -> ExecutionResult:
            raise ActionRefused("no replica to restart")

    table = default_executors()
    name = deploy(world, router, fallback=False)
    ctx = ActionContext(model=name, registry=world.registry, router=router, now=T0, action=restart)
    with pytest.raises(ConfigError, match="no executor is registered for RESTART_REPLICA"):
        table.execute(ctx)
    table.register(restart, Restart())
    assert restart in table
    with pytest.raises(ConfigError, match="already has an executor"):
        table.register(restart, Restart())
    result = table.execute(ctx)
    assert result.status is ExecutionStatus.REFUSED
    assert result.reasons == ("no replica to restart",)
    assert result.escalate
    with pytest.raises(ConfigError, match="execute"):
        ExecutorRegistry({Action.NO_OP: object()})  # type: ignore[dict-item]


# --- NO_OP --------------------------------------------------------------------------------------
def test_no_op_changes_nothing_and_costs_nothing(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router, fallback=False)
    result = run(context(world, router, name, Action.NO_OP))
    assert result.status is ExecutionStatus.DONE
    assert result.arms == (Arm(1, 100.0),)
    assert router.history(name) == [(Arm(1, 100.0),)]
    assert result.cost_terms() == {"compute": 0.0, "risk": 0.0, "downtime": 0.0}


# --- FALLBACK -----------------------------------------------------------------------------------
def test_fallback_sends_all_traffic_to_the_fallback(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router)
    result = run(context(world, router, name, Action.FALLBACK, clock=StepClock(2.0)))
    assert result.status is ExecutionStatus.DONE
    assert result.arms == router.arms(name) == (Arm(2, 100.0),)
    assert world.registry.roles(name) == {"champion": 1, "fallback": 2}  # roles do not move
    # The fallback was never marked healthy: all its traffic counts as exposed.
    assert result.traffic_exposed_percent == 100.0
    assert result.minutes_degraded == pytest.approx(2.0)  # one clock step
    assert (result.costs.risk, result.costs.downtime) == (1.0, pytest.approx(2 / 60))
    assert_costs_in_unit(result)
    again = run(context(world, router, name, Action.FALLBACK))
    assert again.status is ExecutionStatus.DONE
    assert "already serves" in again.reasons[0]


def test_a_validated_fallback_exposes_nothing(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router, healthy_fallback=True)
    result = run(context(world, router, name, Action.FALLBACK))
    assert result.arms == (Arm(2, 100.0),)
    assert result.traffic_exposed_percent == 0.0


def test_fallback_by_canary_plan(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router)
    cfg = parse_config({"fallback": {"plan": "canary"}})
    result = run(context(world, router, name, Action.FALLBACK, config=cfg))
    assert result.status is ExecutionStatus.CANARY_STARTED
    assert result.arms == router.arms(name) == (Arm(2, 1.0), Arm(1, 99.0))
    assert result.canary is not None
    assert result.canary.state.weight == 1.0
    assert [c.id for c in world.store.active_canaries(name)] == [result.canary.id]
    done = finish_canary(
        replace(result.canary, state=promote(result.canary.state, T0, "looks fine")),
        registry=world.registry,
        router=router,
        now=T0,
        canaries=world.store,
    )
    assert done.status is ExecutionStatus.DONE
    assert router.arms(name) == (Arm(2, 100.0),)
    assert world.registry.roles(name)["champion"] == 1  # a fallback never becomes champion
    assert world.store.active_canaries(name) == []


def test_fallback_refuses_without_a_fallback(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router, fallback=False)
    result = run(context(world, router, name, Action.FALLBACK))
    assert result.status is ExecutionStatus.REFUSED
    assert result.escalate
    assert "no fallback registered" in result.reasons[0]
    assert "escalate" in result.reasons[0]
    assert router.history(name) == [(Arm(1, 100.0),)]  # nothing moved
    with pytest.raises(ActionRefused, match="no fallback registered"):
        result.raise_for_status()


def test_fallback_refuses_an_unhealthy_fallback(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router)
    world.registry.mark_unhealthy(name, 2, "failed its last canary")
    result = run(context(world, router, name, Action.FALLBACK))
    assert result.status is ExecutionStatus.REFUSED
    assert "marked unhealthy (failed its last canary)" in result.reasons[0]
    assert router.arms(name) == (Arm(1, 100.0),)


# --- ROLLBACK -----------------------------------------------------------------------------------
def test_rollback_never_lands_on_an_unhealthy_version(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router, fallback=False)  # v1: healthy champion
    reg = world.registry
    reg.register(name, world.champion)  # v2
    reg.mark_unhealthy(name, 2, "served 40% errors")
    reg.register(name, world.champion, role="champion", reason="new release")  # v3
    router.set_arms(name, [(3, 100.0)])
    ctx = context(world, router, name, Action.ROLLBACK)
    result = run(ctx)
    assert result.status is ExecutionStatus.DONE
    assert result.arms == router.arms(name) == (Arm(1, 100.0),)
    assert reg.roles(name)["champion"] == 1
    v3 = reg.get(name, 3)
    assert v3.health == "unhealthy"
    assert "accuracy drop 0.13 > 0.10" in v3.tags["safeheal.health.reason"]
    assert result.traffic_exposed_percent == 0.0  # back on a validated version
    assert_costs_in_unit(result)
    # The SQL store heard every move of the champion role, with the reason.
    moves = world.store.role_moves(name, "champion")
    assert [(m.from_version, m.to_version) for m in moves] == [(None, 1), (1, 3), (3, 1)]
    assert moves[-1].reason.startswith("rollback: accuracy drop")


def test_rollback_refuses_when_there_is_no_known_good_version(
    world: World, router: InMemoryRouter
) -> None:
    name = deploy(world, router, fallback=False)
    world.registry.register(name, world.champion, role="champion", reason="new release")
    world.registry.mark_unhealthy(name, 1, "leaks memory")  # the only earlier version
    router.set_arms(name, [(2, 100.0)])
    result = run(context(world, router, name, Action.ROLLBACK))
    assert result.status is ExecutionStatus.REFUSED
    assert result.escalate
    assert "no last known-good version" in result.reasons[0]
    assert world.registry.roles(name)["champion"] == 2
    assert world.registry.get(name, 2).health is None  # nothing was marked
    assert router.arms(name) == (Arm(2, 100.0),)


# --- RETRAIN ------------------------------------------------------------------------------------
def _retrain(world: World, router: InMemoryRouter) -> tuple[str, ExecutionResult]:
    """A model whose recent labels drifted, retrained with the default (a clone of the
    champion refitted)."""
    name = deploy(world, router)
    return name, run(context(world, router, name, Action.RETRAIN))


def test_retrain_registers_a_challenger_and_starts_a_canary(
    world: World, router: InMemoryRouter
) -> None:
    name, result = _retrain(world, router)
    assert result.status is ExecutionStatus.CANARY_STARTED, result.reasons
    assert result.candidate_version == 3
    assert world.registry.roles(name) == {"champion": 1, "fallback": 2, "challenger": 3}
    assert result.arms == router.arms(name) == (Arm(3, 1.0), Arm(1, 99.0))
    run_ = result.canary
    assert run_ is not None
    assert (run_.candidate_version, run_.incumbent_version) == (3, 1)
    assert run_.state.phase is CanaryPhase.PROGRESSING
    assert "beats" not in result.reasons[0]
    assert "held-out score" in result.reasons[0]
    metrics_source = world.registry.get(name, 3)
    assert metrics_source.tags["safeheal.parent_version"] == "1"
    assert result.cpu_seconds > 0
    assert result.traffic_exposed_percent == 1.0
    assert_costs_in_unit(result)
    # Persisted: a controller that restarts now finds the canary and resumes it as it was.
    stored = world.store.load_canary(run_.id)
    assert stored is not None
    assert CanaryRun.from_record(stored) == run_
    assert [c.id for c in world.store.active_canaries(name)] == [run_.id]
    # A second retrain while the canary runs is refused.
    again = run(context(world, router, name, Action.RETRAIN))
    assert again.status is ExecutionStatus.REFUSED
    assert "still running" in again.reasons[0]


def test_a_promoted_canary_makes_the_candidate_champion(
    world: World, router: InMemoryRouter
) -> None:
    name, result = _retrain(world, router)
    assert result.canary is not None
    passed = replace(result.canary, state=promote(result.canary.state, T0, "SLA held"))
    done = finish_canary(
        passed, registry=world.registry, router=router, now=T0, canaries=world.store
    )
    assert done.status is ExecutionStatus.DONE
    assert done.arms == router.arms(name) == (Arm(3, 100.0),)
    assert world.registry.roles(name) == {"champion": 3, "fallback": 2}
    assert world.registry.get(name, 3).health == "healthy"
    assert world.store.active_canaries(name) == []
    stored = world.store.load_canary(passed.id)
    assert stored is not None
    assert stored.phase == "promoted"
    # Finishing again changes nothing.
    again = finish_canary(passed, registry=world.registry, router=router, now=T0)
    assert again.arms == (Arm(3, 100.0),)
    assert world.registry.roles(name) == {"champion": 3, "fallback": 2}


def test_an_aborted_canary_sends_traffic_back_and_marks_the_candidate(
    world: World, router: InMemoryRouter
) -> None:
    name, result = _retrain(world, router)
    assert result.canary is not None
    with pytest.raises(DataError, match="still progressing"):
        finish_canary(result.canary, registry=world.registry, router=router, now=T0)
    later = T0 + timedelta(minutes=12)
    failed = replace(result.canary, state=abort(result.canary.state, later, "SLA drop 0.2"))
    done = finish_canary(
        failed, registry=world.registry, router=router, now=later, canaries=world.store
    )
    assert done.status is ExecutionStatus.FAILED
    assert done.arms == router.arms(name) == (Arm(1, 100.0),)
    assert world.registry.roles(name) == {"champion": 1, "fallback": 2}
    candidate = world.registry.get(name, 3)
    assert candidate.health == "unhealthy"
    assert "SLA drop 0.2" in candidate.tags["safeheal.health.reason"]
    assert done.traffic_exposed_percent == 1.0  # what the failing canary was exposed to
    assert done.minutes_degraded == pytest.approx(12.0)
    assert_costs_in_unit(done)
    assert world.store.active_canaries(name) == []
    # A rollback can never land on the failed candidate.
    assert world.registry.last_known_good(name) is None


def test_a_candidate_that_does_not_beat_the_champion_serves_nothing(
    world: World, router: InMemoryRouter
) -> None:
    name = deploy(world, router)
    cfg = parse_config({"retrain": {"training_function": "safeheal_test_trainers:always_majority"}})
    result = run(context(world, router, name, Action.RETRAIN, config=cfg, flipped=False))
    assert result.status is ExecutionStatus.FAILED
    assert "does not beat the champion" in result.reasons[0]
    assert "no traffic moved" in result.reasons[0]
    assert [v.version for v in world.registry.versions(name)] == [1, 2]  # not registered
    assert "challenger" not in world.registry.roles(name)
    assert router.history(name) == [(Arm(1, 100.0),)]
    assert result.traffic_exposed_percent == 0.0


def test_a_margin_can_be_required(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router)
    cfg = parse_config({"retrain": {"min_improvement": 1.0}})  # more than perfect: impossible
    result = run(context(world, router, name, Action.RETRAIN, config=cfg))
    assert result.status is ExecutionStatus.FAILED
    assert "more than 1 above it" in result.reasons[0]
    assert router.history(name) == [(Arm(1, 100.0),)]


def test_a_training_function_that_raises_fails_cleanly(
    world: World, router: InMemoryRouter
) -> None:
    name = deploy(world, router)
    cfg = parse_config({"retrain": {"training_function": "safeheal_test_trainers:broken"}})
    result = run(context(world, router, name, Action.RETRAIN, config=cfg))
    assert result.status is ExecutionStatus.FAILED
    assert result.reasons[0] == (
        "training safeheal_test_trainers:broken raised RuntimeError: the feature store is "
        "down; no traffic moved"
    )
    assert router.history(name) == [(Arm(1, 100.0),)]
    assert [v.version for v in world.registry.versions(name)] == [1, 2]


def test_a_training_function_past_its_time_limit_fails_cleanly(
    world: World, router: InMemoryRouter
) -> None:
    name = deploy(world, router)
    cfg = parse_config(
        {
            "retrain": {
                "training_function": "safeheal_test_trainers:slow",
                "time_limit_seconds": 0.2,
            }
        }
    )
    started = time.monotonic()
    result = run(context(world, router, name, Action.RETRAIN, config=cfg))
    assert time.monotonic() - started < 2.5  # did not wait for the 3 s training
    assert result.status is ExecutionStatus.FAILED
    assert "ran past its limit of 0.2 s" in result.reasons[0]
    assert router.history(name) == [(Arm(1, 100.0),)]
    assert "challenger" not in world.registry.roles(name)


def test_a_configured_training_function_is_used(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router)
    cfg = parse_config({"retrain": {"training_function": "safeheal_test_trainers:good"}})
    result = run(context(world, router, name, Action.RETRAIN, config=cfg))
    assert result.status is ExecutionStatus.CANARY_STARTED
    assert "safeheal_test_trainers:good" in result.reasons[0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("safeheal_no_such_module:fit", "cannot be imported"),
        ("safeheal_test_trainers:missing", "has no such attribute"),
        ("safeheal_test_trainers:not_a_function", "is not callable"),
    ],
)
def test_a_bad_training_function_is_a_clear_config_error(
    world: World, router: InMemoryRouter, spec: str, message: str
) -> None:
    cfg = parse_config({"retrain": {"training_function": spec}})
    with pytest.raises(ConfigError, match=f"`retrain.training_function` .*{message}"):
        default_executors(cfg)
    name = deploy(world, router, fallback=False)
    with pytest.raises(ConfigError, match=message):
        run(context(world, router, name, Action.RETRAIN, config=cfg))
    assert router.history(name) == [(Arm(1, 100.0),)]


def test_retrain_refuses_without_enough_labelled_data(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router, fallback=False)
    none = run(context(world, router, name, Action.RETRAIN, X=None, y=None))
    assert none.status is ExecutionStatus.REFUSED
    assert "no recent labelled data" in none.reasons[0]
    few = run(context(world, router, name, Action.RETRAIN, X=world.X_new[:49], y=world.y_new[:49]))
    assert few.status is ExecutionStatus.REFUSED
    assert "49 recent labelled rows" in few.reasons[0]
    assert "`retrain.min_samples`" in few.reasons[0]


# --- ESCALATE -----------------------------------------------------------------------------------
class Receiver:
    """A webhook receiver on loopback that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/safeheal"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_escalate_posts_records_and_moves_to_the_fallback(
    world: World, router: InMemoryRouter, receiver: Receiver
) -> None:
    name = deploy(world, router)
    cfg = parse_config({"escalation": {"webhook_url": receiver.url, "timeout_seconds": 2}})
    ctx = context(world, router, name, Action.ESCALATE, config=cfg)
    result = run(ctx)
    assert result.status is ExecutionStatus.PENDING_APPROVAL
    assert result.arms == router.arms(name) == (Arm(2, 100.0),)
    assert "the fallback, version 2" in result.reasons[-1]
    assert result.escalation_id is not None
    [body] = receiver.bodies
    assert body["escalation_id"] == result.escalation_id
    assert body["model"] == name
    assert body["decision_id"] == ctx.decision_id
    assert body["state"]["accuracy_drop"] == 0.13
    assert body["reasons"] == ["accuracy drop 0.13 > 0.10"]
    assert body["meanwhile"]["version"] == 2
    assert body["meanwhile"]["arms"] == [[2, 100.0]]
    stored = world.store.get_escalation(result.escalation_id)
    assert stored.status == "pending"
    assert stored.notify_error is None
    assert stored.payload == body
    assert stored.decision_id == ctx.decision_id
    assert result.escalation_id in [e.id for e in world.store.pending_escalations(name)]
    assert_costs_in_unit(result)


def test_escalate_without_a_fallback_goes_to_the_last_known_good(
    world: World, router: InMemoryRouter, receiver: Receiver
) -> None:
    name = deploy(world, router, fallback=False)
    world.registry.register(name, world.champion, role="champion", reason="new release")
    router.set_arms(name, [(2, 100.0)])
    cfg = parse_config({"escalation": {"webhook_url": receiver.url}})
    result = run(context(world, router, name, Action.ESCALATE, config=cfg))
    assert result.arms == (Arm(1, 100.0),)
    assert receiver.bodies[0]["meanwhile"]["version"] == 1
    assert world.registry.roles(name)["champion"] == 2  # routing only: a human decides


def test_escalate_with_nowhere_safer_leaves_traffic_alone(
    world: World, router: InMemoryRouter, receiver: Receiver
) -> None:
    name = deploy(world, router, fallback=False)
    cfg = parse_config({"escalation": {"webhook_url": receiver.url}})
    result = run(context(world, router, name, Action.ESCALATE, config=cfg))
    assert result.status is ExecutionStatus.PENDING_APPROVAL
    assert router.history(name) == [(Arm(1, 100.0),)]
    assert "no safer model exists" in result.reasons[-1]


def test_a_webhook_that_is_down_is_recorded_not_raised(
    world: World, router: InMemoryRouter
) -> None:
    name = deploy(world, router)
    url = f"http://127.0.0.1:{_free_port()}/hooks"
    cfg = parse_config({"escalation": {"webhook_url": url, "timeout_seconds": 1}})
    result = run(context(world, router, name, Action.ESCALATE, config=cfg))
    assert result.status is ExecutionStatus.PENDING_APPROVAL
    assert result.escalation_id is not None
    stored = world.store.get_escalation(result.escalation_id)
    assert stored.status == "pending"
    assert stored.notify_error is not None
    assert f"the webhook {url} could not be reached" in stored.notify_error
    assert "nobody was told" in result.reasons[1]
    assert router.arms(name) == (Arm(2, 100.0),)  # the service still moved to safety


def test_a_notifier_that_breaks_its_contract_is_recorded_not_raised(
    world: World, router: InMemoryRouter
) -> None:
    class Broken:
        def notify(self, payload: Any) -> None:
            raise KeyError("token")

    name = deploy(world, router)
    result = run(context(world, router, name, Action.ESCALATE, notifier=Broken()))
    assert result.escalation_id is not None
    stored = world.store.get_escalation(result.escalation_id)
    assert stored.notify_error is not None
    assert "failed: KeyError" in stored.notify_error


def test_escalate_without_a_webhook_is_recorded(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router)
    result = run(context(world, router, name, Action.ESCALATE))
    assert result.escalation_id is not None
    stored = world.store.get_escalation(result.escalation_id)
    assert stored.notify_error == "no notifier: `escalation.webhook_url` is not configured"


def test_escalate_needs_a_store(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router, fallback=False)
    ctx = replace(context(world, router, name, Action.ESCALATE), escalations=None)
    with pytest.raises(ConfigError, match="escalation store"):
        run(ctx)


def test_approve_records_the_answer_once(world: World, router: InMemoryRouter) -> None:
    name = deploy(world, router)
    result = run(context(world, router, name, Action.ESCALATE))
    eid = result.escalation_id
    assert eid is not None
    later = T0 + timedelta(minutes=45)
    answered = approve(world.store, eid, actor="alice", note="fallback is fine", now=later)
    assert (answered.status, answered.actor, answered.note) == (
        "approved",
        "alice",
        "fallback is fine",
    )
    assert answered.answered_at == later
    assert eid not in [e.id for e in world.store.pending_escalations()]
    # The same answer again changes nothing; another answer is refused.
    assert approve(world.store, eid, actor="alice", now=later + timedelta(minutes=1)) == answered
    with pytest.raises(EscalationClosedError, match="already approved by alice"):
        approve(world.store, eid, actor="bob", decision="reject", now=later)
    with pytest.raises(UnknownEscalationError, match="no escalation with id 'esc-nope'"):
        approve(world.store, "esc-nope", actor="alice", now=later)
    with pytest.raises(ConfigError, match='"approve" or "reject"'):
        approve(world.store, eid, actor="alice", decision="maybe", now=later)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="who gave it"):
        approve(world.store, eid, actor=" ", now=later)


# --- measured costs -----------------------------------------------------------------------------
def test_measured_costs_feed_the_cost_model(world: World, router: InMemoryRouter) -> None:
    _, result = _retrain(world, router)
    costs = CostModel()
    before = costs.estimate(Action.RETRAIN)
    after = costs.observe(Action.RETRAIN, **result.cost_terms())
    assert after.n == before.n + 1
    assert after.compute < before.compute  # a breast-cancer refit takes far less than 600 s
    assert json.loads(json.dumps(result.to_dict()))["status"] == "canary-started"
    assert result.to_dict()["canary_id"] == (result.canary.id if result.canary else None)


def test_a_context_needs_an_action_and_an_aware_time(world: World, router: InMemoryRouter) -> None:
    with pytest.raises(ConfigError, match="needs a `decision` or an `action`"):
        ActionContext(model="m", registry=world.registry, router=router, now=T0)
    with pytest.raises(ConfigError, match="differs"):
        ActionContext(
            model="m",
            registry=world.registry,
            router=router,
            now=T0,
            decision=decision(Action.ROLLBACK),
            action=Action.RETRAIN,
        )
    with pytest.raises(DataError, match="timezone-aware"):
        ActionContext(
            model="m",
            registry=world.registry,
            router=router,
            now=datetime(2026, 1, 1),
            action=Action.NO_OP,
        )
    with pytest.raises(ConfigError, match="model name"):
        ActionContext(model="a b", registry=world.registry, router=router, now=T0, action="no_op")


def test_router_arms_are_checked(tmp_path: Path) -> None:
    router = InMemoryRouter()
    with pytest.raises(ConfigError, match="must sum to 100"):
        router.set_arms("m", [(1, 60.0), (2, 30.0)])
    with pytest.raises(ConfigError, match="repeat a version"):
        router.set_arms("m", [(1, 50.0), (1, 50.0)])
    with pytest.raises(ConfigError, match="at least one arm"):
        router.set_arms("m", [])
    assert router.arms("m") is None
