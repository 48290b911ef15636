"""Several controllers on one store: leases divide the fleet, a dead controller's models are
taken over, a controller that lost a lease never acts, and `Controller.from_config` builds
them. Real parts as in ``test_control``: a SQLite store, an MLflow registry in a temporary
directory, scikit-learn models on Fair's survey data, a manual clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from safeheal.control import Controller, ManualClock
from safeheal.core import Action
from safeheal.errors import ConfigError
from safeheal.heal import InMemoryRouter, SharedRouter
from safeheal.store import SqlStore, open_store
from tests.test_control import T0, World, deploy, serve, settings, world

__all__ = ["world"]  # test_control's module fixture, used here


@pytest.fixture
def second(world: World) -> Iterator[SqlStore]:
    """Another process's store on the same database."""
    with open_store(world.store.url) as s:
        yield s


def fleet_controller(
    world: World, store: SqlStore, clock: ManualClock, models: list[str], owner: str
) -> Controller:
    return Controller.from_config(
        settings(),
        store=store,
        registry=world.registry,
        clock=clock,
        models=dict.fromkeys(models, "autonomous"),
        seed=1,
        lease_owner=owner,
    )


def test_from_config_builds_a_controller_on_the_shared_split(world: World) -> None:
    router = InMemoryRouter()
    name = deploy(world, router, fallback=False)
    config = settings()
    ctl = Controller.from_config(
        config, store=world.store, registry=world.registry, models=[name], seed=1
    )
    try:
        assert isinstance(ctl.router, SharedRouter)
        assert ctl.router.arms(name) == router.arms(name)  # started on the champion
        assert world.store.load_splits([name])[name].arms == ((1, 100.0),)
        assert ctl.models == {name: config.control.default_mode}
        assert ctl.lease_owner is None
    finally:
        ctl.close()
    assert world.store.load_splits([name])  # close() leaves a store it was given open
    with pytest.raises(ConfigError, match="lease_owner"):
        Controller.from_config(
            config, store=world.store, registry=world.registry, models=[name], lease_owner=""
        )


def test_two_controllers_divide_the_fleet_and_one_takes_over_when_the_other_dies(
    world: World, second: SqlStore
) -> None:
    router = InMemoryRouter()
    names = sorted(deploy(world, router, fallback=False) for _ in range(5))
    clock = ManualClock(T0 + timedelta(days=30))
    a = fleet_controller(world, world.store, clock, names, "ctl-a")
    b = fleet_controller(world, second, clock, names, "ctl-b")
    try:
        first_a = {r.model for r in a.run_once(clock.advance(minutes=1))}
        first_b = {r.model for r in b.run_once(clock.now())}
        assert (first_a, first_b) == (set(names), set())  # b came second: a's leases are live
        ran_a = {r.model for r in a.run_once(clock.advance(minutes=1))}  # a sees b: gives up 2
        ran_b = {r.model for r in b.run_once(clock.now())}
        assert (len(ran_a), len(ran_b)) == (3, 2)
        assert ran_a.isdisjoint(ran_b)
        assert ran_a | ran_b == set(names)
        assert (set(a.held), set(b.held)) == (ran_a, ran_b)
        # a dies (it stops renewing, it releases nothing): b takes its models once they expire
        died = clock.now()
        ttl = timedelta(minutes=a.config.control.window_minutes * a.config.control.lease_windows)
        while clock.now() < died + ttl - timedelta(minutes=1):
            assert {r.model for r in b.run_once(clock.advance(minutes=1))} == ran_b
        assert {r.model for r in b.run_once(clock.advance(minutes=1))} == set(names)
    finally:
        a.close()
        b.close()
    assert world.store.leases(names)[0].owner == ""  # a clean stop gives the leases up


def test_a_controller_that_lost_its_lease_does_not_act(world: World, second: SqlStore) -> None:
    router = InMemoryRouter()
    name = deploy(world, router)
    clock = ManualClock(T0 + timedelta(days=60))
    a = fleet_controller(world, world.store, clock, [name], "ctl-a")
    b = fleet_controller(world, second, clock, [name], "ctl-b")
    try:
        start = clock.now()
        serve(world, a.router, name, start, seed=300)
        assert [r.status for r in a.run_once(clock.advance(minutes=1))] == ["ok"]
        # a stalls for longer than its lease; b takes the model over
        clock.advance(minutes=4)
        assert b.run_once(clock.now())[0].model == name
        # a wakes up and runs a window of the model by hand: a covariate shift, FALLBACK decided
        serve(world, a.router, name, clock.now(), seed=301, shift=1.5)
        result = a.step(name, clock.advance(minutes=1))
        assert result.decision is not None
        assert result.decision.action is Action.FALLBACK
        assert result.executed is None
        assert any("lease" in r for r in result.reasons)
        assert world.store.intents(name) == []
        assert a.run_once(clock.now()) == []  # and run_once no longer runs it
    finally:
        a.close()
        b.close()
