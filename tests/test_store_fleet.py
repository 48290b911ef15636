"""Several processes on one store: the shared traffic split and controller leases, on every
backend (SQLite file; PostgreSQL when ``SAFEHEAL_TEST_POSTGRES_URL`` names a server).

Two "processes" are two stores opened on one location: they share nothing but the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from safeheal.errors import ConfigError, DataError, StoreError
from safeheal.heal import Arm, SharedRouter, SplitStore, TrafficRouter
from safeheal.store import SqlStore, open_store
from tests.strategies import lease_steps
from tests.test_store_conformance import backend, location, store

__all__ = ["backend", "location", "store"]  # the conformance suite's fixtures, used here

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=3)


@pytest.fixture
def other(location: str) -> Iterator[SqlStore]:
    """A second process's store on the same database."""
    with open_store(location) as s:
        yield s


# -- traffic splits ------------------------------------------------------------------------------


def test_a_split_round_trips_and_each_write_raises_its_revision(store: SqlStore) -> None:
    assert store.load_splits() == {}
    assert store.save_split("churn", [(1, 100.0)], at=T0) == 1
    assert store.save_split("churn", [(2, 1.0), (1, 99.0)], at=T0) == 2
    assert store.save_split("other", [(4, 100.0)], at=T0) == 1
    got = store.load_splits(["churn"])
    assert list(got) == ["churn"]
    assert got["churn"].arms == ((2, 1.0), (1, 99.0))
    assert got["churn"].revision == 2
    assert got["churn"].updated_at == T0


def test_init_split_never_overwrites_a_stored_split(store: SqlStore) -> None:
    first = store.init_split("churn", [(1, 100.0)], at=T0)
    assert (first.arms, first.revision) == (((1, 100.0),), 1)
    store.save_split("churn", [(2, 5.0), (1, 95.0)], at=T0)
    again = store.init_split("churn", [(1, 100.0)], at=T0)
    assert (again.arms, again.revision) == (((2, 5.0), (1, 95.0)), 2)


@pytest.mark.parametrize("arms", [[], [(1,)], [("x", 100.0)], [(1, float("nan"))]])
def test_a_split_that_is_not_arms_is_refused(
    store: SqlStore, arms: list[tuple[int, float]]
) -> None:
    with pytest.raises(DataError, match="churn"):
        store.save_split("churn", arms)
    assert store.load_splits() == {}


def test_the_store_is_a_split_store_and_the_shared_router_a_traffic_router(
    store: SqlStore,
) -> None:
    assert isinstance(store, SplitStore)
    assert isinstance(SharedRouter(store), TrafficRouter)


def test_a_split_set_in_one_process_is_served_in_the_other(
    store: SqlStore, other: SqlStore
) -> None:
    controller = SharedRouter(store, refresh_seconds=0)
    gateway = SharedRouter(other, models=["churn"], refresh_seconds=3600)
    assert gateway.arms("churn") is None
    controller.set_arms("churn", [(1, 100.0)])
    assert gateway.arms("churn") is None  # cached until the next refresh
    gateway.refresh()
    assert gateway.arms("churn") == (Arm(1, 100.0),)
    assert gateway.models() == ("churn",)
    controller.set_arms("churn", [Arm(2, 1.0), Arm(1, 99.0)])
    assert controller.arms("churn") == (Arm(2, 1.0), Arm(1, 99.0))
    assert gateway.arms("churn") == (Arm(1, 100.0),)
    gateway.refresh()
    assert gateway.arms("churn") == (Arm(2, 1.0), Arm(1, 99.0))
    assert gateway.revision("churn") == controller.revision("churn") == 2


def test_a_router_that_rereads_at_every_use_sees_the_others_writes_at_once(
    store: SqlStore, other: SqlStore
) -> None:
    reader = SharedRouter(store, refresh_seconds=0)
    SharedRouter(other).set_arms("churn", [(3, 100.0)])
    assert reader.arms("churn") == (Arm(3, 100.0),)


