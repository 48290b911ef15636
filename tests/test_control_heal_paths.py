"""The controller's two paths out of a fallback, on real parts (SQLite, MLflow, scikit-learn on
Fair's data, the inference log as the gateway writes it):

- the fallback suffers too (a concept drift): the envelope's ``fallback-failing`` zone asks for
  RETRAIN, which refits the fallback as well and deploys the candidate by canary (paper 6.3.1);
- the champion's host was slow: the restore waits until a latency probe of the champion is back
  near its healthy latency (shadow evaluation cannot see latency).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from safeheal.config import SafehealConfig, parse_config
from safeheal.control import LatencyProbe, ManualClock, TimedProbe
from safeheal.core import Action
from safeheal.errors import ConfigError
from safeheal.heal import HOLDOUT_TAG, CanaryPhase, InMemoryRouter
from tests import test_control as _control
from tests.test_control import T0, World, controller, deploy, run

#: The module-scoped MLflow registry and store of the controller's tests (one more instance here).
world = _control.world


def paper_settings(**control: Any) -> SafehealConfig:
    """The paper's envelope with a short canary (50% then 100% after 2 minutes)."""
    return parse_config(
        {
            "canary": {"traffic_fraction": 0.5, "validation_minutes": 2.0},
            "control": {"escalate_novel": False, **control},
        }
    )


def test_when_the_fallback_suffers_too_the_controller_retrains_instead_of_escalating(
    world: World,
) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    roles = world.registry.roles(name)
    champion, fallback = roles["champion"], roles["fallback"]
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, paper_settings())
    run(ctl, world, router, clock, name, 1, seed=2000)
    # every label inverted from now on: a change of concept both models fail on
    [hit] = run(ctl, world, router, clock, name, 1, seed=2010, flip=1.0)
    assert hit.decision is not None
    assert hit.decision.verdict.zone == "critical"
    assert hit.executed is Action.FALLBACK
    assert router.arms(name) == ((fallback, 100.0),)
    [on_fb] = run(ctl, world, router, clock, name, 1, seed=2020, flip=1.0)
    assert on_fb.state is not None
    assert on_fb.state.fallback_share == 1.0
    assert on_fb.state.accuracy_drop > 0.15  # the fallback suffers too
    assert on_fb.decision is not None
    assert on_fb.decision.verdict.zone == "fallback-failing"
    assert on_fb.decision.verdict.mandatory is None
    assert on_fb.executed is Action.RETRAIN, on_fb.reasons
    assert on_fb.result is not None
    candidate = on_fb.result.candidate_version
    refreshed = on_fb.result.fallback_version
    assert candidate is not None
    assert refreshed is not None
    assert world.registry.roles(name)["fallback"] == refreshed
    assert float(world.registry.get(name, candidate).tags[HOLDOUT_TAG]) > 0.5
    # the candidate goes through a canary against the (old) fallback that serves
    assert router.arms(name) == ((candidate, 50.0), (fallback, 50.0))
    assert any("fallback suffered too" in r for r in on_fb.reasons)
    later = run(ctl, world, router, clock, name, 5, seed=2030, flip=1.0)
    phases = [r.canary.state.phase for r in later if r.canary is not None]
    assert CanaryPhase.PROMOTED in phases
    assert world.registry.roles(name)["champion"] == candidate != champion
    assert router.arms(name) == ((candidate, 100.0),)
    outcome = world.store.get_outcome(on_fb.decision.id)
    assert outcome is not None, "\n".join(
        f"{r.decision and r.decision.verdict.zone} {r.executed} {r.reasons}" for r in later
    )
    assert outcome.success
    assert all(r.executed in (None, Action.NO_OP) for r in later)
    assert world.store.pending_escalations(name) == []
    # the new champion and the new fallback are monitored with honest baselines: both healthy
    assert later[-1].decision is not None
    assert later[-1].decision.verdict.zone == "healthy"


def test_a_retrain_from_the_fallback_that_cannot_beat_the_champion_escalates(
    world: World,
) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    fallback = world.registry.roles(name)["fallback"]
    clock = ManualClock(T0)
    config = parse_config(
        {
            "canary": {"traffic_fraction": 0.5, "validation_minutes": 2.0},
            "control": {"escalate_novel": False},
            "retrain": {"min_improvement": 0.9},  # no candidate can beat the champion by that
        }
    )
    ctl = controller(world, router, clock, {name: "autonomous"}, config)
    [hit] = run(ctl, world, router, clock, name, 1, seed=2050, flip=1.0)
    assert hit.executed is Action.FALLBACK
    [on_fb] = run(ctl, world, router, clock, name, 1, seed=2060, flip=1.0)
    assert on_fb.decision is not None
    assert on_fb.decision.action is Action.RETRAIN
    assert on_fb.executed is Action.ESCALATE, on_fb.reasons
    assert any("a human must decide" in r for r in on_fb.reasons)
    assert len(world.store.pending_escalations(name)) == 1
    assert world.registry.roles(name)["fallback"] == fallback  # nothing registered
    assert router.arms(name) == ((fallback, 100.0),)  # the service stays on its fallback
    outcome = world.store.get_outcome(on_fb.decision.id)
    assert outcome is not None
    assert not outcome.success


