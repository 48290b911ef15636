"""`safeheal demo`: the closed loop on Fair's survey data, on a simulated clock.

Everything runs in a temporary directory on loopback: an MLflow registry and a SQLite store, a
champion (gradient boosting) and a fallback (a small decision tree) registered with their roles and
monitoring profiles, the real gateway over HTTP (:class:`~safeheal.serve.ServerThread` on
127.0.0.1), and a :class:`~safeheal.control.Controller` in ``autonomous`` mode on a
:class:`~safeheal.control.ManualClock` that moves one window per step.

Incidents come in turn, each followed by healthy windows:

- **covariate shift**: rows sampled with a bias towards long marriages;
- **concept drift**: from now on the answer flips for respondents under 25. It is a change of the
  world, so it stays: the champion and the fallback both fail on it, and the loop heals it as the
  paper's case study does (6.3.1): fallback first, then, the fallback failing too, a retrain on the
  recent labelled rows deployed by canary (the fallback is refitted on the same rows);
- **latency**: the champion's host turns slow for a few windows. The slowness is real: the
  gateway's model source for the champion's version sleeps before predicting while the host is
  slow, so the gateway measures and logs it. The controller's latency probe goes through the same
  model source (where the version serves), so the champion gets its traffic back only once the
  host is fast again;
- **anomalous inputs**: a burst of rows with every feature far outside the reference.

Nothing in the summary is scripted: detection, action and healing are read from what the
controller decided and recorded. A self-contained HTML report (plots over simulated time and the
decisions with their reasons) is written to ``--out`` (default ``./safeheal-demo``).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["IncidentSummary", "LoopSummary", "WindowRecord", "run_loop_demo"]

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
MODEL = "fair"
#: Requests per window and rows per request.
REQUESTS = 16
BATCH = 50
#: The service's latency SLO (p95 per request) and the seconds the champion's slow host takes per
#: request. The SLO leaves room for a loaded laptop: a p95 over 16 requests is their slowest but
#: one, and one request held up by the machine must not read as an incident.
LATENCY_SLO_MS = 250.0
SLOW_SECONDS = 0.6
#: A window is a catastrophic failure when a version whose accuracy is this far below the
#: champion's baseline serves more than half of the window's rows.
CATASTROPHIC_DROP = 0.30
#: (kind, incident windows, healthy windows after it). The latency incident's host stays slow
#: for all its windows, after the traffic has left it; concept drift never goes away.
SCRIPT: tuple[tuple[str, int, int], ...] = (
    ("healthy", 3, 0),
    ("covariate shift", 3, 3),
    ("concept drift", 6, 0),
    ("latency", 4, 3),
    ("anomalous inputs", 3, 3),
)
INCIDENTS = tuple(kind for kind, _, _ in SCRIPT if kind != "healthy")


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
    #: Share of the incident's windows (its own and the healthy ones after it) within the SLA.
    sla_compliance: float | None = None
    #: When all traffic went back to the champion after a fallback, if it did in this span.
    restored_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The issue's fields (the table's extra columns are not part of the JSON)."""
        return {k: v for k, v in asdict(self).items() if k not in ("sla_compliance", "restored_at")}


@dataclass(frozen=True, slots=True)
class LoopSummary:
    incidents: tuple[IncidentSummary, ...]
    sla_compliance: float
    catastrophic_failures: int
    decisions: int
    notes: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": [i.to_json() for i in self.incidents],
            "sla_compliance": self.sla_compliance,
            "catastrophic_failures": self.catastrophic_failures,
            "decisions": self.decisions,
        }


@dataclass(slots=True)
class WindowRecord:
    """One window of the demo: what was sent, what the controller saw, decided and did."""

    index: int
    incident: str  # the incident this window belongs to (its own windows and the healthy tail)
    active: bool  # whether the incident is going on in this window
    start: float
    end: float
    result: Any  # WindowResult
    sla_ok: bool | None
    catastrophic: bool
    #: Share of the window's rows each version answered.
    served: dict[int, float]
    #: Roles after the window (role → version).
    roles: dict[str, int]


