"""Real processes on one store: `safeheal serve` and `safeheal run`, killed and restarted.

The gateway (`safeheal serve`) and the controller (`safeheal run`) run as separate processes on
one SQLite store and one MLflow registry in a temporary directory; they share nothing else. The
controller runs on the real clock with 3-second windows (``control.window_minutes = 0.05``) and
a 12-second canary, so no clock needs accelerating: both processes and the test read the same
wall clock. Traffic goes over HTTP to the gateway on 127.0.0.1 from two threads (5 rows a
request, each followed by its labels).

The story (issue 5, "kill the controller process mid-canary and start it again"): drifted
traffic makes the controller FALLBACK through a canary; the controller is killed with SIGKILL
while the canary runs; the gateway keeps serving (no 5xx, only the champion and the fallback);
a second controller takes the model's lease over once the first one's expires, resumes the
canary and ends it; exactly one FALLBACK was ever carried out, and the split the gateway reports
over HTTP is the split in the store.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.control import register_profile
from safeheal.datasets import load_fair
from safeheal.heal import MlflowRegistry
from safeheal.store import SqlStore, open_store
from tests.test_serve_cli import command, environment, free_port

MODEL = "fair"
TOKEN = "fleet-test-admin-token-0123456789"
#: Seconds the whole story may take once both processes answer.
BOUND = 60.0


@dataclass
class Fleet:
    root: Path
    config: Path
    url: str
    champion: int
    fallback: int
    X_live: np.ndarray
    y_live: np.ndarray
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        out = (self.root / log).open("wb")
        process = subprocess.Popen(
            command(*args, "--config", str(self.config)),
            cwd=self.root,
            env=environment(SAFEHEAL_TEST_ADMIN_TOKEN=TOKEN),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.root.glob("*.log"))
        )


CONFIG = """\
[serve]
models = ["{model}"]
port = {port}
admin_token_env = "SAFEHEAL_TEST_ADMIN_TOKEN"
registry = "{registry}"
store = "{store}"
log_level = "warning"
traffic_refresh_ms = 100

[canary]
traffic_fraction = 0.5
validation_minutes = 0.2

[fallback]
plan = "canary"

[control]
window_minutes = 0.05
lease_windows = 2
escalate_novel = false
min_rows = 20

