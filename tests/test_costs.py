"""C(a) = 0.5·compute + 0.3·risk + 0.2·downtime, and learning it from measured costs."""

from __future__ import annotations

import math

import pytest

from safeheal import Action, ConfigError, CostEstimate, CostModel, CostTerms, DataError
from safeheal.policy import CostWeights


def test_defaults_follow_the_papers_weights() -> None:
    costs = CostModel()
    for a in Action.members()[:5]:
        t = costs.terms(a)
        assert math.isclose(costs.cost(a), 0.5 * t.compute + 0.3 * t.risk + 0.2 * t.downtime)
    assert costs.cost(Action.NO_OP) == 0.0
    assert costs.cost(Action.RETRAIN) == pytest.approx(0.56)
    assert costs.cost(Action.FALLBACK) < costs.cost(Action.ROLLBACK) < costs.cost(Action.RETRAIN)


def test_observations_are_averaged_with_the_default_as_a_prior_sample() -> None:
    costs = CostModel(prior_weight=1.0)
    costs.observe(Action.RETRAIN, compute=0.4, risk=0.4, downtime=0.2)
    assert costs.terms(Action.RETRAIN).compute == pytest.approx(0.6)  # (0.8 + 0.4) / 2
    costs.observe(Action.RETRAIN, compute=0.1, risk=0.4, downtime=0.2)
    assert costs.terms(Action.RETRAIN).compute == pytest.approx((0.8 + 0.4 + 0.1) / 3)
    assert costs.estimate(Action.RETRAIN).n == 2
    # with no weight on the default, the first measurement replaces it
    costs = CostModel(prior_weight=0.0)
    costs.observe(Action.RETRAIN, compute=0.2, risk=0.1, downtime=0.0)
    assert costs.cost(Action.RETRAIN) == pytest.approx(0.5 * 0.2 + 0.3 * 0.1)


def test_a_total_cost_is_split_in_the_current_proportions() -> None:
    costs = CostModel(prior_weight=0.0)
    est, measured = costs.estimate_after(Action.RETRAIN, 0.28)
    assert measured == pytest.approx(0.28)
    assert est.compute == pytest.approx(0.4)  # half of each term
    assert costs.cost(Action.RETRAIN) == pytest.approx(0.56)  # estimate_after changes nothing
    est, measured = costs.estimate_after(Action.NO_OP, 0.3)  # zero now: split evenly
    assert (est.compute, est.risk, est.downtime) == (0.3, 0.3, 0.3)
    assert measured == pytest.approx(0.3)


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, True])
def test_measured_costs_must_be_in_the_unit_interval(bad: float) -> None:
    costs = CostModel()
    with pytest.raises(DataError, match="must be a number in \\[0, 1\\]"):
        costs.observe(Action.FALLBACK, compute=bad, risk=0.0, downtime=0.0)
    with pytest.raises(DataError):
        costs.estimate_after(Action.FALLBACK, bad)
    assert costs.estimate(Action.FALLBACK).n == 0


def test_weights_are_validated() -> None:
    with pytest.raises(ConfigError, match="must sum to 1"):
        CostWeights(compute=0.6, risk=0.3, downtime=0.2)
    with pytest.raises(ConfigError, match="`risk` term of CostWeights"):
        CostWeights(compute=0.5, risk=-0.3, downtime=0.8)
    with pytest.raises(ConfigError, match="prior_weight"):
        CostModel(prior_weight=-1)


def test_unknown_actions_name_the_key_to_configure() -> None:
    ghost = Action.register("GHOST_ACTION")
    with pytest.raises(ConfigError, match=r"costs\.actions\.GHOST_ACTION"):
        CostModel().cost(ghost)
    costs = CostModel({ghost: CostTerms(0.1, 0.1, 0.1)})
    assert costs.cost(ghost) == pytest.approx(0.1)


def test_estimates_round_trip_through_load() -> None:
    costs = CostModel()
    costs.observe(Action.ROLLBACK, compute=0.5, risk=0.5, downtime=0.5)
    other = CostModel()
    other.load(costs.estimates())
    assert other.estimates() == costs.estimates()
    assert other.cost(Action.ROLLBACK) == costs.cost(Action.ROLLBACK)
    with pytest.raises(DataError):
        other.set_estimate(CostEstimate("ROLLBACK", 2.0, 0.0, 0.0, 1))
