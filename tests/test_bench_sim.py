"""The simulator: every action really acts, the oracle picks the cheapest SLA-restoring action,
and the metrics respond to what they measure."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from safeheal.bench import (
    HumanOperator,
    ScenarioSpec,
    ScriptedSystem,
    SimSettings,
    _sim,
    make_system,
    oracle,
    run_episode,
    run_system,
)
from safeheal.bench._world import build_world
from safeheal.core.action import Action
from safeheal.heal._retrain import _split

SETTINGS = SimSettings()


def episode(spec: ScenarioSpec, action: Action, at: int) -> _sim._Episode:
    return _sim._Episode(spec, 3, ScriptedSystem(action, at), SETTINGS, None, _sim.HumanOperator())


def served_predictions(ep: _sim._Episode, k: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Window k: the inputs, and what the version serving 100% answered to them."""
    (arm,) = ep.router.arms(_sim.MODEL) or ()
    assert arm.weight == 100.0
    traffic = _sim._traffic(ep.spec, ep.seed, SETTINGS.rows, SETTINGS.label_share, k)
    sv = ep._served(traffic, int(arm.version), {})
    return traffic.X, sv.pred, int(arm.version)


def test_a_rollback_serves_the_previous_version() -> None:
    spec = ScenarioSpec("decay", "accuracy_decay", "fair", "logreg", onset_minute=25, severity=1)
    ep = episode(spec, Action.ROLLBACK, 6)
    for k in range(8):
        ep.window(k)
    world = build_world("fair", "logreg")
    assert ep.registry.roles(_sim.MODEL)["champion"] == 2
    assert ep.registry.get(_sim.MODEL, 3).health == "unhealthy"
    X, pred, version = served_predictions(ep, 8)
    assert version == 2
    np.testing.assert_array_equal(pred, world.previous.predict(X))
    assert (world.previous.predict(X) != world.champion.predict(X)).any()
    assert ep.actions == ["rollback"]


def test_a_fallback_serves_the_fallback_model() -> None:
    spec = ScenarioSpec(
        "outage", "dependency_failure", "anes96", "forest", onset_minute=30, duration_minutes=45
    )
    ep = episode(spec, Action.FALLBACK, 6)
    for k in range(8):
        ep.window(k)
    world = build_world("anes96", "forest")
    X, pred, version = served_predictions(ep, 8)
    assert version == 1
    np.testing.assert_array_equal(pred, world.fallback.predict(X))
    # the outage is over at minute 75: the champion, healthy in shadow, gets the traffic back
    for k in range(8, 20):
        ep.window(k)
    assert [tuple(a) for a in ep.router.arms(_sim.MODEL) or ()] == [(3, 100.0)]


def test_a_retrain_fits_a_new_model_on_the_runs_data_and_canaries_it() -> None:
    spec = ScenarioSpec("concept", "concept_drift", "fair", "forest", onset_minute=30, severity=1)
    at = 6 + SETTINGS.retrain_windows
    ep = episode(spec, Action.RETRAIN, at)
    for k in range(at + 1):
        ep.window(k)
    X, y = ep._recent_data()  # what the run had seen when it retrained: the last labelled windows
    assert X is not None
    assert y is not None
    assert len(y) > 300
    versions = [v.version for v in ep.registry.versions(_sim.MODEL)]
    assert versions == [1, 2, 3, 4]
    candidate = ep.registry.load(_sim.MODEL, 4)
    champion = build_world("fair", "forest").champion
    probe = build_world("fair", "forest").data.X_pool[:500]
    assert (candidate.predict(probe) != champion.predict(probe)).any()
    X_train, _, y_train, _ = _split(X, y, 0.3, 0)
    refit = clone(champion).fit(X_train, y_train)  # the same seeded forest on the same rows
    np.testing.assert_array_equal(candidate.predict_proba(probe), refit.predict_proba(probe))
    # the canary really splits the traffic: 1% on the candidate, the rest on the champion
    arms = {int(a.version): float(a.weight) for a in ep.router.arms(_sim.MODEL) or ()}
    assert arms == {4: 1.0, 3: 99.0}
    ep.window(at + 1)
    counts = {v: c for _, _, v, c in ep.ledger.counts[-2:]}
    assert counts[4][0] == pytest.approx(0.01 * SETTINGS.qps * 300, rel=1e-6)
    for k in range(at + 2, SETTINGS.windows):
        ep.window(k)
    assert ep.canaries_started == 1
    assert ep.registry.roles(_sim.MODEL)["champion"] == 4  # promoted: the new concept is learnt


def test_rl_only_deploys_a_retrain_to_all_traffic_at_once() -> None:
    spec = ScenarioSpec("concept", "concept_drift", "fair", "forest", onset_minute=30, severity=1)
    at = 6 + SETTINGS.retrain_windows
    ep = _sim._Episode(spec, 3, make_system("rl-only", 0), SETTINGS, None, _sim.HumanOperator())
    ep.system.decide = lambda state: (Action.RETRAIN, ("x", Action.RETRAIN))  # type: ignore[method-assign]
    ep.busy_until = at
    for k in range(SETTINGS.windows):
        ep.window(k)
        if len(ep.registry.versions(_sim.MODEL)) == 4:  # the first retrain that beat the champion
            break
    else:
        pytest.fail("no retrain beat the champion")
    assert [tuple(a) for a in ep.router.arms(_sim.MODEL) or ()] == [(4, 100.0)]
    assert ep.canary is None


