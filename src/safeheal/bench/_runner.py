"""Running the suite: every system over every scenario and seed, the oracle, the sensitivity runs.

For each seed the scenarios are played in an order shuffled by that seed, and each system plays
them in that order, learning as it goes (its posteriors are kept from one episode to the next,
as the paper's systems learn over their 43 episodes). Every system of a seed sees the same
traffic in the same scenario (common random numbers), so their differences are theirs.

The **oracle** plays each scenario and seed once per healing action, taking it at the end of the
failure's first window (RETRAIN: once ``retrain_windows`` windows of the failure have been seen,
so that it trains on the failure's data only), and answers the cheapest action whose run restores
the SLA (when none does, the cheapest of all). Its cost and reward are the optimal ones. The
**reference cost** of a scenario and seed is the human-in-the-loop baseline's cost there.

Sensitivity (paper 5.6) re-runs one system with one parameter changed, on the same scenarios and
seeds: the detectors' α (hybrid), the cost model's risk weight β (hybrid), and the exploration
rate ε of the rl-only baseline (the hybrid has no ε: it explores by posterior sampling,
design.md 9.5). The runs at the default value are the main runs. The oracle and the reference
are the default ones (the oracle does not depend on the detectors).

Seeds run in ``jobs`` worker processes; each seed's runs are independent of the others and of
the order they finish in, so the results are the same whatever ``jobs`` is.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from safeheal.bench._records import SYSTEMS, EpisodeResult, WindowCounts
from safeheal.bench._scenarios import WINDOW_MINUTES, ScenarioSpec, default_suite
from safeheal.bench._sim import EpisodeRun, SimSettings, clear_caches, run_episode
from safeheal.bench._systems import ScriptedSystem, System, make_system
from safeheal.core.action import Action
from safeheal.errors import ConfigError

__all__ = [
    "SENSITIVITY",
    "OracleAnswer",
    "SuiteResult",
    "Variant",
    "oracle",
    "run_suite",
    "run_system",
]

Progress = Callable[[int, int], None]
SensitivityMode = Literal["full", "quick", "none"]

#: The sensitivity grid of paper 5.6: parameter → (system it applies to, values, the default).
SENSITIVITY: dict[str, tuple[str, tuple[str, ...], str]] = {
    "alpha": ("hybrid", ("0.01", "0.05", "0.10"), "0.05"),
    "beta": ("hybrid", ("0.1", "0.3", "0.5"), "0.3"),
    "epsilon": ("rl-only", ("0.05", "0.10", "0.20"), "0.10"),
}

#: The oracle's probes, in the order ties are broken.
PROBES: tuple[Action, ...] = (Action.NO_OP, Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN)


@dataclass(frozen=True, slots=True)
class Variant:
    """One sensitivity run: ``parameter`` set to ``value`` for ``system``."""

    parameter: str
    value: str

    @property
    def system(self) -> str:
        return SENSITIVITY[self.parameter][0]

    @property
    def label(self) -> str:
        return f"{self.parameter}={self.value}"


@dataclass(frozen=True, slots=True)
class OracleAnswer:
    """The oracle's answer for one scenario and seed, and the runs it is based on."""

    action: Action
    cost: float
    restores: bool
    costs: Mapping[str, float]

    @property
    def reward(self) -> float:
        return -self.cost


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """Everything a suite run produced."""

    results: tuple[EpisodeResult, ...]
    #: parameter → value → the episodes of the system it applies to, with that value.
    sensitivity: dict[str, dict[str, tuple[EpisodeResult, ...]]]
    scenarios: int
    seeds: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)


