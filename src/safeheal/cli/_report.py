"""The demo's HTML report: one self-contained file (PNG plots embedded as base64, no external URL).

Plots over simulated time: the signals d, a, ρ against the envelope's thresholds; the SLA (accuracy
drop, latency ratio, error rate against their limits, with the windows that broke it); the traffic
split (each version's share of the rows it answered). Then the incidents' table and every window's
decision with its reasons.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeheal.errors import ConfigError, DataError

if TYPE_CHECKING:
    from safeheal.cli.loop_demo import LoopSummary, WindowRecord

__all__ = ["prepare_report_dir", "write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.85em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;white-space:nowrap}
.critical{color:#b00020;font-weight:600}.healthy{color:#1b7f1b}.other{color:#a06000;font-weight:600}
.yes{color:#1b7f1b;font-weight:600}.no{color:#b00020;font-weight:600}
ul.why{margin:0;padding-left:1.1em}img{max-width:100%;border:1px solid #ddd}
.meta{color:#555;font-size:.9em}
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _shade(ax: Any, windows: Sequence[WindowRecord], *, fill: bool = True) -> None:
    """Shade each incident's active windows (or mark their edges) and name it once, at the top."""
    spans: list[tuple[str, float, float]] = []
    for w in windows:
        if not w.active or w.incident == "healthy":
            continue
        if spans and spans[-1][0] == w.incident and spans[-1][2] == w.start:
            spans[-1] = (w.incident, spans[-1][1], w.end)
        else:
            spans.append((w.incident, w.start, w.end))
    for name, a, b in spans:
        if fill:
            ax.axvspan(a, b, color="#999999", alpha=0.15, lw=0, zorder=0)
        else:
            for x in (a, b):
                ax.axvline(x, color="#333333", ls="--", lw=0.8, zorder=3)
        ax.text(
            (a + b) / 2,
            1.0,
            name,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
            color="#444",
        )


def plots(windows: Sequence[WindowRecord], thresholds: Any) -> list[tuple[str, str]]:
    """(title, base64 PNG) of the three figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    judged = [w for w in windows if w.result.state is not None]
    edges = [w.start for w in windows] + [windows[-1].end]
    out: list[tuple[str, str]] = []

    def series(name: str, scale: float = 1.0) -> list[float]:
        """Per window, the State's ``name`` / ``scale`` (NaN where no State was computed)."""
        return [
            float("nan") if w.result.state is None else float(getattr(w.result.state, name)) / scale
            for w in windows
        ]

    def legend_below(ax: Any, ncol: int) -> None:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncol=ncol)

    fig, ax = plt.subplots(figsize=(11, 3.6))
    for name, label, colour, limit in (
        ("drift", "d (drift)", "tab:blue", thresholds.fallback_drift),
        ("accuracy_drop", "a (accuracy drop)", "tab:red", thresholds.fallback_accuracy_drop),
        ("anomaly_rate", "ρ (anomalous inputs)", "tab:purple", thresholds.fallback_anomaly_rate),
    ):
        ax.stairs(series(name), edges, label=label, color=colour, lw=1.8)
        ax.axhline(limit, color=colour, ls=":", lw=1)
    ax.plot([], [], color="gray", ls=":", label="critical thresholds (dotted)")
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("signal")
    ax.set_ylim(bottom=0)
    ax.set_xlim(edges[0], edges[-1])
    legend_below(ax, 4)
    _shade(ax, windows)
    ax.grid(alpha=0.3)
    out.append(("Signals d, a, ρ per window (state of the version serving)", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 3.6))
    for w in judged:
        if w.sla_ok is False:
            ax.axvspan(w.start, w.end, color="tab:red", alpha=0.12, lw=0, zorder=0)
    ax.stairs(
        series("accuracy_drop", thresholds.rollback_accuracy_drop),
        edges,
        label=f"accuracy drop / its {thresholds.rollback_accuracy_drop:g} limit",
        color="tab:red",
        lw=1.8,
    )
    ax.stairs(
        series("latency_ratio", thresholds.slo_latency_ratio),
        edges,
        label="p95 latency / SLO",
        color="tab:orange",
        lw=1.8,
    )
    ax.stairs(
        series("error_rate", thresholds.slo_error_rate),
        edges,
        label=f"error rate / its {thresholds.slo_error_rate:g} limit",
        color="tab:gray",
        lw=1.2,
    )
    ax.axhline(1.0, color="black", ls="--", lw=1)
    ax.fill_between([], [], color="tab:red", alpha=0.12, label="window that broke the SLA")
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("share of the limit (1 = limit)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(edges[0], edges[-1])
    legend_below(ax, 4)
    _shade(ax, windows)
    ax.grid(alpha=0.3)
    ok = sum(1 for w in judged if w.sla_ok)
    out.append(
        (
            f"SLA: accuracy, latency and errors against their limits (met in {ok} of "
            f"{len(judged)} windows)",
            _png(fig),
        )
    )
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 3.2))
    versions = sorted({v for w in windows for v in w.served})
    starts = edges
    bottom = [0.0] * len(windows)
    cmap = plt.get_cmap("tab10")
    for i, v in enumerate(versions):
        share = [100.0 * w.served.get(v, 0.0) for w in windows]
        roles = sorted({r for w in windows for r, ver in w.roles.items() if ver == v})
        label = f"v{v}" + (f" ({', '.join(roles)})" if roles else "")
        ax.stairs(
            [b + s for b, s in zip(bottom, share, strict=True)],
            starts,
            baseline=bottom,
            fill=True,
            color=cmap(i % 10),
            label=label,
        )
        bottom = [b + s for b, s in zip(bottom, share, strict=True)]
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("% of rows answered")
    ax.set_ylim(0, 100)
    ax.set_xlim(edges[0], edges[-1])
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        fontsize=8,
        ncol=len(versions),
        title="version (roles it held during the demo)",
        title_fontsize=8,
    )
    _shade(ax, windows, fill=False)
    out.append(("Traffic split: share of each window's rows per version", _png(fig)))
    plt.close(fig)
    return out


