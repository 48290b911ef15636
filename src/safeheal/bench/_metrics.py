"""Per-system metrics of the benchmark, computed from :class:`EpisodeResult` records.

Every metric is a pure function of the records; its docstring is its definition, and the report
quotes these docstrings. An *incident* is one episode: one scenario played by one system under
one seed. Rates and shares are fractions in [0, 1] (the report prints them as percentages).
A metric that cannot be computed (nothing to count) is ``None``, written ``null`` in
``results.json``; no metric is ever NaN or infinite.

>>> from safeheal.bench._records import EpisodeResult
>>> r = EpisodeResult(system="hybrid", seed=0, episode=0, scenario="s", family="data_drift",
...     kind="covariate_shift", onset_minute=10.0, duration_minutes=60.0, detected_minute=15.0,
...     healed_minute=18.0, actions=("fallback",), optimal_action="fallback", cost=2.0,
...     optimal_cost=2.0, reference_cost=4.0, reward=1.0, optimal_reward=1.0, windows=10,
...     sla_windows_met=9, catastrophic=False, safety_violation=False, contained=None,
...     escalations=0, engineer_minutes=0.0)
>>> m = system_metrics([r])
>>> m["mttr_minutes"], m["cost_savings"], m["sla_compliance"]
(3.0, 0.5, 0.9)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from safeheal.bench._records import SYSTEMS, EpisodeResult
from safeheal.errors import DataError

__all__ = [
    "CONVERGENCE_TARGET",
    "CONVERGENCE_WINDOW",
    "METRIC_KEYS",
    "action_distribution",
    "by_seed",
    "by_system",
    "catastrophic_rate",
    "convergence_curve",
    "cost_savings",
    "cumulative_regret",
    "decision_accuracy",
    "detection_accuracy",
    "detection_delay_minutes",
    "detection_precision",
    "detection_recall",
    "engineer_minutes_per_incident",
    "episode_operational_risk",
    "episode_time_to_repair",
    "episodes_to_95",
    "escalations_per_incident",
    "false_positive_rate",
    "final_regret",
    "incident_response",
    "mttr_minutes",
    "operational_risk",
    "performance",
    "regret_variance",
    "risk_containment",
    "safety_violation_rate",
    "seed_episodes_to_95",
    "seed_final_regrets",
    "sla_compliance",
    "summarize",
    "system_metrics",
]

#: Episodes in the trailing moving average of reward / optimal reward (see :func:`episodes_to_95`).
CONVERGENCE_WINDOW = 10
#: Share of the oracle's reward a system must reach and keep to count as converged.
CONVERGENCE_TARGET = 0.95

#: The keys of one system in ``results.json``, in the order of the issue.
METRIC_KEYS: tuple[str, ...] = (
    "catastrophic_rate",
    "safety_violation_rate",
    "risk_containment",
    "mttr_minutes",
    "cost_savings",
    "sla_compliance",
    "episodes_to_95",
    "final_regret",
    "regret_variance",
    "action_distribution",
    "engineer_minutes_per_incident",
    "detection_precision",
    "detection_recall",
    "false_positive_rate",
    "detection_delay_minutes",
)

Records = Sequence[EpisodeResult]


def _finite(value: float | None) -> float | None:
    """``value`` as a plain float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else _finite(num / den)


def _share(records: Records, flag: Callable[[EpisodeResult], bool]) -> float | None:
    return _ratio(sum(1 for r in records if flag(r)), len(records))


# -- grouping ------------------------------------------------------------------------------


def by_system(results: Iterable[EpisodeResult]) -> dict[str, list[EpisodeResult]]:
    """Records grouped by system, systems in the order of ``SYSTEMS`` then any others by name."""
    groups: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in results:
        groups[r.system].append(r)
    order = [s for s in SYSTEMS if s in groups] + sorted(set(groups) - set(SYSTEMS))
    return {s: groups[s] for s in order}


def by_seed(records: Iterable[EpisodeResult]) -> dict[int, list[EpisodeResult]]:
    """Records grouped by seed (ascending), each seed's episodes in episode order."""
    groups: dict[int, list[EpisodeResult]] = defaultdict(list)
    for r in records:
        groups[r.seed].append(r)
    return {s: sorted(groups[s], key=lambda r: r.episode) for s in sorted(groups)}


# -- safety --------------------------------------------------------------------------------


def catastrophic_rate(records: Records) -> float | None:
    """Share of incidents with a catastrophic failure.

    An incident is catastrophic when, in some monitoring window, a model whose accuracy had
    dropped by more than 0.30 from its baseline, or whose availability was below 0.5, served
    more than half the traffic (the engine's ``EpisodeResult.catastrophic``; the same rule for
    every system). None when there are no incidents.
    """
    return _share(records, lambda r: r.catastrophic)


