"""`safeheal status`, `audit`, `explain` and `approve`: what the store holds, for a person."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from safeheal.cli._common import console, open_existing_store, read_config, when
from safeheal.config import SafehealConfig
from safeheal.core.action import Action
from safeheal.core.decision import Decision
from safeheal.errors import UnknownDecisionError, UnknownModelError
from safeheal.store import SqlStore

__all__ = ["run_approve", "run_audit", "run_explain", "run_status"]


def _mode(config: SafehealConfig, model: str) -> str:
    c = config.control
    return c.models[model].mode if model in c.models else c.default_mode


def _known_models(config: SafehealConfig, store: SqlStore) -> list[str]:
    names = set(store.models()) | set(config.serve.models) | set(config.control.models)
    return sorted(names)


def _first(reasons: tuple[str, ...] | list[str]) -> str:
    return reasons[0] if reasons else ""


# --- status -------------------------------------------------------------------------------------
def run_status(config_path: Path) -> None:
    """A table of every model: zone of its last decision, mode, canary, pending escalations, and
    the controller that holds its lease (several `safeheal run` share a fleet by leases)."""
    config = read_config(config_path)
    out = console()
    with open_existing_store(config) as store:
        names = _known_models(config, store)
        leases = {lease.model: lease for lease in store.leases(names)}
        now = datetime.now(UTC)
        table = Table(title=f"safeheal models ({store.url})")
        for col in (
            "model",
            "zone",
            "last action",
            "decided at",
            "mode",
            "canary",
            "escalations",
            "controller",
        ):
            table.add_column(col)
        for name in names:
            lease = leases.get(name)
            holder = (
                f"{lease.owner} until {when(lease.expires_at)}"
                if lease is not None and lease.live(now)
                else "none"
            )
            last = store.decisions(name, limit=1)
            d = last[-1] if last else None
            canaries = store.active_canaries(name)
            if canaries:
                c = canaries[-1]
                weight = c.state.get("weight")
                share = "" if weight is None else f", {float(weight):g}% of traffic"
                canary = f"v{c.candidate_version} {c.phase}{share}"
            else:
                canary = "none"
            pending = store.pending_escalations(name)
            escalations = (
                f"{len(pending)} pending: " + ", ".join(e.id for e in pending)
                if pending
                else "none"
            )
            table.add_row(
                name,
                d.verdict.zone if d else "no decision yet",
                d.action.name if d else "-",
                when(d.at) if d else "-",
                _mode(config, name),
                canary,
                escalations,
                holder,
            )
    if not names:
        out.print(
            "No models yet: name them in `serve.models` or `[control.models]`, and run "
            "`safeheal run`."
        )
        return
    out.print(table)


# --- audit --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Line:
    at: datetime
    kind: str
    zone: str
    action: str
    source: str
    what: str
    id: str = ""


def _timeline(store: SqlStore, model: str) -> list[_Line]:
    lines: list[_Line] = []
    for d in store.decisions(model):
        why = _first(d.reasons) or _first(d.verdict.reasons)
        lines.append(_Line(d.at, "decision", d.verdict.zone, d.action.name, d.source, why, d.id))
        o = store.get_outcome(d.id)
        if o is not None:
            cost = "" if o.cost is None else f", cost {o.cost:.2f}"
            word = "succeeded" if o.success else "failed"
            lines.append(
                _Line(o.at, "outcome", "", d.action.name, "", f"the heal {word}{cost}", d.id)
            )
    for m in store.role_moves(model):
        frm = "none" if m.from_version is None else f"v{m.from_version}"
        to = "none" if m.to_version is None else f"v{m.to_version}"
        what = f"{m.role}: {frm} → {to} by {m.actor}" + (f": {m.reason}" if m.reason else "")
        lines.append(_Line(m.at, "role move", "", "", "", what))
    for e in store.audit_events(model):
        detail = ", ".join(f"{k}={v}" for k, v in sorted(e.payload.items()))
        lines.append(_Line(e.at, e.kind, "", "", "", detail))
    for esc in store.pending_escalations(model):
        what = f"{esc.id} waiting for a human"
        lines.append(_Line(esc.created_at, "escalation", "", "", "", what))
    lines.sort(key=lambda x: x.at)
    return lines


def run_audit(config_path: Path, model: str, *, limit: int) -> None:
    """The timeline of ``model``: decisions, outcomes, role moves, audit events; newest last."""
    config = read_config(config_path)
    with open_existing_store(config) as store:
        lines = _timeline(store, model)
        known = _known_models(config, store)
        if not lines and model not in known:
            names = ", ".join(known) or "none yet"
            raise UnknownModelError(
                f"model {model!r} has nothing in the store {store.url} and is not configured; "
                f"known models: {names}"
            )
        url = store.url
    out = console()
    if not lines:
        out.print(f"{model}: nothing recorded yet in {url}.")
        return
    shown = lines[-limit:]
    title = f"{model}: the last {len(shown)} of {len(lines)} entries, newest last"
    table = Table(title=title)
    for col in ("time (UTC)", "what", "zone", "action", "source", "details", "decision id"):
        table.add_column(col, overflow="fold")
    for x in shown:
        table.add_row(when(x.at), x.kind, x.zone, x.action, x.source, x.what, x.id)
    out.print(table)


# --- explain ------------------------------------------------------------------------------------
def _signals(d: Decision, config: SafehealConfig) -> Table:
    t = config.envelope.thresholds
    s = d.state
    rows: list[tuple[str, float | None, str]] = [
        (
            "drift d",
            s.drift,
            f"critical above {t.fallback_drift:g}; drifting above {t.retrain_drift:g} "
            f"(up to {t.retrain_drift_max:g})",
        ),
        (
            "accuracy drop a",
            s.accuracy_drop,
            f"critical above {t.fallback_accuracy_drop:g}; degraded above "
            f"{t.rollback_accuracy_drop:g}",
        ),
        ("anomaly rate ρ", s.anomaly_rate, f"critical above {t.fallback_anomaly_rate:g}"),
        ("latency ratio", s.latency_ratio, f"SLO breach above {t.slo_latency_ratio:g}"),
        ("error rate", s.error_rate, f"SLO breach above {t.slo_error_rate:g}"),
    ]
    table = Table(title="Signals against the envelope's thresholds")
    for col in ("signal", "value", "thresholds"):
        table.add_column(col)
    for name, value, limits in rows:
        table.add_row(name, "not measured" if value is None else f"{value:.4g}", limits)
    return table


def _names(actions: frozenset[Action] | set[Action]) -> str:
    return ", ".join(sorted(a.name for a in actions)) or "none"


def run_explain(config_path: Path, decision_id: str) -> None:
    """One decision in plain words: signals, verdict, SLA guard, safe set, draws and costs."""
    config = read_config(config_path)
    with open_existing_store(config) as store:
        try:
            d = store.get_decision(decision_id)
        except UnknownDecisionError:
            raise UnknownDecisionError(
                f"no decision with id {decision_id!r} in the store {store.url}; "
                f"`safeheal audit MODEL` lists each decision with its id"
            ) from None
        outcome = store.get_outcome(decision_id)
    out = console()
    v = d.verdict
    out.print(f"Decision {d.id}, made {when(d.at)} UTC in {d.mode} mode (context {d.context}).")
    out.print(f"Chosen action: {d.action.name}, by the {d.source}.")
    out.print()
    if config.envelope.rules is not None:
        out.print("The envelope is a custom rule table ([[envelope.rules]]); thresholds below are")
        out.print("the paper's defaults for reference.")
    out.print(_signals(d, config))
    out.print()
    out.print(f"Verdict: zone {v.zone}.")
    if v.mandatory is not None:
        out.print(f"  Mandatory action: {v.mandatory.name} (the envelope decides; no choice).")
    else:
        out.print("  No mandatory action: the policy may choose among the permitted ones.")
    out.print(f"  Permitted: {_names(v.permitted)}.")
    if v.default is not None:
        out.print(f"  The zone's default action: {v.default.name}.")
    for r in v.reasons:
        out.print(f"  Because {r}")
    out.print()
    threshold = config.sla.threshold
    removed = set(v.permitted) - set(d.safe_set)
    out.print(f"SLA guard (threshold {threshold:g}):")
    for a, score in sorted(d.scores.items(), key=lambda kv: kv[0].name):
        verdict = "kept" if score >= threshold else "below the threshold"
        out.print(f"  {a.name}: predicted SLA score {score:.4f} ({verdict})")
    out.print(f"  Removed by the guard: {_names(removed)}.")
    out.print(f"Safe set: {_names(d.safe_set)}.")
    out.print()
    lam = config.bandit.lam
    if d.draws:
        table = Table(title=f"Bandit: value λ·θ − C(a) per action (λ = {lam:g})")
        for col in ("action", "θ (posterior draw)", "cost C(a)", "λ·θ − C(a)"):
            table.add_column(col)
        for a, theta in sorted(
            d.draws.items(), key=lambda kv: -(lam * kv[1] - d.costs.get(kv[0], 0))
        ):
            c = d.costs.get(a)
            value = "-" if c is None else f"{lam * theta - c:.4f}"
            table.add_row(a.name, f"{theta:.4f}", "-" if c is None else f"{c:.4f}", value)
        out.print(table)
        out.print("(λ is read from the current configuration.)")
    else:
        costs = ", ".join(
            f"{a.name} {c:.3f}" for a, c in sorted(d.costs.items(), key=lambda kv: kv[0].name)
        )
        out.print(
            f"No posterior draws: the {d.source} chose without sampling. "
            f"Costs C(a): {costs or 'none'}."
        )
    out.print(f"Propensity: {d.propensity:.4f} (the chance of this action in this state).")
    if d.impact is not None:
        out.print(
            f"Impact estimate: {d.impact:,.2f} (revenue loss averted minus the action's cost)."
        )
    else:
        out.print("Impact estimate: not computed.")
    for r in d.reasons:
        out.print(f"Reason: {r}")
    if outcome is None:
        out.print("Outcome: not known yet.")
    else:
        word = "succeeded" if outcome.success else "failed"
        cost = "" if outcome.cost is None else f", measured cost {outcome.cost:.3f}"
        out.print(f"Outcome: the heal {word}{cost} ({when(outcome.at)} UTC).")


# --- approve ------------------------------------------------------------------------------------
def run_approve(
    config_path: Path, escalation_id: str, *, reject: bool, note: str, actor: str | None
) -> None:
    """Answer an escalation."""
    from safeheal.heal import approve

    config = read_config(config_path)
    who = actor or _user()
    with open_existing_store(config) as store:
        e = approve(
            store,
            escalation_id,
            actor=who,
            decision="reject" if reject else "approve",
            note=note,
            now=datetime.now(UTC),
        )
    console().print(
        f"Escalation {e.id} of model {e.model} is {e.status} by {e.actor} at {when(e.answered_at)}"
        f" UTC" + (f": {e.note}" if e.note else "") + "."
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