class _Hosts:
    """The gateway's model source, with each version on a host that can be made slow.

    A :class:`~safeheal.serve.ModelSource` around another: ``slow[version]`` seconds are spent
    before every prediction of that version (a host that turned slow), so the gateway measures
    and logs the slowness, and so does a latency probe that goes through the same source.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.slow: dict[int, float] = {}
        self._lock = threading.Lock()

    def delay(self, version: int) -> float:
        with self._lock:
            return self.slow.get(version, 0.0)

    def set_slow(self, version: int | None, seconds: float) -> None:
        with self._lock:
            self.slow = {} if version is None else {version: seconds}

    def load(self, name: str, version: int) -> Any:
        return _Hosted(self, version, self.inner.load(name, version))

    def feature_names(self, name: str, version: int) -> Any:
        return self.inner.feature_names(name, version)


class _Hosted:
    def __init__(self, hosts: _Hosts, version: int, predictor: Any) -> None:
        self.hosts, self.version, self.predictor = hosts, version, predictor

    def predict(self, X: Any) -> Any:
        seconds = self.hosts.delay(self.version)
        if seconds:
            time.sleep(seconds)
        return self.predictor.predict(X)


def _minutes(t: datetime) -> float:
    return round((t - T0).total_seconds() / 60.0, 3)


def _rows(
    kind: str,
    concept: bool,
    X: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    names: list[str],
    ref_std: np.ndarray[Any, Any],
    rng: np.random.Generator,
    n: int,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``n`` rows and their labels for one window of ``kind`` traffic, drawn from unseen rows;
    ``concept``: the changed concept holds (the answer flips for respondents under 25)."""
    p = None
    if kind == "covariate shift":
        years = X[:, names.index("yrs_married")]
        w = np.exp(0.12 * (years - years.mean()))
        p = w / w.sum()
    idx = rng.choice(len(y), size=n, replace=False, p=p)
    rows, labels = X[idx].copy(), y[idx].copy()
    if concept:
        young = rows[:, names.index("age")] < 25
        labels[young] = 1 - labels[young]
    if kind == "anomalous inputs":
        burst = rng.random(n) < 0.3
        rows[burst] += 12.0 * ref_std  # every feature far outside the reference
    return rows, labels


