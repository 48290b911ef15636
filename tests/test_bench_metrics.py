"""The benchmark's metrics: each definition on hand-computed records, and that each responds to
what it measures."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeheal.bench import _metrics as M
from safeheal.bench._records import SYSTEMS, WindowCounts
from safeheal.errors import DataError
from tests.bench_records import PROFILES, Profile, episode, generate, suite
from tests.strategies import PROPERTY, episode_results

# -- safety rates --------------------------------------------------------------------------


def test_catastrophic_rate_counts_catastrophic_incidents() -> None:
    recs = [episode(catastrophic=True)] + [episode() for _ in range(3)]
    assert M.catastrophic_rate(recs) == 0.25
    assert M.catastrophic_rate([episode() for _ in range(4)]) == 0.0
    assert M.catastrophic_rate([]) is None


def test_more_catastrophic_episodes_give_a_higher_rate() -> None:
    rates = [
        M.catastrophic_rate([episode(catastrophic=i < k) for i in range(10)]) for k in range(11)
    ]
    assert rates == sorted(rates)
    assert rates[0] == 0.0
    assert rates[-1] == 1.0


def test_safety_violation_rate() -> None:
    recs = [episode(safety_violation=True), episode(safety_violation=True), episode()]
    assert M.safety_violation_rate(recs) == pytest.approx(2 / 3)


def test_risk_containment_counts_only_harmful_actions() -> None:
    recs = [episode(contained=True), episode(contained=False), episode(contained=None)]
    assert M.risk_containment(recs) == 0.5
    assert M.risk_containment([episode(contained=True)]) == 1.0
    assert M.risk_containment([episode(contained=False)]) == 0.0
    # Nothing harmful: nothing to contain, not a vacuous 100%.
    assert M.risk_containment([episode(), episode()]) is None


# -- performance ---------------------------------------------------------------------------


def test_time_to_repair_runs_from_detection_to_healing() -> None:
    assert M.episode_time_to_repair(episode(detected_minute=12.0, healed_minute=15.0)) == 3.0
    # Healed before the detector noticed: no time to repair, never negative.
    assert M.episode_time_to_repair(episode(detected_minute=12.0, healed_minute=11.0)) == 0.0
    # Never detected: the clock starts at the onset.
    assert M.episode_time_to_repair(episode(detected_minute=None, healed_minute=20.0)) == 10.0


def test_time_to_repair_of_an_unhealed_incident_is_censored_at_its_horizon() -> None:
    unhealed = episode(detected_minute=12.0, healed_minute=None)  # onset 10 + duration 100
    assert M.episode_time_to_repair(unhealed) == 98.0
    with_end = replace(unhealed, extra={"episode_minutes": 50.0})
    assert M.episode_time_to_repair(with_end) == 38.0
    undetected = episode(detected_minute=None, healed_minute=None)
    assert M.episode_time_to_repair(undetected) == 100.0


def test_mttr_is_the_mean_time_to_repair() -> None:
    recs = [
        episode(detected_minute=10.0, healed_minute=12.0),
        episode(detected_minute=10.0, healed_minute=16.0),
    ]
    assert M.mttr_minutes(recs) == 4.0
    assert M.mttr_minutes([]) is None


def test_a_system_that_never_heals_has_worse_mttr_and_sla_compliance() -> None:
    healing = generate("hybrid", Profile(heal=1.0), seeds=2, episodes=10)
    never = generate("hybrid", Profile(heal=0.0), seeds=2, episodes=10)
    assert M.mttr_minutes(never) > 5 * M.mttr_minutes(healing)
    assert M.sla_compliance(never) < M.sla_compliance(healing)
    assert M.operational_risk(never) > M.operational_risk(healing)


def test_no_op_policy_is_worse_than_one_that_heals() -> None:
    heals = [episode(seed=s, episode=e) for s in range(2) for e in range(5)]
    no_op = [
        replace(r, actions=("no_op",) * 5, healed_minute=None, sla_windows_met=5) for r in heals
    ]
    assert M.mttr_minutes(no_op) > M.mttr_minutes(heals)
    assert M.sla_compliance(no_op) < M.sla_compliance(heals)
    assert M.action_distribution(no_op) == {"no_op": 1.0}


def test_cost_savings_are_against_the_human_reference_cost() -> None:
    assert M.cost_savings([episode(cost=1.0, reference_cost=2.0)]) == 0.5
    assert M.cost_savings([episode(cost=3.0, reference_cost=2.0)]) == -0.5
    assert M.cost_savings([episode(cost=2.0, reference_cost=2.0)]) == 0.0
    # A ratio of sums, not a mean of ratios.
    recs = [episode(cost=1.0, reference_cost=2.0), episode(cost=3.0, reference_cost=4.0)]
    assert M.cost_savings(recs) == pytest.approx(1 - 4 / 6)
    assert M.cost_savings([episode(cost=1.0, reference_cost=0.0)]) is None


def test_sla_compliance_pools_windows() -> None:
    recs = [episode(windows=10, sla_windows_met=9), episode(windows=30, sla_windows_met=30)]
    assert M.sla_compliance(recs) == pytest.approx(39 / 40)
    assert M.sla_compliance([episode(windows=0, sla_windows_met=0)]) is None


# -- learning ------------------------------------------------------------------------------


def _seq(rewards: list[float], *, seed: int = 0, optimal: float = 1.0) -> list:  # type: ignore[type-arg]
    return [
        episode(seed=seed, episode=i, reward=r, optimal_reward=optimal)
        for i, r in enumerate(rewards)
    ]


def test_convergence_curve_is_a_trailing_ratio_of_sums() -> None:
    curve = M.convergence_curve(_seq([0.0, 1.0, 0.5, 1.0]), window=2)
    assert curve == [0.0, 0.5, 0.75, 0.75]
    assert M.convergence_curve(_seq([-1.0, -1.0], optimal=0.0), window=2) == [None, None]


def test_performance_for_gains_and_for_costs() -> None:
    assert M.performance(0.95, 1.0) == 0.95
    # Rewards that are minus costs: the oracle's cost over the system's.
    assert M.performance(-2.0, -1.0) == 0.5
    assert M.performance(-1.0, -1.0) == 1.0
    assert M.performance(-0.5, -1.0) == 2.0
    assert M.performance(0.0, -1.0) == 1.0
    assert M.performance(0.0, 0.0) == 1.0
    assert M.performance(-1.0, 0.0) is None


def test_convergence_with_costs_as_negative_rewards() -> None:
    # Costs 2, 2, 1.04, 1.05, 1.0 … against an oracle cost of 1: 95% is a cost of at most 1/0.95.
    costs = [2.0, 2.0] + [1.05] * 6
    recs = [episode(episode=i, reward=-c, optimal_reward=-1.0) for i, c in enumerate(costs)]
    assert M.convergence_curve(recs, window=1)[:3] == [0.5, 0.5, pytest.approx(1 / 1.05)]
    assert M.seed_episodes_to_95(recs, window=1) == 3
    dearer = [replace(r, reward=-1.06) if r.episode >= 2 else r for r in recs]
    assert M.seed_episodes_to_95(dearer, window=1) is None


def test_episodes_to_95_boundary_on_both_sides() -> None:
    # Exactly 95% counts as reached; just below does not.
    assert M.seed_episodes_to_95(_seq([0.0] + [0.95] * 5), window=1) == 2
    assert M.seed_episodes_to_95(_seq([0.0] + [0.9499] * 5), window=1) is None


def test_episodes_to_95_requires_keeping_the_level() -> None:
    assert M.seed_episodes_to_95(_seq([1.0, 1.0, 1.0, 0.5, 1.0, 1.0]), window=1) == 5
    assert M.seed_episodes_to_95(_seq([1.0, 1.0, 1.0, 1.0, 0.5]), window=1) is None
    # Never before a full window.
    assert M.seed_episodes_to_95(_seq([1.0] * 6), window=3) == 3
    assert M.seed_episodes_to_95([]) is None


def test_episodes_to_95_over_seeds_needs_half_of_them() -> None:
    fast = _seq([1.0] * 12, seed=0)
    slow = _seq([0.0] * 2 + [1.0] * 12, seed=1)  # the 10-episode average is 1 from episode 12
    never = _seq([0.5] * 12, seed=2)
    assert M.episodes_to_95(fast + slow) == pytest.approx((10 + 12) / 2)
    # One of two converged: the mean over it; one of three: none.
    assert M.episodes_to_95(fast + _seq([0.5] * 12, seed=1)) == 10.0
    assert M.episodes_to_95(fast + never + _seq([0.5] * 12, seed=3)) is None


def test_a_learning_system_converges_and_a_flat_one_does_not() -> None:
    learner = generate("hybrid", PROFILES["hybrid"], seeds=3, episodes=30)
    flat = generate("rules-only", Profile(start_gap=0.2, tau=1e9), seeds=3, episodes=30)
    assert M.episodes_to_95(learner) is not None
    assert M.episodes_to_95(flat) is None


def test_final_regret_and_its_variance_across_seeds() -> None:
    recs = _seq([0.5, 0.5], seed=0) + _seq([1.0, 0.0], seed=1) + _seq([0.0, 0.0], seed=2)
    # Final regrets per seed: 1, 1, 2.
    assert M.seed_final_regrets(recs) == [1.0, 1.0, 2.0]
    assert M.final_regret(recs) == pytest.approx(4 / 3)
    assert M.regret_variance(recs) == pytest.approx(1 / 3)
    assert M.regret_variance(_seq([0.5], seed=0)) is None
    assert M.cumulative_regret(_seq([0.5, 1.0, 0.0])) == [0.5, 0.5, 1.5]


def test_action_distribution_counts_one_response_per_incident() -> None:
    recs = [
        episode(actions=("no_op", "no_op", "fallback", "retrain")),
        episode(actions=("rollback",)),
        episode(actions=("no_op",)),
        episode(actions=()),
    ]
    dist = M.action_distribution(recs)
    assert dist == {"fallback": 0.25, "no_op": 0.5, "rollback": 0.25}
    assert math.isclose(sum(dist.values()), 1.0)
    assert M.action_distribution([]) == {}


def test_decision_accuracy_compares_the_response_with_the_oracle() -> None:
    recs = [
        episode(actions=("no_op", "fallback"), optimal_action="fallback"),
        episode(actions=("rollback",), optimal_action="fallback"),
        episode(actions=("no_op",), optimal_action="no_op"),
        episode(actions=("retrain", "fallback"), optimal_action="fallback"),
    ]
    assert M.decision_accuracy(recs) == 0.5
    assert M.decision_accuracy([]) is None


# -- engineers and detection ---------------------------------------------------------------


def test_engineer_minutes_and_escalations_per_incident() -> None:
    recs = [episode(engineer_minutes=30.0, escalations=1), episode(engineer_minutes=0.0)]
    assert M.engineer_minutes_per_incident(recs) == 15.0
    assert M.escalations_per_incident(recs) == 0.5
    assert M.engineer_minutes_per_incident([]) is None


def test_detection_quality_pools_windows() -> None:
    recs = [
        episode(
            detection=WindowCounts(
                true_positive=8, false_positive=2, false_negative=0, true_negative=10
            )
        ),
        episode(
            detection=WindowCounts(
                true_positive=2, false_positive=0, false_negative=10, true_negative=8
            )
        ),
    ]
    assert M.detection_precision(recs) == pytest.approx(10 / 12)
    assert M.detection_recall(recs) == pytest.approx(10 / 20)
    assert M.false_positive_rate(recs) == pytest.approx(2 / 20)
    assert M.detection_accuracy(recs) == pytest.approx(28 / 40)


def test_detection_quality_without_denominators_is_none() -> None:
    nothing = [episode(detection=WindowCounts())]
    assert M.detection_precision(nothing) is None
    assert M.detection_recall(nothing) is None
    assert M.false_positive_rate(nothing) is None
    assert M.detection_accuracy(nothing) is None


def test_detection_delay_from_onset_over_detected_incidents() -> None:
    recs = [
        episode(onset_minute=10.0, detected_minute=14.0),
        episode(onset_minute=0.0, detected_minute=0.0),
        episode(onset_minute=10.0, detected_minute=None),
    ]
    assert M.detection_delay_minutes(recs) == 2.0
    assert M.detection_delay_minutes([episode(detected_minute=None)]) is None


def test_a_detector_with_more_false_alarms_has_a_higher_false_positive_rate() -> None:
    calm = generate("hybrid", Profile(false_alarm=0.02), seeds=2, episodes=20)
    noisy = generate("hybrid", Profile(false_alarm=0.3), seeds=2, episodes=20)
    assert M.false_positive_rate(noisy) > M.false_positive_rate(calm)
    assert M.detection_precision(noisy) < M.detection_precision(calm)


# -- operational risk ----------------------------------------------------------------------


def test_operational_risk_takes_the_worst_exposure_of_an_incident() -> None:
    assert M.episode_operational_risk(episode()) == 0.0
    assert M.episode_operational_risk(episode(catastrophic=True, contained=False)) == 1.0
    assert M.episode_operational_risk(episode(contained=False)) == 0.5
    assert M.episode_operational_risk(episode(contained=True)) == 0.1
    assert M.episode_operational_risk(episode(sla_windows_met=0)) == 0.25
    assert M.episode_operational_risk(episode(sla_windows_met=10)) == 0.125
    recs = [episode(catastrophic=True), episode()]
    assert M.operational_risk(recs) == 50.0
    assert M.operational_risk([]) is None


# -- the results document ------------------------------------------------------------------


def test_summarize_has_exactly_the_schema_of_the_issue() -> None:
    doc = M.summarize(suite(seeds=2, episodes=12), scenarios=12, seeds=2)
    assert set(doc) == {"systems", "scenarios", "seeds"}
    assert doc["scenarios"] == 12
    assert doc["seeds"] == 2
    assert list(doc["systems"]) == ["hybrid", "rl-only", "rules-only", "human"]
    for metrics in doc["systems"].values():
        assert tuple(metrics) == M.METRIC_KEYS
        assert isinstance(metrics["action_distribution"], dict)
    json.dumps(doc, allow_nan=False)


def test_summarize_of_degenerate_records_is_valid_json_with_nulls() -> None:
    bare = episode(
        windows=0,
        sla_windows_met=0,
        reference_cost=0.0,
        detected_minute=None,
        healed_minute=None,
        detection=WindowCounts(),
        reward=-1.0,
        optimal_reward=0.0,
    )
    doc = M.summarize([bare], scenarios=1, seeds=1)
    m = doc["systems"]["hybrid"]
    for key in (
        "risk_containment",
        "cost_savings",
        "sla_compliance",
        "episodes_to_95",
        "regret_variance",
        "detection_precision",
        "detection_recall",
        "false_positive_rate",
        "detection_delay_minutes",
    ):
        assert m[key] is None, key
    text = json.dumps(doc, allow_nan=False)
    assert "NaN" not in text
    assert "Infinity" not in text


def test_summarize_lists_only_present_systems_in_order() -> None:
    recs = [episode(system="human"), episode(system="paper"), episode(system="hybrid")]
    doc = M.summarize(recs, scenarios=1, seeds=1)
    assert list(doc["systems"]) == ["hybrid", "paper", "human"]
    assert set(doc["systems"]) <= set(SYSTEMS)


def test_summarize_rejects_unknown_systems_and_bad_counts() -> None:
    with pytest.raises(DataError, match="unknown system"):
        M.summarize([episode(system="oracle")], scenarios=1, seeds=1)
    with pytest.raises(DataError, match="`scenarios`"):
        M.summarize([episode()], scenarios=-1, seeds=1)
    with pytest.raises(DataError, match="`seeds`"):
        M.summarize([episode()], scenarios=1, seeds=1.5)  # type: ignore[arg-type]


@settings(PROPERTY, max_examples=100)
@given(st.lists(episode_results(), min_size=1, max_size=12))
def test_summarize_is_always_json_safe_with_shares_in_range(records: list) -> None:  # type: ignore[type-arg]
    doc = M.summarize(records, scenarios=3, seeds=4)
    json.dumps(doc, allow_nan=False)
    for metrics in doc["systems"].values():
        for key in (
            "catastrophic_rate",
            "safety_violation_rate",
            "risk_containment",
            "sla_compliance",
            "detection_precision",
            "detection_recall",
            "false_positive_rate",
        ):
            value = metrics[key]
            assert value is None or 0.0 <= value <= 1.0, key
        assert metrics["mttr_minutes"] is None or metrics["mttr_minutes"] >= 0.0
        shares = metrics["action_distribution"].values()
        assert math.isclose(sum(shares), 1.0)
