"""Persistence speed: record_decision + record_outcome pairs per second, one transaction each.

Run:  .venv/bin/python benchmarks/store.py  [--pairs N] [--repeats N] [--postgres URL]

Each pair is what the controller persists for one decide + update: the decision (with its
verdict, safe set, propensity and reasons), then its outcome with the posterior update (added to
the stored posterior, which is read back) and the cost estimate it produced, each write in its own
transaction. SQLite is a fresh file in a temporary directory
(WAL, synchronous=NORMAL); PostgreSQL, when a URL is given (e.g. $SAFEHEAL_TEST_POSTGRES_URL), gets
a fresh schema. The figure is the median over the repeats. The issue's target is 1,000 pairs/s on
SQLite; the paper reports 1,250 decisions per minute.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from safeheal.core import Action, Decision, Outcome, State, Verdict
from safeheal.policy.protocols import CostEstimate, PosteriorUpdate
from safeheal.store import SqlStore, open_store

VERDICT = Verdict(
    mandatory=None,
    permitted=frozenset({Action.RETRAIN, Action.FALLBACK, Action.NO_OP}),
    zone="drifting",
    reasons=("drift 0.18 > 0.15 with accuracy drop 0.02 <= 0.10",),
)
STATE = State(drift=0.18, accuracy_drop=0.02, anomaly_rate=0.004, latency_ratio=0.7)


def decisions(n: int) -> list[Decision]:
    now = datetime.now(UTC)
    return [
        Decision(
            action=Action.RETRAIN,
            verdict=VERDICT,
            safe_set=VERDICT.permitted,
            source="bandit",
            propensity=0.6,
            scores={a: 0.97 for a in VERDICT.permitted},
            reasons=("bandit chose retrain",),
            state=STATE,
            context="drifting/high",
            draws={a: 0.5 for a in VERDICT.permitted},
            costs={a: 0.3 for a in VERDICT.permitted},
            at=now,
        )
        for _ in range(n)
    ]


def pairs_per_second(store: SqlStore, n: int) -> float:
    batch = decisions(n)
    start = time.perf_counter()
    for i, d in enumerate(batch):
        store.record_decision(d, model="bench")
        success = i % 3 != 0
        store.record_outcome(
            Outcome(d.id, success=success, cost=0.3),
            PosteriorUpdate(d.context, d.action.name, float(success), float(not success), 1.0, 1.0),
            CostEstimate(d.action.name, compute=0.8, risk=0.3, downtime=0.1, n=i + 1),
        )
    return n / (time.perf_counter() - start)


def sqlite_rate(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "bench.db") as store:
        return pairs_per_second(store, n)


def postgres_rate(url: str, n: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        where = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        with open_store(where.render_as_string(hide_password=False)) as store:
            return pairs_per_second(store, n)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", default=None)
    args = parser.parse_args()
    rows = [("sqlite (file, WAL)", [sqlite_rate(args.pairs) for _ in range(args.repeats)])]
    if args.postgres:
        url = args.postgres
        rows.append(("postgresql", [postgres_rate(url, args.pairs) for _ in range(args.repeats)]))
    print(f"{args.pairs} pairs x {args.repeats} repeats")
    print(f"{'backend':<20} {'pairs/s':>9} {'min':>9} {'max':>9}")
    for name, rates in rows:
        median, low, high = statistics.median(rates), min(rates), max(rates)
        print(f"{name:<20} {median:>9,.0f} {low:>9,.0f} {high:>9,.0f}")
    print("target: 1,000 pairs/s on SQLite; paper: 1,250 decisions/min (21/s)")


if __name__ == "__main__":
    main()
