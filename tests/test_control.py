"""The controller on real parts: a SQLite store, an MLflow registry in a temporary directory,
scikit-learn models on Fair's survey data (shipped with statsmodels), traffic written to the
inference log as the gateway logs it (one record per request, labels as feedback), and a manual
clock that moves one window at a time.

MLflow is slow to open (~5 s) and each registered version costs ~0.4 s, so one registry and one
store serve the whole module; every test works on models of its own.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.config import SafehealConfig, parse_config
from safeheal.control import (
    Controller,
    LatencyProbe,
    ManualClock,
    WindowResult,
    make_profile,
    register_profile,
)
from safeheal.core import Action
from safeheal.datasets import load_fair
from safeheal.heal import (
    ActionContext,
    CanaryPhase,
    ExecutionResult,
    Executor,
    ExecutorRegistry,
    InMemoryRouter,
    MlflowRegistry,
    default_executors,
)
from safeheal.policy import HybridPolicy
from safeheal.serve import FeedbackRecord, InferenceRecord
from safeheal.store import SqlInferenceSink, SqlStore, open_store

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ROWS = 400  # rows per window, one per request


@dataclass
class World:
    registry: MlflowRegistry
    store: SqlStore
    sink: SqlInferenceSink
    names: tuple[str, ...]
    X_ref: np.ndarray
    y_ref: np.ndarray
    X_live: np.ndarray
    y_live: np.ndarray
    champion: Any
    fallback: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("control")
    data = load_fair()
    X, y = data.X.to_numpy(), data.y
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    X_ref, y_ref, X_live, y_live = X[:3000], y[:3000], X[3000:], y[3000:]
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_ref, y_ref)
    fallback = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X_ref, y_ref)
    store = open_store(root / "safeheal.db")
    registry = MlflowRegistry.local(root / "mlflow", move_log=store)
    try:
        yield World(
            registry,
            store,
            SqlInferenceSink(store),
            tuple(str(c) for c in data.X.columns),
            X_ref,
            y_ref,
            X_live,
            y_live,
            champion,
            fallback,
        )
    finally:
        store.close()


_ids = itertools.count()


def deploy(world: World, router: InMemoryRouter, *, fallback: bool = True) -> str:
    """A fresh model: version 1 the champion (healthy, 100% of the traffic, with its
    monitoring profile), version 2 the fallback (with its own profile) if asked."""
    name = f"ctl-{next(_ids)}"
    reg = world.registry
    v = reg.register(name, world.champion, role="champion", reason="first fit").version
    reg.mark_healthy(name, v, "validated offline")
    register_profile(
        world.store,
        name,
        v,
        world.X_ref,
        at=T0,
        estimator=world.champion,
        X_eval=world.X_live[:1000],
        y_eval=world.y_live[:1000],
        feature_names=world.names,
    )
    if fallback:
        fb = reg.register(name, world.fallback, role="fallback", reason="simpler").version
        register_profile(
            world.store,
            name,
            fb,
            world.X_ref,
            at=T0,
            estimator=world.fallback,
            X_eval=world.X_live[:1000],
            y_eval=world.y_live[:1000],
            feature_names=world.names,
        )
    router.set_arms(name, [(v, 100.0)])
    return name


def _version_for(arms: Any, request_id: str) -> int:
    """The gateway's sticky split: a hash of the request id picks the arm."""
    point = zlib.crc32(request_id.encode()) % 10_000 / 100.0
    total = 0.0
    for a in arms:
        total += a.weight
        if point < total:
            return int(a.version)
    return int(arms[-1].version)