[control.models.{model}]
mode = "autonomous"
"""


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    data = load_fair()
    X, y = data.X, data.y
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X.iloc[order].reset_index(drop=True), y[order]
    X_ref, y_ref = X.iloc[:3000], y[:3000]
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_ref, y_ref)
    fallback = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_ref, y_ref)
    registry = MlflowRegistry.local(tmp_path / "mlflow")
    v1 = registry.register(MODEL, champion, role="champion", reason="first fit").version
    registry.mark_healthy(MODEL, v1, "validated offline")
    v2 = registry.register(MODEL, fallback, role="fallback", reason="simple").version
    names = [str(c) for c in X.columns]
    with open_store(tmp_path / "safeheal.db") as store:
        for version, estimator in ((v1, champion), (v2, fallback)):
            register_profile(
                store,
                MODEL,
                version,
                X_ref.to_numpy(),
                at=datetime.now(UTC),
                estimator=estimator,
                X_eval=X.iloc[3000:4000],
                y_eval=y[3000:4000],
                feature_names=names,
            )
    port = free_port()
    config = tmp_path / "safeheal.toml"
    config.write_text(
        CONFIG.format(
            model=MODEL,
            port=port,
            registry=tmp_path / "mlflow",
            store=tmp_path / "safeheal.db",
        ),
        encoding="utf-8",
    )
    f = Fleet(
        tmp_path,
        config,
        f"http://127.0.0.1:{port}",
        v1,
        v2,
        X.iloc[4000:].to_numpy(dtype=float),
        np.asarray(y[4000:]),
    )
    try:
        yield f
    finally:
        for p in f.processes:  # always: no process outlives the test
            if p.poll() is None:
                p.kill()
            p.wait(30)


class Traffic:
    """Two threads sending predictions and their labels; drifted rows until told otherwise."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.drifted = True
        self.statuses: list[int] = []
        self.versions: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send, args=(i,)) for i in range(2)]

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _send(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        X, y = self.fleet.X_live, self.fleet.y_live
        url = f"{self.fleet.url}/v1/models/{MODEL}"
        n = 0
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                rows = rng.integers(0, len(y), size=5)
                batch = X[rows].copy()
                if self.drifted:
                    batch[:, 1] += 25.0  # age: a covariate shift far beyond the reference
                rid = f"t{seed}-{n}"
                n += 1
                try:
                    r = client.post(
                        f"{url}/predict", json={"rows": batch.tolist(), "request_id": rid}
                    )
                    with self._lock:
                        self.statuses.append(r.status_code)
                        if r.status_code == 200:
                            self.versions.append(int(r.json()["version"]))
                    client.post(
                        f"{url}/feedback",
                        json={"request_id": rid, "labels": [int(v) for v in y[rows]]},
                    )
                except httpx.TransportError as exc:
                    with self._lock:
                        self.failures.append(repr(exc))
                time.sleep(0.01)

    def since(self, mark: int) -> tuple[list[int], list[int]]:
        with self._lock:
            return self.statuses[mark:], list(self.versions)


def _wait(what: str, check: Any, fleet: Fleet, deadline: float) -> Any:
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{fleet.logs()}")
        time.sleep(0.1)


def _healthy(fleet: Fleet) -> bool:
    try:
        return httpx.get(f"{fleet.url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _gateway_arms(fleet: Fleet) -> list[tuple[int, float]]:
    r = httpx.get(
        f"{fleet.url}/v1/admin/models/{MODEL}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    return [(int(a["version"]), float(a["weight"])) for a in r.json()["arms"]]


def _store_arms(store: SqlStore) -> list[tuple[int, float]]:
    return [(v, w) for v, w in store.load_splits([MODEL])[MODEL].arms]


def test_a_controller_killed_mid_canary_is_taken_over_and_never_acts_twice(
    fleet: Fleet,
) -> None:
    gateway = fleet.start("serve", log="serve.log")
    first = fleet.start("run", log="run-1.log")
    _wait("the gateway", lambda: _healthy(fleet), fleet, time.monotonic() + 180)
    known = {fleet.champion, fleet.fallback}
    store = open_store(fleet.root / "safeheal.db")
    try:
        with Traffic(fleet) as traffic:
            began = time.monotonic()
            deadline = began + BOUND
            # 1. drifted traffic: the controller falls back through a canary
            canary = _wait(
                "a canary of the fallback",
                lambda: store.active_canaries(MODEL),
                fleet,
                time.monotonic() + 120,  # includes the controller's start-up (MLflow)
            )[0]
            assert canary.action == "FALLBACK"
            assert (canary.candidate_version, canary.incumbent_version) == (
                fleet.fallback,
                fleet.champion,
            )
            traffic.drifted = False  # from now on healthy traffic: nothing new to heal
            # 2. SIGKILL mid-canary
            first.send_signal(signal.SIGKILL)
            first.wait(30)
            dead = store.leases([MODEL])[0]  # the killed controller's lease, still live
            assert dead.owner
            assert store.active_canaries(MODEL), "the canary ended before the kill"
            mark = len(traffic.since(0)[0])
            _wait(
                "the gateway to serve the canary's split",
                lambda: _gateway_arms(fleet) == _store_arms(store),
                fleet,
                deadline,
            )
            assert {v for v, _ in _store_arms(store)} == known
            time.sleep(1.0)  # the gateway alone serves on
            statuses, _ = traffic.since(mark)
            assert statuses, "no traffic was answered while the controller was down"
            assert set(statuses) == {200}, statuses
            # 3. a new controller: it takes the lease once it expires, resumes, ends the canary
            fleet.start("run", log="run-2.log")
            ended = _wait(
                "the canary to end",
                lambda: (
                    (rec := store.load_canary(canary.id)) is not None
                    and rec.phase in ("promoted", "aborted")
                    and rec
                ),
                fleet,
                time.monotonic() + BOUND,
            )
            lease = store.leases([MODEL])[0]
            assert lease.owner not in ("", dead.owner)  # taken over by the second controller,
            assert lease.acquired_at >= dead.expires_at  # not before the first one's expired
            status = subprocess.run(
                command("status", "--config", str(fleet.config)),
                cwd=fleet.root,
                env={**environment(), "COLUMNS": "250"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert status.returncode == 0, status.stderr
            assert lease.owner in status.stdout  # who runs the model, as `safeheal status` says
            # 4. one action, ever, and the gateway's split is the store's, on a known-good version
            fallbacks = _wait(  # the intent is settled right after the canary's end is saved
                "the FALLBACK intent to be settled",
                lambda: (
                    [i for i in store.intents(MODEL) if i.action == "FALLBACK"]
                    if not store.intents(MODEL, statuses=("intent", "applied"))
                    else None
                ),
                fleet,
                time.monotonic() + 10,
            )
            assert len(fallbacks) == 1, fallbacks
            assert fallbacks[0].status == "done"
            acted = [
                e
                for e in store.audit_events(MODEL, kind="control.action")
                if e.payload.get("key") == fallbacks[0].key
            ]
            # Carried out once by the first controller (its intent settled with the audit event
            # in one transaction), or, killed between starting the canary and settling its
            # intent, settled by the second one's recovery: one or the other, never both.
            recovered = [
                e
                for e in store.audit_events(MODEL, kind="control.recovered")
                if any(fallbacks[0].key in note for note in e.payload.get("notes", []))
            ]
            assert len(acted) + len(recovered) == 1, (acted, recovered)
            # and one canary for that decision, ever: the action was not carried out again
            runs = [c for c in store.canaries(MODEL) if c.decision_id == fallbacks[0].decision_id]
            assert len(runs) == 1, runs
            _wait(
                "the gateway to serve the store's split",
                lambda: _gateway_arms(fleet) == _store_arms(store),
                fleet,
                time.monotonic() + 5,
            )
            final = _store_arms(store)
            assert len(final) == 1
            assert final[0][1] == 100.0
            assert final[0][0] in known
            assert ended.phase in ("promoted", "aborted")
            assert time.monotonic() - began < BOUND
        statuses, versions = traffic.since(0)
        assert set(statuses) == {200}, [s for s in statuses if s != 200][:10]
        assert set(versions) <= known
        assert not traffic.failures, traffic.failures[:3]
        assert gateway.poll() is None
    finally:
        store.close()
    gateway.send_signal(signal.SIGTERM)
    assert gateway.wait(60) in (0, -signal.SIGTERM, 128 + signal.SIGTERM)


PG_CONFIG = """\
[serve]
models = {models}
registry = "{registry}"
store = "{store}"

[control]
window_minutes = 0.05
lease_windows = 2
"""


def test_two_controller_processes_share_a_fleet_on_postgresql(tmp_path: Path) -> None:
    """Two `safeheal run` on one PostgreSQL store divide four models between them; when one is
    killed, the other takes its models over once their leases expire."""
    from tests.test_store_conformance import _postgres_location

    models = [f"pg-{i}" for i in range(4)]
    registry = MlflowRegistry.local(tmp_path / "mlflow")
    data = load_fair()
    estimator = DecisionTreeClassifier(max_depth=2, random_state=0).fit(data.X, data.y)
    for name in models:
        registry.register(name, estimator, role="champion", reason="first fit")
    with _postgres_location(tmp_path) as url:
        config = tmp_path / "safeheal.toml"
        config.write_text(
            PG_CONFIG.format(models=json.dumps(models), registry=tmp_path / "mlflow", store=url),
            encoding="utf-8",
        )
        fleet = Fleet(tmp_path, config, "", 1, 1, np.empty((0, 0)), np.empty(0))
        store = open_store(url)
        try:
            first = fleet.start("run", log="run-a.log")
            fleet.start("run", log="run-b.log")

            def divided() -> dict[str, list[str]] | None:
                owners: dict[str, list[str]] = {}
                now = datetime.now(UTC)
                for lease in store.leases(models):
                    if lease.live(now):
                        owners.setdefault(lease.owner, []).append(lease.model)
                return owners if sorted(map(len, owners.values())) == [2, 2] else None

            owners = _wait("the fleet to be divided", divided, fleet, time.monotonic() + 120)
            pid = str(first.pid)
            killed = next(o for o in owners if f":{pid}:" in o)
            first.send_signal(signal.SIGKILL)
            first.wait(30)
            survivor = next(o for o in owners if o != killed)
            _wait(
                "the survivor to take every model",
                lambda: all(
                    lease.owner == survivor and lease.live(datetime.now(UTC))
                    for lease in store.leases(models)
                ),
                fleet,
                time.monotonic() + BOUND,
            )
        finally:
            store.close()
            for p in fleet.processes:
                if p.poll() is None:
                    p.kill()
                p.wait(30)