def run_loop_demo(
    *,
    seed: int = 7,
    console: Console | None = None,
    json_only: bool = False,
    out_dir: Path | str = Path("safeheal-demo"),
    keep_serving: bool = False,
) -> LoopSummary:
    """Run the closed-loop demo; prints live lines and a summary table (or only the JSON), and
    writes the HTML report to ``out_dir/report.html``. The gateway serves the dashboard at
    ``/ui`` while the demo runs; ``keep_serving`` keeps it up after the last window, until
    Ctrl-C, so a person can look around."""
    import httpx
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    from safeheal.cli._report import prepare_report_dir, write_report
    from safeheal.config import parse_config
    from safeheal.control import Controller, ManualClock, TimedProbe, register_profile
    from safeheal.datasets import load_fair
    from safeheal.heal import InMemoryRouter, MlflowRegistry, approve
    from safeheal.serve import Dashboard, RegistryModelSource, ServerThread, create_app
    from safeheal.store import SqlInferenceSink, open_store

    out = console or Console()
    if json_only:
        out = Console(quiet=True)
    report_dir = prepare_report_dir(out_dir)
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
            # the mode lives in the configuration, so the dashboard shows the controller's
            "control": {"escalate_novel": False, "models": {MODEL: {"mode": "autonomous"}}},
        }
    )
    window_minutes = config.control.window_minutes
    thresholds = config.envelope.thresholds

    root = Path(tempfile.mkdtemp(prefix="safeheal-demo-"))
    store = open_store(root / "safeheal.db")
    windows: list[WindowRecord] = []
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
                latency_slo_ms=LATENCY_SLO_MS,
            )
        router = InMemoryRouter()
        router.set_arms(MODEL, [(v1, 100.0)])
        hosts = _Hosts(RegistryModelSource(registry, feature_names={MODEL: names}))
        ctl = Controller.from_config(
            config,
            store=store,
            registry=registry,
            router=router,
            clock=clock,
            seed=seed,
            probe=TimedProbe(hosts.load, repeats=3),
        )
        dashboard = Dashboard(
            store=store, traffic=router, registry=registry, config=config, clock=clock
        )
        app = create_app(models=hosts, traffic=router, sink=sink, clock=clock, dashboard=dashboard)
        out.print(
            f"[bold]safeheal demo[/bold]: the closed loop on {escape(data.description)}.\n"
            f"Champion v{v1} (gradient boosting, baseline accuracy {baseline:.3f}) and fallback "
            f"v{v2} (decision tree) registered in MLflow under {root}; the gateway serves them "
            f"over HTTP on 127.0.0.1 and the controller (autonomous) runs on a simulated clock, "
            f"one {window_minutes:g}-minute window per step, {REQUESTS * BATCH} rows per window "
            f"in {REQUESTS} requests; latency SLO: p95 under {LATENCY_SLO_MS:g} ms.\n"
            f"Incidents in turn: {', '.join(INCIDENTS)}. Each line: the window, its signals "
            f"(d drift, a accuracy drop, ρ anomalous inputs, lat p95/SLO), the zone → what was "
            f"done, who serves; below it, why.\n"
        )
        rng = np.random.default_rng(seed)
        sent = [0, 0]  # requests, labels logged through the gateway
        concept = False
        with (
            ServerThread(app, host="127.0.0.1") as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            out.print(f"Dashboard, live while the demo runs: [link]{server.url}/ui[/link]\n")
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
                if kind == "concept drift":
                    concept = True
                    out.print(
                        "[magenta]from now on[/magenta]: the answer flips for respondents under "
                        "25 (a change of concept; it stays)"
                    )
                for k in range(active_n + tail_n):
                    index += 1
                    active = k < active_n
                    traffic = kind if active else "healthy"
                    if kind == "latency":
                        slow_version = registry.roles(MODEL).get("champion") if active else None
                        if k == 0:
                            out.print(
                                f"[magenta]host[/magenta]: the champion v{slow_version}'s host "
                                f"turns slow ({SLOW_SECONDS * 1000:g} ms per request) for "
                                f"{active_n} windows"
                            )
                        elif k == active_n:
                            out.print("[magenta]host[/magenta]: the champion's host is fast again")
                        hosts.set_slow(slow_version, SLOW_SECONDS)
                    start = clock.now()
                    X, y = _rows(
                        traffic, concept, X_live, y_live, names, ref_std, rng, REQUESTS * BATCH
                    )
                    served_versions = np.empty(len(y), dtype=np.int64)
                    preds = np.empty(len(y), dtype=np.int64)
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
                    values, counts = np.unique(served_versions, return_counts=True)
                    w = WindowRecord(
                        index,
                        kind,
                        active,
                        _minutes(start),
                        _minutes(clock.now()),
                        result,
                        sla_ok,
                        _catastrophic(served_versions, preds, y, baseline),
                        {int(v): float(c) / len(y) for v, c in zip(values, counts, strict=True)},
                        {str(k): int(v) for k, v in registry.roles(MODEL).items()},
                    )
                    windows.append(w)
                    out.print(_line(w, router.arms(MODEL)))
                    indent = " " * 6
                    for why in _details(w, width=3 * (max(out.width, 60) - len(indent))):
                        text = textwrap.fill(
                            why,
                            max(out.width, 60),
                            initial_indent=indent,
                            subsequent_indent=indent + "  ",
                        )
                        out.print(f"[dim]{escape(text)}[/dim]", soft_wrap=True)
            hosts.set_slow(None, 0.0)
            # The summary and the report come before any --keep-serving wait, so that they
            # can be read beside the dashboard.
            summary = _summarise(windows, len(store.decisions(MODEL)), notes)
            wall = time.perf_counter() - began
            report = write_report(
                report_dir / "report.html",
                windows,
                summary,
                thresholds=thresholds,
                seed=seed,
                wall_seconds=wall,
                description=data.description,
            )
            if json_only:
                print(json.dumps(summary.to_json()))
                print(f"report: {report}", file=sys.stderr)
            else:
                out.print(_summary_table(summary))
                out.print(
                    f"SLA compliance {summary.sla_compliance:.0%} of windows; "
                    f"catastrophic failures {summary.catastrophic_failures} (windows where a "
                    f"version whose accuracy was more than {CATASTROPHIC_DROP:.2f} below the "
                    f"champion's baseline served over half the rows); {summary.decisions} "
                    f"decisions. Done in {wall:.1f} s; the temporary directory is removed "
                    f"on exit.\n"
                    f"Report (plots and every decision with its reasons): [bold]{report}[/bold]"
                )
            if keep_serving:
                out.print(
                    f"\nThe demo is over; the gateway and its dashboard stay up at "
                    f"[link]{server.url}/ui[/link] until you press Ctrl-C."
                )
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    out.print("stopping the gateway")
        ctl.close()
    finally:
        store.close()
        shutil.rmtree(root, ignore_errors=True)
    return summary


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


def _did(r: Any) -> str:
    """What the window did: the action carried out, a restore, or the decision not acted on."""
    if r.restored is not None:
        return f"[bold]RESTORE v{r.restored}[/bold]"
    if r.executed is not None:
        return f"[bold]{r.executed.name}[/bold]"
    if r.decision is None:
        return "-"
    if r.decision.action.name == "NO_OP":
        return "NO_OP"
    return f"{r.decision.action.name} [dim](not carried out)[/dim]"


def _line(w: WindowRecord, arms: Any) -> str:
    r = w.result
    incident = w.incident if w.active else f"after {w.incident}"
    s = r.state
    sig = (
        "d=–    a=–    ρ=–    lat=–   "
        if s is None
        else (
            f"d={s.drift:.2f} a={s.accuracy_drop:.2f} ρ={s.anomaly_rate:.2f} "
            f"lat={s.latency_ratio:.2f}"
        )
    )
    d = r.decision
    zone = d.verdict.zone if d else r.status
    canary = (
        ""
        if r.canary is None
        else f" (canary {r.canary.state.phase.value} {r.canary.state.weight:g}%)"
    )
    by_version = {v: k for k, v in w.roles.items()}
    served = ", ".join(
        f"v{a.version}{'/' + by_version[a.version] if a.version in by_version else ''} "
        f"{a.weight:g}%"
        for a in arms or ()
    )
    colour = {"healthy": "green", "critical": "red"}.get(zone, "yellow")
    return (
        f"[bold]w{w.index:02d}[/bold] t={w.end:>3g}m {incident:<23} {sig} "
        f"[{colour}]{zone:<16}[/{colour}] → {_did(r)}{canary} | serving {served}"
    )


def _details(w: WindowRecord, width: int = 200) -> list[str]:
    """The reasons worth reading under a window's line: why the zone, what was done and why,
    the canary's step, the restore's evidence. Each shortened to ``width`` at whole words."""
    r = w.result
    d = r.decision
    if d is None:
        return (
            [textwrap.shorten("; ".join(r.reasons), width, placeholder=" …")] if r.reasons else []
        )
    reasons = list(r.reasons)
    zone_why = reasons[0] if reasons else ""
    rest = reasons[len(d.reasons) :]
    out: list[str] = []
    if d.verdict.zone != "healthy" or r.executed is not None:
        out.append(zone_why)
        choice = d.reasons[-1] if len(d.reasons) > 1 else ""
        if choice:
            out.append(choice)
    interesting = (
        "canary ",
        "trained version",
        "the fallback suffered",
        "worked:",
        "failed:",
        "not routed back",
        "routed back to the champion",
        "waiting for",
        "already in effect",
        "escalat",
        "the fallback (version",
        "is the challenger",
    )
    for why in rest:
        if "evaluated in shadow" in why:  # the restore's evidence: one clause per line
            parts = [p for p in why.split("; ") if p]
            out.extend(p for p in parts if p not in out)
        elif any(key in why for key in interesting) and why not in out:
            out.append(why)
    return [textwrap.shorten(x, width, placeholder=" …") for x in out if x]


def _actions(span: list[WindowRecord]) -> list[tuple[WindowRecord, str]]:
    """The actions carried out in ``span`` (not restores), with the window that did each."""
    return [(w, w.result.executed.name) for w in span if w.result.executed is not None]


def _summarise(windows: list[WindowRecord], decisions: int, notes: list[str]) -> LoopSummary:
    incidents = []
    for kind in INCIDENTS:
        span = [w for w in windows if w.incident == kind]
        started = span[0].start
        detected = next(
            (w for w in span if w.result.decision and w.result.decision.verdict.zone != "healthy"),
            None,
        )
        acted = _actions(span)
        names: list[str] = []
        for _, name in acted:
            if not names or names[-1] != name:
                names.append(name)
        action = " → ".join(names) if names else None
        if not acted:
            decided = next(
                (
                    w.result.decision.action.name
                    for w in span
                    if w.result.decision and w.result.decision.action.name != "NO_OP"
                ),
                None,
            )
            action = None if decided is None else f"{decided} (decided, not carried out)"
        # healed: the first window that records a successful outcome (canary passed or action
        # done, and the SLA recovered) of an action carried out in this incident
        ids = {w.result.decision.id for w, _ in acted if w.result.decision is not None}
        first = acted[0][0].index if acted else None
        healed_w = None
        if first is not None:
            healed_w = next(
                (
                    w
                    for w in windows
                    if w.index >= first
                    and any(o.decision_id in ids and o.success for o in w.result.outcomes)
                ),
                None,
            )
        healed_at = None if healed_w is None else healed_w.end
        span_judged = [w.sla_ok for w in span if w.sla_ok is not None]
        restored = next((w for w in span if w.result.restored is not None), None)
        incidents.append(
            IncidentSummary(
                kind=kind,
                started_at=started,
                detected_at=None if detected is None else detected.end,
                action=action,
                healed_at=healed_at,
                mttr_minutes=None if healed_at is None else round(healed_at - started, 3),
                healed=healed_at is not None,
                sla_compliance=(
                    round(sum(span_judged) / len(span_judged), 4) if span_judged else None
                ),
                restored_at=None if restored is None else restored.end,
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
    """The incidents, narrow enough for an 80-column terminal (no vertical rules; long cells
    wrap at spaces rather than being cut)."""
    from rich import box

    t = Table(
        title="Incidents (simulated minutes; healed: the minute service was healed, or no; SLA "
        "met: share of the incident's windows, the healthy ones after it included)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in (
        "incident",
        "started",
        "detected",
        "action",
        "healed",
        "MTTR",
        "SLA met",
        "champion back",
    ):
        t.add_column(col, overflow="fold")

    def m(v: float | None) -> str:
        return "—" if v is None else f"{v:g}"

    for i in summary.incidents:
        t.add_row(
            i.kind,
            m(i.started_at),
            m(i.detected_at),
            i.action or "—",
            f"[green]{m(i.healed_at)}[/green]" if i.healed else "[red]no[/red]",
            m(i.mttr_minutes),
            "—" if i.sla_compliance is None else f"{i.sla_compliance:.0%}",
            m(i.restored_at),
        )
    return t