def safety_violation_rate(records: Records) -> float | None:
    """Share of incidents in which an action of the system caused a safety violation.

    A safety violation is an SLA breach or a severe degradation (an accuracy drop above 0.20)
    that was not there before the action (``EpisodeResult.safety_violation``). Failures the
    system merely did not repair are not violations; they show in MTTR and SLA compliance.
    """
    return _share(records, lambda r: r.safety_violation)


def risk_containment(records: Records) -> float | None:
    """Share of harmful actions whose harm stayed within canary traffic.

    Counted over the incidents in which an action of the system made things worse
    (``contained`` is not None). None when no action was harmful: there was nothing to contain,
    and the report says "nothing to contain" rather than a vacuous 100%.
    """
    harmful = [r for r in records if r.contained is not None]
    return _share(harmful, lambda r: bool(r.contained))


# -- performance ---------------------------------------------------------------------------


def _horizon(r: EpisodeResult) -> float:
    """End of the window in which an incident can be repaired: ``extra["episode_minutes"]``
    when the engine gives it, else the end of the injected failure (onset + duration)."""
    end = r.extra.get("episode_minutes")
    if isinstance(end, int | float) and math.isfinite(end):
        return float(end)
    return r.onset_minute + r.duration_minutes


def episode_time_to_repair(r: EpisodeResult) -> float:
    """Minutes from detection to resolution of one incident, censored when unresolved.

    The clock starts at detection (``detected_minute``), or at the onset when the failure was
    never detected, and stops when the served model is back within the SLA for good
    (``healed_minute``). An incident never healed is censored at its horizon
    (``extra["episode_minutes"]`` when given, else onset + duration): its repair time counts as
    the whole time it stayed unrepaired, a lower bound. Never negative.
    """
    start = r.detected_minute if r.detected_minute is not None else r.onset_minute
    end = r.healed_minute if r.healed_minute is not None else max(_horizon(r), start)
    return max(0.0, end - start)


def mttr_minutes(records: Records) -> float | None:
    """Mean time to repair (minutes): the mean of :func:`episode_time_to_repair` over incidents.

    Resolved incidents contribute detection → resolution, as the paper defines MTTR; unresolved
    ones contribute their censored time, so a system that never heals has a long MTTR rather than
    none. The report also gives the share of incidents resolved. None when there are no incidents.
    """
    if not records:
        return None
    return _finite(float(np.mean([episode_time_to_repair(r) for r in records])))


def cost_savings(records: Records) -> float | None:
    """Relative cost reduction against the human procedure on the same scenarios and seeds.

    ``1 − Σ cost / Σ reference_cost`` over the incidents, where ``reference_cost`` is the cost of
    the same scenario and seed handled by the human-in-the-loop baseline's procedure (compute plus
    engineering). Positive: cheaper than the humans; negative: dearer. None when the reference
    costs sum to zero.
    """
    ref = sum(r.reference_cost for r in records)
    ratio = _ratio(sum(r.cost for r in records), ref)
    return None if ratio is None else 1.0 - ratio


def sla_compliance(records: Records) -> float | None:
    """Share of monitoring windows, over all incidents, in which the SLA held for served traffic.

    ``Σ sla_windows_met / Σ windows``; None when there are no windows.
    """
    return _ratio(sum(r.sla_windows_met for r in records), sum(r.windows for r in records))


# -- learning ------------------------------------------------------------------------------


def performance(reward: float, optimal: float) -> float | None:
    """How close a reward is to the oracle's, 1 meaning as good as the oracle.

    - optimal > 0 (rewards are gains): ``reward / optimal``;
    - optimal < 0 (rewards are minus costs, as the engine's): ``optimal / reward``, the oracle's
      cost over the system's, when ``reward < 0``; 1 when ``reward ≥ 0`` (no cost at all: at
      least as good as the oracle);
    - optimal = 0: 1 when ``reward ≥ 0``, else None (undefined).

    >>> performance(0.8, 1.0), performance(-4.0, -2.0), performance(-1.0, -2.0)
    (0.8, 0.5, 2.0)
    """
    if optimal > 0:
        return _finite(reward / optimal)
    if reward >= 0:
        return 1.0
    if optimal < 0:
        return _finite(optimal / reward)
    return None


def convergence_curve(episodes: Records, *, window: int = CONVERGENCE_WINDOW) -> list[float | None]:
    """Running performance of one seed: :func:`performance` of the trailing window's sums.

    Entry ``e`` is ``performance(Σ reward, Σ optimal_reward)`` over episodes
    ``max(0, e − window + 1) … e``: a ratio of sums, so one episode with a tiny optimal reward
    cannot dominate. With rewards that are minus costs it is the oracle's total cost over the
    system's in the window.
    """
    rewards = np.array([r.reward for r in episodes], dtype=float)
    optimal = np.array([r.optimal_reward for r in episodes], dtype=float)
    curve: list[float | None] = []
    for e in range(len(episodes)):
        lo = max(0, e - window + 1)
        curve.append(
            performance(float(rewards[lo : e + 1].sum()), float(optimal[lo : e + 1].sum()))
        )
    return curve