def serve(
    world: World,
    router: InMemoryRouter,
    model: str,
    start: datetime,
    *,
    seed: int,
    shift: float = 0.0,
    flip: float = 0.0,
    rows: int = ROWS,
    latency: dict[int, float] | None = None,
) -> None:
    """One window of traffic from ``start``: rows drawn from the live data (``shift`` standard
    deviations added to every feature; ``flip``: share of labels inverted, a concept drift),
    answered by the versions the router picks, logged with their labels and a latency of 12 ms
    (``latency``: another one per version, a slow host)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(world.y_live), size=rows, replace=False)
    X = world.X_live[idx] + shift * world.X_ref.std(axis=0)
    y = world.y_live[idx].copy()
    flipped = rng.random(rows) < flip
    y[flipped] = 1 - y[flipped]
    arms = router.arms(model)
    assert arms
    ids = [f"{model}-{start.isoformat()}-{i}" for i in range(rows)]
    versions = np.array([_version_for(arms, r) for r in ids])
    preds = np.empty(rows, dtype=np.int64)
    for v in np.unique(versions):
        mask = versions == v
        preds[mask] = world.registry.load(model, int(v)).predict(X[mask])
    step = timedelta(minutes=1) / (rows + 1)
    inferences, feedback = [], []
    for i, rid in enumerate(ids):
        at = start + step * i
        inferences.append(
            InferenceRecord(
                rid,
                model,
                int(versions[i]),
                world.names,
                X[i : i + 1],
                [int(preds[i])],
                (latency or {}).get(int(versions[i]), 12.0),
                None,
                at,
            )
        )
        feedback.append(FeedbackRecord(rid, model, 0, int(y[i]), at))
    world.sink.write(inferences, feedback)


def settings(**control: Any) -> SafehealConfig:
    """The defaults with a short canary (50% then 100% after 2 minutes) and ``[control]``."""
    return parse_config(
        {
            "canary": {"traffic_fraction": 0.5, "validation_minutes": 2.0},
            "control": {"escalate_novel": False, **control},
        }
    )


#: Accuracy drops are healed by a retrain only: a deterministic path through a canary.
RETRAIN_RULES = [
    {
        "zone": "critical",
        "any": ["drift > 0.20", "anomaly_rate > 0.05"],
        "mandatory": "FALLBACK",
        "permitted": ["FALLBACK"],
    },
    {
        "zone": "degraded",
        "any": ["accuracy_drop > 0.10"],
        "permitted": ["RETRAIN"],
        "default": "RETRAIN",
    },
    {"zone": "healthy", "permitted": ["NO_OP"]},
]


def retrain_settings(**control: Any) -> SafehealConfig:
    return parse_config(
        {
            "canary": {"traffic_fraction": 0.5, "validation_minutes": 2.0},
            "envelope": {"rules": RETRAIN_RULES},
            "control": {"escalate_novel": False, **control},
        }
    )


def controller(
    world: World,
    router: InMemoryRouter,
    clock: ManualClock,
    models: dict[str, Any],
    config: SafehealConfig,
    executors: ExecutorRegistry | None = None,
    probe: LatencyProbe | None = None,
) -> Controller:
    policy = HybridPolicy.from_config(config, store=world.store, seed=1, clock=clock)
    return Controller(
        world.store,
        world.registry,
        router,
        policy,
        executors if executors is not None else default_executors(config),
        clock,
        config,
        models=models,
        probe=probe,
    )


def run(
    ctl: Controller,
    world: World,
    router: InMemoryRouter,
    clock: ManualClock,
    model: str,
    windows: int,
    *,
    seed: int,
    **traffic: Any,
) -> list[WindowResult]:
    """``windows`` windows: traffic logged during each, then the controller's step at its end."""
    out = []
    for w in range(windows):
        serve(world, router, model, clock.now(), seed=seed + w, **traffic)
        out.append(ctl.step(model, clock.advance(minutes=1)))
    return out


# --- healthy ------------------------------------------------------------------------------------
def test_a_healthy_model_gets_only_no_op(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, settings())
    results = run(ctl, world, router, clock, name, 5, seed=100)
    assert [r.status for r in results] == ["ok"] * 5
    assert {r.decision.action for r in results if r.decision} == {Action.NO_OP}
    assert all(r.executed is None for r in results)
    assert len(world.store.decisions(name)) == 5
    assert world.store.intents(name) == []
    assert router.history(name) == [router.history(name)[0]]