def test_the_oracle_answers_the_cheapest_action_that_restores_the_sla() -> None:
    # a 45-minute outage of the main host: waiting restores the SLA too, but costs 45 minutes of
    # broken SLA; the fallback (on its own host) restores it at once
    spec = ScenarioSpec(
        "outage", "dependency_failure", "anes96", "forest", onset_minute=30, duration_minutes=45
    )
    answer = oracle(spec, 3, SETTINGS)
    runs = {
        a: run_episode(spec, 3, ScriptedSystem(a, 6 + (6 if a is Action.RETRAIN else 0)))
        for a in (Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN)
    }
    restoring = {a: r.cost for a, r in runs.items() if r.restored}
    assert answer.action is min(restoring, key=restoring.__getitem__)
    assert answer.action is Action.FALLBACK
    assert answer.restores
    assert answer.cost == pytest.approx(runs[Action.FALLBACK].cost)
    assert runs[Action.NO_OP].restored
    assert runs[Action.NO_OP].cost > answer.cost
    assert answer.costs["no_op"] == pytest.approx(runs[Action.NO_OP].cost)
    # cached windows give the same runs again
    assert oracle(spec, 3, SETTINGS) == answer


def test_the_same_seed_gives_the_same_episode() -> None:
    spec = ScenarioSpec("lat", "latency_increase", "fair", "knn", onset_minute=30, severity=0.7)
    a = run_episode(spec, 5, make_system("hybrid", 5))
    _sim.clear_caches()
    b = run_episode(spec, 5, make_system("hybrid", 5))
    assert a == b


def test_metrics_respond_an_always_no_op_system_heals_less_than_hybrid() -> None:
    specs = [
        ScenarioSpec("lat", "latency_increase", "fair", "knn", onset_minute=30, severity=0.7),
        ScenarioSpec("nan", "missing_values", "anes96", "logreg", onset_minute=30, severity=0.8),
        ScenarioSpec("leak", "memory_leak", "fair", "logreg", onset_minute=20, ramp_minutes=60),
    ]
    oracles = {s.name: oracle(s, 1, SETTINGS) for s in specs}
    refs = {s.name: 0.0 for s in specs}
    hybrid = run_system(make_system("hybrid", 1), specs, 1, oracles=oracles, references=refs)
    noop = run_system(
        ScriptedSystem(Action.NO_OP, None, name="no-op"), specs, 1, oracles=oracles, references=refs
    )
    assert all(set(r.actions) == {"no_op"} for r in noop)
    healed = lambda rs: sum(r.healed_minute is not None for r in rs)  # noqa: E731
    sla = lambda rs: sum(r.sla_windows_met for r in rs) / sum(r.windows for r in rs)  # noqa: E731
    assert healed(hybrid) > healed(noop)
    assert sla(hybrid) > sla(noop) + 0.2
    assert sum(r.cost for r in hybrid) < sum(r.cost for r in noop)
    assert sum(r.regret for r in hybrid) < sum(r.regret for r in noop)
    assert not any(r.catastrophic for r in hybrid)
    assert any(r.catastrophic for r in noop)  # half the requests fail and nobody acts


def test_an_action_that_makes_things_worse_is_a_safety_violation_not_contained() -> None:
    # inputs shift a little: the champion copes, the fallback (clipping to the training range)
    # does not; a fallback at 100% at once breaks the SLA that waiting would have kept
    spec = ScenarioSpec("shift", "covariate_shift", "digits", "knn", onset_minute=30, severity=0.4)
    wait = run_episode(spec, 0, ScriptedSystem(Action.NO_OP, 6))
    worse = run_episode(spec, 0, ScriptedSystem(Action.FALLBACK, 6))
    assert wait.sla_windows_met == wait.windows
    assert (wait.safety_violation, wait.contained) == (False, None)
    assert worse.sla_windows_met < wait.sla_windows_met
    assert worse.safety_violation
    assert worse.contained is False


def test_the_engineer_answers_in_45_minutes_on_average_and_is_right_88_percent() -> None:
    op = HumanOperator()
    rng = np.random.default_rng(11)
    waits = np.array([op.response_minutes(rng) for _ in range(4000)])
    # gamma(4, 45/4): standard deviation 22.5, so the mean of 4000 is within 45 ± 4·0.36
    assert abs(waits.mean() - 45.0) < 4 * 22.5 / np.sqrt(4000)
    picks = [op.pick(Action.ROLLBACK, rng) for _ in range(4000)]
    right = sum(p is Action.ROLLBACK for p in picks)
    assert abs(right / 4000 - 0.88) < 4 * np.sqrt(0.88 * 0.12 / 4000)
    assert {p for p in picks if p is not Action.ROLLBACK} == {
        Action.NO_OP,
        Action.FALLBACK,
        Action.RETRAIN,
    }


def test_the_engineer_draws_afresh_for_every_incident_of_a_seed() -> None:
    """One seed's 43 incidents are 43 draws of the engineer: right about 88% of the time across
    many scenarios of one seed, not the same answer for all of them."""
    op = HumanOperator()
    names = [f"scenario-{i}" for i in range(2000)]
    right = sum(op.pick(Action.FALLBACK, _sim.engineer_rng(3, n)) is Action.FALLBACK for n in names)
    assert abs(right / 2000 - 0.88) < 4 * np.sqrt(0.88 * 0.12 / 2000)
    spec = ScenarioSpec("lat", "latency_increase", "fair", "knn", onset_minute=30, severity=0.7)
    ep = episode(spec, Action.NO_OP, 6)
    assert ep.rng.random() == _sim.engineer_rng(3, "lat").random()
