"""Lease claims: how long one controller's claim round takes, by fleet size and backend.

Run:  .venv/bin/python benchmarks/leases.py  [--models N ...] [--postgres URL]

Each round is what ``Controller.run_once`` does before its windows: one transaction that renews
the controller's heartbeat and leases, gives up leases beyond its share and takes free ones
(``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL). Two controllers alternate on one store,
one round each per simulated window, after the fleet has been divided; the table shows the
median and p95 time of a round and the models per second a round renews.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from safeheal.store import open_store

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=3)


def rounds(url: str, models: int, n: int) -> list[float]:
    names = [f"bench-{models}-{i:05d}" for i in range(models)]
    a, b = open_store(url), open_store(url)
    try:
        times: list[float] = []
        for r in range(n + 2):
            now = T0 + timedelta(minutes=r)
            for store, owner in ((a, f"ctl-a-{models}"), (b, f"ctl-b-{models}")):
                t0 = time.perf_counter()
                store.claim_leases(owner, names, now=now, ttl=TTL)
                if r >= 2:  # the first two rounds divide the fleet
                    times.append(time.perf_counter() - t0)
        return times
    finally:
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[50, 1000])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgres", help="a postgresql+psycopg:// URL (tables named bench-*)")
    args = parser.parse_args()
    table = Table(title="One claim round (renew + rebalance) of one controller of two")
    for col in ("backend", "models", "median ms", "p95 ms", "models renewed/s"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for models in args.models:
            targets = [("sqlite", f"{tmp}/leases-{models}.db")]
            if args.postgres:
                targets.append(("postgresql", args.postgres))
            for backend, url in targets:
                times = sorted(rounds(url, models, args.rounds))
                median = statistics.median(times)
                p95 = times[int(0.95 * (len(times) - 1))]
                table.add_row(
                    backend,
                    f"{models:,}",
                    f"{median * 1e3:.1f}",
                    f"{p95 * 1e3:.1f}",
                    f"{models / 2 / median:,.0f}",
                )
    Console().print(table)


if __name__ == "__main__":
    main()