def test_a_window_without_traffic_decides_nothing(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router, fallback=False)
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, settings())
    result = ctl.step(name, clock.advance(minutes=1))
    assert result.status == "no-data"
    assert "at least 20 are needed" in " ".join(result.reasons)
    assert world.store.decisions(name) == []


def test_a_clock_that_jumps_back_then_forward_is_survived(world: World) -> None:
    """A clock set back (NTP correction, a VM restored) gets a "no-data" window with the reason
    and changes nothing; a jump forward is one long window, read as usual."""
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, settings())
    assert [r.status for r in run(ctl, world, router, clock, name, 2, seed=150)] == ["ok", "ok"]
    decided = len(world.store.decisions(name))
    clock.set(clock.now() - timedelta(minutes=30))
    back = ctl.step(name)
    assert back.status == "no-data"
    assert "the window has not begun" in " ".join(back.reasons)
    assert len(world.store.decisions(name)) == decided
    assert router.history(name) == [router.history(name)[0]]
    clock.set(clock.now() + timedelta(hours=3))
    serve(world, router, name, clock.now() - timedelta(minutes=1), seed=160)
    ahead = ctl.step(name)
    assert ahead.status == "ok"
    assert ahead.decision is not None
    assert ahead.decision.action == Action.NO_OP
    assert len(world.store.decisions(name)) == decided + 1


# --- covariate shift → fallback, outcome --------------------------------------------------------
def test_covariate_shift_is_healed_by_fallback_and_the_outcome_recorded(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, settings())
    healthy = run(ctl, world, router, clock, name, 2, seed=200)
    assert {r.decision.action for r in healthy if r.decision} == {Action.NO_OP}
    shifted = run(ctl, world, router, clock, name, 2, seed=210, shift=1.5)
    first = shifted[0]
    assert first.decision is not None
    assert first.decision.verdict.zone == "critical"
    assert first.executed is Action.FALLBACK
    assert first.result is not None
    assert first.result.ok
    fallback = world.registry.roles(name)["fallback"]
    assert router.arms(name) == ((fallback, 100.0),)
    # the next window validates the heal: an outcome for the fallback decision, either way
    outcome = world.store.get_outcome(first.decision.id)
    assert outcome is not None
    assert shifted[1].outcomes
    assert shifted[1].outcomes[0].decision_id == first.decision.id
    intents = world.store.intents(name)
    assert intents[0].status == "done"
    assert intents[0].action == "FALLBACK"
    # FALLBACK is in effect: not carried out again; if it did not help, a human is asked
    assert [i.action for i in intents[1:]] == ([] if outcome.success else ["ESCALATE"])
    kinds = [e.kind for e in world.store.audit_events(name)]
    assert "control.action" in kinds
    assert "control.outcome" in kinds


# --- accuracy decay → retrain through a canary, promoted, validated -----------------------------
def test_accuracy_decay_is_healed_by_a_retrain_through_a_canary(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router, fallback=False)
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, retrain_settings())
    results = run(ctl, world, router, clock, name, 7, seed=300, flip=1.0)
    decayed = results[0]
    assert decayed.decision is not None
    assert decayed.decision.verdict.zone == "degraded"
    assert decayed.executed is Action.RETRAIN
    assert decayed.result is not None
    assert decayed.result.canary is not None
    candidate = decayed.result.candidate_version
    assert router.history(name)[1] == ((candidate, 50.0), (1, 50.0))
    phases = [r.canary.state.phase for r in results if r.canary is not None]
    assert CanaryPhase.PROMOTED in phases
    assert world.registry.roles(name)["champion"] == candidate
    assert router.arms(name) == ((candidate, 100.0),)
    outcome = world.store.get_outcome(decayed.decision.id)
    assert outcome is not None
    assert outcome.success
    # the new champion is monitored against what it was trained on: healthy again
    later = [r for r in results if r.outcomes]
    assert later
    assert all(r.decision and r.decision.action is Action.NO_OP for r in later)