def test_a_gateway_rereads_the_split_once_its_copy_is_older_than_the_interval(
    store: SqlStore, other: SqlStore
) -> None:
    gateway = SharedRouter(other, models=["churn"], refresh_seconds=0.05)
    SharedRouter(store).set_arms("churn", [(3, 100.0)])
    deadline = threading.Event()
    for _ in range(100):  # at most 5 s; the first read after 50 ms rereads
        if gateway.arms("churn") == (Arm(3, 100.0),):
            break
        deadline.wait(0.05)
    assert gateway.arms("churn") == (Arm(3, 100.0),)


def test_bad_arms_are_refused_before_anything_is_written(store: SqlStore) -> None:
    router = SharedRouter(store)
    router.set_arms("churn", [(1, 100.0)])
    with pytest.raises(ConfigError, match="sum to 100"):
        router.set_arms("churn", [(2, 1.0), (1, 90.0)])
    assert store.load_splits()["churn"].revision == 1
    with pytest.raises(ConfigError, match="refresh_seconds"):
        SharedRouter(store, refresh_seconds=-1)


def test_a_store_that_goes_away_leaves_the_gateway_on_its_last_split(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with open_store(path) as s:
        s.save_split("churn", [(2, 10.0), (1, 90.0)])
        gateway = SharedRouter(s, models=["churn"], refresh_seconds=0.001)
        path.rename(tmp_path / "moved.db")  # the store fails every read from now on
        with pytest.raises(StoreError):
            gateway.refresh()
        threading.Event().wait(0.01)
        assert gateway.arms("churn") == (Arm(2, 10.0), Arm(1, 90.0))  # logged, not raised
        assert gateway.models() == ("churn",)


# -- leases --------------------------------------------------------------------------------------

MODELS = [f"m{i}" for i in range(7)]


def test_two_controllers_split_the_fleet_disjointly_and_cover_it(
    store: SqlStore, other: SqlStore
) -> None:
    a = store.claim_leases("a", MODELS, now=T0, ttl=TTL)
    assert a == tuple(MODELS)  # alone: everything
    b = other.claim_leases("b", MODELS, now=T0, ttl=TTL)
    assert b == ()  # a's leases are live: nothing is taken from it
    t1 = T0 + timedelta(minutes=1)
    a = store.claim_leases("a", MODELS, now=t1, ttl=TTL)  # a sees b: keeps its share of 4
    b = other.claim_leases("b", MODELS, now=t1, ttl=TTL)
    assert (len(a), len(b)) == (4, 3)
    assert set(a).isdisjoint(b)
    assert set(a) | set(b) == set(MODELS)
    t2 = T0 + timedelta(minutes=2)  # stable from then on
    assert store.claim_leases("a", MODELS, now=t2, ttl=TTL) == a
    assert other.claim_leases("b", MODELS, now=t2, ttl=TTL) == b
    owners = {lease.model: lease.owner for lease in store.leases()}
    assert owners == {**dict.fromkeys(a, "a"), **dict.fromkeys(b, "b")}


def test_the_models_of_a_controller_that_dies_are_taken_over_after_expiry(
    store: SqlStore, other: SqlStore
) -> None:
    store.claim_leases("a", MODELS, now=T0, ttl=TTL)
    other.claim_leases("b", MODELS, now=T0, ttl=TTL)
    t1 = T0 + timedelta(minutes=1)
    a = store.claim_leases("a", MODELS, now=t1, ttl=TTL)
    other.claim_leases("b", MODELS, now=t1, ttl=TTL)
    # a dies after t1: its leases last until t1 + TTL; b renews every minute
    for minute in range(2, 4):
        now = T0 + timedelta(minutes=minute)
        held = other.claim_leases("b", MODELS, now=now, ttl=TTL)
        assert set(held).isdisjoint(a)  # a's leases are still live
        assert all(lease.live(now) for lease in store.leases())
    at_expiry = t1 + TTL
    held = other.claim_leases("b", MODELS, now=at_expiry, ttl=TTL)
    assert held == tuple(MODELS)  # a's heartbeat expired too: b's share is everything
    assert not store.holds_lease("a", a[0], now=at_expiry)
    assert other.holds_lease("b", a[0], now=at_expiry)


def test_a_controller_that_stops_cleanly_hands_its_models_over_at_once(
    store: SqlStore, other: SqlStore
) -> None:
    store.claim_leases("a", MODELS, now=T0, ttl=TTL)
    store.release_leases("a")
    assert other.claim_leases("b", MODELS, now=T0, ttl=TTL) == tuple(MODELS)


def test_bad_lease_arguments_are_refused(store: SqlStore) -> None:
    with pytest.raises(DataError, match="owner"):
        store.claim_leases("", MODELS, now=T0, ttl=TTL)
    with pytest.raises(DataError, match="ttl"):
        store.claim_leases("a", MODELS, now=T0, ttl=timedelta(0))
    with pytest.raises(DataError, match="timezone-aware"):
        store.claim_leases("a", MODELS, now=datetime(2026, 1, 1), ttl=TTL)


def _claim_at_once(
    stores: list[SqlStore], owners: list[str], models: list[str], now: datetime
) -> dict[str, tuple[str, ...]]:
    """Every owner claims through its own store at the same instant (threads on a barrier)."""
    held: dict[str, tuple[str, ...]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(owners))

    def claim(owner: str, s: SqlStore) -> None:
        try:
            start.wait()
            held[owner] = s.claim_leases(owner, models, now=now, ttl=TTL)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=p) for p in zip(owners, stores, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return held


def test_controllers_claiming_at_once_never_share_a_model(location: str) -> None:
    """Four processes claim 40 models at the same instant, three rounds: at every round the
    models they hold are disjoint and, once all have seen each other, cover the fleet evenly."""
    models = [f"m{i:02d}" for i in range(40)]
    owners = ["a", "b", "c", "d"]
    stores = [open_store(location) for _ in owners]
    try:
        for round_ in range(3):
            held = _claim_at_once(stores, owners, models, T0 + timedelta(minutes=round_))
            claimed = [m for h in held.values() for m in h]
            assert len(claimed) == len(set(claimed)), held
        assert sorted(claimed) == models
        assert all(len(h) == 10 for h in held.values()), held
    finally:
        for s in stores:
            s.close()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=lease_steps())
