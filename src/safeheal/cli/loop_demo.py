"""`safeheal demo --heal`: the closed loop on Fair's survey data, on a simulated clock.

Everything runs in a temporary directory on loopback: an MLflow registry and a SQLite store, a
champion (gradient boosting) and a fallback (a small decision tree) registered with their roles and
monitoring profiles, the real gateway over HTTP (:class:`~safeheal.serve.ServerThread` on
127.0.0.1), and a :class:`~safeheal.control.Controller` in ``autonomous`` mode on a
:class:`~safeheal.control.ManualClock` that moves one window per step.

Incidents come in turn, each lasting a few windows and followed by healthy windows: covariate
shift (rows sampled with a bias towards long marriages), concept drift (labels flipped for
respondents under 25), a latency incident, and a burst of anomalous inputs. The gateway cannot be
made slow on purpose, so the latency incident (the champion's host turns slow) is simulated: its
windows' records are written straight through the inference sink, with a high ``latency_ms`` for
the requests the champion answers (the output says so).

Nothing in the summary is scripted: detection, action and healing are read from what the
controller decided and recorded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = ["IncidentSummary", "LoopSummary", "run_loop_demo"]

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
MODEL = "fair"
#: Requests per window and rows per request.
REQUESTS = 8
BATCH = 50
#: Latency written for the simulated latency incident (the profile's SLO is 100 ms): the
#: champion's requests are slow, other versions' are not.
SLOW_MS = 450.0
FAST_MS = 5.0
#: A window is a catastrophic failure when a version whose accuracy is this far below the
#: champion's baseline serves more than half of the window's rows.
CATASTROPHIC_DROP = 0.30
#: (kind, incident windows, healthy windows after it)
SCRIPT: tuple[tuple[str, int, int], ...] = (
    ("healthy", 3, 0),
    ("covariate shift", 3, 2),
    ("concept drift", 4, 2),
    ("latency", 3, 2),
    ("anomalous inputs", 3, 2),
)


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """One incident; times in simulated minutes since the demo's start."""

    kind: str
    started_at: float
    detected_at: float | None
    action: str | None
    healed_at: float | None
    mttr_minutes: float | None
    healed: bool


@dataclass(frozen=True, slots=True)
class LoopSummary:
    incidents: tuple[IncidentSummary, ...]
    sla_compliance: float
    catastrophic_failures: int
    decisions: int
    notes: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": [asdict(i) for i in self.incidents],
            "sla_compliance": self.sla_compliance,
            "catastrophic_failures": self.catastrophic_failures,
            "decisions": self.decisions,
        }


@dataclass(slots=True)
class _Window:
    index: int
    incident: str  # the incident this window belongs to (its own windows and the healthy tail)
    active: bool  # whether the incident is going on in this window
    start: float
    end: float
    result: Any  # WindowResult
    sla_ok: bool | None
    catastrophic: bool


def _minutes(t: datetime) -> float:
    return round((t - T0).total_seconds() / 60.0, 3)


