"""run_suite: one record per (system, seed, scenario), filled honestly, whatever `jobs` is."""

from __future__ import annotations

import pytest

from safeheal.bench import SYSTEMS, EpisodeResult, ScenarioSpec, run_suite
from safeheal.errors import ConfigError

SPECS = (
    ScenarioSpec("outage", "dependency_failure", "anes96", "forest", duration_minutes=45),
    ScenarioSpec("lat", "latency_increase", "fair", "knn", severity=0.7),
)


@pytest.fixture(scope="module")
def suite():  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int]] = []
    result = run_suite(
        SPECS, seeds=2, jobs=1, sensitivity="quick", progress=lambda d, t: seen.append((d, t))
    )
    return result, seen


def test_one_record_per_system_seed_and_scenario(suite) -> None:  # type: ignore[no-untyped-def]
    result, seen = suite
    keys = [(r.system, r.seed, r.scenario) for r in result.results]
    assert sorted(keys) == sorted(
        (s, seed, sp.name) for s in SYSTEMS for seed in (0, 1) for sp in SPECS
    )
    assert seen[-1][0] == seen[-1][1]  # the progress reaches its total
    for r in result.results:
        assert EpisodeResult.from_dict(r.to_dict()) == r
        assert r.windows == 30
        assert 0 <= r.sla_windows_met <= 30
        assert r.reward == pytest.approx(-r.cost)
        assert r.optimal_reward == pytest.approx(-r.optimal_cost)
        assert r.optimal_action in ("no_op", "fallback", "rollback", "retrain")
        d = r.detection
        assert d.true_positive + d.false_positive + d.false_negative + d.true_negative == 30
    # the reference cost is the human baseline's cost on the same scenario and seed
    human = {(r.seed, r.scenario): r.cost for r in result.results if r.system == "human"}
    assert all(
        r.reference_cost == pytest.approx(human[(r.seed, r.scenario)]) for r in result.results
    )
    # the human answers after an investigation: engineer minutes, and slower repair
    assert all(r.engineer_minutes > 0 for r in result.results if r.system == "human")
    # automated systems need an engineer only when they escalate
    auto = [r for r in result.results if r.system != "human"]
    assert all((r.engineer_minutes > 0) == (r.escalations > 0) for r in auto)
    # episodes are numbered in this seed's order, the same for every system
    order = {(r.system, r.seed): [] for r in result.results}
    for r in sorted(result.results, key=lambda r: r.episode):
        order[(r.system, r.seed)].append(r.scenario)
    assert len({tuple(v) for (s, seed), v in order.items() if seed == 0}) == 1


def test_sensitivity_has_every_value_and_the_default_is_the_main_run(suite) -> None:  # type: ignore[no-untyped-def]
    result, _ = suite
    assert set(result.sensitivity) == {"alpha", "beta", "epsilon"}
    assert set(result.sensitivity["alpha"]) == {"0.01", "0.05", "0.10"}
    assert set(result.sensitivity["beta"]) == {"0.1", "0.3", "0.5"}
    assert set(result.sensitivity["epsilon"]) == {"0.05", "0.10", "0.20"}
    hybrid = tuple(r for r in result.results if r.system == "hybrid")
    assert result.sensitivity["alpha"]["0.05"] == hybrid
    assert all(r.system == "rl-only" for r in result.sensitivity["epsilon"]["0.20"])
    assert all(len(v) == 2 for v in (result.sensitivity["beta"]["0.1"],))  # quick: one seed
    assert result.meta["sensitivity_seeds"]["alpha=0.01"] == [0]


def test_results_do_not_depend_on_the_number_of_workers() -> None:
    kwargs = {"seeds": 2, "systems": ("hybrid", "rl-only", "human"), "sensitivity": "none"}
    one = run_suite(SPECS[:1], jobs=1, **kwargs)  # type: ignore[arg-type]
    two = run_suite(SPECS[:1], jobs=2, **kwargs)  # type: ignore[arg-type]
    assert len(one.results) == 6
    assert two.results == one.results


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"seeds": 0}, "`seeds` must be"),
        ({"jobs": 0}, "`jobs` must be"),
        ({"systems": ("hybrid", "oracle")}, "unknown system"),
        ({"sensitivity": "some"}, "`sensitivity` must be"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        run_suite(SPECS, **kwargs)
