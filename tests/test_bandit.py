"""Cost-aware constrained Thompson sampling: choices, posteriors, propensities."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from safeheal import Action, ConfigError, Posterior, ThompsonBandit
from safeheal.policy import argmax_probabilities

N, F, R, T = Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN
ACTS = [R, T, F]
COSTS = {R: 0.16, T: 0.56, F: 0.13}


@pytest.mark.parametrize(
    ("alpha", "beta", "cost"),
    [
        ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.16, 0.56, 0.13]),
        ([30.0, 50.0, 20.0], [10.0, 30.0, 20.0], [0.16, 0.56, 0.13]),
        ([0.5, 0.5, 2.0], [0.5, 0.5, 3.0], [0.0, 0.5, 0.1]),
        ([900.0, 1000.0], [100.0, 120.0], [0.16, 0.56]),
        ([3.0, 1.0], [1.0, 9.0], [0.0, 0.0]),
    ],
)
def test_propensity_matches_a_million_draws(
    alpha: list[float], beta: list[float], cost: list[float]
) -> None:
    lam = 10.0
    exact = argmax_probabilities(alpha, beta, [c / lam for c in cost])
    rng = np.random.default_rng(12345)
    theta = rng.beta(np.array(alpha), np.array(beta), size=(1_000_000, len(alpha)))
    wins = np.bincount((lam * theta - np.array(cost)).argmax(axis=1), minlength=len(alpha))
    # binomial standard error ≤ 0.0005 at a million draws; 0.003 is six of them
    np.testing.assert_allclose(exact, wins / wins.sum(), atol=0.003)
    assert exact.sum() == pytest.approx(1.0)


def test_known_closed_forms() -> None:
    # P(Beta(2,1) > Beta(1,1)) = 2/3; P(Beta(1,1) − 0 > Beta(1,1) − 0.5) = 1 − 0.5²/2 = 0.875
    p = argmax_probabilities([2.0, 1.0], [1.0, 1.0], [0.0, 0.0])
    assert p[0] == pytest.approx(2 / 3, abs=1e-4)
    p = argmax_probabilities([1.0, 1.0], [1.0, 1.0], [0.0, 0.5])
    assert p[0] == pytest.approx(0.875, abs=1e-4)


def test_choice_frequencies_match_the_propensity() -> None:
    bandit = ThompsonBandit(seed=3)
    bandit.set_posterior(Posterior("ctx", "ROLLBACK", 6.0, 4.0))
    bandit.set_posterior(Posterior("ctx", "RETRAIN", 8.0, 3.0))
    counts = Counter(bandit.choose("ctx", ACTS, costs=COSTS).action for _ in range(20_000))
    p = bandit.propensity("ctx", ACTS, costs=COSTS)
    for a in ACTS:
        assert counts[a] / 20_000 == pytest.approx(p[a], abs=0.015)


def test_same_seed_same_choices_and_only_offered_actions() -> None:
    def run(seed: int) -> list[Action]:
        b = ThompsonBandit(seed=seed)
        out = []
        for i in range(300):
            acts = ACTS if i % 2 else [N, F]
            c = b.choose(f"ctx{i % 3}", acts, costs=COSTS, default=acts[0])
            assert c.action in acts
            assert set(c.draws) == set(acts)
            b.update(f"ctx{i % 3}", c.action, success=(i % 5 != 0), default=acts[0])
            out.append(c.action)
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)
    # the order actions are given in does not matter (they are visited in registration order)
    a, b = ThompsonBandit(seed=4), ThompsonBandit(seed=4)
    assert [a.choose("z", [R, T, F]).action for _ in range(50)] == [
        b.choose("z", [F, T, R]).action for _ in range(50)
    ]


def test_priors_warm_start_and_updates() -> None:
    b = ThompsonBandit(seed=0, warm_start=(2.0, 0.0))
    assert b.params("z", T) == (1.0, 1.0)
    assert b.params("z", R, default=R) == (3.0, 1.0)
    after = b.posterior_after("z", R, True, default=R)
    assert (after.alpha, after.beta) == (4.0, 1.0)
    assert b.params("z", R, default=R) == (3.0, 1.0)  # posterior_after changes nothing
    b.update("z", R, False, default=R)
    assert b.params("z", R) == (3.0, 2.0)
    assert b.posteriors() == [Posterior("z", "ROLLBACK", 3.0, 2.0)]
    assert b.mean("z", R) == pytest.approx(0.6)


def test_the_propensity_cache_follows_the_posterior() -> None:
    b = ThompsonBandit(seed=0)
    before = b.propensity("z", [R, T], costs=COSTS)
    for _ in range(20):
        b.update("z", T, True)
    after = b.propensity("z", [R, T], costs=COSTS)
    assert after[T] > 0.85 > 0.5 > before[T]
    assert b.propensity("other", [R, T], costs=COSTS) == before


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="`lam` parameter of ThompsonBandit must be a number > 0"):
        ThompsonBandit(lam=0)
    with pytest.raises(ConfigError, match="prior"):
        ThompsonBandit(prior=(0.0, 1.0))
    with pytest.raises(ConfigError, match="grid"):
        ThompsonBandit(grid=3)
    with pytest.raises(ConfigError, match="alpha > 0"):
        ThompsonBandit().set_posterior(Posterior("z", "RETRAIN", -1.0, 1.0))
    with pytest.raises(ConfigError, match="at least one action"):
        ThompsonBandit().choose("z", [])
