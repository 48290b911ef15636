"""What bad input gets: clear errors, and posteriors and cost estimates left untouched."""

from __future__ import annotations

import pytest

from safeheal import (
    Action,
    ConfigError,
    CostEstimate,
    DataError,
    Decision,
    DuplicateOutcomeError,
    HybridPolicy,
    Outcome,
    Posterior,
    PosteriorStore,
    PosteriorUpdate,
    State,
    StoreError,
    UnknownDecisionError,
)

DEGRADED = State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0)


def _memory(policy: HybridPolicy) -> tuple[object, ...]:
    return tuple(policy.bandit.posteriors()), tuple(policy.costs.estimates())


def test_unknown_decision_id() -> None:
    policy, other = HybridPolicy(seed=0), HybridPolicy(seed=0)
    foreign = other.decide(DEGRADED)
    policy.update(policy.decide(DEGRADED), True)
    before = _memory(policy)
    with pytest.raises(UnknownDecisionError, match=f"no open decision with id '{foreign.id}'"):
        policy.update(foreign, True, cost=0.2)
    assert _memory(policy) == before


def test_double_update() -> None:
    policy = HybridPolicy(seed=0)
    d = policy.decide(DEGRADED)
    policy.update(d, True, cost=0.3)
    before = _memory(policy)
    with pytest.raises(DuplicateOutcomeError, match=f"decision {d.id} already has an outcome"):
        policy.update(d, False, cost=0.9)
    assert _memory(policy) == before
    # the same decision read back from JSON is still the same decision
    with pytest.raises(DuplicateOutcomeError):
        policy.update(Decision.from_json(d.to_json()), False)


def test_bad_outcome_values_change_nothing_and_leave_the_decision_open() -> None:
    policy = HybridPolicy(seed=0)
    d = policy.decide(DEGRADED)
    before = _memory(policy)
    with pytest.raises(DataError, match="must be a number in \\[0, 1\\]"):
        policy.update(d, True, cost=1.5)
    with pytest.raises(DataError, match="must be a bool"):
        policy.update(d, "yes")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="needs a Decision"):
        policy.update(d.id, True)  # type: ignore[arg-type]
    assert _memory(policy) == before
    outcome = policy.update(d, True, cost=0.2)  # still open: the failed calls did not close it
    assert outcome.success
    assert outcome.cost == pytest.approx(0.2)
    assert _memory(policy) != before


def test_old_decisions_are_forgotten_after_max_pending() -> None:
    policy = HybridPolicy(seed=0, max_pending=3)
    first = policy.decide(DEGRADED)
    for _ in range(3):
        policy.decide(DEGRADED)
    with pytest.raises(UnknownDecisionError, match="older than the last 3 decisions"):
        policy.update(first, True)


class FailingStore:
    """A PosteriorStore whose writes fail the way a locked or vanished database does.

    It tests the policy's error path only; persistence itself is tested against the real store.
    """

    def __init__(self, error: Exception, *, on: str = "record_outcome") -> None:
        self.error, self.on = error, on
        self.decisions: dict[str, Decision] = {}

    def load_posteriors(self) -> list[Posterior]:
        return []

    def load_costs(self) -> list[CostEstimate]:
        return []

    def record_decision(self, decision: Decision, *, model: str | None = None) -> None:
        if self.on == "record_decision":
            raise self.error
        self.decisions[decision.id] = decision

    def get_decision(self, decision_id: str) -> Decision:
        return self.decisions[decision_id]

    def record_outcome(
        self, outcome: Outcome, update: PosteriorUpdate | None, cost: CostEstimate | None
    ) -> Posterior | None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        StoreError("database is locked"),
        UnknownDecisionError("no decision with id 'x'"),
        DuplicateOutcomeError("decision x already has an outcome"),
    ],
)
def test_a_failing_store_leaves_posteriors_untouched(error: Exception) -> None:
    store = FailingStore(error)
    assert isinstance(store, PosteriorStore)
    policy = HybridPolicy(store=store, seed=0)
    d = policy.decide(DEGRADED)
    before = _memory(policy)
    with pytest.raises(type(error), match=str(error)):
        policy.update(d, True, cost=0.4)
    assert _memory(policy) == before
    # and the propensity the next decision computes is the one from the old posteriors
    fresh = HybridPolicy(seed=0)
    assert policy.bandit.propensity(
        d.context, d.safe_set, costs=d.costs, default=Action.ROLLBACK
    ) == fresh.bandit.propensity(d.context, d.safe_set, costs=d.costs, default=Action.ROLLBACK)


class NoPosteriorStore(FailingStore):
    """A PosteriorStore that breaks its contract: it records an outcome and returns no posterior."""

    def record_outcome(
        self, outcome: Outcome, update: PosteriorUpdate | None, cost: CostEstimate | None
    ) -> Posterior | None:
        return None


def test_a_store_that_returns_no_posterior_is_a_clear_error() -> None:
    policy = HybridPolicy(store=NoPosteriorStore(StoreError("unused")), seed=0)
    d = policy.decide(DEGRADED)
    before = _memory(policy)
    with pytest.raises(StoreError, match=r"NoPosteriorStore .* returned no posterior"):
        policy.update(d, True, cost=0.4)
    assert _memory(policy) == before


def test_a_store_that_cannot_record_a_decision_fails_the_decision() -> None:
    policy = HybridPolicy(store=FailingStore(StoreError("disk full"), on="record_decision"))
    with pytest.raises(StoreError, match="disk full"):
        policy.decide(DEGRADED)


@pytest.mark.parametrize("seed", ["a", 1.5, -1, True])
def test_a_bad_seed_is_refused_clearly(seed: object) -> None:
    with pytest.raises(ConfigError, match="`seed` parameter of HybridPolicy"):
        HybridPolicy(seed=seed)  # type: ignore[arg-type]