def _rows(
    kind: str,
    X: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    names: list[str],
    ref_std: np.ndarray[Any, Any],
    rng: np.random.Generator,
    n: int,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``n`` rows and their labels for one window of ``kind`` traffic, drawn from unseen rows."""
    p = None
    if kind == "covariate shift":
        years = X[:, names.index("yrs_married")]
        w = np.exp(0.12 * (years - years.mean()))
        p = w / w.sum()
    idx = rng.choice(len(y), size=n, replace=False, p=p)
    rows, labels = X[idx].copy(), y[idx].copy()
    if kind == "concept drift":
        young = rows[:, names.index("age")] < 25
        labels[young] = 1 - labels[young]
    elif kind == "anomalous inputs":
        burst = rng.random(n) < 0.3
        rows[burst] += 12.0 * ref_std  # every feature far outside the reference
    return rows, labels


def run_loop_demo(
    *, seed: int = 7, console: Console | None = None, json_only: bool = False
) -> LoopSummary:
    """Run the closed-loop demo; prints live lines and a summary table (or only the JSON)."""
    import httpx
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    from safeheal.config import parse_config
    from safeheal.control import Controller, ManualClock, register_profile
    from safeheal.datasets import load_fair
    from safeheal.heal import InMemoryRouter, MlflowRegistry, approve, default_executors
    from safeheal.policy import HybridPolicy
    from safeheal.serve import (
        InferenceRecord,
        RegistryModelSource,
        ServerThread,
        create_app,
    )
    from safeheal.store import SqlInferenceSink, open_store

    out = console or Console()
    if json_only:
        out = Console(quiet=True)
    began = time.perf_counter()
    data = load_fair()
    names = [str(c) for c in data.X.columns]
    X_all, y_all = data.X.to_numpy(), np.asarray(data.y)
    order = np.random.default_rng(seed).permutation(len(y_all))
    X_all, y_all = X_all[order], y_all[order]
    X_ref, y_ref = X_all[:2500], y_all[:2500]
    X_eval, y_eval = X_all[2500:3500], y_all[2500:3500]
    X_live, y_live = X_all[3500:], y_all[3500:]
    ref_std = X_ref.std(axis=0)
    champion = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, random_state=seed)
    champion.fit(X_ref, y_ref)
    fallback = DecisionTreeClassifier(max_depth=3, random_state=seed).fit(X_ref, y_ref)
    baseline = float((champion.predict(X_eval) == y_eval).mean())
    config = parse_config(
        {
            "canary": {"traffic_fraction": 0.5, "validation_minutes": 2.0},
            "control": {"escalate_novel": False},
        }
    )
    window_minutes = config.control.window_minutes
    thresholds = config.envelope.thresholds

    root = Path(tempfile.mkdtemp(prefix="safeheal-demo-"))
    store = open_store(root / "safeheal.db")
    windows: list[_Window] = []
    notes: list[str] = []
    try:
        registry = MlflowRegistry.local(root / "mlflow", move_log=store)
        sink = SqlInferenceSink(store)
        clock = ManualClock(T0)
        v1 = registry.register(MODEL, champion, role="champion", reason="first fit").version
        registry.mark_healthy(MODEL, v1, "validated offline")
        v2 = registry.register(MODEL, fallback, role="fallback", reason="simpler").version
        for version, est in ((v1, champion), (v2, fallback)):
            register_profile(
                store,
                MODEL,
                version,
                X_ref,
                at=T0,
                estimator=est,
                X_eval=X_eval,
                y_eval=y_eval,
                feature_names=names,
            )
        router = InMemoryRouter()
        router.set_arms(MODEL, [(v1, 100.0)])
        policy = HybridPolicy.from_config(config, store=store, seed=seed, clock=clock)
        ctl = Controller(
            store,
            registry,
            router,
            policy,
            default_executors(config),
            clock,
            config,
            models={MODEL: "autonomous"},
        )
        app = create_app(
            models=RegistryModelSource(registry, feature_names={MODEL: names}),
            traffic=router,
            sink=sink,
            clock=clock,
        )
        out.print(
            f"[bold]safeheal demo --heal[/bold]: {data.description}.\n"
            f"Champion v{v1} (gradient boosting, baseline accuracy {baseline:.3f}) and fallback "
            f"v{v2} (decision tree) registered in MLflow under {root}; gateway and controller "
            f"(autonomous) on a simulated clock, one {window_minutes:g}-minute window per step, "
            f"{REQUESTS * BATCH} rows per window.\n"
            f"[yellow]Note[/yellow]: the gateway cannot be slowed on purpose, so the latency "
            f"incident (the champion's host turns slow) is simulated: its windows' records are "
            f"written straight through the inference sink, latency_ms={SLOW_MS:g} for requests "
            f"the champion answers and {FAST_MS:g} for the others (predictions still come from "
            f"the versions the traffic split picks)."
        )
        rng = np.random.default_rng(seed)
        sent = [0, 0]  # requests, labels logged through the gateway
        with (
            ServerThread(app, host="127.0.0.1") as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            index = 0
            for kind, active_n, tail_n in SCRIPT:
                for esc in store.pending_escalations(MODEL):
                    approve(
                        store,
                        esc.id,
                        actor="demo operator",
                        note=f"acknowledged before the {kind} incident",
                        now=clock.now(),
                    )
                    out.print(
                        f"[cyan]operator[/cyan]: {kind} begins; the demo answers escalation "
                        f"{esc.id} (approve), as a human would through `safeheal approve`"
                    )
                for k in range(active_n + tail_n):
                    index += 1
                    active = k < active_n
                    traffic = kind if active else "healthy"
                    start = clock.now()
                    X, y = _rows(traffic, X_live, y_live, names, ref_std, rng, REQUESTS * BATCH)
                    served_versions = np.empty(len(y), dtype=np.int64)
                    preds = np.empty(len(y), dtype=np.int64)
                    if traffic == "latency":
                        served_versions, preds = _write_slow(
                            sink, registry, router, InferenceRecord, X, y, names, index, start
                        )
                        sent[0] += REQUESTS
                        sent[1] += len(y)
                    else:
                        labels = []
                        for r in range(REQUESTS):
                            rid = f"w{index}-r{r}"
                            sl = slice(r * BATCH, (r + 1) * BATCH)
                            resp = client.post(
                                f"/v1/models/{MODEL}/predict",
                                json={"rows": X[sl].tolist(), "request_id": rid},
                            )
                            resp.raise_for_status()
                            body = resp.json()
                            served_versions[sl] = int(body["version"])
                            preds[sl] = np.asarray(body["predictions"], dtype=np.int64)
                            labels += [
                                {"request_id": rid, "row": i, "label": int(y[sl][i])}
                                for i in range(BATCH)
                            ]
                        fb = client.post(f"/v1/models/{MODEL}/feedback", json={"labels": labels})
                        fb.raise_for_status()
                        sent[0] += REQUESTS
                        sent[1] += len(labels)
                        _wait_logged(sink, sent)
                    result = ctl.step(MODEL, clock.advance(minutes=window_minutes))
                    state = result.state
                    sla_ok = None
                    if state is not None:
                        sla_ok = (
                            state.accuracy_drop <= thresholds.rollback_accuracy_drop
                            and state.latency_ratio <= thresholds.slo_latency_ratio
                            and state.error_rate <= thresholds.slo_error_rate
                        )
                    w = _Window(
                        index,
                        kind,
                        active,
                        _minutes(start),
                        _minutes(clock.now()),
                        result,
                        sla_ok,
                        _catastrophic(served_versions, preds, y, baseline),
                    )
                    windows.append(w)
                    out.print(_line(w, router.arms(MODEL), registry.roles(MODEL)))
        decisions = len(store.decisions(MODEL))
        ctl.close()
    finally:
        store.close()
        shutil.rmtree(root, ignore_errors=True)

    summary = _summarise(windows, decisions, notes)
    if json_only:
        print(json.dumps(summary.to_json()))
    else:
        out.print(_summary_table(summary))
        out.print(
            f"SLA compliance {summary.sla_compliance:.0%} of windows; "
            f"catastrophic failures {summary.catastrophic_failures} (windows where a version "
            f"whose accuracy was more than {CATASTROPHIC_DROP:.2f} below the champion's baseline "
            f"served over half the rows); {summary.decisions} decisions. "
            f"Done in {time.perf_counter() - began:.1f} s; the temporary directory is removed."
        )
    return summary


def _write_slow(
    sink: Any,
    registry: Any,
    router: Any,
    record: Any,
    X: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    names: list[str],
    index: int,
    start: datetime,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The latency incident's window: the champion's host is slow. The served versions answer
    (chosen by the gateway's sticky split) and the records are written through the sink, with
    ``SLOW_MS`` for the champion's requests and ``FAST_MS`` for the others'."""
    from safeheal.serve import FeedbackRecord, choose_arm

    arms = router.arms(MODEL)
    champion = registry.roles(MODEL).get("champion")
    versions = np.empty(len(y), dtype=np.int64)
    preds = np.empty(len(y), dtype=np.int64)
    inferences, feedback = [], []
    for r in range(REQUESTS):
        rid = f"w{index}-r{r}"
        sl = slice(r * BATCH, (r + 1) * BATCH)
        version = int(choose_arm(arms, MODEL, rid).version)
        ms = SLOW_MS if version == champion else FAST_MS
        p = registry.load(MODEL, version).predict(X[sl])
        versions[sl] = version
        preds[sl] = p
        inferences.append(
            record(rid, MODEL, version, names, X[sl], [int(v) for v in p], ms, None, start)
        )
        feedback += [
            FeedbackRecord(rid, MODEL, i, int(y[sl][i]), start + timedelta(seconds=1))
            for i in range(BATCH)
        ]
    sink.write(inferences, feedback)
    return versions, preds


def _wait_logged(sink: Any, sent: list[int], timeout_s: float = 30.0) -> None:
    """Until the gateway's log writer has put every request and label in the store."""
    deadline = time.monotonic() + timeout_s
    while (sink.count(MODEL), sink.count_feedback(MODEL)) < (sent[0], sent[1]):
        if time.monotonic() > deadline:
            from safeheal.errors import SafehealError

            raise SafehealError("the gateway's inference log did not reach the store in 30 s")
        time.sleep(0.01)


def _catastrophic(
    versions: np.ndarray[Any, Any],
    preds: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    baseline: float,
) -> bool:
    for v in np.unique(versions):
        mask = versions == v
        if mask.mean() > 0.5 and baseline - float((preds[mask] == y[mask]).mean()) > (
            CATASTROPHIC_DROP
        ):
            return True
    return False


def _line(w: _Window, arms: Any, roles: Mapping[Any, int]) -> str:
    r = w.result
    incident = w.incident if w.active else f"after {w.incident}"
    s = r.state
    sig = (
        "d=–  a=–  ρ=–"
        if s is None
        else (
            f"d={s.drift:.2f} a={s.accuracy_drop:.2f} ρ={s.anomaly_rate:.2f}"
            f" lat={s.latency_ratio:.2f}"
        )
    )
    d = r.decision
    zone = d.verdict.zone if d else r.status
    act = r.executed.name if r.executed else (d.action.name if d else "-")
    if r.restored is not None:
        act = f"RESTORE v{r.restored}"
    why = r.reasons[0] if r.reasons else ""
    if d is not None and r.executed is None and len(r.reasons) > len(d.reasons):
        why += " | " + "; ".join(r.reasons[len(d.reasons) :])  # why it was not carried out
    canary = (
        ""
        if r.canary is None
        else (f" canary {r.canary.state.phase.value} {r.canary.state.weight:g}%")
    )
    by_version = {v: k for k, v in roles.items()}
    served = ", ".join(
        f"v{a.version}{'/' + by_version[a.version] if a.version in by_version else ''} "
        f"{a.weight:g}%"
        for a in arms or ()
    )
    colour = {"healthy": "green", "critical": "red"}.get(zone, "yellow")
    reason = textwrap.shorten(why, 90, placeholder=" …")  # whole words, never half a name
    return (
        f"[bold]w{w.index:02d}[/bold] t={w.end:>4g}m {incident:<22} {sig} "
        f"[{colour}]{zone}[/{colour}] → {act}{canary} | serving {served} | {reason}"
    )


def _summarise(windows: list[_Window], decisions: int, notes: list[str]) -> LoopSummary:
    incidents = []
    for kind, _, _ in SCRIPT:
        span = [w for w in windows if w.incident == kind]
        started = span[0].start
        detected = next(
            (w for w in span if w.result.decision and w.result.decision.verdict.zone != "healthy"),
            None,
        )
        acting = next((w for w in span if w.result.executed is not None), None)
        action = None if acting is None else acting.result.executed.name
        if acting is None:
            # decided but not carried out (already in effect, or awaiting a human): say so
            decided = next(
                (
                    w.result.decision.action.name
                    for w in span
                    if w.result.decision and w.result.decision.action.name != "NO_OP"
                ),
                None,
            )
            action = None if decided is None else f"{decided} (decided, not carried out)"
        healed_at = None
        if acting is not None and acting.result.decision is not None:
            did = acting.result.decision.id
            healed_w = next(
                (
                    w
                    for w in windows
                    if w.index >= acting.index
                    and any(o.decision_id == did and o.success for o in w.result.outcomes)
                ),
                None,
            )
            healed_at = None if healed_w is None else healed_w.end
        incidents.append(
            IncidentSummary(
                kind=kind,
                started_at=started,
                detected_at=None if detected is None else detected.end,
                action=action,
                healed_at=healed_at,
                mttr_minutes=None if healed_at is None else round(healed_at - started, 3),
                healed=healed_at is not None,
            )
        )
    judged = [w.sla_ok for w in windows if w.sla_ok is not None]
    return LoopSummary(
        incidents=tuple(incidents),
        sla_compliance=round(sum(judged) / len(judged), 4) if judged else 0.0,
        catastrophic_failures=sum(w.catastrophic for w in windows),
        decisions=decisions,
        notes=tuple(notes),
    )


def _summary_table(summary: LoopSummary) -> Table:
    t = Table(title="Incidents (simulated minutes)", title_justify="left")
    for col in ("incident", "started", "detected", "action", "healed at", "MTTR", "healed"):
        t.add_column(col)

    def m(v: float | None) -> str:
        return "—" if v is None else f"{v:g}"

    for i in summary.incidents:
        t.add_row(
            i.kind,
            m(i.started_at),
            m(i.detected_at),
            i.action or "—",
            m(i.healed_at),
            m(i.mttr_minutes),
            "yes" if i.healed else "no",
        )
    return t