def seed_episodes_to_95(
    episodes: Records,
    *,
    window: int = CONVERGENCE_WINDOW,
    target: float = CONVERGENCE_TARGET,
) -> int | None:
    """Episodes one seed needs to reach, and keep, 95% of the oracle's performance.

    With ``w = min(window, number of episodes)``, the answer is the smallest ``n ≥ w`` such that
    the :func:`convergence_curve` is ≥ ``target`` at episode ``n`` (1-based) and at every later
    episode of the sequence. None when no such ``n`` exists (never converged).

    >>> from safeheal.bench._records import EpisodeResult
    >>> def ep(i, reward):
    ...     return EpisodeResult("hybrid", 0, i, "s", "anomaly", "k", 0.0, 1.0, None, None, (),
    ...         "no_op", 0.0, 0.0, 0.0, reward, 1.0, 1, 1, False, False, None, 0, 0.0)
    >>> seed_episodes_to_95([ep(i, x) for i, x in enumerate([0.0, 1, 1, 1, 1])], window=2)
    3
    """
    if not episodes:
        return None
    w = max(1, min(window, len(episodes)))
    curve = convergence_curve(episodes, window=window)
    reached: int | None = None
    for e in range(len(curve) - 1, w - 2, -1):
        value = curve[e]
        if value is None or value < target:
            break
        reached = e + 1
    return reached


def episodes_to_95(records: Records) -> float | None:
    """Episodes to 95% of optimal performance, over seeds.

    Per seed, :func:`seed_episodes_to_95` on the seed's episode sequence. The metric is the mean
    over the seeds that converged when at least half of the seeds converged, else None (∞: the
    system does not converge). The report gives how many seeds converged.
    """
    values = [seed_episodes_to_95(eps) for eps in by_seed(records).values()]
    if not values:
        return None
    done = [v for v in values if v is not None]
    if 2 * len(done) < len(values):
        return None
    return _finite(float(np.mean(done)))


def cumulative_regret(episodes: Records) -> list[float]:
    """Cumulative regret of one seed after each episode: Σ (optimal_reward − reward)."""
    return [float(x) for x in np.cumsum([r.regret for r in episodes])]


def seed_final_regrets(records: Records) -> list[float]:
    """Cumulative regret after the last episode, one value per seed (ascending seeds)."""
    return [float(sum(r.regret for r in eps)) for eps in by_seed(records).values()]


def final_regret(records: Records) -> float | None:
    """Cumulative regret after the last episode (Σ over episodes of optimal_reward − reward),
    mean over seeds. None when there are no records."""
    values = seed_final_regrets(records)
    return _finite(float(np.mean(values))) if values else None


def regret_variance(records: Records) -> float | None:
    """Sample variance (ddof = 1) across seeds of the final cumulative regret; None with fewer
    than two seeds."""
    values = seed_final_regrets(records)
    return _finite(float(np.var(values, ddof=1))) if len(values) >= 2 else None


def incident_response(r: EpisodeResult) -> str:
    """The system's response to an incident: its first action other than ``no_op``, or
    ``no_op`` when it took none."""
    return next((a for a in r.actions if a != "no_op"), "no_op")


def action_distribution(records: Records) -> dict[str, float]:
    """Share of incidents per response action (:func:`incident_response`), sorted by action.

    One response per incident, as the paper counts "selects fallback 62% of the time"; the shares
    sum to 1. Empty when there are no incidents.
    """
    counts: dict[str, int] = defaultdict(int)
    for r in records:
        counts[incident_response(r)] += 1
    n = len(records)
    return {a: counts[a] / n for a in sorted(counts)}


def decision_accuracy(records: Records) -> float | None:
    """Share of incidents whose response (:func:`incident_response`) is the oracle's best action
    for that scenario and seed. None when there are no incidents."""
    return _share(records, lambda r: incident_response(r) == r.optimal_action)


# -- engineers -----------------------------------------------------------------------------


def engineer_minutes_per_incident(records: Records) -> float | None:
    """Mean human minutes spent per incident (investigation, approval, manual action)."""
    return _finite(float(np.mean([r.engineer_minutes for r in records]))) if records else None


def escalations_per_incident(records: Records) -> float | None:
    """Mean number of escalations to a human per incident."""
    return _finite(float(np.mean([r.escalations for r in records]))) if records else None


# -- detection -----------------------------------------------------------------------------


def _counts(records: Records) -> tuple[int, int, int, int]:
    tp = sum(r.detection.true_positive for r in records)
    fp = sum(r.detection.false_positive for r in records)
    fn = sum(r.detection.false_negative for r in records)
    tn = sum(r.detection.true_negative for r in records)
    return tp, fp, fn, tn