def oracle(spec: ScenarioSpec, seed: int, settings: SimSettings | None = None) -> OracleAnswer:
    """Play every probe action on ``spec`` with ``seed`` and answer the cheapest that restores
    the SLA (the cheapest overall when none does); ties go to the earlier probe."""
    s = settings if settings is not None else SimSettings()
    k0 = int(spec.onset_minute // WINDOW_MINUTES)
    runs: dict[Action, EpisodeRun] = {}
    for a in PROBES:
        at = min(s.windows - 1, k0 + (s.retrain_windows if a is Action.RETRAIN else 0))
        runs[a] = run_episode(spec, seed, ScriptedSystem(a, at), settings=s)
    restoring = [a for a in PROBES if runs[a].restored]
    pool = restoring or list(PROBES)
    best = min(pool, key=lambda a: (runs[a].cost, PROBES.index(a)))
    return OracleAnswer(
        action=best,
        cost=runs[best].cost,
        restores=bool(restoring),
        costs={a.value: runs[a].cost for a in PROBES},
    )


def _result(
    system: str,
    seed: int,
    episode: int,
    spec: ScenarioSpec,
    run: EpisodeRun,
    best: OracleAnswer,
    reference_cost: float,
) -> EpisodeResult:
    extra = dict(run.extra)
    extra["oracle_restores"] = best.restores
    extra["oracle_costs"] = dict(best.costs)
    return EpisodeResult(
        system=system,
        seed=seed,
        episode=episode,
        scenario=spec.name,
        family=spec.family,
        kind=spec.kind,
        onset_minute=spec.onset_minute,
        duration_minutes=spec.duration,
        detected_minute=run.detected_minute,
        healed_minute=run.healed_minute,
        actions=run.actions,
        optimal_action=best.action.value,
        cost=run.cost,
        optimal_cost=best.cost,
        reference_cost=reference_cost,
        reward=run.reward,
        optimal_reward=best.reward,
        windows=run.windows,
        sla_windows_met=run.sla_windows_met,
        catastrophic=run.catastrophic,
        safety_violation=run.safety_violation,
        contained=run.contained,
        escalations=run.escalations,
        engineer_minutes=run.engineer_minutes,
        detection=WindowCounts(
            run.true_positive, run.false_positive, run.false_negative, run.true_negative
        ),
        extra=extra,
    )


def run_system(
    system: System,
    scenarios: Sequence[ScenarioSpec],
    seed: int,
    *,
    oracles: Mapping[str, OracleAnswer],
    references: Mapping[str, float],
    settings: SimSettings | None = None,
    label: str | None = None,
    tick: Callable[[], None] | None = None,
) -> list[EpisodeResult]:
    """``system`` plays ``scenarios`` in this seed's order, learning across them."""
    order = np.random.default_rng([seed, 4242]).permutation(len(scenarios))
    out: list[EpisodeResult] = []
    for episode, i in enumerate(order):
        spec = scenarios[int(i)]
        best = oracles[spec.name]
        run = run_episode(spec, seed, system, settings=settings, oracle_action=best.action)
        out.append(
            _result(label or system.name, seed, episode, spec, run, best, references[spec.name])
        )
        if tick is not None:
            tick()
    return out


@dataclass(frozen=True, slots=True)
class _Task:
    seed: int
    scenarios: tuple[ScenarioSpec, ...]
    systems: tuple[str, ...]
    variants: tuple[Variant, ...]
    settings: SimSettings


def _episodes_of(task: _Task) -> int:
    n = len(task.scenarios)
    others = [name for name in task.systems if name != "human"]  # the human runs once, first
    return n * (len(PROBES) + 1 + len(others) + len(task.variants))


def _run_task(
    task: _Task, progress: Any = None
) -> tuple[list[EpisodeResult], list[tuple[Variant, list[EpisodeResult]]]]:
    """Every run of one seed (in a worker process, or in this one)."""

    def tick() -> None:
        if progress is None:
            return
        if callable(progress):
            progress()
        else:
            progress.put(1)

    # One thread per worker: the workers are the parallelism, and OpenMP threads competing for
    # the same cores (scikit-learn's neighbour search) make every call many times slower.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_task_body(task, tick)


def _run_task_body(
    task: _Task, tick: Callable[[], None]
) -> tuple[list[EpisodeResult], list[tuple[Variant, list[EpisodeResult]]]]:
    clear_caches()
    seed, specs, s = task.seed, task.scenarios, task.settings
    oracles: dict[str, OracleAnswer] = {}
    for spec in specs:
        oracles[spec.name] = oracle(spec, seed, s)
        for _ in PROBES:
            tick()
    human = make_system("human", seed)
    human_runs = run_system(
        human,
        specs,
        seed,
        oracles=oracles,
        references={sp.name: 0.0 for sp in specs},
        settings=s,
        tick=tick,
    )
    references = {r.scenario: r.cost for r in human_runs}
    human_runs = [replace(r, reference_cost=r.cost) for r in human_runs]
    results: list[EpisodeResult] = []
    for name in task.systems:
        if name == "human":
            results += human_runs
            continue
        system = make_system(name, seed)
        results += run_system(
            system, specs, seed, oracles=oracles, references=references, settings=s, tick=tick
        )
    variants: list[tuple[Variant, list[EpisodeResult]]] = []
    for v in task.variants:
        x = float(v.value)
        vs = s
        if v.parameter == "alpha":
            vs = replace(s, alpha=x)
            system = make_system(v.system, seed)
        elif v.parameter == "beta":
            system = make_system(v.system, seed, beta=x)
        else:
            system = make_system(v.system, seed, epsilon=x)
        runs = run_system(
            system, specs, seed, oracles=oracles, references=references, settings=vs, tick=tick
        )
        variants.append((v, runs))
    clear_caches()
    return results, variants


def _plan_variants(
    seeds: Sequence[int], mode: SensitivityMode, systems: Sequence[str]
) -> dict[int, tuple[Variant, ...]]:
    """Which sensitivity runs each seed makes: every non-default value on every seed (full), or
    each non-default value on one seed, spread over the seeds (quick)."""
    todo = [
        Variant(p, v)
        for p, (system, values, default) in SENSITIVITY.items()
        for v in values
        if v != default and system in systems
    ]
    plan: dict[int, list[Variant]] = {s: [] for s in seeds}
    if mode == "none" or not todo:
        return {s: () for s in seeds}
    if mode == "full":
        return {s: tuple(todo) for s in seeds}
    for i, v in enumerate(todo):
        plan[seeds[i % len(seeds)]].append(v)
    return {s: tuple(v) for s, v in plan.items()}


def run_suite(
    scenarios: Sequence[ScenarioSpec] | None = None,
    *,
    seeds: int | Sequence[int] = 10,
    systems: Sequence[str] = SYSTEMS,
    jobs: int = 1,
    sensitivity: SensitivityMode = "full",
    settings: SimSettings | None = None,
    progress: Progress | None = None,
) -> SuiteResult:
    """Run ``systems`` over ``scenarios`` (default: the paper's 43) for each seed.

    ``seeds`` is a count (seeds 0, 1, …) or the seeds themselves. ``jobs`` worker processes run
    the seeds in parallel (1: in this process). ``sensitivity`` is ``"full"`` (every value of
    :data:`SENSITIVITY` on every seed), ``"quick"`` (each non-default value on one seed) or
    ``"none"``. ``progress(done, total)`` is called as episodes finish (oracle probes count).
    """
    specs = tuple(scenarios) if scenarios is not None else default_suite()
    if not specs:
        raise ConfigError("run_suite needs at least one scenario")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError("scenario names must be unique")
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not seed_list or any(s < 0 for s in seed_list):
        raise ConfigError(f"`seeds` must be a count >= 1 or non-negative seeds; got {seeds!r}")
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ConfigError(f"unknown system(s) {unknown}; expected some of {', '.join(SYSTEMS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"`jobs` must be a whole number >= 1; got {jobs!r}")
    if sensitivity not in ("full", "quick", "none"):
        raise ConfigError(f"`sensitivity` must be full, quick or none; got {sensitivity!r}")
    s = settings if settings is not None else SimSettings()
    plan = _plan_variants(seed_list, sensitivity, systems)
    tasks = [_Task(seed, specs, tuple(systems), plan[seed], s) for seed in seed_list]
    total = sum(_episodes_of(t) for t in tasks)
    done = 0
    started = time.monotonic()

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    outputs: dict[int, tuple[list[EpisodeResult], list[tuple[Variant, list[EpisodeResult]]]]] = {}
    if jobs == 1 or len(tasks) == 1:
        for t in tasks:
            outputs[t.seed] = _run_task(t, tick)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager:
            q = manager.Queue()
            with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx) as pool:
                futures: dict[Future[Any], int] = {
                    pool.submit(_run_task, t, q): t.seed for t in tasks
                }
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(q, tick)
                    for f in finished:
                        outputs[futures[f]] = f.result()
                _drain(q, tick)
    results: list[EpisodeResult] = []
    sens: dict[str, dict[str, list[EpisodeResult]]] = {
        p: {v: [] for v in values}
        for p, (system, values, _) in SENSITIVITY.items()
        if system in systems
    }
    for seed in seed_list:
        main, variants = outputs[seed]
        results += main
        for p, (system, _, default) in SENSITIVITY.items():
            if p in sens:
                sens[p][default] += [r for r in main if r.system == system]
        for v, runs in variants:
            sens[v.parameter][v.value] += runs
    meta = {
        "seeds": list(seed_list),
        "jobs": jobs,
        "sensitivity": sensitivity,
        "sensitivity_seeds": {
            v.label: [seed for seed in seed_list if v in plan[seed]]
            for vs in plan.values()
            for v in vs
        },
        "episodes_run": total,
        "seconds": round(time.monotonic() - started, 1),
        "settings": {
            "rows_per_window": s.rows,
            "label_share": s.label_share,
            "qps": s.qps,
            "retrain_windows": s.retrain_windows,
            "validation_windows": s.validation_windows,
            "restore_windows": s.restore_windows,
            "alpha": s.alpha,
            "window_minutes": WINDOW_MINUTES,
            "windows": s.windows,
        },
    }
    return SuiteResult(
        results=tuple(results),
        sensitivity={p: {v: tuple(rs) for v, rs in d.items()} for p, d in sens.items()},
        scenarios=len(specs),
        seeds=seed_list,
        meta=meta,
    )


def _drain(q: Any, tick: Callable[[], None]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue_mod.Empty:
            return
        tick()