def test_never_two_owners_of_a_live_lease(store: SqlStore, steps: list[tuple[str, int]]) -> None:
    """Whatever the order and timing of claims by three controllers (some of which stop
    claiming, i.e. die), no model is ever held by two of them while both leases are live."""
    ttl = timedelta(minutes=3)
    tag = f"p{id(steps)}-{len(steps)}"
    models = [f"{tag}-{i}" for i in range(5)]
    now = T0 + timedelta(days=len(store.leases()))  # each example in a time of its own
    believed: dict[str, tuple[frozenset[str], datetime]] = {}
    for owner, advance in steps:
        now += timedelta(seconds=advance)
        held = store.claim_leases(f"{tag}-{owner}", models, now=now, ttl=ttl)
        believed[owner] = (frozenset(held), now + ttl)
        live = [h for h, until in believed.values() if until > now]
        for i, h in enumerate(live):
            for g in live[i + 1 :]:
                assert h.isdisjoint(g), (believed, now)
        for m in held:
            assert store.holds_lease(f"{tag}-{owner}", m, now=now)


# -- intents settle with their audit event ---------------------------------------------------------


def test_an_intent_settles_with_its_audit_event_in_one_transaction(store: SqlStore) -> None:
    """A controller that dies after settling never leaves an intent marked done without the
    record of what was done, nor the record without the status: both or neither."""
    _, created = store.claim_intent(
        key="k1",
        model="churn",
        window_end=T0,
        action="FALLBACK",
        decision_id="d1",
        payload={},
        at=T0,
    )
    assert created
    with pytest.raises(DataError, match=r"the payload of audit event 'control\.action' must be"):
        store.settle_intent(
            "k1", status="done", at=T0, event=("control.action", {"bad": float("nan")})
        )
    assert [i.status for i in store.intents("churn")] == ["intent"]  # nothing written
    assert store.audit_events("churn", kind="control.action") == []
    store.settle_intent(
        "k1", status="done", at=T0, result={"ok": True}, event=("control.action", {"key": "k1"})
    )
    (settled,) = store.intents("churn")
    assert (settled.status, settled.result) == ("done", {"ok": True})
    (event,) = store.audit_events("churn", kind="control.action")
    assert (event.model, event.payload, event.at) == ("churn", {"key": "k1"}, T0)
