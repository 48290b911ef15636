"""The healing layer's records in the store, on every backend: canaries, escalations, role moves.

Runs over the backends of the store's conformance suite (SQLite in a file, PostgreSQL when
``SAFEHEAL_TEST_POSTGRES_URL`` names a server), with its fixtures.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from safeheal.core.records import CanaryRecord, Escalation, RoleMove
from safeheal.errors import (
    DataError,
    EscalationClosedError,
    StoreError,
    UnknownEscalationError,
)
from safeheal.heal import (
    CanaryPlan,
    CanaryState,
    CanaryStore,
    EscalationStore,
    RoleMoveLog,
    abort,
    advance,
)
from safeheal.store import SqlStore, open_store
from tests.test_store_conformance import backend, location, store

__all__ = ["backend", "location", "store"]  # the conformance suite's fixtures, used here

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def canary(cid: str = "c1", model: str = "churn", at: datetime = T0) -> CanaryRecord:
    state = advance(CanaryState.start(CanaryPlan(), at), at)
    return CanaryRecord(
        id=cid,
        model=model,
        action="RETRAIN",
        candidate_version=3,
        incumbent_version=2,
        decision_id="d1",
        phase=state.phase.value,
        state=state.to_dict(),
        started_at=at,
        updated_at=at,
    )


def escalation(eid: str = "e1", model: str = "churn", at: datetime = T0) -> Escalation:
    return Escalation(
        id=eid,
        model=model,
        decision_id="d1",
        status="pending",
        created_at=at,
        payload={"model": model, "reasons": ["accuracy drop 0.13 > 0.10"], "meanwhile": 2},
    )


def test_implements_the_heal_protocols(store: SqlStore) -> None:
    assert isinstance(store, CanaryStore)
    assert isinstance(store, EscalationStore)
    assert isinstance(store, RoleMoveLog)


# -- canaries ------------------------------------------------------------------------------------


def test_canary_round_trip_and_update(store: SqlStore) -> None:
    c = canary()
    store.save_canary(c)
    assert store.load_canary("c1") == c
    assert CanaryState.from_dict(store.load_canary("c1").state) == CanaryState.from_dict(c.state)  # type: ignore[union-attr]
    assert store.load_canary("nope") is None
    later = T0 + timedelta(minutes=7)
    aborted = abort(CanaryState.from_dict(c.state), later, "SLA drop 0.2")
    moved = replace(
        c,
        phase=aborted.phase.value,
        state=aborted.to_dict(),
        updated_at=later,
        model="other",  # fixed at the start: not changed by a later save
    )
    store.save_canary(moved)
    back = store.load_canary("c1")
    assert back is not None
    assert (back.phase, back.updated_at, back.model, back.started_at) == (
        "aborted",
        later,
        "churn",
        T0,
    )
    assert back.state == aborted.to_dict()


def test_active_canaries_are_the_unfinished_ones(store: SqlStore) -> None:
    store.save_canary(canary("c1", "churn", T0))
    store.save_canary(canary("c2", "fraud", T0 + timedelta(minutes=1)))
    store.save_canary(canary("c3", "churn", T0 + timedelta(minutes=2)))
    assert [c.id for c in store.active_canaries()] == ["c1", "c2", "c3"]
    assert [c.id for c in store.active_canaries("churn")] == ["c1", "c3"]
    done = abort(CanaryState.from_dict(canary("c1").state), T0, "stop")
    store.save_canary(replace(canary("c1"), phase=done.phase.value, state=done.to_dict()))
    assert [c.id for c in store.active_canaries("churn")] == ["c3"]


def test_a_canary_state_must_be_json_and_agree_with_its_phase(store: SqlStore) -> None:
    with pytest.raises(DataError, match="phase 'aborted' but its state says 'progressing'"):
        store.save_canary(replace(canary(), phase="aborted"))
    with pytest.raises(DataError, match="must be JSON"):
        store.save_canary(replace(canary(), state={"phase": "progressing", "x": float("nan")}))
    with pytest.raises(DataError, match="timezone-aware"):
        store.save_canary(replace(canary(), started_at=datetime(2026, 1, 1)))
    assert store.active_canaries() == []


def test_a_restarted_controller_finds_its_canaries(location: str) -> None:
    with open_store(location) as first:
        first.save_canary(canary())
    with open_store(location) as again:
        assert [c.id for c in again.active_canaries()] == ["c1"]


# -- escalations ---------------------------------------------------------------------------------


def test_escalation_round_trip(store: SqlStore) -> None:
    e = escalation()
    store.record_escalation(e)
    assert store.get_escalation("e1") == e
    store.record_escalation(e)  # the same again: a retried write, nothing changes
    with pytest.raises(StoreError, match="different escalation with id 'e1'"):
        store.record_escalation(replace(e, model="fraud"))
    with pytest.raises(UnknownEscalationError, match="no escalation with id 'e2'"):
        store.get_escalation("e2")
    with pytest.raises(DataError, match="must be JSON"):
        store.record_escalation(replace(e, id="e3", payload={"x": object()}))


def test_pending_escalations_by_model_oldest_first(store: SqlStore) -> None:
    store.record_escalation(escalation("e1", "churn", T0))
    store.record_escalation(escalation("e2", "fraud", T0 + timedelta(seconds=1)))
    store.record_escalation(escalation("e3", "churn", T0 + timedelta(seconds=2)))
    assert [e.id for e in store.pending_escalations()] == ["e1", "e2", "e3"]
    assert [e.id for e in store.pending_escalations("churn")] == ["e1", "e3"]
    store.answer_escalation("e1", status="rejected", actor="alice", at=T0)
    assert [e.id for e in store.pending_escalations("churn")] == ["e3"]


def test_an_escalation_is_answered_once(store: SqlStore) -> None:
    store.record_escalation(escalation())
    later = T0 + timedelta(minutes=45)
    answered = store.answer_escalation(
        "e1", status="approved", actor="alice", note="stay on fallback", at=later
    )
    assert (answered.status, answered.actor, answered.note, answered.answered_at) == (
        "approved",
        "alice",
        "stay on fallback",
        later,
    )
    assert not answered.is_open
    assert store.get_escalation("e1") == answered
    again = store.answer_escalation("e1", status="approved", actor="bob", at=later)
    assert again == answered  # the same answer twice changes nothing
    with pytest.raises(EscalationClosedError, match="already approved by alice"):
        store.answer_escalation("e1", status="rejected", actor="bob", at=later)
    with pytest.raises(UnknownEscalationError):
        store.answer_escalation("nope", status="approved", actor="alice", at=later)
    with pytest.raises(DataError, match="'approved' or 'rejected'"):
        store.answer_escalation("e1", status="maybe", actor="alice", at=later)  # type: ignore[arg-type]


# -- role moves ----------------------------------------------------------------------------------


def test_role_moves_round_trip_in_order(store: SqlStore) -> None:
    moves = [
        RoleMove("churn", "champion", None, 1, "safeheal", "first fit", T0),
        RoleMove("churn", "fallback", None, 2, "safeheal", "registered", T0 + timedelta(1)),
        RoleMove("churn", "champion", 1, 3, "controller", "retrained", T0 + timedelta(2)),
        RoleMove("fraud", "champion", None, 1, "alice", "first fit", T0 + timedelta(3)),
    ]
    for m in moves:
        store.on_role_move(m)
    assert store.role_moves("churn") == moves[:3]
    assert store.role_moves("churn", "champion") == [moves[0], moves[2]]
    assert store.role_moves("nobody") == []


# -- reading back for the dashboard --------------------------------------------------------------


def test_the_canaries_of_a_model_oldest_first_and_the_last_few(store: SqlStore) -> None:
    first = canary("c1", at=T0)
    second = canary("c2", at=T0 + timedelta(minutes=5))
    ended = replace(
        second,
        phase="aborted",
        state=abort(
            CanaryState.from_dict(second.state), T0 + timedelta(minutes=6), "worse"
        ).to_dict(),
        updated_at=T0 + timedelta(minutes=6),
    )
    for record in (second, first, canary("c3", model="other"), ended):
        store.save_canary(record)
    assert [c.id for c in store.canaries("churn")] == ["c1", "c2"]  # running or ended
    assert [c.phase for c in store.canaries("churn")] == ["progressing", "aborted"]
    assert [c.id for c in store.canaries("churn", limit=1)] == ["c2"]
    assert store.canaries("churn", limit=0) == []
    assert store.canaries("nobody") == []
    with pytest.raises(DataError, match="limit must be >= 0; got -1"):
        store.canaries("churn", limit=-1)


def test_outcomes_of_many_decisions_in_one_read(store: SqlStore) -> None:
    from tests.test_store_conformance import make_decision, outcome_of

    done, failed, open_ = make_decision(), make_decision(), make_decision()
    for d in (done, failed, open_):
        store.record_decision(d, model="churn")
    store.record_outcome(outcome_of(done, True, 0.3), None, None)
    store.record_outcome(outcome_of(failed, False, None), None, None)
    got = store.outcomes([done.id, failed.id, open_.id, "unknown"])
    assert set(got) == {done.id, failed.id}
    assert (got[done.id].success, got[done.id].cost) == (True, 0.3)
    assert (got[failed.id].success, got[failed.id].cost) == (False, None)
    assert got[done.id] == store.get_outcome(done.id)
    assert store.outcomes([]) == {}