# --- shadow mode --------------------------------------------------------------------------------
def test_shadow_mode_decides_and_records_but_changes_nothing_served(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "shadow"}, settings())
    roles = world.registry.roles(name)
    results = run(ctl, world, router, clock, name, 3, seed=400, shift=1.5)
    assert all(r.decision is not None for r in results)
    assert {r.decision.action for r in results if r.decision} == {Action.FALLBACK}
    assert all(r.executed is None for r in results)
    assert len(router.history(name)) == 1
    assert world.registry.roles(name) == roles
    assert world.store.intents(name) == []
    assert world.store.active_canaries(name) == []
    assert len(world.store.audit_events(name, kind="control.shadow")) == 3


# --- restore: back to the champion once it is healthy again in shadow ----------------------------
def _on(router: InMemoryRouter, model: str, version: int) -> bool:
    return router.arms(model) == ((version, 100.0),)


def test_restore_windows_is_validated_when_loaded() -> None:
    assert SafehealConfig().control.restore_windows == 2
    assert settings(restore_windows=1).control.restore_windows == 1
    with pytest.raises(ValueError, match="restore_windows"):
        settings(restore_windows=0)


def test_the_champion_serves_again_after_restore_windows_healthy_shadow_windows(
    world: World,
) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    roles = world.registry.roles(name)
    champion, fallback = roles["champion"], roles["fallback"]
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, settings(restore_windows=3))
    run(ctl, world, router, clock, name, 1, seed=1000)
    [incident] = run(ctl, world, router, clock, name, 1, seed=1010, shift=1.5)
    assert incident.executed is Action.FALLBACK
    assert _on(router, name, fallback)
    assert incident.restored is None  # the champion in shadow is as critical as the traffic
    after = []
    for k in range(3):
        [w] = run(ctl, world, router, clock, name, 1, seed=1020 + k)
        after.append(w)
        if k < 2:  # 1 and 2 healthy shadow windows: not yet (restore_windows = 3)
            assert w.restored is None
            assert _on(router, name, fallback), w.reasons
            assert f"{k + 1} window(s) in a row" in " ".join(w.reasons)
    assert after[2].restored == champion, after[2].reasons
    assert _on(router, name, champion)
    assert after[2].to_dict()["restored"] == champion
    [event] = world.store.audit_events(name, kind="control.restored")
    assert event.payload["champion"] == champion
    assert "healthy" in event.payload["reasons"][0]
    restores = [i for i in world.store.intents(name) if i.action == "RESTORE"]
    assert [i.status for i in restores] == ["done"]
    assert restores[0].key == f"{name}/{clock.now().isoformat()}/RESTORE"
    # the champion keeps serving healthy traffic; nothing is restored twice
    later = run(ctl, world, router, clock, name, 2, seed=1030)
    assert all(r.restored is None and r.executed is None for r in later)
    assert _on(router, name, champion)
    assert len(world.store.audit_events(name, kind="control.restored")) == 1


def test_shadow_mode_never_restores(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    fallback = world.registry.roles(name)["fallback"]
    router.set_arms(name, [(fallback, 100.0)])  # an operator moved it
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "shadow"}, settings(restore_windows=1))
    results = run(ctl, world, router, clock, name, 3, seed=1100)
    assert all(r.restored is None for r in results)
    assert _on(router, name, fallback)
    assert world.store.intents(name) == []
    assert world.store.audit_events(name, kind="control.restored") == []


def test_canary_mode_holds_a_restore_for_a_human(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    fallback = world.registry.roles(name)["fallback"]
    router.set_arms(name, [(fallback, 100.0)])
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "canary"}, settings(restore_windows=1))
    results = run(ctl, world, router, clock, name, 2, seed=1200)
    assert all(r.restored is None for r in results)
    assert _on(router, name, fallback)
    held = world.store.audit_events(name, kind="control.held")
    assert [e.payload["action"] for e in held] == ["RESTORE", "RESTORE"]
    assert world.store.audit_events(name, kind="control.restored") == []


