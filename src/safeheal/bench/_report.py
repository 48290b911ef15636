"""The benchmark report: ``report.md``, ``results.json`` and PNG plots from episode records.

:func:`write_report` is a pure function of the records it is given (plus the run's metadata): it
runs nothing. Every measured figure comes from the records; the paper's figures
(:mod:`safeheal.bench._paper`) stand beside them as citations, and a plain sentence says wherever
the two disagree.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from safeheal.bench import _metrics as M
from safeheal.bench import _paper as P
from safeheal.bench import _stats as S
from safeheal.bench._records import FAMILIES, SYSTEMS, EpisodeResult
from safeheal.errors import DataError

__all__ = ["PLOTS", "write_report"]

#: The PNG files the report writes and references.
PLOTS: tuple[str, ...] = ("learning_curves.png", "mttr.png", "cost.png", "actions.png")

#: Seed of every bootstrap in the report (the resamples, not the runs).
BOOTSTRAP_SEED = 0

#: Names of the systems as tables print them.
LABELS: dict[str, str] = {
    "hybrid": "Hybrid",
    "paper": "Literal rule (paper mode)",
    "rl-only": "RL-only",
    "rules-only": "Rules-only",
    "human": "Human",
}

#: Actions in the order tables list them.
ACTION_ORDER: tuple[str, ...] = ("fallback", "rollback", "retrain", "no_op", "escalate")

Records = Sequence[EpisodeResult]


# -- formatting ----------------------------------------------------------------------------


def _label(system: str) -> str:
    return LABELS.get(system, system)


def _num(x: float | None, unit: str) -> str:
    """One number in the report's format for its unit; None is "—", ∞ is "∞", minus is "−"."""
    return _plain(x, unit).replace("-", "−")


def _plain(x: float | None, unit: str) -> str:
    if x is None or math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if unit == "share":
        return f"{100.0 * x:.1f}%"
    if unit in ("minutes", "episodes", "score"):
        return f"{x:.1f}"
    if unit == "regret":
        return f"{x:.3f}"
    return f"{x:.2f}"


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _p_eq(p: float | None) -> str:
    """``p=0.0123`` or ``p<0.0001``."""
    text = _p(p)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def _stat(x: float | None) -> str:
    return _num(x, "stat")


def _est(e: S.Estimate | None, unit: str) -> str:
    """``value ± SE``."""
    if e is None:
        return "—"
    if e.se is None:
        return _num(e.value, unit)
    return f"{_num(e.value, unit)} ± {_num(e.se, unit)}"


def _ci(low: float | None, high: float | None, unit: str) -> str:
    if low is None or high is None:
        return "—"
    return f"[{_num(low, unit)}, {_num(high, unit)}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _doc(fn: Callable[..., Any]) -> str:
    """A function's docstring as one paragraph (doctest examples dropped)."""
    text = inspect.getdoc(fn) or ""
    text = text.split(">>>")[0]
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    text = re.sub(r"\n\s*- ", " • ", text)
    return re.sub(r"\s+", " ", text).strip()


# -- comparing with the paper --------------------------------------------------------------

#: Without a measured interval, a measurement agrees with the paper when it is within 10% of the
#: paper's figure, or within this absolute tolerance (per unit) when the figure is small.
ABS_TOLERANCE: dict[str, float] = {
    "share": 0.01,
    "minutes": 0.1,
    "episodes": 1.0,
    "regret": 0.01,
    "stat": 0.01,
}


