"""Learning on simulated outcomes with known success probabilities and costs.

The hybrid policy's choice must converge to the action with the best λ·p − C(a) inside the permitted
set, its regret must grow sublinearly, and exploring must never leave the permitted set.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping

import numpy as np
import pytest

from safeheal import Action, CostTerms, HybridPolicy, State

LAMBDA = 10.0
N, F, R, T = Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN
STEPS = 3_000

DEGRADED = State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0)
DRIFTING = State(drift=0.18, accuracy_drop=0.02, anomaly_rate=0.0)
WATCH = State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.04)
CRITICAL = State(drift=0.28, accuracy_drop=0.0, anomaly_rate=0.0)


def _value(p: float, cost: float) -> float:
    return LAMBDA * p - cost


def _run(
    policy: HybridPolicy,
    states: list[State],
    p_true: Mapping[str, Mapping[Action, float]],
    cost_true: Mapping[Action, CostTerms],
    *,
    seed: int,
    measure_costs: bool,
) -> tuple[list[tuple[str, Action, Action]], list[float]]:
    """(context, chosen, best) and the expected regret of each step."""
    rng = np.random.default_rng(seed)
    weights = policy.costs.weights
    c_true = {a: weights.combine(t) for a, t in cost_true.items()}
    log: list[tuple[str, Action, Action]] = []
    regret: list[float] = []
    for step in range(STEPS):
        d = policy.decide(states[step % len(states)])
        assert d.action in d.verdict.permitted  # never leaves the permitted set
        if d.verdict.mandatory is not None:
            assert d.action is d.verdict.mandatory
        truth = p_true[d.context]
        values = {a: _value(truth[a], c_true[a]) for a in d.safe_set or {d.action}}
        best = max(values, key=values.__getitem__)
        regret.append(values[best] - values[d.action])
        log.append((d.context, d.action, best))
        success = bool(rng.random() < truth[d.action])
        measured = None
        if measure_costs:
            t = cost_true[d.action]
            noise = rng.normal(0.0, 0.05, size=3)
            terms = np.clip(np.array([t.compute, t.risk, t.downtime]) + noise, 0.0, 1.0)
            measured = CostTerms(*(float(x) for x in terms))
        policy.update(d, success, cost=measured)
    return log, regret


PAPER_COSTS = {
    N: CostTerms(0.0, 0.0, 0.0),
    F: CostTerms(0.1, 0.2, 0.1),
    R: CostTerms(0.1, 0.3, 0.1),
    T: CostTerms(0.8, 0.4, 0.2),
    Action.ESCALATE: CostTerms(0.0, 0.1, 0.6),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_converges_to_the_best_permitted_action_with_sublinear_regret(seed: int) -> None:
    # degraded: λ·p − C = ROLLBACK 10·0.55 − 0.16, RETRAIN 10·0.85 − 0.56, FALLBACK 10·0.70 − 0.13
    p_true = {"degraded/high": {R: 0.55, T: 0.85, F: 0.70}}
    policy = HybridPolicy(seed=seed)
    log, regret = _run(policy, [DEGRADED], p_true, PAPER_COSTS, seed=seed, measure_costs=False)
    last = [chosen for _, chosen, _ in log[-500:]]
    assert last.count(T) >= 450, Counter(last)
    first_half, second_half = sum(regret[: STEPS // 2]), sum(regret[STEPS // 2 :])
    assert second_half < 0.5 * first_half, (first_half, second_half)
    # the warm-started default (ROLLBACK) was tried, then abandoned
    assert any(chosen is R for _, chosen, _ in log[:100])


def test_learns_measured_costs_and_prefers_the_cheap_action() -> None:
    # This deployment's fallback and retrain turn out expensive; no-op is nearly as successful.
    # Configured costs say FALLBACK (C = 0.13) is best; measured costs make NO_OP best by 0.7.
    costs = {**PAPER_COSTS, F: CostTerms(0.9, 0.9, 0.9), T: CostTerms(1.0, 1.0, 1.0)}
    p_true = {"drifting/high": {N: 0.80, F: 0.82, T: 0.83}}
    policy = HybridPolicy(seed=4)
    log, regret = _run(policy, [DRIFTING], p_true, costs, seed=4, measure_costs=True)
    last = [chosen for _, chosen, _ in log[-500:]]
    assert last.count(N) >= 450, Counter(last)
    # the default (0.13) counts as one sample against the few measurements of FALLBACK
    n = policy.costs.estimate(F).n
    assert policy.costs.cost(F) == pytest.approx((0.13 + 0.9 * n) / (n + 1), abs=0.03)
    assert n >= 10
    assert sum(regret[STEPS // 2 :]) < 0.5 * sum(regret[: STEPS // 2])


def test_several_contexts_learn_separately_and_the_envelope_always_holds() -> None:
    p_true = {
        "degraded/high": {R: 0.90, T: 0.60, F: 0.65},  # here rollback is best
        "drifting/high": {N: 0.30, F: 0.60, T: 0.90},  # retrain
        "watch/medium": {N: 0.40, F: 0.90},  # fallback
        "critical/high": {F: 0.95},  # mandatory
    }
    policy = HybridPolicy(seed=6)
    log, regret = _run(
        policy,
        [DEGRADED, DRIFTING, WATCH, CRITICAL],
        p_true,
        PAPER_COSTS,
        seed=6,
        measure_costs=False,
    )
    by_context: dict[str, list[bool]] = defaultdict(list)
    for context, chosen, best in log[-1_000:]:
        by_context[context].append(chosen is best)
    assert set(by_context) == set(p_true)
    for context, hits in by_context.items():
        assert sum(hits) >= 0.9 * len(hits), context
    assert sum(regret[STEPS // 2 :]) < 0.5 * sum(regret[: STEPS // 2])