def test_a_pending_escalation_blocks_the_restore(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    roles = world.registry.roles(name)
    champion, fallback = roles["champion"], roles["fallback"]
    clock = ManualClock(T0)
    config = parse_config(
        {
            "control": {"escalate_novel": True, "restore_windows": 1},
            "envelope": {
                "rules": [
                    {
                        "zone": "unmapped",
                        "any": ["drift > 0.20"],
                        "mandatory": "FALLBACK",
                        "permitted": ["FALLBACK"],
                    },
                    {"zone": "healthy", "permitted": ["NO_OP"]},
                ]
            },
        }
    )
    ctl = controller(world, router, clock, {name: "autonomous"}, config)
    [first] = run(ctl, world, router, clock, name, 1, seed=1300, shift=1.5)
    assert first.executed is Action.ESCALATE
    assert first.result is not None
    assert first.result.escalation_id is not None
    assert _on(router, name, fallback)
    waiting = run(ctl, world, router, clock, name, 3, seed=1310)
    assert all(r.restored is None for r in waiting)
    assert _on(router, name, fallback)
    assert all("an escalation is waiting for a human" in " ".join(r.reasons) for r in waiting)
    assert world.store.audit_events(name, kind="control.restored") == []
    world.store.answer_escalation(
        first.result.escalation_id, status="approved", actor="oncall", at=clock.now()
    )
    answered = run(ctl, world, router, clock, name, 3, seed=1320)
    assert any(r.restored == champion for r in answered), [r.reasons for r in answered]
    assert _on(router, name, champion)


def test_a_restore_that_crashed_is_settled_by_what_the_router_shows(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    roles = world.registry.roles(name)
    champion, fallback = roles["champion"], roles["fallback"]
    router.set_arms(name, [(fallback, 100.0)])
    before = [[fallback, 100.0]]
    for key, moved in ((f"{name}/crashed-before", False), (f"{name}/crashed-after", True)):
        world.store.claim_intent(
            key=key,
            model=name,
            window_end=T0,
            action="RESTORE",
            decision_id=None,
            payload={"champion": champion, "arms_before": before},
            at=T0,
        )
        if moved:
            router.set_arms(name, [(champion, 100.0)])
        clock = ManualClock(T0)
        ctl = controller(world, router, clock, {name: "autonomous"}, settings())
        ctl.step(name, clock.advance(minutes=1))
        [intent] = [i for i in world.store.intents(name) if i.key == key]
        assert intent.status == ("done" if moved else "abandoned")
        assert _on(router, name, champion if moved else fallback)


# --- canary mode --------------------------------------------------------------------------------
def test_canary_mode_never_goes_past_the_canary_weight(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router, fallback=False)
    clock = ManualClock(T0)
    config = parse_config(
        {
            "canary": {"traffic_fraction": 0.2, "validation_minutes": 2.0},
            "envelope": {"rules": RETRAIN_RULES},
            "control": {"escalate_novel": False},
        }
    )
    ctl = controller(world, router, clock, {name: "canary"}, config)
    results = run(ctl, world, router, clock, name, 8, seed=500, flip=1.0)
    assert results[0].executed is Action.RETRAIN
    candidate = results[0].result.candidate_version if results[0].result else None
    weights = [a.weight for split in router.history(name) for a in split if a.version == candidate]
    assert weights
    assert max(weights) == 20.0
    [canary] = world.store.active_canaries(name)
    assert canary.phase == "paused"
    assert world.registry.roles(name)["champion"] == 1


# --- crash safety -------------------------------------------------------------------------------
class Crash(BaseException):
    """The controller process dies here (not an Exception: nothing catches it)."""


class CrashingExecutor:
    """Dies before (``after=False``) or after (``after=True``) the real executor's effect."""

    def __init__(self, inner: Executor, *, after: bool) -> None:
        self.inner, self.after, self.calls = inner, after, 0

    def execute(self, ctx: ActionContext) -> ExecutionResult:
        self.calls += 1
        if not self.after:
            raise Crash("killed between the intent and the effect")
        self.inner.execute(ctx)
        raise Crash("killed after the effect, before it was recorded")


def crashing(
    config: SafehealConfig, action: Action, *, after: bool
) -> tuple[ExecutorRegistry, CrashingExecutor]:
    executors = default_executors(config)
    wrapper = CrashingExecutor(executors.get(action), after=after)
    executors.register(action, wrapper, replace=True)
    return executors, wrapper


def test_a_crash_before_the_effect_is_abandoned_not_repeated(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0)
    config = settings()
    executors, wrapper = crashing(config, Action.FALLBACK, after=False)
    ctl = controller(world, router, clock, {name: "autonomous"}, config, executors)
    serve(world, router, name, clock.now(), seed=600, shift=1.5)
    end = clock.advance(minutes=1)
    with pytest.raises(Crash):
        ctl.step(name, end)
    [intent] = world.store.intents(name)
    assert intent.status == "intent"
    assert wrapper.calls == 1
    before = router.arms(name)
    # a new controller process on the same store, registry and gateway retries the window
    fresh = controller(world, router, clock, {name: "autonomous"}, config)
    retried = fresh.step(name, end)
    assert retried.executed is None
    assert "already acted" in " ".join(retried.reasons)
    [intent] = world.store.intents(name)
    assert intent.status == "abandoned"
    assert router.arms(name) == before
    # the next window decides afresh and acts once
    later = run(fresh, world, router, clock, name, 1, seed=610, shift=1.5)
    assert later[0].executed is Action.FALLBACK
    assert [i.status for i in world.store.intents(name)] == ["abandoned", "done"]


def test_a_crash_after_a_canary_started_resumes_it_and_never_retrains_twice(
    world: World,
) -> None:
    router = InMemoryRouter()
    name = deploy(world, router, fallback=False)
    clock = ManualClock(T0)
    config = retrain_settings()
    executors, wrapper = crashing(config, Action.RETRAIN, after=True)
    ctl = controller(world, router, clock, {name: "autonomous"}, config, executors)
    serve(world, router, name, clock.now(), seed=700, flip=1.0)
    end = clock.advance(minutes=1)
    with pytest.raises(Crash):
        ctl.step(name, end)
    [canary] = world.store.active_canaries(name)
    candidate = canary.candidate_version
    assert router.arms(name) == ((candidate, 50.0), (1, 50.0))
    fresh = controller(world, router, clock, {name: "autonomous"}, config)
    assert fresh.step(name, end).executed is None  # the same window, retried: no second retrain
    [intent] = world.store.intents(name)
    assert intent.status == "applied"
    results = run(fresh, world, router, clock, name, 5, seed=710, flip=1.0)
    assert any(
        r.canary is not None and r.canary.state.phase is CanaryPhase.PROMOTED for r in results
    )
    assert wrapper.calls == 1
    assert [v.version for v in world.registry.versions(name)] == [1, candidate]
    assert router.arms(name) == ((candidate, 100.0),)
    assert world.store.intents(name)[0].status == "done"


# --- escalation ---------------------------------------------------------------------------------
def test_a_novel_critical_state_escalates_and_waits_for_a_human(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0)
    # a fresh context name so that no earlier test's outcomes count as experience
    config = parse_config(
        {
            "control": {"escalate_novel": True},
            "envelope": {
                "rules": [
                    {
                        "zone": "uncharted",
                        "any": ["drift > 0.20"],
                        "mandatory": "FALLBACK",
                        "permitted": ["FALLBACK"],
                    },
                    {"zone": "healthy", "permitted": ["NO_OP"]},
                ]
            },
        }
    )
    ctl = controller(world, router, clock, {name: "autonomous"}, config)
    first, waiting = run(ctl, world, router, clock, name, 2, seed=800, shift=1.5)
    assert first.executed is Action.ESCALATE
    assert first.result is not None
    assert first.result.escalation_id is not None
    fallback = world.registry.roles(name)["fallback"]
    assert router.arms(name) == ((fallback, 100.0),)
    assert waiting.executed is None
    assert "waiting for a human" in " ".join(waiting.reasons)
    world.store.answer_escalation(
        first.result.escalation_id, status="approved", actor="oncall", at=clock.now()
    )
    answered, _validated = run(ctl, world, router, clock, name, 2, seed=810, shift=1.5)
    assert "approved by oncall" in " ".join(answered.reasons)
    assert first.decision is not None
    assert world.store.get_outcome(first.decision.id) is not None


def test_repeated_failures_escalate(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router, fallback=False)
    clock = ManualClock(T0)
    # the retrain always loses: the candidate must beat the champion by more than 1.0
    config = parse_config(
        {
            "envelope": {"rules": RETRAIN_RULES},
            "retrain": {"min_improvement": 1.0},
            "control": {"escalate_novel": False, "max_consecutive_failures": 2},
        }
    )
    ctl = controller(world, router, clock, {name: "autonomous"}, config)
    results = run(ctl, world, router, clock, name, 3, seed=900, flip=1.0)
    assert [r.executed for r in results[:2]] == [Action.RETRAIN, Action.ESCALATE]
    assert results[2].executed is None
    assert len(world.store.pending_escalations(name)) == 1


# --- many models --------------------------------------------------------------------------------
class SlowController(Controller):
    """A controller whose window of one model blocks until the test releases it (a model with a
    huge window or a stuck database), to check that it holds up no other model. Blocking on an
    event rather than sleeping keeps the test free of timing assumptions."""

    slow: str = ""
    release: threading.Event

    def _window(self, model: str, *args: Any) -> WindowResult:
        if model == self.slow:
            self.release.wait(timeout=60)
        return super()._window(model, *args)


def test_fifty_models_on_one_controller_and_a_slow_one_holds_up_none(world: World) -> None:
    router = InMemoryRouter()
    clock = ManualClock(T0)
    names = []
    baseline = float(world.champion.score(world.X_live, world.y_live))
    for _ in range(51):
        name = f"fleet-{next(_ids)}"
        v = world.registry.register(name, world.champion, role="champion").version
        world.store.save_profile(
            make_profile(
                name, v, world.X_ref, baseline_accuracy=baseline, at=T0, feature_names=world.names
            )
        )
        router.set_arms(name, [(v, 100.0)])
        names.append(name)
    # Generous for 50 quick models on a loaded 2-core machine; the slow one never finishes in it.
    config = settings(max_workers=4, model_timeout_seconds=6.0)
    policy = HybridPolicy.from_config(config, store=world.store, seed=1, clock=clock)
    ctl = SlowController(
        world.store,
        world.registry,
        router,
        policy,
        default_executors(config),
        clock,
        config,
        models=dict.fromkeys(names, "autonomous"),
    )
    ctl.slow, ctl.release = names[0], threading.Event()
    with ctl:
        for i, name in enumerate(names):
            serve(world, router, name, clock.now(), seed=1000 + i, rows=300)
        results = ctl.run_once(clock.advance(minutes=1))
        # run_once returned while the slow model is still blocked: it held up no other model.
        by_status = {s: [r.model for r in results if r.status == s] for s in ("ok", "late")}
        assert by_status["late"] == [names[0]]
        assert len(by_status["ok"]) == 50
        assert {r.decision.action for r in results if r.decision} == {Action.NO_OP}
        again = ctl.run_once(clock.advance(minutes=1))
        assert again[0].status == "busy"
        ctl.release.set()
