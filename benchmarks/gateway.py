"""Gateway throughput and latency beside a bare FastAPI endpoint serving the same model.

Run:  .venv/bin/python benchmarks/gateway.py  [--repeats N] [--quick] [--sink memory|sqlite]
                                              [--traffic memory|store]

``--sink sqlite`` logs into the store's SQLite file (WAL) through ``SqlInferenceSink``, as
``safeheal serve`` does; ``memory`` keeps records in a ``MemorySink``. ``--traffic store`` reads
the traffic split from the store's SQLite file through ``safeheal.heal.SharedRouter`` (cached,
reread every 250 ms), as ``safeheal serve`` does so that ``safeheal run`` can steer it;
``memory`` routes from an in-process table.

Two servers, one at a time, each in its own process under uvicorn on 127.0.0.1 (same settings:
h11, asyncio loop, no access log, a port of its own):

- ``bare``: a FastAPI endpoint that parses the JSON, calls ``model.predict`` and answers; no
  validation, routing, metrics or logging. It is the floor any gateway pays.
- ``gateway``: ``safeheal.serve.create_app`` with a 10 % canary (two versions of the same kind of
  model), full validation, metrics, and every inference logged to the sink in batches.

Both serve a scikit-learn pipeline (StandardScaler + LogisticRegression) trained on
``load_breast_cancer``, and receive identical request bodies (rows plus a request id). The load
generator is an asyncio HTTP/1.1 client with keep-alive connections over pre-built requests
(httpx costs more CPU per request than the servers do, so it would measure itself). Each run is
bounded in requests and in seconds. Runs alternate bare/gateway, ``--repeats`` times per workload,
and the table shows medians. The server process is pinned to CPU 0 and the load generator to
CPU 1 when the machine has two, so they do not take turns on one core.

After the gateway stops (gracefully: the log drains), it reports its log counters, and the last
table compares records written with requests answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from rich.console import Console
from rich.table import Table

MODEL = "cancer"
GATEWAY_PATH = f"/v1/models/{MODEL}/predict"
BARE_PATH = "/predict"
CONCURRENCY = 32


# -- the servers (child processes) ----------------------------------------------------------------


def _model(seed: int) -> Any:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=len(X), replace=True)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[idx], y[idx])


def _bare_app() -> FastAPI:
    model = _model(1)
    app = FastAPI()

    @app.post(BARE_PATH)
    async def predict(request: Request) -> Response:
        body = json.loads(await request.body())
        X = np.asarray(body["rows"], dtype=np.float64)
        payload = json.dumps({"predictions": model.predict(X).tolist()})
        return Response(payload, media_type="application/json")

    return app


def _traffic(traffic_kind: str, directory: str) -> Any:
    from safeheal.serve import InMemoryTrafficTable

    split = [(2, 10.0), (1, 90.0)]
    if traffic_kind == "memory":
        return InMemoryTrafficTable({MODEL: split})
    from safeheal.heal import SharedRouter
    from safeheal.store import open_store

    store = open_store(f"{directory}/gateway.db")
    store.save_split(MODEL, split)
    return SharedRouter(store, models=[MODEL], refresh_seconds=0.25)


def _gateway_app(sink_kind: str, traffic_kind: str, directory: str) -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    from safeheal.serve import MemorySink, StaticModelSource, create_app

    names = [str(n) for n in load_breast_cancer().feature_names]
    source = StaticModelSource()
    source.add(MODEL, 1, _model(1), names)
    source.add(MODEL, 2, _model(2), names)
    sink: Any
    if sink_kind == "memory":
        sink = MemorySink()
    else:
        from safeheal.store import SqlInferenceSink

        sink = SqlInferenceSink.open(f"{directory}/gateway.db")
    app = create_app(models=source, traffic=_traffic(traffic_kind, directory), sink=sink)
    return app, sink


def child(kind: str, sink_kind: str, traffic_kind: str) -> None:
    """Serve until a line arrives on stdin; print the port first and the log counters last."""
    from safeheal.serve import ServerThread

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[0]})
    with tempfile.TemporaryDirectory() as directory:
        sink: Any = None
        if kind == "bare":
            app = _bare_app()
        else:
            app, sink = _gateway_app(sink_kind, traffic_kind, directory)
        server = ServerThread(app).start()
        print(f"PORT {server.port}", flush=True)
        sys.stdin.readline()
        server.stop()
        report: dict[str, Any] = {}
        if kind == "gateway":
            stats = app.state.gateway.log.stats()
            report = {
                "enqueued": stats.enqueued,
                "written": stats.written,
                "dropped": stats.dropped,
                "failed": stats.failed,
                "abandoned": stats.abandoned,
                "in_sink": len(sink.inferences) if sink_kind == "memory" else sink.count(),
            }
        print("STATS " + json.dumps(report), flush=True)


class Server:
    """A child process serving one app; ``close`` stops it and returns its report."""

    def __init__(self, kind: str, sink_kind: str, traffic_kind: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--sink",
                sink_kind,
                "--traffic",
                traffic_kind,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the {kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def close(self) -> dict[str, int]:
        out, _ = self.process.communicate("stop\n", timeout=120)
        line = next(x for x in out.splitlines() if x.startswith("STATS "))
        report: dict[str, int] = json.loads(line[6:])
        return report


# -- the load generator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    ok: int
    failed: int
    rows: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    @property
    def pps(self) -> float:
        return self.ok * self.rows / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3)


def bodies(n: int, rows: int, prefix: str) -> list[bytes]:
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data
    out = []
    for i in range(n):
        start = (i * rows) % len(X)
        batch = np.take(X, range(start, start + rows), axis=0, mode="wrap")
        out.append(json.dumps({"rows": batch.tolist(), "request_id": f"{prefix}-{i}"}).encode())
    return out


async def load(
    port: int, path: str, payloads: Sequence[bytes], rows: int, max_seconds: float
) -> Run:
    """Send ``payloads`` over CONCURRENCY keep-alive connections, as fast as answers come back,
    stopping early after ``max_seconds``. Every 50th answer is parsed and checked."""
    requests = [
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(p)}\r\n\r\n".encode()
        + p
        for p in payloads
    ]
    latencies: list[float] = []
    counts = {"next": 0, "ok": 0, "failed": 0}
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while counts["next"] < len(requests) and time.perf_counter() < deadline:
                i = counts["next"]
                counts["next"] += 1
                started = time.perf_counter()
                writer.write(requests[i])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    if not counts["failed"]:
                        print(f"first failure: {status} {body[:300]!r}", file=sys.stderr)
                    counts["failed"] += 1
                    continue
                counts["ok"] += 1
                if i % 50 == 0 and len(json.loads(body)["predictions"]) != rows:
                    raise RuntimeError(f"answer {i} does not have {rows} predictions")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    seconds = time.perf_counter() - started
    return Run(counts["ok"], counts["failed"], rows, seconds, latencies)


# -- the experiment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    rows: int
    requests: int
    max_seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer requests, one repeat")
    parser.add_argument("--sink", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--traffic", choices=["memory", "store"], default="memory")
    parser.add_argument("--child", choices=["bare", "gateway"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.sink, args.traffic)
        return

    scale = 0.25 if args.quick else 1.0
    repeats = 1 if args.quick else args.repeats
    workloads = [
        Workload("1 row", 1, int(8_000 * scale), 30.0),
        Workload("100 rows", 100, int(1_500 * scale), 30.0),
    ]
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[1]})
    console = Console(width=max(Console().width, 110))
    console.print(
        f"[bold]Gateway vs bare FastAPI endpoint[/bold]: {CONCURRENCY} connections, "
        f"{repeats} alternating run(s) per workload, sink={args.sink}, "
        f"traffic={args.traffic}, {len(cpus)} CPUs"
    )

    results: dict[tuple[str, str], list[Run]] = {}
    sent_to_gateway = 0
    servers = {kind: Server(kind, args.sink, args.traffic) for kind in ("bare", "gateway")}
    try:
        warm = bodies(500, 1, "warm")
        for kind, server in servers.items():
            path = GATEWAY_PATH if kind == "gateway" else BARE_PATH
            run = asyncio.run(load(server.port, path, warm, 1, 30.0))
            if kind == "gateway":
                sent_to_gateway += run.ok + run.failed
        for workload in workloads:
            for r in range(repeats):
                payloads = bodies(workload.requests, workload.rows, f"w{workload.rows}-{r}")
                for kind, server in servers.items():
                    path = GATEWAY_PATH if kind == "gateway" else BARE_PATH
                    run = asyncio.run(
                        load(server.port, path, payloads, workload.rows, workload.max_seconds)
                    )
                    if run.failed:
                        raise RuntimeError(f"{kind}: {run.failed} requests failed")
                    results.setdefault((workload.name, kind), []).append(run)
                    if kind == "gateway":
                        sent_to_gateway += run.ok + run.failed
    finally:
        reports = {kind: server.close() for kind, server in servers.items()}

    table = Table(title="Throughput and latency (medians over runs)")
    for column in ("workload", "server", "requests", "req/s", "predictions/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("workload", "server") else "right")
    table.add_column("vs bare", justify="right")
    for workload in workloads:
        bare_rps = statistics.median(r.rps for r in results[(workload.name, "bare")])
        for kind in ("bare", "gateway"):
            runs = results[(workload.name, kind)]
            rps = statistics.median(r.rps for r in runs)
            table.add_row(
                workload.name,
                kind,
                f"{sum(r.ok for r in runs):,}",
                f"{rps:,.0f}",
                f"{statistics.median(r.pps for r in runs):,.0f}",
                f"{statistics.median(r.percentile(50) for r in runs):.1f}",
                f"{statistics.median(r.percentile(99) for r in runs):.1f}",
                f"{rps / bare_rps:.0%}",
            )
    console.print(table)

    log = reports["gateway"]
    lost = sent_to_gateway - log["in_sink"]
    logs = Table(title="Inference log of the gateway (after a graceful stop)")
    for column in (
        "requests answered",
        "records enqueued",
        "written",
        "in the sink",
        "dropped",
        "failed",
        "lost",
    ):
        logs.add_column(column, justify="right")
    logs.add_row(
        f"{sent_to_gateway:,}",
        f"{log['enqueued']:,}",
        f"{log['written']:,}",
        f"{log['in_sink']:,}",
        f"{log['dropped']:,}",
        f"{log['failed']:,}",
        f"{lost:,}",
    )
    console.print(logs)


if __name__ == "__main__":
    main()