@dataclass
class Comparison:
    """Collects the plain-words disagreements while the tables are built."""

    sentences: list[str] = field(default_factory=list)

    def verdict_of(
        self, what: str, reported: P.Reported | None, est: S.Estimate | None, unit: str
    ) -> str:
        """:meth:`verdict` for a bootstrap estimate (its value and 95% interval), or None."""
        if est is None:
            return self.verdict(what, reported, None, unit)
        return self.verdict(what, reported, est.value, unit, low=est.low, high=est.high)

    def verdict(
        self,
        what: str,
        reported: P.Reported | None,
        measured: float | None,
        unit: str,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> str:
        """ "agrees", "disagrees" or "—" (no paper figure), recording a sentence if it disagrees."""
        if reported is None:
            return "—"
        paper = reported.value
        shown = reported.text or _num(paper, unit)
        where = f"{what} (§{reported.section})"
        if paper is None:
            if measured is None:
                return "agrees"
            self.sentences.append(
                f"The paper reports {shown} (never converges) for {where}; we measured "
                f"{_num(measured, unit)}, which disagrees."
            )
            return "**disagrees**"
        if measured is None:
            self.sentences.append(
                f"The paper reports {shown} for {where}; we measured no value (the records "
                f"give nothing to compute it from, or the system never converged), which "
                f"disagrees."
            )
            return "**disagrees**"
        if low is not None and high is not None:
            eps = 1e-12
            if low - eps <= paper <= high + eps:
                return "agrees"
            if (
                reported.low is not None
                and reported.high is not None
                and low - eps <= reported.high
                and reported.low <= high + eps
            ):
                return "agrees (intervals overlap)"
            self.sentences.append(
                f"The paper reports {shown} for {where}; we measured {_num(measured, unit)} "
                f"(95% CI {_ci(low, high, unit)}), which disagrees."
            )
            return "**disagrees**"
        tol = max(0.10 * abs(paper), ABS_TOLERANCE.get(unit, 0.01))
        if abs(measured - paper) <= tol:
            return "agrees"
        self.sentences.append(
            f"The paper reports {shown} for {where}; we measured {_num(measured, unit)} "
            f"(no interval: more than 10% away), which disagrees."
        )
        return "**disagrees**"


# -- per-episode samples -------------------------------------------------------------------


def _flags(records: Records, flag: Callable[[EpisodeResult], bool]) -> np.ndarray[Any, Any]:
    return np.array([1.0 if flag(r) else 0.0 for r in records])


def _ratio_stat(num: np.ndarray[Any, Any], den: np.ndarray[Any, Any], axis: int = -1) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(num, axis=axis) / np.sum(den, axis=axis)


def _savings_stat(cost: np.ndarray[Any, Any], ref: np.ndarray[Any, Any], axis: int = -1) -> Any:
    return 1.0 - _ratio_stat(cost, ref, axis)


def _var_stat(x: np.ndarray[Any, Any], axis: int = -1) -> Any:
    return np.var(x, axis=axis, ddof=1)


def _boot_ratio(num: Sequence[float], den: Sequence[float]) -> S.Estimate | None:
    if not num or sum(den) == 0:
        return None
    return S.bootstrap([num, den], _ratio_stat, paired=True, seed=BOOTSTRAP_SEED)


def _boot_mean(values: Sequence[float] | np.ndarray[Any, Any]) -> S.Estimate | None:
    return S.bootstrap_mean(values, seed=BOOTSTRAP_SEED)


def _ttr(records: Records) -> list[float]:
    return [M.episode_time_to_repair(r) for r in records]


def _episode_savings(records: Records) -> list[float]:
    return [1.0 - r.cost / r.reference_cost for r in records if r.reference_cost > 0]


def _episode_sla(records: Records) -> list[float]:
    return [r.sla_windows_met / r.windows for r in records if r.windows > 0]


def _cost_estimate(records: Records) -> S.Estimate | None:
    cost = [r.cost for r in records]
    ref = [r.reference_cost for r in records]
    if not records or sum(ref) == 0:
        return None
    return S.bootstrap([cost, ref], _savings_stat, paired=True, seed=BOOTSTRAP_SEED)


def _sla_estimate(records: Records) -> S.Estimate | None:
    return _boot_ratio(
        [float(r.sla_windows_met) for r in records], [float(r.windows) for r in records]
    )


# -- the sections --------------------------------------------------------------------------


@dataclass
class _Context:
    groups: dict[str, list[EpisodeResult]]
    cmp: Comparison
    out: Path

    @property
    def reference(self) -> str | None:
        return "hybrid" if "hybrid" in self.groups else None


def _definitions() -> str:
    metric_fns: list[tuple[str, Callable[..., Any]]] = [
        ("Incident", M.summarize),
        ("Catastrophic failure rate (`catastrophic_rate`)", M.catastrophic_rate),
        ("Safety violation rate (`safety_violation_rate`)", M.safety_violation_rate),
        ("Risk containment (`risk_containment`)", M.risk_containment),
        ("Time to repair of one incident", M.episode_time_to_repair),
        ("MTTR (`mttr_minutes`)", M.mttr_minutes),
        ("Cost savings (`cost_savings`)", M.cost_savings),
        ("SLA compliance (`sla_compliance`)", M.sla_compliance),
        ("Performance of a reward", M.performance),
        ("Running performance", M.convergence_curve),
        ("Episodes to 95% of one seed", M.seed_episodes_to_95),
        ("Episodes to 95% (`episodes_to_95`)", M.episodes_to_95),
        ("Final regret (`final_regret`)", M.final_regret),
        ("Regret variance (`regret_variance`)", M.regret_variance),
        ("Response to an incident", M.incident_response),
        ("Decision accuracy", M.decision_accuracy),
        ("Action distribution (`action_distribution`)", M.action_distribution),
        (
            "Engineer minutes per incident (`engineer_minutes_per_incident`)",
            M.engineer_minutes_per_incident,
        ),
        ("Escalations per incident", M.escalations_per_incident),
        ("Detection precision (`detection_precision`)", M.detection_precision),
        ("Detection recall (`detection_recall`)", M.detection_recall),
        ("False-positive rate (`false_positive_rate`)", M.false_positive_rate),
        ("Detection accuracy", M.detection_accuracy),
        ("Detection delay (`detection_delay_minutes`)", M.detection_delay_minutes),
        ("Severity of one incident", M.episode_operational_risk),
        ("Operational-risk score", M.operational_risk),
    ]
    items = []
    for name, fn in metric_fns:
        text = _doc(fn)
        if fn is M.summarize:
            text = (
                "one episode: one scenario of the suite played by one system under one seed, "
                "from the failure's onset to the end of the simulated run. Rates and shares are "
                "printed as percentages; a value that cannot be computed is printed “—” (null in "
                "results.json), ∞ means never."
            )
        items.append(f"- **{name}**: {text}")
    stats_text = [
        "- **Mean ± SE and 95% CI**: the statistic on the whole sample, the standard deviation "
        f"of {S.RESAMPLES:,} bootstrap resamples (scipy.stats.bootstrap, percentile method, "
        f"resampling seed {BOOTSTRAP_SEED}) and the 2.5–97.5 percentiles of the resamples. Rates "
        "and MTTR resample incidents; ratios (cost savings, SLA compliance, detection) resample "
        "incidents with their numerator and denominator together; episodes to 95%, final regret "
        "and its variance resample seeds.",
        "- **Rates vs hybrid**: χ² test of the 2×2 table (events, non-events) × (system, hybrid) "
        "with Yates' continuity correction (scipy.stats.chi2_contingency, correction=True), and "
        "Cramér's V (scipy.stats.contingency.association). A table without any event in either "
        "system has χ² 0, p 1, V 0. The action distributions use the same χ² on the 2×k table "
        "of response counts.",
        "- **Continuous metrics vs hybrid**: Welch's t-test on per-incident values "
        "(scipy.stats.ttest_ind, equal_var=False), p adjusted by Bonferroni over the "
        "comparisons of the table (statsmodels multipletests), Cohen's d with the pooled SD "
        "(system minus hybrid: positive d means the system's value is larger).",
        "- **Across systems**: one-way ANOVA (scipy.stats.f_oneway) with η² = SS_between / "
        "SS_total, and Tukey's HSD (scipy.stats.tukey_hsd) for every pair.",
        "- **Regret variance**: the F-test of the ratio of two variances (system / hybrid), "
        "two-sided p from the F distribution with (seeds − 1, seeds − 1) degrees of freedom.",
        "- **Agreement with the paper**: a measurement *disagrees* with a figure of the paper when "
        "the paper's figure lies outside the measured 95% CI and, where the paper gives a 95% CI "
        "too, the two intervals do not overlap; where we have no interval, when it "
        "is more than 10% away from the paper's figure (and more than 1 percentage point for "
        "rates, 0.1 minute, 1 episode or 0.01 regret). A figure the paper gives as ∞ agrees only "
        "with a system that never converges.",
    ]
    return "\n".join(
        ["## Definitions", "", "### Metrics", "", *items, "", "### Statistics", "", *stats_text]
    )


def _rate_section(
    ctx: _Context,
    section: str,
    metric: str,
    flag: Callable[[EpisodeResult], bool],
    population: Callable[[EpisodeResult], bool],
    what: str,
    vacuous: str | None = None,
) -> str:
    ref = ctx.reference
    pops = {s: [r for r in recs if population(r)] for s, recs in ctx.groups.items()}
    counts = {s: (int(sum(1 for r in p if flag(r))), len(p)) for s, p in pops.items()}
    rows = []
    for system, pop in pops.items():
        k, n = counts[system]
        est = _boot_mean(_flags(pop, flag)) if pop else None
        rep = P.figure(section, metric, system)
        if ref is None or system == ref:
            test_cells = ["reference" if system == ref else "—", "—", "—"]
        elif n == 0 or counts[ref][1] == 0:
            test_cells = ["—", "—", "—"]
        else:
            kr, nr = counts[ref]
            t = S.rate_test([[k, n - k], [kr, nr - kr]])
            test_cells = [f"{_stat(t.chi2)}", _p(t.p), _stat(t.cramers_v)]
        if vacuous is not None and n == 0:
            verdict = vacuous
        else:
            verdict = ctx.cmp.verdict_of(
                f"{what} of {_label(system)}",
                rep,
                est,
                "share",
            )
        rows.append(
            [
                _label(system),
                rep.text if rep else "—",
                _ci(rep.low, rep.high, "share") if rep else "—",
                f"{k}/{n}",
                _est(est, "share"),
                _ci(est.low, est.high, "share") if est else "—",
                *test_cells,
                (rep.p or "—") if rep else "—",
                verdict,
            ]
        )
    header = [
        "System",
        "Paper",
        "Paper 95% CI",
        "Events / n",
        "Measured (± SE)",
        "95% CI",
        "χ²(1) Yates vs hybrid",
        "p",
        "Cramér's V",
        "Paper p",
        "vs paper",
    ]
    return "\n".join(
        [
            f"### {section} {P.TITLES[section]}",
            "",
            f"Paper: {P.CLAIMS[section]}.",
            "",
            _table(header, rows),
        ]
    )


def _continuous_section(
    ctx: _Context,
    section: str,
    metric: str,
    unit: str,
    samples: Callable[[Records], Sequence[float]],
    estimate: Callable[[Records], S.Estimate | None],
    what: str,
    note: str,
) -> str:
    ref = ctx.reference
    per = {s: list(samples(recs)) for s, recs in ctx.groups.items()}
    tests = (
        S.compare_to_reference(per[ref], {s: v for s, v in per.items() if s != ref}) if ref else {}
    )
    rows = []
    for system, recs in ctx.groups.items():
        est = estimate(recs)
        rep = P.figure(section, metric, system)
        t = tests.get(system)
        if t is None:
            cells = ["reference" if system == ref else "—", "—", "—"]
        else:
            df = "—" if t.df is None else f"{t.df:.0f}"
            cells = [f"t({df})={_stat(t.t)}", _p(t.p_adjusted), _stat(t.d)]
        verdict = ctx.cmp.verdict_of(
            f"{what} of {_label(system)}",
            rep,
            est,
            unit,
        )
        rows.append(
            [
                _label(system),
                rep.text if rep else "—",
                _ci(rep.low, rep.high, unit) if rep else "—",
                _est(est, unit),
                _ci(est.low, est.high, unit) if est else "—",
                str(len(per[system])),
                *cells,
                (rep.p or "—") if rep else "—",
                verdict,
            ]
        )
    header = [
        "System",
        "Paper",
        "Paper 95% CI",
        "Measured (± SE)",
        "95% CI",
        "n",
        "Welch t vs hybrid",
        "p (Bonferroni)",
        "Cohen's d",
        "Paper p",
        "vs paper",
    ]
    a = S.anova(per)
    anova_line = (
        f"One-way ANOVA across systems: F({a.df_between},{a.df_within})={_stat(a.f)}, "
        f"{_p_eq(a.p)}, η²={_stat(a.eta2)}."
    )
    tukey = (
        "Tukey HSD p-values: "
        + "; ".join(f"{_label(x)}–{_label(y)} {_p(p)}" for (x, y), p in a.tukey.items())
        + "."
        if a.tukey
        else "Tukey HSD: not computable (a system has fewer than two values or none varies)."
    )
    return "\n".join(
        [
            f"### {section} {P.TITLES[section]}",
            "",
            f"Paper: {P.CLAIMS[section]}.",
            "",
            _table(header, rows),
            "",
            anova_line,
            tukey,
            "",
            note,
        ]
    )


def _mttr_note(ctx: _Context) -> str:
    rows = []
    for system, recs in ctx.groups.items():
        resolved = [r.mttr_minutes for r in recs if r.mttr_minutes is not None]
        share = len(resolved) / len(recs) if recs else None
        mean = float(np.mean(resolved)) if resolved else None
        rows.append([_label(system), _num(share, "share"), _num(mean, "minutes")])
    return (
        "Incidents resolved (detected and healed) and the MTTR of those alone, the paper's "
        "narrower definition:\n\n"
        + _table(["System", "Resolved", "MTTR of resolved (min)"], rows)
        + "\n\n![MTTR by system](mttr.png)"
    )


def _cost_note(ctx: _Context) -> str:
    rl = M.cost_savings(ctx.groups.get("rl-only", []))
    hy = M.cost_savings(ctx.groups.get("hybrid", []))
    share = hy / rl if hy is not None and rl is not None and rl != 0 else None
    rows = [
        [_label(s), _num(float(np.mean([r.cost for r in recs])), "stat")]
        for s, recs in ctx.groups.items()
        if recs
    ]
    return (
        f"Hybrid's savings as a share of RL-only's: {_num(share, 'share')} (paper: 91.9%). "
        "The t-tests and the ANOVA use per-incident savings 1 − cost / reference cost "
        "(incidents with a reference cost of 0 left out). Mean cost per incident:\n\n"
        + _table(["System", "Mean cost per incident"], rows)
        + "\n\n![Cost savings by system](cost.png)"
    )


def _learning_section(ctx: _Context) -> str:
    ref = ctx.reference
    seeds = {s: M.by_seed(recs) for s, recs in ctx.groups.items()}
    e95 = {
        s: [v for v in (M.seed_episodes_to_95(eps) for eps in by.values()) if v is not None]
        for s, by in seeds.items()
    }
    e95_all = {s: M.episodes_to_95(recs) for s, recs in ctx.groups.items()}
    regrets = {s: M.seed_final_regrets(recs) for s, recs in ctx.groups.items()}
    e_tests = (
        S.compare_to_reference(
            [float(v) for v in e95[ref]],
            {s: [float(v) for v in vals] for s, vals in e95.items() if s != ref},
        )
        if ref
        else {}
    )
    rows = []
    for system in ctx.groups:
        value = e95_all[system]
        est = _boot_mean([float(v) for v in e95[system]]) if value is not None else None
        base = e95_all.get(ref) if ref else None
        rate = (base / value) if base is not None and value is not None else 0.0
        rate_text = "—" if base is None else ("1.00 (ref)" if system == ref else _stat(rate))
        t = e_tests.get(system)
        cells = (
            ["reference" if system == ref else "—", "—", "—"]
            if t is None or t.t is None
            else [
                f"t({'—' if t.df is None else f'{t.df:.0f}'})={_stat(t.t)}",
                _p(t.p_adjusted),
                _stat(t.d),
            ]
        )
        rep = P.figure("5.4.1", "episodes_to_95", system)
        verdict = ctx.cmp.verdict(
            f"episodes to 95% of optimal of {_label(system)}",
            rep,
            value,
            "episodes",
            low=None if est is None else est.low,
            high=None if est is None else est.high,
        )
        rep_rate = P.figure("5.4.1", "convergence_rate", system)
        rows.append(
            [
                _label(system),
                rep.text if rep else "—",
                _est(est, "episodes") if value is not None else "∞",
                _ci(est.low, est.high, "episodes") if est else "—",
                f"{len(e95[system])}/{len(seeds[system])}",
                rep_rate.text if rep_rate else "—",
                rate_text,
                *cells,
                verdict,
            ]
        )
    t541 = _table(
        [
            "System",
            "Paper",
            "Measured (± SE)",
            "95% CI",
            "Seeds converged",
            "Paper rate",
            "Measured rate",
            "Welch t vs hybrid",
            "p (Bonferroni)",
            "Cohen's d",
            "vs paper",
        ],
        rows,
    )

    r_tests = (
        S.compare_to_reference(regrets[ref], {s: v for s, v in regrets.items() if s != ref})
        if ref
        else {}
    )
    rows = []
    for system in ctx.groups:
        vals = regrets[system]
        est = _boot_mean(vals)
        var = (
            S.bootstrap([vals], _var_stat, paired=False, seed=BOOTSTRAP_SEED)
            if len(vals) >= 2
            else None
        )
        rep = P.figure("5.4.2", "final_regret", system)
        rep_var = P.figure("5.4.2", "regret_variance", system)
        v1 = ctx.cmp.verdict_of(
            f"final regret of {_label(system)}",
            rep,
            est,
            "regret",
        )
        v2 = ctx.cmp.verdict_of(
            f"regret variance of {_label(system)}",
            rep_var,
            var,
            "regret",
        )
        if ref is None or system == ref:
            ftext = ttext = "reference" if system == ref else "—"
            fp = "—"
        else:
            f = S.variance_ratio_test(vals, regrets[ref])
            ftext = f"F({f.df_a},{f.df_b})={_stat(f.f)}"
            fp = _p(f.p)
            t = r_tests[system]
            ttext = f"t={_stat(t.t)}, {_p_eq(t.p_adjusted)}, d={_stat(t.d)}"
        rows.append(
            [
                _label(system),
                rep.text if rep else "—",
                _est(est, "regret"),
                _ci(est.low, est.high, "regret") if est else "—",
                rep_var.text if rep_var else "—",
                _num(None if var is None else var.value, "regret"),
                _ci(var.low, var.high, "regret") if var else "—",
                ttext,
                ftext,
                fp,
                f"{v1} / {v2}" if rep else "—",
            ]
        )
    t542 = _table(
        [
            "System",
            "Paper regret",
            "Measured regret (± SE)",
            "95% CI",
            "Paper variance",
            "Measured variance",
            "95% CI",
            "Regret vs hybrid (Welch, Bonferroni)",
            "Variance F vs hybrid",
            "p",
            "vs paper (regret / variance)",
        ],
        rows,
    )
    return "\n".join(
        [
            "## 5.4 Learning dynamics",
            "",
            f"### 5.4.1 {P.TITLES['5.4.1']}",
            "",
            f"Paper: {P.CLAIMS['5.4.1']}.",
            "",
            t541,
            "",
            "Convergence rate is hybrid's episodes to 95% divided by the system's (the paper's "
            "“1.00 (ref)”, 0 for a system that never converges). Measured mean ± SE over the "
            f"seeds that converged; the window is {M.CONVERGENCE_WINDOW} episodes.",
            "",
            f"### 5.4.2 {P.TITLES['5.4.2']}",
            "",
            f"Paper: {P.CLAIMS['5.4.2']}.",
            "",
            t542,
            "",
            "The paper prints its regret variances (0.18, 0.31) also as the ± of its means; we "
            "compare its “variance” column with the sample variance across seeds.",
            "",
            "![Learning curves](learning_curves.png)",
            "",
            _actions_section(ctx),
        ]
    )


def _actions(ctx: _Context) -> list[str]:
    seen = {a for recs in ctx.groups.values() for a in M.action_distribution(recs)}
    seen |= {r.optimal_action for recs in ctx.groups.values() for r in recs}
    seen |= {"fallback", "rollback", "retrain", "no_op"}
    return [a for a in ACTION_ORDER if a in seen] + sorted(seen - set(ACTION_ORDER))


def _actions_section(ctx: _Context) -> str:
    actions = _actions(ctx)
    dists = {s: M.action_distribution(recs) for s, recs in ctx.groups.items()}
    all_recs = [r for recs in ctx.groups.values() for r in recs]
    oracle: dict[str, float] = {}
    if all_recs:
        # One oracle answer per (scenario, seed), however many systems played it.
        answers = {(r.scenario, r.seed): r.optimal_action for r in all_recs}
        for a in answers.values():
            oracle[a] = oracle.get(a, 0.0) + 1.0 / len(answers)
    header = ["Action"]
    for s in ctx.groups:
        header += (
            [f"{_label(s)} paper", f"{_label(s)} measured"]
            if any(P.figure("5.4.3", f"action:{a}", s) for a in actions)
            else [f"{_label(s)} measured"]
        )
    header.append("Oracle (best action)")
    rows = []
    for a in actions:
        row = [a]
        for s in ctx.groups:
            has_paper = any(P.figure("5.4.3", f"action:{x}", s) for x in actions)
            rep = P.figure("5.4.3", f"action:{a}", s)
            measured = dists[s].get(a, 0.0)
            if has_paper:
                row.append(rep.text if rep else "—")
                ctx.cmp.verdict(f"the share of {a} chosen by {_label(s)}", rep, measured, "share")
            row.append(_num(measured, "share"))
        row.append(_num(oracle.get(a, 0.0), "share"))
        rows.append(row)
    lines = [
        f"### 5.4.3 {P.TITLES['5.4.3']}",
        "",
        f"Paper: {P.CLAIMS['5.4.3']}.",
        "",
        _table(header, rows),
        "",
    ]
    if "hybrid" in ctx.groups and "rl-only" in ctx.groups:
        table = [
            [sum(1 for r in ctx.groups[s] if M.incident_response(r) == a) for a in actions]
            for s in ("hybrid", "rl-only")
        ]
        t = S.rate_test(table)
        lines.append(
            f"Hybrid vs RL-only responses: χ²({t.dof})={_stat(t.chi2)}, {_p_eq(t.p)}, "
            f"Cramér's V={_stat(t.cramers_v)} (n={t.n})."
        )
        lines.append("")
    rows = []
    for system, recs in ctx.groups.items():
        est = _boot_mean(_flags(recs, lambda r: M.incident_response(r) == r.optimal_action))
        rep = P.figure("5.1.2", "decision_accuracy", system) or P.figure(
            "6.2", "decision_accuracy", system
        )
        verdict = ctx.cmp.verdict_of(
            f"decision accuracy against the oracle of {_label(system)}",
            rep,
            est,
            "share",
        )
        rows.append(
            [
                _label(system),
                _est(est, "share"),
                _ci(est.low, est.high, "share") if est else "—",
                f"{rep.text} (§{rep.section})" if rep else "—",
                verdict,
            ]
        )
    lines += [
        "Decision accuracy: the share of incidents whose response is the oracle's best action "
        "(the paper: 88% for the human experts, 5.1.2; 92.3% for the hybrid's decisions against "
        "experts' in its 1% canary phase, 6.2).",
        "",
        _table(["System", "Decision accuracy (± SE)", "95% CI", "Paper", "vs paper"], rows),
        "",
        "![Action distribution](actions.png)",
    ]
    return "\n".join(lines)


def _param_key(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _paper_row(section: str, metric: str, value: str) -> P.Reported | None:
    key = _param_key(value)
    for rep in P.figures(section):
        if rep.metric == metric and key is not None and _param_key(rep.row) == key:
            return rep
    return None


#: (metric, unit, heading, compute) of one measured column of a sensitivity table.
_Column = tuple[str, str, str, Callable[[Records], float | None]]

#: Column headings as sentences name them.
_WHAT: dict[str, str] = {
    "Catastrophic": "the catastrophic failure rate",
    "MTTR (min)": "MTTR",
    "Cost savings": "cost savings",
    "Fallback": "the share of fallback",
    "Rollback": "the share of rollback",
    "Retrain": "the share of retrain",
    "Episodes to 95%": "episodes to 95% of optimal",
    "Final regret": "final regret",
    "Safety violations": "the safety violation rate",
}


def _share_of(action: str) -> Callable[[Records], float | None]:
    def share(records: Records) -> float | None:
        return M.action_distribution(records).get(action, 0.0) if records else None

    return share


SENSITIVITY: dict[str, tuple[str, str, list[_Column]]] = {
    "alpha": (
        "5.6.1",
        "α",
        [
            ("catastrophic_rate", "share", "Catastrophic", M.catastrophic_rate),
            ("mttr_minutes", "minutes", "MTTR (min)", M.mttr_minutes),
            ("cost_savings", "share", "Cost savings", M.cost_savings),
        ],
    ),
    "beta": (
        "5.6.2",
        "β",
        [
            ("catastrophic_rate", "share", "Catastrophic", M.catastrophic_rate),
            ("cost_savings", "share", "Cost savings", M.cost_savings),
            ("action:fallback", "share", "Fallback", _share_of("fallback")),
            ("action:rollback", "share", "Rollback", _share_of("rollback")),
            ("action:retrain", "share", "Retrain", _share_of("retrain")),
        ],
    ),
    "epsilon": (
        "5.6.3",
        "ε",
        [
            ("episodes_to_95", "episodes", "Episodes to 95%", M.episodes_to_95),
            ("final_regret", "regret", "Final regret", M.final_regret),
            ("safety_violation_rate", "share", "Safety violations", M.safety_violation_rate),
        ],
    ),
}


def _sensitivity_section(
    ctx: _Context, sensitivity: Mapping[str, Mapping[str, Sequence[EpisodeResult]]]
) -> str:
    parts = ["## 5.6 Sensitivity", ""]
    present = [p for p in SENSITIVITY if sensitivity.get(p)]
    unknown = sorted(set(sensitivity) - set(SENSITIVITY))
    if not present:
        parts.append("No sensitivity runs were given; the tables of 5.6 are not reproduced.")
    for param in present:
        section, symbol, columns = SENSITIVITY[param]
        runs = sensitivity[param]
        header = [symbol, "System"]
        for _, _, heading, _ in columns:
            header += [f"{heading} paper", f"{heading} measured"]
        header.append("vs paper")
        rows = []
        for value in sorted(runs, key=lambda v: (_param_key(v) is None, _param_key(v) or 0, v)):
            for system, recs in M.by_system(runs[value]).items():
                row = [value, _label(system)]
                verdicts = []
                for metric, unit, heading, compute in columns:
                    rep = _paper_row(section, metric, value) if system == "hybrid" else None
                    measured = compute(recs)
                    row += [rep.text if rep else "—", _num(measured, unit)]
                    what = f"{_WHAT.get(heading, heading)} of {_label(system)} at {symbol}={value}"
                    verdicts.append(ctx.cmp.verdict(what, rep, measured, unit))
                bad = sum(1 for v in verdicts if "disagrees" in v)
                judged = sum(1 for v in verdicts if v != "—")
                row.append(
                    "—"
                    if not judged
                    else ("agrees" if not bad else f"**{bad} of {judged} disagree**")
                )
                rows.append(row)
        parts += [
            f"### {section} {P.TITLES[section]}",
            "",
            f"Paper: {P.CLAIMS[section]}. The paper's figures are the hybrid system's; they stand "
            "beside the hybrid rows only.",
            "",
            _table(header, rows),
            "",
        ]
    missing = [p for p in SENSITIVITY if p not in present]
    if present and missing:
        parts.append(
            "Not run: "
            + ", ".join(f"{SENSITIVITY[p][1]} (§{SENSITIVITY[p][0]})" for p in missing)
            + "."
        )
    if unknown:
        parts.append(
            "Ignored sensitivity parameters (no table in the paper): " + ", ".join(unknown) + "."
        )
    return "\n".join(parts).rstrip()


def _detection_section(ctx: _Context) -> str:
    rows = []
    for system, recs in ctx.groups.items():
        tp = [float(r.detection.true_positive) for r in recs]
        fp = [float(r.detection.false_positive) for r in recs]
        fn = [float(r.detection.false_negative) for r in recs]
        tn = [float(r.detection.true_negative) for r in recs]
        total = [a + b + c + d for a, b, c, d in zip(tp, fp, fn, tn, strict=True)]
        acc = _boot_ratio([a + d for a, d in zip(tp, tn, strict=True)], total)
        fpr = _boot_ratio(fp, [a + b for a, b in zip(fp, tn, strict=True)])
        rep_acc = P.figure("6.2", "detection_accuracy", system)
        rep_fpr = P.figure("6.2", "false_positive_rate", system)
        v1 = ctx.cmp.verdict_of(
            f"detection accuracy of {_label(system)}",
            rep_acc,
            acc,
            "share",
        )
        v2 = ctx.cmp.verdict_of(
            f"false-positive rate of {_label(system)}",
            rep_fpr,
            fpr,
            "share",
        )
        rows.append(
            [
                _label(system),
                _est(acc, "share") + (f" {_ci(acc.low, acc.high, 'share')}" if acc else ""),
                _num(M.detection_precision(recs), "share"),
                _num(M.detection_recall(recs), "share"),
                _est(fpr, "share") + (f" {_ci(fpr.low, fpr.high, 'share')}" if fpr else ""),
                _num(M.detection_delay_minutes(recs), "minutes"),
                f"{v1} / {v2}" if rep_acc else "—",
            ]
        )
    return "\n".join(
        [
            "## 6.2 Detection quality (shadow phase)",
            "",
            "Paper: shadow mode reports 94.7% detection accuracy against human-labelled incidents "
            "and a 5.3% false-positive rate. We count monitoring windows against each scenario's "
            "known onset. The paper's two figures sum to 100%, so its “false positive rate” may "
            "be 1 − accuracy rather than FP / (FP + TN); we compare it with FP / (FP + TN).",
            "",
            _table(
                [
                    "System",
                    "Accuracy (± SE) [95% CI]",
                    "Precision",
                    "Recall",
                    "False-positive rate (± SE) [95% CI]",
                    "Delay (min)",
                    "vs paper 94.7% / 5.3%",
                ],
                rows,
            ),
        ]
    )


def _engineer_section(ctx: _Context) -> str:
    human = ctx.groups.get("human", [])
    human_minutes = [r.engineer_minutes for r in human]
    rows: list[list[str]] = []
    esc_rows: list[list[str]] = []
    for system, recs in ctx.groups.items():
        minutes = [r.engineer_minutes for r in recs]
        est = _boot_mean(minutes)
        reduction: S.Estimate | None = None
        if human and system != "human" and sum(human_minutes) > 0:
            reduction = S.bootstrap(
                [minutes, human_minutes], _change_stat, paired=False, seed=BOOTSTRAP_SEED
            )
        rep = P.figure("6.2", "engineer_change", system)
        verdict = (
            "—"
            if not human
            else ctx.cmp.verdict_of(
                f"the change in engineer time against the human baseline of {_label(system)}",
                rep,
                reduction,
                "share",
            )
        )
        escal = M.escalations_per_incident(recs)
        escalated = _boot_mean(_flags(recs, lambda r: r.escalations > 0)) if recs else None
        rep_esc = P.figure("6.2", "escalation_share", system)
        v_esc = ctx.cmp.verdict_of(
            f"the share of incidents escalated by {_label(system)}",
            rep_esc,
            escalated,
            "share",
        )
        esc_rows.append(
            [
                _label(system),
                _num(escal, "stat"),
                _est(escalated, "share"),
                _ci(escalated.low, escalated.high, "share") if escalated else "—",
                rep_esc.text if rep_esc else "—",
                v_esc,
            ]
        )
        rows.append(
            [
                _label(system),
                _est(est, "minutes"),
                _ci(est.low, est.high, "minutes") if est else "—",
                _num(None if reduction is None else reduction.value, "share"),
                _ci(reduction.low, reduction.high, "share") if reduction else "—",
                rep.text if rep else "—",
                verdict,
            ]
        )
    note = (
        ""
        if human
        else "\n\nThe human-in-the-loop baseline is not in these results, so no change is computed."
    )
    return (
        "\n".join(
            [
                "## Engineer intervention",
                "",
                "Paper (6.2, 6.4.1): engineer hours fell from 42 to 3.7 a month (−91.2%); "
                "escalations from 41% to 3% of incidents (6.4.2; the paper's “before” is the "
                "human-run operation). Change = (the system's mean "
                "engineer minutes per incident) / (the human baseline's) − 1, negative when the "
                "system needs less engineer time; its interval resamples both systems' incidents "
                "independently.",
                "",
                _table(
                    [
                        "System",
                        "Escalations / incident",
                        "Incidents escalated (± SE)",
                        "95% CI",
                        "Paper",
                        "vs paper",
                    ],
                    esc_rows,
                ),
                "",
                _table(
                    [
                        "System",
                        "Engineer min / incident (± SE)",
                        "95% CI",
                        "Change vs human",
                        "95% CI",
                        "Paper change",
                        "vs paper",
                    ],
                    rows,
                ),
            ]
        )
        + note
    )


def _change_stat(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], axis: int = -1) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(a, axis=axis) / np.mean(b, axis=axis) - 1.0


def _risk_section(ctx: _Context) -> str:
    ref = ctx.reference
    per = {
        s: [100.0 * M.episode_operational_risk(r) for r in recs] for s, recs in ctx.groups.items()
    }
    tests = (
        S.compare_to_reference(per[ref], {s: v for s, v in per.items() if s != ref}) if ref else {}
    )
    rows = []
    for system, values in per.items():
        est = _boot_mean(values)
        t = tests.get(system)
        cells = (
            ["reference" if system == ref else "—", "—", "—"]
            if t is None or t.t is None
            else [f"t({t.df:.0f})={_stat(t.t)}", _p(t.p_adjusted), _stat(t.d)]
        )
        rows.append(
            [
                _label(system),
                _est(est, "score"),
                _ci(est.low, est.high, "score") if est else "—",
                _num(M.catastrophic_rate(ctx.groups[system]), "share"),
                *cells,
            ]
        )
    a = S.anova(per)
    return "\n".join(
        [
            "## Operational risk",
            "",
            "The operational-risk score (defined below; 0–100, lower is better) weighs every "
            "incident by its worst exposure: catastrophic 100, harm that reached production 50, "
            "harm kept within the canary 10, and 25 × the share of windows out of SLA. The paper "
            "defines no such score, so there is nothing to compare it with.",
            "",
            _table(
                [
                    "System",
                    "Operational risk (± SE)",
                    "95% CI",
                    "Catastrophic",
                    "Welch t vs hybrid",
                    "p (Bonferroni)",
                    "Cohen's d",
                ],
                rows,
            ),
            "",
            f"One-way ANOVA across systems: F({a.df_between},{a.df_within})={_stat(a.f)}, "
            f"{_p_eq(a.p)}, η²={_stat(a.eta2)}.",
        ]
    )


def _catastrophic_statement(ctx: _Context) -> str:
    hybrid = ctx.groups.get("hybrid")
    if hybrid is None:
        return "The hybrid system is not in these results."
    bad = [r for r in hybrid if r.catastrophic]
    if not bad:
        n_scen, n_seed = len({r.scenario for r in hybrid}), len({r.seed for r in hybrid})
        return (
            f"The hybrid system had **no catastrophic failure** in {len(hybrid)} incidents "
            f"({n_scen} scenarios × {n_seed} seeds)."
        )
    by_scenario: dict[str, list[int]] = {}
    for r in bad:
        by_scenario.setdefault(r.scenario, []).append(r.seed)
    names = "; ".join(
        f"`{s}` (seed{'s' if len(v) > 1 else ''} {', '.join(str(x) for x in sorted(v))})"
        for s, v in sorted(by_scenario.items())
    )
    hopeless = sorted({r.scenario for r in bad if r.extra.get("oracle_restores") is False})
    why = (
        f" In {len(hopeless)} of these scenarios ({', '.join(f'`{s}`' for s in hopeless)}) the "
        "oracle found no action that restores the SLA: every remedy tried there leaves the "
        "service failing, so the failure is the scenario's; it still counts against the system."
        if hopeless
        else ""
    )
    return (
        f"**The hybrid system did not reach zero catastrophic failures**: {len(bad)} of "
        f"{len(hybrid)} incidents were catastrophic, in {len(by_scenario)} scenario(s): {names}."
        + why
    )


def _family_table(ctx: _Context) -> str:
    """Catastrophic rate, MTTR and SLA compliance of every system per scenario family."""
    families = [f for f in FAMILIES if any(r.family == f for rs in ctx.groups.values() for r in rs)]
    families += sorted({r.family for rs in ctx.groups.values() for r in rs} - set(FAMILIES))
    rows = []
    for system, recs in ctx.groups.items():
        for family in families:
            sub = [r for r in recs if r.family == family]
            if not sub:
                continue
            rows.append(
                [
                    _label(system),
                    family,
                    str(len(sub)),
                    _num(M.catastrophic_rate(sub), "share"),
                    _num(M.safety_violation_rate(sub), "share"),
                    _num(M.mttr_minutes(sub), "minutes"),
                    _num(M.sla_compliance(sub), "share"),
                    _num(M.cost_savings(sub), "share"),
                ]
            )
    return "\n".join(
        [
            "### By scenario family",
            "",
            _table(
                [
                    "System",
                    "Family",
                    "Incidents",
                    "Catastrophic",
                    "Safety violations",
                    "MTTR (min)",
                    "SLA compliance",
                    "Cost savings",
                ],
                rows,
            ),
        ]
    )


def _summary_table(ctx: _Context, doc: Mapping[str, Any]) -> str:
    rows = []
    for system, recs in ctx.groups.items():
        m = doc["systems"][system]
        rows.append(
            [
                _label(system),
                str(len(recs)),
                _num(m["catastrophic_rate"], "share"),
                _num(m["safety_violation_rate"], "share"),
                _num(m["risk_containment"], "share"),
                _num(m["mttr_minutes"], "minutes"),
                _num(m["cost_savings"], "share"),
                _num(m["sla_compliance"], "share"),
                _num(m["episodes_to_95"], "episodes") if m["episodes_to_95"] is not None else "∞",
                _num(m["final_regret"], "regret"),
                _num(m["engineer_minutes_per_incident"], "minutes"),
                _num(M.operational_risk(recs), "score"),
            ]
        )
    return _table(
        [
            "System",
            "Incidents",
            "Catastrophic",
            "Safety violations",
            "Risk containment",
            "MTTR (min)",
            "Cost savings",
            "SLA compliance",
            "Episodes to 95%",
            "Final regret",
            "Engineer min / incident",
            "Operational risk (0–100)",
        ],
        rows,
    )


# -- plots ---------------------------------------------------------------------------------


def _plots(ctx: _Context) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    systems = list(ctx.groups)
    labels = [_label(s) for s in systems]
    # One colour per system, the same in every plot and every run.
    colors = {
        s: f"C{SYSTEMS.index(s) if s in SYSTEMS else len(SYSTEMS) + i}"
        for i, s in enumerate(systems)
    }

    def save(fig: Figure, name: str) -> None:
        FigureCanvasAgg(fig)
        fig.savefig(ctx.out / name, dpi=110)

    # Learning curves: cumulative regret and running performance, mean with a 95% band.
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for s in systems:
        seqs = list(M.by_seed(ctx.groups[s]).values())
        length = min((len(q) for q in seqs), default=0)
        if length == 0:
            continue
        x = np.arange(1, length + 1)
        reg = np.array([M.cumulative_regret(q)[:length] for q in seqs])
        perf = np.array(
            [[np.nan if v is None else v for v in M.convergence_curve(q)[:length]] for q in seqs],
            dtype=float,
        )
        for ax, data in ((ax1, reg), (ax2, perf)):
            valid = ~np.isnan(data)
            count = valid.sum(axis=0)
            filled = np.where(valid, data, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = filled.sum(axis=0) / count
                sq = np.where(valid, (data - mean) ** 2, 0.0).sum(axis=0)
                sd = np.sqrt(sq / np.maximum(count - 1, 1))
                half = 1.96 * sd / np.sqrt(count)
            half = np.where(count > 1, half, 0.0)
            ax.plot(x, mean, color=colors[s], label=_label(s))
            ax.fill_between(x, mean - half, mean + half, color=colors[s], alpha=0.2, linewidth=0)
    ax1.set(
        title="Cumulative regret (mean, 95% band across seeds)",
        xlabel="episode",
        ylabel="cumulative regret",
    )
    ax2.axhline(M.CONVERGENCE_TARGET, color="grey", linestyle="--", linewidth=1)
    ax2.set(
        title=f"Performance vs the oracle ({M.CONVERGENCE_WINDOW}-episode moving window)",
        xlabel="episode",
        ylabel="performance (1 = the oracle's)",
    )
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    save(fig, "learning_curves.png")

    def bars(
        name: str, title: str, ylabel: str, estimates: list[S.Estimate | None], scale: float
    ) -> None:
        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.subplots()
        values = [0.0 if e is None else e.value * scale for e in estimates]
        lows = [0.0 if e is None or e.low is None else (e.value - e.low) * scale for e in estimates]
        highs = [
            0.0 if e is None or e.high is None else (e.high - e.value) * scale for e in estimates
        ]
        ax.bar(labels, values, color=[colors[s] for s in systems], yerr=[lows, highs], capsize=4)
        for i, (v, e) in enumerate(zip(values, estimates, strict=True)):
            ax.annotate(
                "n/a" if e is None else f"{v:.1f}",
                (i, max(v + highs[i], 0.0)),
                ha="center",
                va="bottom",
                xytext=(0, 3),
                textcoords="offset points",
                fontsize=9,
            )
        ax.set(title=title, ylabel=ylabel)
        ax.axhline(0, color="black", linewidth=0.8)
        save(fig, name)

    bars(
        "mttr.png",
        "MTTR by system (mean, 95% bootstrap CI)",
        "minutes",
        [_boot_mean(_ttr(ctx.groups[s])) if ctx.groups[s] else None for s in systems],
        1.0,
    )
    bars(
        "cost.png",
        "Cost savings vs the human procedure (95% bootstrap CI)",
        "cost savings (%)",
        [_cost_estimate(ctx.groups[s]) for s in systems],
        100.0,
    )

    actions = _actions(ctx)
    fig = Figure(figsize=(8, 0.6 * len(systems) + 1.6), layout="constrained")
    ax = fig.subplots()
    left = np.zeros(len(systems))
    for i, a in enumerate(actions):
        shares = np.array([M.action_distribution(ctx.groups[s]).get(a, 0.0) for s in systems])
        ax.barh(labels, shares * 100, left=left, label=a, color=f"C{i}")
        for j, v in enumerate(shares):
            if v >= 0.06:
                ax.text(
                    left[j] + v * 50,
                    j,
                    f"{v * 100:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white",
                )
        left += shares * 100
    ax.set(title="Response to an incident (share of incidents)", xlabel="%", xlim=(0, 100))
    ax.invert_yaxis()
    ax.legend(ncols=len(actions), loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=8)
    save(fig, "actions.png")


# -- the entry point -----------------------------------------------------------------------


def write_report(
    results: Sequence[EpisodeResult],
    out: Path,
    *,
    scenarios: int,
    seeds: int,
    sensitivity: Mapping[str, Mapping[str, Sequence[EpisodeResult]]],
    rules: Sequence[str],
    meta: Mapping[str, Any],
) -> Path:
    """Write ``out/report.md``, ``out/results.json`` and the PNGs of :data:`PLOTS`; return the
    report's path.

    ``sensitivity`` maps "alpha", "beta", "epsilon" to {value as text: records}; any may be
    missing or partial, and the report renders what is there. ``rules`` are the rules-only
    system's expert rules in plain words; ``meta`` the run's command line, seeds, durations and
    versions, listed at the top of the report.
    """
    if not results:
        raise DataError("no episode results to report; expected at least one EpisodeResult")
    doc = M.summarize(results, scenarios=scenarios, seeds=seeds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    ctx = _Context(groups=M.by_system(results), cmp=Comparison(), out=out)
    _plots(ctx)

    safety = [
        "## 5.2 Safety",
        "",
        _rate_section(
            ctx,
            "5.2.1",
            "catastrophic_rate",
            lambda r: r.catastrophic,
            lambda r: True,
            "the catastrophic failure rate",
        ),
        "",
        _rate_section(
            ctx,
            "5.2.2",
            "safety_violation_rate",
            lambda r: r.safety_violation,
            lambda r: True,
            "the safety violation rate",
        ),
        "",
        _rate_section(
            ctx,
            "5.2.3",
            "risk_containment",
            lambda r: bool(r.contained),
            lambda r: r.contained is not None,
            "risk containment",
            vacuous="nothing to contain",
        ),
        "",
        "Risk containment counts only incidents with a harmful action (“Events / n” is "
        "contained / harmful); a system without any harmful action has nothing to contain: it "
        "shows “—” and is not compared with the paper's 100%.",
    ]
    performance = [
        "## 5.3 Performance",
        "",
        _continuous_section(
            ctx,
            "5.3.1",
            "mttr_minutes",
            "minutes",
            _ttr,
            lambda recs: _boot_mean(_ttr(recs)),
            "MTTR",
            _mttr_note(ctx),
        ),
        "",
        _continuous_section(
            ctx,
            "5.3.2",
            "cost_savings",
            "share",
            _episode_savings,
            _cost_estimate,
            "cost savings",
            _cost_note(ctx),
        ),
        "",
        _continuous_section(
            ctx,
            "5.3.3",
            "sla_compliance",
            "share",
            _episode_sla,
            _sla_estimate,
            "SLA compliance",
            "The t-tests and the ANOVA use the per-incident share of windows within the SLA.",
        ),
    ]
    learning = _learning_section(ctx)
    sens = _sensitivity_section(ctx, sensitivity)
    detection = _detection_section(ctx)
    engineers = _engineer_section(ctx)
    risk = _risk_section(ctx)

    counts = ", ".join(f"{_label(s)} {len(r)}" for s, r in ctx.groups.items())
    head = [
        "# safeheal bench: the paper's evaluation (section 5), measured",
        "",
        f"{scenarios} scenarios × {seeds} seeds; incidents per system: {counts}. Every measured "
        "figure below comes from the runs listed here; the paper's figures stand beside them as "
        "citations.",
        "",
        "## Run",
        "",
        *(_meta_lines(meta) or ["(no metadata given)"]),
        "",
        "## Summary",
        "",
        _catastrophic_statement(ctx),
        "",
        _summary_table(ctx, doc),
        "",
        _family_table(ctx),
        "",
        "### Where the measurement disagrees with the paper",
        "",
    ]
    disagreements = [f"- {s}" for s in ctx.cmp.sentences] or [
        "- Every measured figure agrees with the paper's under the rule of the definitions."
    ]
    rules_part = ["## The rules-only system's expert rules", ""]
    rules_part += [f"{i}. {rule}" for i, rule in enumerate(rules, 1)] or ["(none given)"]
    body = [
        *head,
        *disagreements,
        "",
        *safety,
        "",
        *performance,
        "",
        learning,
        "",
        sens,
        "",
        detection,
        "",
        engineers,
        "",
        risk,
        "",
        *rules_part,
        "",
        _definitions(),
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(body), encoding="utf-8")
    return path


def _meta_lines(meta: Mapping[str, Any]) -> list[str]:
    """The run's metadata: a bullet per plain value, nested bullets for a mapping, and a table
    (after the bullets) for a list of mappings such as the scenarios' specs."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in meta.items():
        if isinstance(value, Mapping):
            lines.append(f"- **{key}**:")
            lines += [f"  - *{k}*: {_meta_value(v)}" for k, v in value.items()]
        elif (
            isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value)
        ):
            columns = [
                c
                for c in dict.fromkeys(c for row in value for c in row)
                if any(row.get(c) not in (None, "", ()) for row in value)
            ]
            tables += ["", f"### {key.capitalize()} ({len(value)})", ""]
            tables.append("| " + " | ".join(columns) + " |")
            tables.append("|" + "---|" * len(columns))
            tables += [
                "| " + " | ".join(_meta_value(row.get(c, "")) for c in columns) + " |"
                for row in value
            ]
        else:
            lines.append(f"- **{key}**: {_meta_value(value)}")
    return lines + tables


def _meta_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