def _zone_class(zone: str) -> str:
    return zone if zone in ("critical", "healthy") else "other"


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


def render(
    windows: Sequence[WindowRecord],
    summary: LoopSummary,
    *,
    thresholds: Any,
    seed: int,
    wall_seconds: float,
    description: str,
) -> str:
    """The report's HTML text."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>safeheal demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>safeheal demo: the closed loop, incident by incident</h1>",
        f"<p class='meta'>{e(description)}. Seed {seed}; {len(windows)} windows of simulated "
        f"time; ran in {wall_seconds:.1f} s wall time; written "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>",
        "<h2>Incidents</h2><table><tr><th>incident</th><th>started</th><th>detected</th>"
        "<th>action</th><th>healed at</th><th>MTTR (min)</th><th>healed</th>"
        "<th>SLA met</th><th>champion back at</th></tr>",
    ]
    for i in summary.incidents:
        sla = "—" if i.sla_compliance is None else f"{i.sla_compliance:.0%}"
        parts.append(
            f"<tr><td>{e(i.kind)}</td><td class='num'>{_num(i.started_at)}</td>"
            f"<td class='num'>{_num(i.detected_at)}</td><td>{e(i.action or '—')}</td>"
            f"<td class='num'>{_num(i.healed_at)}</td><td class='num'>{_num(i.mttr_minutes)}</td>"
            f"<td class='{'yes' if i.healed else 'no'}'>{'yes' if i.healed else 'no'}</td>"
            f"<td class='num'>{sla}</td><td class='num'>{_num(i.restored_at)}</td></tr>"
        )
    parts.append(
        f"</table><p>SLA compliance <b>{summary.sla_compliance:.1%}</b> of windows; catastrophic "
        f"failures <b>{summary.catastrophic_failures}</b>; decisions <b>{summary.decisions}</b>. "
        "Times are simulated minutes since the start; an incident's SLA share counts its own "
        "windows and the healthy ones after it. Healed: the action's outcome was recorded as a "
        "success (its canary passed or it was done, and the SLA recovered in the next "
        "window).</p>"
    )
    for title, png in plots(windows, thresholds):
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{png}'>")
    parts.append(
        "<h2>Decisions, window by window</h2><table><tr><th>window</th><th>t (min)</th>"
        "<th>traffic</th><th>d / a / ρ / lat</th><th>zone</th><th>decided</th><th>done</th>"
        "<th>reasons</th></tr>"
    )
    for w in windows:
        r = w.result
        s = r.state
        sig = (
            "—"
            if s is None
            else f"{s.drift:.2f} / {s.accuracy_drop:.2f} / {s.anomaly_rate:.2f} / "
            f"{s.latency_ratio:.2f}"
        )
        d = r.decision
        zone = d.verdict.zone if d is not None else r.status
        decided = d.action.name if d is not None else "—"
        if r.restored is not None:
            done = f"RESTORE v{r.restored}"
        elif r.executed is not None:
            done = r.executed.name
        else:
            done = "—"
        if r.canary is not None:
            done += f" (canary {r.canary.state.phase.value} {r.canary.state.weight:g}%)"
        traffic = w.incident if w.active else f"after {w.incident}"
        reasons = list(r.reasons)
        if d is not None and len(d.reasons) > 1:
            # an executor repeats the decision's reasons in one line: show them once
            n, joined = len(d.reasons), "; ".join(d.reasons)
            reasons = reasons[:n] + [x for x in reasons[n:] if x != joined]
        why = "".join(f"<li>{e(x)}</li>" for x in reasons)
        parts.append(
            f"<tr><td class='num'>w{w.index:02d}</td><td class='num'>{w.end:g}</td>"
            f"<td>{e(traffic)}</td><td class='num'>{sig}</td>"
            f"<td class='{_zone_class(zone)}'>{e(zone)}</td><td>{e(decided)}</td>"
            f"<td>{e(done)}</td><td><ul class='why'>{why}</ul></td></tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)


def prepare_report_dir(out_dir: Path | str) -> Path:
    """Create ``out_dir`` if needed and check it can be written, before a run that takes a while;
    a :class:`~safeheal.errors.ConfigError` naming the directory otherwise."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".safeheal-write-check"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot write the demo report to {path}: {exc.strerror or exc}; pass --out DIR "
            f"with a directory you can write to"
        ) from None
    return path


def write_report(
    path: Path,
    windows: Sequence[WindowRecord],
    summary: LoopSummary,
    *,
    thresholds: Any,
    seed: int,
    wall_seconds: float,
    description: str,
) -> Path:
    """Write the report to ``path`` (creating its directory); returns its absolute path."""
    if not windows:
        raise DataError("the demo report needs at least one window; got none")
    text = render(
        windows,
        summary,
        thresholds=thresholds,
        seed=seed,
        wall_seconds=wall_seconds,
        description=description,
    )
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the demo report to {path}: {exc.strerror or exc}; pass --out DIR "
            f"with a directory you can write to"
        ) from None
    return path.resolve()
