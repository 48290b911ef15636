"""How fast the decision layer decides, beside the paper's 1,250 decisions per minute (paper 6.6.2).

    python benchmarks/policy.py [--n 50000] [--repeats 5] [--seed 0]

Measures, in one process pinned to one core:

* ``decide`` in memory on a mix of states from all five envelope zones (equal shares), and on the
  slowest path alone (the bandit choosing among three actions in the "degraded" zone);
* ``decide`` + ``update`` in memory, where every update changes a posterior, so every decision
  recomputes its propensity (the numerical integration in ``safeheal.policy._bandit``);
* ``decide`` + ``update`` persisted to a fresh SQLite store in a temporary directory (WAL,
  synchronous=NORMAL): each decision is one transaction, each outcome another, which adds the
  outcome to the stored posterior and returns it to the policy.

Each figure is the median of ``--repeats`` timed runs after a warm-up; the issue's targets are
20,000 decide calls per second in memory and 1,000 persisted decide + update per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from safeheal import HybridPolicy, State
from safeheal.store import SqlStore, open_store

PAPER_PER_SECOND = 1_250 / 60  # "Max throughput: 1,250 decisions/minute" (paper 6.6.2)
console = Console()


@dataclass(frozen=True)
class Row:
    what: str
    calls: int
    seconds: float  # median over repeats
    target: float | None

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds


def zone_mix(n: int, seed: int) -> list[State]:
    """``n`` states, a fifth from each zone of the paper's envelope, shuffled."""
    rng = np.random.default_rng(seed)
    u = rng.uniform
    makers: list[Callable[[], State]] = [
        lambda: State(drift=u(0.21, 0.6), accuracy_drop=u(0, 0.3), anomaly_rate=u(0, 0.1)),
        lambda: State(drift=u(0, 0.2), accuracy_drop=u(0.101, 0.15), anomaly_rate=u(0, 0.05)),
        lambda: State(drift=u(0.151, 0.2), accuracy_drop=u(0, 0.1), anomaly_rate=u(0, 0.03)),
        lambda: State(drift=u(0, 0.15), accuracy_drop=u(0, 0.1), anomaly_rate=u(0.031, 0.05)),
        lambda: State(drift=u(0, 0.15), accuracy_drop=u(0, 0.08), anomaly_rate=u(0, 0.03)),
    ]
    states = [makers[i % 5]() for i in range(n)]
    order = rng.permutation(n)
    return [states[i] for i in order]


def _time(run: Callable[[], None], repeats: int) -> float:
    run()  # warm-up: imports, caches, the impact model's draws
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_decide(states: list[State], repeats: int, seed: int) -> float:
    policy = HybridPolicy(seed=seed)
    decide = policy.decide

    def run() -> None:
        for s in states:
            decide(s)

    return _time(run, repeats)


def bench_decide_update(states: list[State], repeats: int, seed: int) -> float:
    policy = HybridPolicy(seed=seed)
    rng = np.random.default_rng(seed)
    outcomes = (rng.random(len(states)) < 0.7).tolist()

    def run() -> None:
        for s, ok in zip(states, outcomes, strict=True):
            policy.update(policy.decide(s), ok)

    return _time(run, repeats)


# --- persisted -----------------------------------------------------------------------------------
def open_sqlite_store(path: Path) -> SqlStore:
    """A fresh SQLite store at ``path`` (created and migrated)."""
    return open_store(path)


def bench_persisted(states: list[State], repeats: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, open_sqlite_store(Path(tmp) / "bench.db") as store:
        policy = HybridPolicy(seed=seed, store=store)
        rng = np.random.default_rng(seed)
        outcomes = (rng.random(len(states)) < 0.7).tolist()

        def run() -> None:
            for s, ok in zip(states, outcomes, strict=True):
                policy.update(policy.decide(s), ok)

        return _time(run, repeats)


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity here)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=50_000, help="decide calls per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, repeats, seed = args.n, args.repeats, args.seed
    pinned = _pin_one_core()

    mix = zone_mix(n, seed)
    degraded = [State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0)] * n
    small = max(1, n // 10)
    rows = [
        Row(
            "decide, in memory, states from all 5 zones",
            n,
            bench_decide(mix, repeats, seed),
            20_000,
        ),
        Row(
            "decide, in memory, bandit over 3 actions (degraded)",
            n,
            bench_decide(degraded, repeats, seed),
            20_000,
        ),
        Row(
            "decide + update, in memory (propensity recomputed)",
            small,
            bench_decide_update(mix[:small], repeats, seed),
            None,
        ),
    ]
    persisted = max(1, n // 50)
    rows.append(
        Row(
            "decide + update, persisted to SQLite",
            persisted,
            bench_persisted(mix[:persisted], repeats, seed),
            1_000,
        )
    )

    table = Table(title=f"safeheal policy throughput (one process, {pinned}, seed {seed})")
    table.add_column("measurement")
    table.add_column("calls", justify="right")
    table.add_column("per second", justify="right")
    table.add_column("target", justify="right")
    table.add_column("paper (1,250/min)", justify="right")
    table.add_column("× paper", justify="right")
    for r in rows:
        table.add_row(
            r.what,
            f"{r.calls:,}",
            f"{r.per_second:,.0f}",
            "—" if r.target is None else f"{r.target:,} {'✓' if r.per_second >= r.target else '✗'}",
            f"{PAPER_PER_SECOND:,.1f}/s",
            f"{r.per_second / PAPER_PER_SECOND:,.0f}×",
        )
    console.print(table)
    console.print(
        "Propensities are exact (numerical integration over Beta CDFs), not Monte Carlo; "
        "they are cached until a posterior of the context changes."
    )


if __name__ == "__main__":
    main()
