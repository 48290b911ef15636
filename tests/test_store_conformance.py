"""One conformance suite for every store backend: SQLite (a real file), PostgreSQL (a real server).

Each backend declares how to make a fresh, empty store location for one test. PostgreSQL tests use
the server named by ``SAFEHEAL_TEST_POSTGRES_URL`` (``eval "$(scripts/postgres.sh start)"`` starts
one on loopback), each test in a schema of its own; without that variable they are skipped, except
under CI, where they fail: CI must never skip them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings

from safeheal.core import Action, Decision, Outcome, State, Verdict
from safeheal.errors import (
    DataError,
    DuplicateOutcomeError,
    StoreError,
    UnknownDecisionError,
)
from safeheal.policy import HybridPolicy
from safeheal.policy.protocols import CostEstimate, Posterior, PosteriorStore, PosteriorUpdate
from safeheal.store import SqlStore, open_store
from safeheal.store._migrate import head_revision
from safeheal.store._schema import VERSION_TABLE, metadata
from tests.strategies import decisions

POSTGRES_ENV = "SAFEHEAL_TEST_POSTGRES_URL"

# -- backends ------------------------------------------------------------------------------------


@contextmanager
def _sqlite_location(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "store.db")


@contextmanager
def _sqlite_write_lock(location: str) -> Iterator[None]:
    other = sqlite3.connect(location, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # what another process's write transaction holds
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def _postgres_base_url() -> str:
    base = os.environ.get(POSTGRES_ENV, "").strip()
    if not base:
        message = (
            f"{POSTGRES_ENV} is not set: start a throwaway server with "
            f'`eval "$(scripts/postgres.sh start)"` to run the PostgreSQL store tests'
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must run them, never skip them)", pytrace=False)
        pytest.skip(message)
    return base


@contextmanager
def _postgres_location(tmp_path: Path) -> Iterator[str]:
    base = _postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def _postgres_write_lock(location: str) -> Iterator[None]:
    other = sa.create_engine(location, poolclass=sa.pool.NullPool)
    try:
        with other.connect() as conn, conn.begin():
            # Blocks inserts and updates, not plain reads, like a long write transaction.
            conn.exec_driver_sql(
                "LOCK TABLE decisions, outcomes, posteriors, cost_estimates IN EXCLUSIVE MODE"
            )
            yield
    finally:
        other.dispose()


@dataclasses.dataclass(frozen=True)
class Backend:
    """What the suite needs to know about one backend."""

    name: str
    #: A fresh, empty store location (a path or a URL) for one test.
    location: Callable[[Path], AbstractContextManager[str]]
    #: Hold, from another connection, a lock that every write to the store needs.
    hold_write_lock: Callable[[str], AbstractContextManager[None]]


BACKENDS = (
    Backend("sqlite", _sqlite_location, _sqlite_write_lock),
    Backend("postgresql", _postgres_location, _postgres_write_lock),
)


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def location(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """Where a fresh store of each backend lives (a path or a URL)."""
    with backend.location(tmp_path) as where:
        yield where


@pytest.fixture
def store(location: str) -> Iterator[SqlStore]:
    with open_store(location) as s:
        yield s


# -- helpers -------------------------------------------------------------------------------------

_ids = itertools.count()


def make_decision(
    *,
    action: Action = Action.RETRAIN,
    at: datetime | None = None,
    context: str = "drifting/high",
    **changes: Any,
) -> Decision:
    verdict = Verdict(
        mandatory=None,
        permitted=frozenset({Action.RETRAIN, Action.FALLBACK, Action.NO_OP}),
        zone="drifting",
        reasons=("drift 0.18 > 0.15 with accuracy drop 0.02 <= 0.10",),
    )
    decision = Decision(
        action=action,
        verdict=verdict,
        safe_set=frozenset({Action.RETRAIN, Action.NO_OP}),
        source="bandit",
        propensity=0.62,
        scores={Action.RETRAIN: 0.97, Action.NO_OP: 0.955},
        reasons=("bandit chose retrain: 10*0.81 - 0.45 = 7.65",),
        state=State(drift=0.18, accuracy_drop=0.02, anomaly_rate=0.004, latency_ratio=0.7),
        context=context,
        draws={Action.RETRAIN: 0.81, Action.NO_OP: 0.4},
        costs={Action.RETRAIN: 0.45, Action.NO_OP: 0.0},
        impact=1234.5,
        mode="hybrid",
        id=f"d{next(_ids)}-{uuid.uuid4().hex[:8]}",
        at=at or datetime.now(UTC),
    )
    return dataclasses.replace(decision, **changes)


#: One success of RETRAIN in drifting/high from Beta(2, 2); POST is what it makes of an empty store.
UPDATE = PosteriorUpdate("drifting/high", "RETRAIN", 1.0, 0.0, prior_alpha=2.0, prior_beta=2.0)
POST = Posterior("drifting/high", "RETRAIN", alpha=3.0, beta=2.0)
COST = CostEstimate("RETRAIN", compute=0.8, risk=0.3, downtime=0.1, n=1)


def update_of(
    success: bool,
    *,
    context: str = "drifting/high",
    action: str = "RETRAIN",
    prior: tuple[float, float] = (1.0, 1.0),
) -> PosteriorUpdate:
    """The update one outcome makes, from the posterior ``prior`` the policy holds."""
    return PosteriorUpdate(context, action, float(success), float(not success), *prior)


def outcome_of(decision: Decision, success: bool = True, cost: float | None = 0.4) -> Outcome:
    return Outcome(decision.id, success=success, cost=cost)


# -- the protocol --------------------------------------------------------------------------------


def test_implements_the_posterior_store_protocol(store: SqlStore) -> None:
    assert isinstance(store, PosteriorStore)


def test_a_new_store_is_empty_and_at_the_newest_schema(store: SqlStore) -> None:
    assert store.load_posteriors() == []
    assert store.load_costs() == []
    assert store.decisions() == []
    assert store.schema_revision() == head_revision()


# -- decisions -----------------------------------------------------------------------------------


def test_decision_round_trip(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d, model="churn")
    back = store.get_decision(d.id)
    assert back == d
    assert back.at == d.at
    assert back.to_dict() == d.to_dict()


@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one store for all examples
)
@given(decision=decisions())
def test_any_decision_round_trips(store: SqlStore, decision: Decision) -> None:
    decision = dataclasses.replace(decision, id=f"{decision.id}-{next(_ids)}")
    store.record_decision(decision)
    assert store.get_decision(decision.id) == decision


def test_recording_a_decision_twice_is_a_no_op(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d, model="churn")
    store.record_decision(d, model="churn")
    assert store.decisions() == [d]


def test_another_decision_under_a_used_id_is_refused(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d)
    with pytest.raises(StoreError, match="different decision with id"):
        store.record_decision(dataclasses.replace(d, action=Action.NO_OP))
    assert store.get_decision(d.id) == d


def test_unknown_decision_id(store: SqlStore) -> None:
    with pytest.raises(UnknownDecisionError, match="no decision with id 'nope'"):
        store.get_decision("nope")
    with pytest.raises(KeyError):  # the builtin a caller already catches
        store.get_decision("nope")


def test_verdict_safe_set_and_reasons_are_queryable_columns(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d, model="churn")
    engine = store._engine
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT model, action, zone, mandatory, source, propensity, context, mode, "
                "safe_set, permitted, reasons FROM decisions WHERE id = :id"
            ),
            {"id": d.id},
        ).one()
    model, action, zone, mandatory, source, propensity, context, mode, *docs = row
    assert (model, action, zone, mandatory, source, context, mode) == (
        "churn",
        "RETRAIN",
        "drifting",
        None,
        "bandit",
        "drifting/high",
        "hybrid",
    )
    assert propensity == pytest.approx(0.62)
    safe_set, permitted, reasons = (
        doc if isinstance(doc, list) else json.loads(doc) for doc in docs
    )
    assert safe_set == ["NO_OP", "RETRAIN"]
    assert permitted == ["FALLBACK", "NO_OP", "RETRAIN"]
    assert reasons == list(d.reasons)


def test_listing_decisions_by_model_time_and_limit(store: SqlStore) -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    made = [make_decision(at=t0 + timedelta(minutes=i)) for i in range(5)]
    for i, d in enumerate(made):
        store.record_decision(d, model="churn" if i % 2 == 0 else "fraud")
    assert store.decisions() == made
    assert store.decisions("churn") == [made[0], made[2], made[4]]
    assert store.decisions(since=t0 + timedelta(minutes=3)) == made[3:]
    assert store.decisions(limit=2) == made[3:]
    assert store.decisions("fraud", limit=1) == [made[3]]
    assert store.decisions(limit=0) == []
    assert store.models() == ["churn", "fraud"]
    assert store.count_decisions() == 5
    assert store.count_decisions("fraud") == 2


def test_naive_times_are_taken_as_utc(store: SqlStore) -> None:
    d = make_decision(at=datetime(2026, 3, 1, 12, 0))
    store.record_decision(d)
    assert store.get_decision(d.id).at == datetime(2026, 3, 1, 12, 0)  # kept as given
    assert store.decisions(since=datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == [d]
    assert store.decisions(since=datetime(2026, 3, 1, 12, 1, tzinfo=UTC)) == []


# -- outcomes, posteriors, costs -----------------------------------------------------------------


def test_outcome_posterior_and_cost_round_trip(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d)
    assert store.get_outcome(d.id) is None
    at = datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=UTC)
    stored = store.record_outcome(Outcome(d.id, success=True, cost=0.37, at=at), UPDATE, COST)
    assert stored == POST
    assert store.get_outcome(d.id) == Outcome(d.id, success=True, cost=0.37, at=at)
    assert store.load_posteriors() == [POST]
    assert store.load_costs() == [COST]


def test_an_outcome_without_cost_or_updates(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d)
    assert store.record_outcome(Outcome(d.id, success=False), None, None) is None
    outcome = store.get_outcome(d.id)
    assert outcome is not None
    assert (outcome.success, outcome.cost) == (False, None)
    assert store.load_posteriors() == []
    assert store.load_costs() == []


def test_posteriors_accumulate_and_costs_are_replaced_per_key(store: SqlStore) -> None:
    first, second, third, other = (make_decision() for _ in range(4))
    for d in (first, second, third, other):
        store.record_decision(d)
    store.record_outcome(outcome_of(first), UPDATE, COST)
    # The prior only starts a pair: a policy whose memory lags behind adds to what is stored.
    newer_cost = dataclasses.replace(COST, compute=0.7, n=2)
    assert store.record_outcome(
        outcome_of(second), update_of(True, prior=(50.0, 50.0)), newer_cost
    ) == dataclasses.replace(POST, alpha=4.0)
    assert store.record_outcome(
        outcome_of(third, success=False), update_of(False), None
    ) == dataclasses.replace(POST, alpha=4.0, beta=3.0)
    elsewhere = Posterior("degraded/high", "RETRAIN", alpha=1.0, beta=2.0)
    assert (
        store.record_outcome(
            outcome_of(other, success=False), update_of(False, context="degraded/high"), None
        )
        == elsewhere
    )
    assert store.load_posteriors() == [elsewhere, dataclasses.replace(POST, alpha=4.0, beta=3.0)]
    assert store.load_costs() == [newer_cost]


def test_the_returned_posterior_is_the_stored_one(store: SqlStore) -> None:
    contexts = ("drifting/high", "drifting/low")
    for i in range(6):
        d = make_decision()
        store.record_decision(d)
        returned = store.record_outcome(
            outcome_of(d, success=i % 3 != 0),
            update_of(i % 3 != 0, context=contexts[i % 2], prior=(2.0, 1.0)),
            None,
        )
        assert returned is not None
        assert returned in store.load_posteriors()
    assert store.load_posteriors() == [
        Posterior("drifting/high", "RETRAIN", alpha=2.0 + 2, beta=1.0 + 1),
        Posterior("drifting/low", "RETRAIN", alpha=2.0 + 2, beta=1.0 + 1),
    ]


def test_an_update_of_zero_outcomes_starts_the_pair_from_its_prior(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d)
    nothing = PosteriorUpdate("drifting/high", "RETRAIN", 0.0, 0.0, 1e-9, 0.5)
    assert store.record_outcome(outcome_of(d), nothing, None) == Posterior(
        "drifting/high", "RETRAIN", 1e-9, 0.5
    )


def test_outcome_for_an_unknown_decision_writes_nothing(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d)
    store.record_outcome(outcome_of(d), UPDATE, COST)
    with pytest.raises(UnknownDecisionError, match="no decision with id 'ghost'"):
        store.record_outcome(Outcome("ghost", success=False), update_of(False), None)
    assert store.load_posteriors() == [POST]
    assert store.load_costs() == [COST]


def test_a_second_outcome_writes_nothing(store: SqlStore) -> None:
    d = make_decision()
    store.record_decision(d)
    store.record_outcome(outcome_of(d, success=True), UPDATE, COST)
    with pytest.raises(DuplicateOutcomeError, match="already has an outcome"):
        store.record_outcome(
            outcome_of(d, success=False), update_of(False), dataclasses.replace(COST, n=2)
        )
    assert store.load_posteriors() == [POST]
    assert store.load_costs() == [COST]
    outcome = store.get_outcome(d.id)
    assert outcome is not None
    assert outcome.success is True


@pytest.mark.parametrize(
    ("update", "cost", "outcome_cost", "message"),
    [
        (
            dataclasses.replace(UPDATE, prior_alpha=0.0),
            None,
            None,
            r"PosteriorUpdate.prior_alpha must be a finite number > 0; got 0.0",
        ),
        (dataclasses.replace(UPDATE, prior_beta=float("nan")), None, None, "prior_beta"),
        (dataclasses.replace(UPDATE, prior_beta=float("inf")), None, None, "prior_beta"),
        (
            dataclasses.replace(UPDATE, successes=-1.0),
            None,
            None,
            r"PosteriorUpdate.successes must be a finite number >= 0; got -1.0",
        ),
        (dataclasses.replace(UPDATE, failures=float("inf")), None, None, "failures"),
        (dataclasses.replace(UPDATE, failures=float("nan")), None, None, "failures"),
        (UPDATE, dataclasses.replace(COST, risk=1.5), None, r"CostEstimate.risk .* \[0, 1\]"),
        (UPDATE, dataclasses.replace(COST, n=-1), None, "CostEstimate.n must be an integer >= 0"),
        (UPDATE, COST, float("inf"), r"Outcome.cost must be None or a number in \[0, 1\]"),
    ],
)
def test_invalid_values_are_refused_before_anything_is_written(
    store: SqlStore,
    update: PosteriorUpdate,
    cost: CostEstimate | None,
    outcome_cost: float | None,
    message: str,
) -> None:
    d = make_decision()
    store.record_decision(d)
    with pytest.raises(DataError, match=message):
        store.record_outcome(Outcome(d.id, True, outcome_cost), update, cost)
    assert store.get_outcome(d.id) is None
    assert store.load_posteriors() == []


def test_a_failure_mid_transaction_writes_nothing(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    d, later = make_decision(), make_decision()
    store.record_decision(d)
    store.record_decision(later)
    store.record_outcome(outcome_of(d), UPDATE, COST)
    # The last statement of record_outcome fails in the database, after the outcome and the
    # posterior were written in the same transaction.
    monkeypatch.setattr(store._sql, "put_cost", sa.text("SELECT no_such_function(:action)"))
    with pytest.raises(StoreError, match="no_such_function") as info:
        store.record_outcome(outcome_of(later), update_of(True), dataclasses.replace(COST, n=2))
    assert info.value.__cause__ is None  # no SQLAlchemy traceback for the user
    monkeypatch.undo()
    assert store.get_outcome(later.id) is None
    assert store.load_posteriors() == [POST]
    assert store.load_costs() == [COST]


# -- durability and concurrency ------------------------------------------------------------------


def test_reopening_sees_the_same_posteriors_and_decisions(location: str) -> None:
    d = make_decision()
    with open_store(location) as first:
        first.record_decision(d, model="churn")
        first.record_outcome(outcome_of(d), UPDATE, COST)
    with open_store(location) as again:
        assert again.load_posteriors() == [POST]
        assert again.load_costs() == [COST]
        assert again.get_decision(d.id) == d
        assert again.get_outcome(d.id) is not None


def test_migrations_are_idempotent_and_match_the_schema(location: str) -> None:
    with open_store(location) as first:
        first.record_decision(make_decision())
    with open_store(location) as second:
        assert second.schema_revision() == head_revision()
        assert second.count_decisions() == 1
        with second._engine.connect() as conn:
            versions = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
            assert versions == [(head_revision(),)]
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, metadata) == []


def test_concurrent_writers_do_not_corrupt(location: str) -> None:
    per_writer = 30
    errors: list[BaseException] = []
    with open_store(location) as a, open_store(location) as b:
        shared = make_decision()
        a.record_decision(shared)

        def write(store: SqlStore, name: str) -> None:
            try:
                for _ in range(per_writer):
                    d = make_decision(context=name)
                    store.record_decision(d, model=name)
                    store.record_outcome(outcome_of(d), update_of(True, context=name), None)
            except BaseException as error:  # reported below
                errors.append(error)

        def race(store: SqlStore, results: list[str]) -> None:
            try:
                store.record_outcome(outcome_of(shared), None, None)
                results.append("ok")
            except DuplicateOutcomeError:
                results.append("duplicate")

        threads = [
            threading.Thread(target=write, args=(a, "writer-a")),
            threading.Thread(target=write, args=(b, "writer-b")),
        ]
        results: list[str] = []
        threads += [threading.Thread(target=race, args=(s, results)) for s in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(results) == ["duplicate", "duplicate", "duplicate", "ok"]
        assert {p.context: p.alpha for p in a.load_posteriors()} == {
            "writer-a": 1.0 + per_writer,
            "writer-b": 1.0 + per_writer,
        }
        assert b.count_decisions() == 2 * per_writer + 1
        assert a.count_decisions("writer-a") == per_writer
        if a.backend == "sqlite":
            with a._engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


# -- no lost updates: each outcome is added to the posterior in the store's transaction ------------


def test_two_stores_interleaving_on_one_pair_lose_no_update(location: str) -> None:
    """Two writers (two processes' stores) on one (context, action), each passing the posterior it
    last saw as its prior: every outcome counts, and the first writer's prior starts the pair."""
    pattern = [True, False, True, True, False, True, False, False, True, True, True]
    with open_store(location) as a, open_store(location) as b:
        writers = {"a": a, "b": b}
        memory = {"a": (3.0, 1.0), "b": (1.0, 1.0)}  # a warm-started its copy; b did not
        for i, success in enumerate(pattern):
            name = "ab"[i % 2]
            writer = writers[name]
            d = make_decision()
            writer.record_decision(d, model=name)
            update = update_of(success, prior=memory[name])
            stored = writer.record_outcome(outcome_of(d, success), update, None)
            assert stored is not None
            memory[name] = (stored.alpha, stored.beta)
        wins = sum(pattern)
        expected = [Posterior("drifting/high", "RETRAIN", 3.0 + wins, 1.0 + len(pattern) - wins)]
        assert a.load_posteriors() == expected
        assert b.load_posteriors() == expected
        assert memory["ab"[(len(pattern) - 1) % 2]] == (expected[0].alpha, expected[0].beta)


def test_two_stores_in_threads_lose_no_update(location: str) -> None:
    per_writer = 50
    errors: list[BaseException] = []
    seen: dict[str, list[Posterior]] = {}

    def write(store: SqlStore, name: str, wins: Callable[[int], bool]) -> None:
        try:
            memory = (1.0, 1.0)
            seen[name] = []
            for i in range(per_writer):
                d = make_decision()
                store.record_decision(d, model=name)
                success = wins(i)
                stored = store.record_outcome(
                    outcome_of(d, success), update_of(success, prior=memory), None
                )
                assert stored is not None
                memory = (stored.alpha, stored.beta)
                seen[name].append(stored)
        except BaseException as error:  # reported below
            errors.append(error)

    def a_wins(i: int) -> bool:
        return i % 3 != 0

    def b_wins(i: int) -> bool:
        return i % 2 == 0

    with open_store(location) as a, open_store(location) as b:
        threads = [
            threading.Thread(target=write, args=(a, "a", a_wins)),
            threading.Thread(target=write, args=(b, "b", b_wins)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        wins = sum(map(a_wins, range(per_writer))) + sum(map(b_wins, range(per_writer)))
        losses = 2 * per_writer - wins
        final = Posterior("drifting/high", "RETRAIN", 1.0 + wins, 1.0 + losses)
        assert a.load_posteriors() == [final]
        assert b.load_posteriors() == [final]
        # The updates were applied one after the other: the k-th saw k outcomes in the pair.
        totals = sorted(p.alpha + p.beta for name in "ab" for p in seen[name])
        assert totals == [2.0 + k for k in range(1, 2 * per_writer + 1)]
        assert final in seen["a"] + seen["b"]


CRITICAL = State(drift=0.3, accuracy_drop=0.0, anomaly_rate=0.0)


def test_a_policy_adopts_the_posterior_other_policies_stored(location: str) -> None:
    with open_store(location) as a_store, open_store(location) as b_store:
        first = HybridPolicy(store=a_store, seed=1, model="churn")
        second = HybridPolicy(store=b_store, seed=2, model="fraud")
        d1, d2 = first.decide(CRITICAL), second.decide(CRITICAL)
        context, action, default = d2.context, d2.action, d2.verdict.default
        assert (d1.context, d1.action) == (context, action)  # FALLBACK is mandatory there
        a0, b0 = second.bandit.params(context, action, default)  # the prior, with warm start
        assert first.bandit.params(context, action, default) == (a0, b0)

        first.update(d1, True)
        first.update(first.decide(CRITICAL), True)
        assert second.bandit.params(context, action, default) == (a0, b0)  # not seen yet
        second.update(d2, False)
        both = Posterior(context, action.name, a0 + 2, b0 + 1)
        assert second.bandit.posterior(context, action, default) == both
        assert a_store.load_posteriors() == [both]

        # and the first policy catches up with the second's outcome on its next update
        first.update(first.decide(CRITICAL), False)
        stored = Posterior(context, action.name, a0 + 2, b0 + 2)
        assert first.bandit.posterior(context, action, default) == stored
        assert b_store.load_posteriors() == [stored]
        assert second.bandit.posterior(context, action, default) == both  # until it updates


def test_a_locked_store_is_a_clear_error_and_nothing_is_written(
    backend: Backend, location: str
) -> None:
    with open_store(location, busy_timeout=0.2) as store:
        first, second = make_decision(), make_decision()
        store.record_decision(first)
        store.record_decision(second)
        store.record_outcome(outcome_of(first), UPDATE, COST)
        with backend.hold_write_lock(location):
            started = time.monotonic()
            with pytest.raises(StoreError, match="is locked") as info:
                store.record_outcome(outcome_of(second), update_of(True), COST)
            assert time.monotonic() - started >= 0.15  # it waited the busy timeout first
            message = str(info.value)
            assert store.url in message
            assert "busy timeout (0.2 s)" in message
            assert info.value.__cause__ is None
            assert store.load_posteriors() == [POST]  # readers are not blocked
        assert store.get_outcome(second.id) is None
        assert store.load_posteriors() == [POST]
        again = store.record_outcome(outcome_of(second), update_of(True), COST)  # lock gone
        assert again == dataclasses.replace(POST, alpha=4.0)
        assert store.get_outcome(second.id) is not None


# -- the audit trail -----------------------------------------------------------------------------


def test_audit_events_round_trip_and_filter(store: SqlStore) -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    store.record_event("rollback", {"to": 3, "why": ["accuracy drop"]}, model="churn", at=t0)
    store.record_event("escalate", {"reason": "novel"}, model="fraud", at=t0 + timedelta(1))
    store.record_event("promote", {"version": 4}, model="churn", at=t0 + timedelta(2))
    events = store.audit_events()
    assert [e.kind for e in events] == ["rollback", "escalate", "promote"]
    assert events[0].payload == {"to": 3, "why": ["accuracy drop"]}
    assert events[0].at == t0
    assert events[0].model == "churn"
    assert [e.kind for e in store.audit_events("churn")] == ["rollback", "promote"]
    assert [e.kind for e in store.audit_events(kind="escalate")] == ["escalate"]
    assert [e.kind for e in store.audit_events(since=t0 + timedelta(1))] == ["escalate", "promote"]
    assert [e.kind for e in store.audit_events(limit=1)] == ["promote"]


@pytest.mark.parametrize("payload", [{"x": float("nan")}, {"x": object()}])
def test_an_audit_payload_must_be_json(store: SqlStore, payload: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="must be JSON"):
        store.record_event("weird", payload)
    assert store.audit_events() == []


# -- PostgreSQL: connections lost and servers gone -----------------------------------------------


@pytest.fixture
def pg_location(tmp_path: Path) -> Iterator[str]:
    with _postgres_location(tmp_path) as where:
        yield where


@pytest.fixture
def pg_store(pg_location: str) -> Iterator[SqlStore]:
    with open_store(pg_location) as s:
        yield s


def test_a_dropped_connection_is_replaced(pg_store: SqlStore) -> None:
    store = pg_store
    d = make_decision()
    store.record_decision(d)
    with store._engine.connect() as conn:
        mine = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = sa.create_engine(os.environ[POSTGRES_ENV])
    with admin.begin() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": mine})
    admin.dispose()
    assert store.get_decision(d.id) == d  # pool_pre_ping reconnects


class _Forwarder:
    """A TCP relay on loopback in front of the PostgreSQL server: closing it takes the server
    away from the store mid-session (connections reset, new ones refused)."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing.set()
        for s in self._sockets:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()
        for s in self._sockets:
            s.close()


def test_a_server_that_goes_away_is_a_clear_error(pg_location: str) -> None:
    url = sa.make_url(pg_location)
    assert url.host is not None
    assert url.port is not None
    relay = _Forwarder(url.host, url.port)
    try:
        via = url.set(port=relay.port).render_as_string(hide_password=False)
        with open_store(via) as store:
            d = make_decision()
            store.record_decision(d)
            store.record_outcome(outcome_of(d), UPDATE, None)
            relay.close()  # the server is gone
            with pytest.raises(StoreError, match="cannot reach the PostgreSQL store") as info:
                store.load_posteriors()
            message = str(info.value)
            assert store.url in message
            assert ":***@" in message
            assert str(url.password) not in message
            assert "server is running" in message
            assert info.value.__cause__ is None
    finally:
        relay.close()
    with open_store(pg_location) as again:  # nothing was lost
        assert again.load_posteriors() == [POST]


# -- labels, as the controller reads them --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Label:
    request_id: str
    model: str
    row: int
    label: int | float | str | bool
    at: datetime


def test_labels_are_read_by_request_and_row_within_the_window(store: SqlStore) -> None:
    from safeheal.store import SqlInferenceSink

    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    # more labels than the reader fetches per round trip, of every JSON kind a label may be
    many = [_Label(f"r{j}", "m", i, (i + j) % 2, t0) for j in range(12) for i in range(100)]
    kinds = [
        _Label("mixed", "m", 0, "cat", t0),
        _Label("mixed", "m", 1, 2.5, t0),
        _Label("mixed", "m", 2, True, t0),
        _Label("mixed", "m", 7, 'quote " and, comma', t0),
    ]
    outside = [
        _Label("early", "m", 0, 1, t0 - timedelta(seconds=1)),  # before `since`
        _Label("late", "m", 0, 1, t0 + timedelta(minutes=1)),  # at `until`: excluded
        _Label("r0", "other", 0, 5, t0),  # another model's
    ]
    SqlInferenceSink(store).write([], [*many, *kinds, *outside])
    since, until = t0, t0 + timedelta(minutes=1)

    by_request = store.labels_by_request("m", since=since, until=until)

    expected: dict[str, dict[int, Any]] = {}
    for f in [*many, *kinds]:
        expected.setdefault(f.request_id, {})[f.row] = f.label
    assert by_request == expected
    assert by_request["mixed"][2] is True
    assert store.labels("m", since=since, until=until) == {
        (r, i): v for r, rows in expected.items() for i, v in rows.items()
    }
    assert store.labels_by_request("nobody", since=since, until=until) == {}


def test_labels_of_request_ids_holding_the_separator_are_read_all_the_same(
    store: SqlStore,
) -> None:
    from safeheal.store import SqlInferenceSink

    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    labels = [
        _Label("a\x1fb", "m", 0, 1, t0),
        _Label("a", "m", 1, "x\x1fy", t0),
        _Label("b", "m", 0, 0, t0),
    ]
    SqlInferenceSink(store).write([], labels)

    got = store.labels_by_request("m", since=t0, until=t0 + timedelta(minutes=1))

    assert got == {"a\x1fb": {0: 1}, "a": {1: "x\x1fy"}, "b": {0: 0}}