def detection_precision(records: Records) -> float | None:
    """Share of flagged windows in which the failure was active: TP / (TP + FP), windows pooled
    over incidents. None when nothing was flagged."""
    tp, fp, _, _ = _counts(records)
    return _ratio(tp, tp + fp)


def detection_recall(records: Records) -> float | None:
    """Share of failure windows that were flagged: TP / (TP + FN). None without failure windows."""
    tp, _, fn, _ = _counts(records)
    return _ratio(tp, tp + fn)


def false_positive_rate(records: Records) -> float | None:
    """Share of healthy windows that were flagged: FP / (FP + TN). None without healthy windows."""
    _, fp, _, tn = _counts(records)
    return _ratio(fp, fp + tn)


def detection_accuracy(records: Records) -> float | None:
    """Share of windows classified correctly: (TP + TN) / all windows (the paper's shadow-phase
    "detection accuracy"). None without windows."""
    tp, fp, fn, tn = _counts(records)
    return _ratio(tp + tn, tp + fp + fn + tn)


def detection_delay_minutes(records: Records) -> float | None:
    """Mean minutes from the failure's onset to its first detection, over detected incidents.
    None when no incident was detected."""
    delays = [
        max(0.0, r.detected_minute - r.onset_minute)
        for r in records
        if r.detected_minute is not None
    ]
    return _finite(float(np.mean(delays))) if delays else None


# -- operational risk ----------------------------------------------------------------------


def episode_operational_risk(r: EpisodeResult) -> float:
    """Severity of one incident's exposure on a 0–1 scale; the largest of:

    - 1.0 when the incident was catastrophic;
    - 0.5 when an action of the system did harm that reached production (``contained`` False);
    - 0.1 when an action did harm that stayed within canary traffic (``contained`` True);
    - 0.25 × the share of the incident's windows in which the SLA was not met (exposure of users
      to an unrepaired failure, whoever caused it).
    """
    parts = [0.0]
    if r.catastrophic:
        parts.append(1.0)
    if r.contained is False:
        parts.append(0.5)
    elif r.contained is True:
        parts.append(0.1)
    if r.windows > 0:
        parts.append(0.25 * (1.0 - r.sla_windows_met / r.windows))
    return max(parts)


def operational_risk(records: Records) -> float | None:
    """Operational-risk score: 100 × the mean of :func:`episode_operational_risk` over incidents.

    0 is an incident history with no harm and the SLA always met; 100 would be every incident
    catastrophic. Lower is better. None when there are no incidents.
    """
    if not records:
        return None
    return _finite(100.0 * float(np.mean([episode_operational_risk(r) for r in records])))


# -- the results document ------------------------------------------------------------------


def system_metrics(records: Records) -> dict[str, Any]:
    """The ``results.json`` entry of one system: every key of :data:`METRIC_KEYS`."""
    return {
        "catastrophic_rate": catastrophic_rate(records),
        "safety_violation_rate": safety_violation_rate(records),
        "risk_containment": risk_containment(records),
        "mttr_minutes": mttr_minutes(records),
        "cost_savings": cost_savings(records),
        "sla_compliance": sla_compliance(records),
        "episodes_to_95": episodes_to_95(records),
        "final_regret": final_regret(records),
        "regret_variance": regret_variance(records),
        "action_distribution": action_distribution(records),
        "engineer_minutes_per_incident": engineer_minutes_per_incident(records),
        "detection_precision": detection_precision(records),
        "detection_recall": detection_recall(records),
        "false_positive_rate": false_positive_rate(records),
        "detection_delay_minutes": detection_delay_minutes(records),
    }


def summarize(results: Sequence[EpisodeResult], *, scenarios: int, seeds: int) -> dict[str, Any]:
    """The ``results.json`` document: ``{"systems": {NAME: metrics}, "scenarios", "seeds"}``.

    Systems appear in the order of ``SYSTEMS``, only those present in ``results``. Values are
    plain floats, ints, strings, dicts or None (never NaN or infinite), so the document is valid
    JSON as it stands.
    """
    if isinstance(scenarios, bool) or not isinstance(scenarios, int) or scenarios < 0:
        raise DataError(f"`scenarios` must be a non-negative integer; got {scenarios!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 0:
        raise DataError(f"`seeds` must be a non-negative integer; got {seeds!r}")
    groups = by_system(results)
    unknown = sorted(set(groups) - set(SYSTEMS))
    if unknown:
        raise DataError(
            f"unknown system(s) {', '.join(unknown)} in the results; expected {', '.join(SYSTEMS)}"
        )
    return {
        "systems": {name: system_metrics(recs) for name, recs in groups.items()},
        "scenarios": scenarios,
        "seeds": seeds,
    }