def test_off_the_fallback_the_same_drop_is_critical_and_forces_fallback(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0)
    ctl = controller(world, router, clock, {name: "autonomous"}, paper_settings())
    [r] = run(ctl, world, router, clock, name, 1, seed=2100, flip=1.0)
    assert r.state is not None
    assert r.state.fallback_share == 0.0
    assert r.decision is not None
    assert r.decision.verdict.zone == "critical"


class ScriptedProbe:
    """A :class:`LatencyProbe` whose answers are given in advance (the champion's host slow,
    then recovered), so the test does not depend on this machine's timings."""

    def __init__(self, answers: list[float]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, model: str, version: int, X: Any, /) -> float:
        self.calls.append((model, version, len(X)))
        return self.answers.pop(0)


def test_the_restore_waits_while_the_champion_is_slow_and_happens_when_it_recovers(
    world: World,
) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    roles = world.registry.roles(name)
    champion, fallback = roles["champion"], roles["fallback"]
    clock = ManualClock(T0)
    probe = ScriptedProbe([450.0, 460.0, 3.0])
    assert isinstance(probe, LatencyProbe)
    config = paper_settings(restore_windows=1, probe_rows=40)
    ctl = controller(world, router, clock, {name: "autonomous"}, config, probe=probe)
    [healthy] = run(ctl, world, router, clock, name, 1, seed=2200)
    assert healthy.executed is None
    slow = {champion: 450.0}
    [hit] = run(ctl, world, router, clock, name, 1, seed=2210, latency=slow)
    assert hit.state is not None
    assert hit.state.latency_ratio > 1.0
    assert hit.executed is Action.FALLBACK
    assert router.arms(name) == ((fallback, 100.0),)
    waited = run(ctl, world, router, clock, name, 2, seed=2220, latency=slow)
    for w in waited:  # healthy in shadow, but the probe says the host is still slow
        assert w.restored is None
        text = " ".join(w.reasons)
        assert "healthy" in text
        assert "not routed back to it: its latency has not recovered" in text, text
        assert "above the limit of 50.0 ms set by its p95 of 12.0 ms while healthy" in text
    assert router.arms(name) == ((fallback, 100.0),)
    [back] = run(ctl, world, router, clock, name, 1, seed=2240)
    assert back.restored == champion, back.reasons
    assert "within the limit of 50.0 ms" in " ".join(back.reasons)
    assert router.arms(name) == ((champion, 100.0),)
    assert probe.calls == [(name, champion, 40)] * 3
    # once restored, it stays: no flapping
    after = run(ctl, world, router, clock, name, 2, seed=2250)
    assert all(r.executed is None and r.restored is None for r in after)
    assert router.arms(name) == ((champion, 100.0),)


def test_without_a_healthy_latency_on_record_the_probe_must_meet_the_slo(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    roles = world.registry.roles(name)
    champion, fallback = roles["champion"], roles["fallback"]
    router.set_arms(name, [(fallback, 100.0)])  # an operator moved it before any healthy window
    clock = ManualClock(T0)
    probe = ScriptedProbe([150.0, 99.0])
    ctl = controller(
        world, router, clock, {name: "autonomous"}, paper_settings(restore_windows=1), probe=probe
    )
    [first] = run(ctl, world, router, clock, name, 1, seed=2300)
    assert first.restored is None
    assert "the latency SLO of 100 ms" in " ".join(first.reasons)
    [second] = run(ctl, world, router, clock, name, 1, seed=2310)
    assert second.restored == champion


class _Sleepy:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, X: Any) -> Any:
        time.sleep(self.seconds)
        return np.zeros(len(X))


def test_timed_probe_measures_at_least_the_time_a_slow_host_takes() -> None:
    # time.sleep lasts at least its argument: a lower bound, not a timing race
    probe = TimedProbe(lambda model, version: _Sleepy(0.02), repeats=3)
    assert probe("m", 1, np.zeros((5, 2))) >= 20.0
    with pytest.raises(ConfigError, match="`repeats` parameter of TimedProbe"):
        TimedProbe(lambda m, v: None, repeats=0)


def test_probe_settings_are_validated_when_loaded() -> None:
    assert SafehealConfig().control.restore_latency_tolerance == 2.0
    assert SafehealConfig().control.probe_rows == 50
    with pytest.raises(ValueError, match="restore_latency_tolerance"):
        paper_settings(restore_latency_tolerance=0.5)
    with pytest.raises(ValueError, match="probe_rows"):
        paper_settings(probe_rows=0)
