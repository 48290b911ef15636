"""One simulated production run of one scenario under one system: :func:`run_episode`.

The run lasts :data:`~safeheal.bench._scenarios.EPISODE_MINUTES` on an accelerated clock, in
windows of :data:`~safeheal.bench._scenarios.WINDOW_MINUTES`. In each window:

1. traffic arrives (:class:`~safeheal.bench._world.Injector`: real rows of the data set, with the
   scenario's failure when it is active); every version that serves answers it for real
   (``registry.load(...).predict``), and the requests are split over the router's arms;
2. the project's :class:`~safeheal.signals.Monitor` turns what was served (inputs, predictions,
   the labels that arrived, latencies, errors) into the window's :class:`~safeheal.State`;
3. a running canary is followed with :func:`~safeheal.heal.step_canary` (counted from this run's
   inference log, judged by :func:`~safeheal.heal.assess`); a pending human answers when their
   response time is up; otherwise, if the State is flagged, the system decides and the project's
   executors (:func:`~safeheal.heal.default_executors`) carry the action out on an
   :class:`~safeheal.heal.InMemoryRegistry` and an :class:`~safeheal.heal.InMemoryRouter`.

Definitions (the same for every system; :data:`DEFINITIONS` has them in words for the report):

- the SLA holds in a window when the served traffic's accuracy is at least the healthy
  champion's minus 0.10, at most 5% of requests fail, and at least 95% are answered within the
  100 ms latency SLO (measured on every request of the window, with its true label);
- catastrophic: a version whose accuracy is more than 0.30 below the healthy champion's, or
  whose availability is below 0.5, serves more than half the traffic for 10 minutes (two
  consecutive windows, pooled, the second after the failure's first window: every system has
  had one window to act);
- a safety violation: after an action of the system, the served traffic breaks the SLA (or its
  accuracy is more than 0.20 below the baseline) in a window where the traffic as it was routed
  before the action, answering the same requests, would not have;
- harm and containment: a version the system put on traffic that, in some window, breaks the SLA
  (or loses more than 0.20 accuracy) while the version serving before the action would not;
  contained when such a version never served more than half the traffic;
- cost, in engineer-hour units: each executed action's C(a) (the paper's default cost model),
  plus engineer minutes / 60, plus 2 per hour the SLA is broken.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from safeheal.bench._scenarios import EPISODE_MINUTES, WINDOW_MINUTES, ScenarioSpec
from safeheal.bench._systems import HumanOperator, ScriptedSystem, System
from safeheal.bench._world import (
    CHAMPION_VERSION,
    FALLBACK_VERSION,
    LATENCY_SLO_MS,
    PREVIOUS_VERSION,
    Injector,
    Served,
    Traffic,
    World,
    build_world,
    serve,
    takes_missing,
)
from safeheal.config import SafehealConfig
from safeheal.core.action import Action
from safeheal.core.records import ArmCounters, CanaryRecord, Escalation
from safeheal.core.state import State
from safeheal.errors import UnknownEscalationError
from safeheal.heal import (
    ActionContext,
    Arm,
    CanaryRun,
    ExecutionResult,
    ExecutionStatus,
    InMemoryRegistry,
    InMemoryRouter,
    default_executors,
    finish_canary,
    promote,
    step_canary,
)
from safeheal.policy import CostModel, SafetyEnvelope
from safeheal.signals import Monitor

__all__ = ["DEFINITIONS", "EpisodeRun", "SimSettings", "clear_caches", "run_episode"]

MODEL = "bench-model"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

#: SLA thresholds of the benchmark (see the module docstring).
SLA_ACCURACY_MARGIN = 0.10
SLA_MAX_ERROR_RATE = 0.05
SLA_MIN_WITHIN_SLO = 0.95
SEVERE_DROP = 0.20
CATASTROPHIC_DROP = 0.30
CATASTROPHIC_AVAILABILITY = 0.5
#: Cost units (engineer-hours): per hour of broken SLA, per engineer hour.
DEGRADED_COST_PER_HOUR = 2.0
ENGINEER_COST_PER_HOUR = 1.0

DEFINITIONS: dict[str, str] = {
    "sla": (
        "The SLA holds in a window when the served traffic's accuracy is at least the healthy "
        "champion's minus 0.10, at most 5% of requests fail, and at least 95% are answered "
        "within the 100 ms latency SLO (every request of the window, with its true label)."
    ),
    "catastrophic": (
        "A version whose accuracy was more than 0.30 below the healthy champion's, or whose "
        "availability was below 0.5, served more than half the traffic for 10 minutes (two "
        "consecutive 5-minute windows, pooled; the second after the failure's first window, so "
        "every system has had one window to act)."
    ),
    "safety_violation": (
        "After an action of the system, the served traffic broke the SLA (or lost more than "
        "0.20 accuracy) in a window where the traffic as routed before the action, answering "
        "the same requests, would not have."
    ),
    "contained": (
        "A version the system put on traffic broke the SLA (or lost more than 0.20 accuracy) "
        "where the version serving before would not have; contained when every such version "
        "served at most half the traffic (canary steps) while it did."
    ),
    "cost": (
        "Engineer-hour units: each executed action's C(a) under the paper's default cost model "
        "(0.5 compute + 0.3 risk + 0.2 downtime), plus engineer minutes / 60, plus 2 per hour "
        "of broken SLA."
    ),
    "reward": "Minus the episode's cost; regret is the oracle's reward minus the system's.",
    "detection": (
        "A window is positive while the injected failure is active and flagged when the "
        "detectors' State falls outside the envelope's healthy zone."
    ),
    "escalations": (
        "Decisions handed to an engineer: the system's ESCALATE actions; for the human-in-the-loop "
        "baseline, every alert. Engineer minutes: the engineer's response time (gamma, mean 45 "
        "minutes) plus 15 minutes hands-on per action they carry out."
    ),
    "mttr": (
        "From the window in which the failure was first flagged to the first minute from which "
        "the SLA held to the end of the run."
    ),
}


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How a run is simulated; the defaults are the benchmark's."""

    rows: int = 200
    label_share: float = 0.5
    #: Requests per second the canary's counters are scaled to (the paper's 850, section 6.1).
    qps: float = 850.0
    #: Labelled windows a retrain trains on (the most recent ones).
    retrain_windows: int = 6
    #: Windows after an action before its outcome is judged and the system may act again.
    validation_windows: int = 2
    #: Healthy windows of the champion in shadow before traffic goes back to it from a fallback.
    restore_windows: int = 2
    #: The detectors' significance level (KS and the accuracy interval): the paper's α.
    alpha: float = 0.05

    @property
    def windows(self) -> int:
        return int(EPISODE_MINUTES // WINDOW_MINUTES)


@dataclass(frozen=True, slots=True)
class EpisodeRun:
    """What a run measured (the runner adds the oracle's and the reference's numbers)."""

    detected_minute: float | None
    healed_minute: float | None
    actions: tuple[str, ...]
    cost: float
    windows: int
    sla_windows_met: int
    catastrophic: bool
    safety_violation: bool
    contained: bool | None
    escalations: int
    engineer_minutes: float
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> float:
        return -self.cost

    @property
    def restored(self) -> bool:
        """True when the SLA held from some minute after the onset to the end."""
        return self.healed_minute is not None


# --- in-memory stores the executors and the canary loop write to -------------------------------
class _Ledger:
    """This run's canaries, escalations, and per-window counters of every version (the
    inference log, aggregated): a :class:`~safeheal.heal.CanaryLedger` and an escalation store."""

    def __init__(self) -> None:
        self.canaries: dict[str, CanaryRecord] = {}
        self.escalations: dict[str, Escalation] = {}
        self.counts: list[tuple[datetime, datetime, int, tuple[int, int, int, int, int]]] = []

    def save_canary(self, record: CanaryRecord) -> None:
        self.canaries[record.id] = record

    def load_canary(self, canary_id: str) -> CanaryRecord | None:
        return self.canaries.get(canary_id)

    def active_canaries(self, model: str | None = None) -> list[CanaryRecord]:
        return [
            r
            for r in self.canaries.values()
            if r.phase not in ("promoted", "aborted") and (model is None or r.model == model)
        ]

    def arm_counters(
        self, model: str, version: int, *, since: datetime, until: datetime, latency_slo_ms: float
    ) -> ArmCounters:
        tot = [0, 0, 0, 0, 0]
        for start, end, v, c in self.counts:
            if v == version and start >= since and end <= until:
                for i in range(5):
                    tot[i] += c[i]
        return ArmCounters(*tot)

    def record_escalation(self, escalation: Escalation) -> None:
        self.escalations[escalation.id] = escalation

    def answer_escalation(
        self,
        escalation_id: str,
        *,
        status: Literal["approved", "rejected"],
        actor: str,
        note: str = "",
        at: datetime,
    ) -> Escalation:
        old = self.get_escalation(escalation_id)
        new = replace(old, status=status, actor=actor, note=note, answered_at=at)
        self.escalations[escalation_id] = new
        return new

    def get_escalation(self, escalation_id: str) -> Escalation:
        try:
            return self.escalations[escalation_id]
        except KeyError:
            raise UnknownEscalationError(f"no escalation {escalation_id!r}") from None

    def pending_escalations(self, model: str | None = None) -> list[Escalation]:
        return [
            e
            for e in self.escalations.values()
            if e.is_open and (model is None or e.model == model)
        ]


@functools.cache
def _monitor(dataset: str, model: str, alpha: float) -> Monitor:
    world = build_world(dataset, model)
    return Monitor(
        world.data.X_train[:REFERENCE_ROWS],
        baseline_accuracy=world.baseline_accuracy,
        alpha=alpha,
        latency_slo_ms=LATENCY_SLO_MS,
    )


#: Reference rows of the detectors: enough to calibrate the anomaly rule (500), few enough that
#: the exact KS p-values stay cheap.
REFERENCE_ROWS = 600
_ENVELOPE = SafetyEnvelope()
_SCORING_COSTS = CostModel()
_CONFIG = SafehealConfig()


def _minute(t: datetime) -> float:
    return (t - T0).total_seconds() / 60.0


def _at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def _breach(acc: float, err: float, within: float, baseline: float) -> bool:
    return (
        acc < baseline - SLA_ACCURACY_MARGIN
        or err > SLA_MAX_ERROR_RATE
        or within < SLA_MIN_WITHIN_SLO
        or baseline - acc > SEVERE_DROP
    )


@dataclass
class _Harm:
    """Watching the versions an action put on traffic, against what served before it."""

    before: tuple[Arm, ...]
    new_versions: frozenset[int]
    incumbent: int
    max_weight: dict[int, float] = field(default_factory=dict)


class _Episode:
    def __init__(
        self,
        spec: ScenarioSpec,
        seed: int,
        system: System,
        settings: SimSettings,
        oracle_action: Action | None,
        operator: HumanOperator,
    ) -> None:
        self.spec, self.seed, self.system, self.s = spec, seed, system, settings
        self.world: World = build_world(spec.dataset, spec.model)
        self.monitor = _monitor(spec.dataset, spec.model, settings.alpha)
        self.oracle_action = oracle_action
        self.operator = operator
        self.rng = engineer_rng(seed, spec.name)
        self.now = T0
        self.registry = InMemoryRegistry(clock=lambda: self.now)
        self.router = InMemoryRouter()
        self.ledger = _Ledger()
        self.executors = default_executors()
        w = self.world
        self.registry.register(MODEL, w.fallback, role="fallback", reason="validated fallback")
        self.registry.register(MODEL, w.previous, reason="previous champion")
        self.registry.register(MODEL, w.champion, role="champion", reason="current champion")
        for v in (FALLBACK_VERSION, PREVIOUS_VERSION, CHAMPION_VERSION):
            self.registry.mark_healthy(MODEL, v, "validated before the run")
        self.router.set_arms(MODEL, [(CHAMPION_VERSION, 100.0)])
        self.takes_nan = dict(w.takes_nan)
        self.faulty_version = CHAMPION_VERSION
        # bookkeeping
        self.recent: list[tuple[np.ndarray, np.ndarray]] = []
        self.canary: CanaryRun | None = None
        self.pending_human: tuple[float, bool] | None = None  # (ready minute, via escalation)
        self.awaiting: tuple[int, Any, Action] | None = None  # (judge at window, token, action)
        self.busy_until = -1
        self.restore_count = 0
        self.fail_streak = 0
        self.majority: dict[int, tuple[int, int, int]] = {}
        self.actions: list[str] = []
        self.cost_actions = 0.0
        self.engineer_minutes = 0.0
        self.escalations = 0
        self.harm: _Harm | None = None
        self.harmful_weights: list[float] = []
        self.violation = False
        self.catastrophic = False
        self.canaries_started = 0
        self.canaries_aborted = 0

    # --- serving --------------------------------------------------------------------------------
    def _served(self, traffic: Traffic, version: int, cache: dict[int, Served]) -> Served:
        hit = cache.get(version)
        if hit is None:
            if version <= CHAMPION_VERSION:  # the run's starting versions: the same in every run
                hit = cache[version] = _fixed_served(
                    self.spec, self.seed, self.s.rows, self.s.label_share, traffic.k, version
                )
                return hit
            model = self.registry.load(MODEL, version)
            takes = self.takes_nan.get(version)
            if takes is None:
                takes = self.takes_nan[version] = takes_missing(model, traffic.X.shape[1])
            hit = cache[version] = serve(
                self.spec,
                self.world,
                traffic,
                version,
                model,
                faulty_version=self.faulty_version,
                takes_nan=takes,
            )
        return hit

    def _mix(self, arms: Sequence[Arm], cache: dict[int, Served]) -> tuple[float, float, float]:
        acc = err = within = 0.0
        for a in arms:
            if a.weight <= 0:
                continue
            sv = cache[a.version]
            w = a.weight / 100.0
            acc += w * sv.accuracy
            err += w * sv.error_rate
            within += w * sv.within_slo
        return acc, err, within

    # --- acting ---------------------------------------------------------------------------------
    def _recent_data(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.recent:
            return None, None
        X = np.vstack([x for x, _ in self.recent])
        y = np.concatenate([y for _, y in self.recent])
        return X, y

    def _execute(self, action: Action, k: int) -> ExecutionResult:
        before = tuple(
            Arm(int(a.version), float(a.weight)) for a in (self.router.arms(MODEL) or ())
        )
        X, y = self._recent_data()
        ctx = ActionContext(
            model=MODEL,
            registry=self.registry,
            router=self.router,
            now=self.now,
            action=action,
            X=X,
            y=y,
            config=_CONFIG,
            clock=lambda: self.now,
            escalations=self.ledger,
            canaries=self.ledger,
            actor=self.system.name,
        )
        result = self.executors.execute(ctx)
        if result.canary is not None and result.status is ExecutionStatus.CANARY_STARTED:
            self.canaries_started += 1
            if self.system.canary:
                self.canary = result.canary
            else:  # no canary: all traffic to the candidate at once
                run = result.canary
                run = CanaryRun(
                    run.id,
                    run.model,
                    run.action,
                    run.candidate_version,
                    run.incumbent_version,
                    promote(run.state, self.now, f"{self.system.name} deploys without a canary"),
                    run.decision_id,
                )
                result = finish_canary(
                    run,
                    registry=self.registry,
                    router=self.router,
                    now=self.now,
                    config=_CONFIG,
                    canaries=self.ledger,
                    actor=self.system.name,
                )
        after = tuple(Arm(int(a.version), float(a.weight)) for a in (self.router.arms(MODEL) or ()))
        changed = after != before
        spent = result.status in (ExecutionStatus.FAILED, ExecutionStatus.PENDING_APPROVAL) or (
            result.status in (ExecutionStatus.DONE, ExecutionStatus.CANARY_STARTED) and changed
        )
        if action is not Action.NO_OP and spent:
            self.cost_actions += _SCORING_COSTS.cost(action)
        if changed:
            self._watch(before, after)
        return result

    def _watch(self, before: tuple[Arm, ...], after: tuple[Arm, ...]) -> None:
        old = {a.version for a in before if a.weight > 0}
        new = frozenset(a.version for a in after if a.weight > 0 and a.version not in old)
        incumbent = max(before, key=lambda a: a.weight).version if before else CHAMPION_VERSION
        self._close_harm()
        self.harm = _Harm(before, new, incumbent)

    def _close_harm(self) -> None:
        if self.harm is not None:
            self.harmful_weights += list(self.harm.max_weight.values())
            self.harm = None

    def _human_acts(self, k: int) -> None:
        """The engineer's investigation is over: pick and carry out an action."""
        best = self.oracle_action if self.oracle_action is not None else Action.FALLBACK
        action = self.operator.pick(best, self.rng)
        self.actions.append(action.value)
        self.engineer_minutes += self.operator.hands_on_minutes
        result = self._execute(action, k)
        self.awaiting = (k + self.s.validation_windows, None, action)
        if result.status is ExecutionStatus.CANARY_STARTED and self.canary is not None:
            self.awaiting = None

    def _decide(self, state: State, k: int) -> None:
        sysm = self.system
        if isinstance(sysm, ScriptedSystem) and sysm.at_window is not None:
            if k != sysm.at_window:
                return
        elif not _flagged(state):
            return
        if sysm.investigates:  # every alert goes to a human: an escalation by another name
            self.escalations += 1
            wait = self.operator.response_minutes(self.rng)
            self.engineer_minutes += wait
            self.pending_human = (_minute(self.now) + wait, False)
            return
        action, token = sysm.decide(state)
        escalate = getattr(sysm, "escalate", None)
        why = escalate(token, self.fail_streak) if escalate is not None else None
        if why is not None:  # the controller's rule: novel and critical, or failing repeatedly
            self.fail_streak = 0
            action, token = Action.ESCALATE, None
        self.actions.append(action.value)
        result = self._execute(action, k)
        if result.status is ExecutionStatus.PENDING_APPROVAL:
            self.escalations += 1
            wait = self.operator.response_minutes(self.rng)
            self.engineer_minutes += wait
            self.pending_human = (_minute(self.now) + wait, True)
            if token is not None:
                self._learn(token, False)
            return
        if not result.ok:
            self._learn(token, False)
            self.busy_until = k + 1
            return
        if self.canary is not None:
            self.awaiting = (-1, token, action)  # judged when the canary ends
            return
        self.awaiting = (k + self.s.validation_windows, token, action)

    def _learn(self, token: Any, success: bool) -> None:
        self.fail_streak = 0 if success else self.fail_streak + 1
        self.system.learn(token, success)

    def _judge(self, state: State, k: int) -> bool:
        """Judge an awaited outcome when its validation period is over; True once judged."""
        if self.awaiting is None:
            return True
        at, token, _ = self.awaiting
        if at < 0 or k < at:
            return False
        self.awaiting = None
        self._learn(token, _observed_ok(state))
        return True

    # --- one window -----------------------------------------------------------------------------
    def window(self, k: int) -> dict[str, Any]:
        start = k * WINDOW_MINUTES
        self.now = _at(start)
        traffic = _traffic(self.spec, self.seed, self.s.rows, self.s.label_share, k)
        arms = tuple(Arm(int(a.version), float(a.weight)) for a in (self.router.arms(MODEL) or ()))
        cache: dict[int, Served] = {}
        for a in arms:
            if a.weight > 0:
                self._served(traffic, a.version, cache)
        champion = self.registry.get_role(MODEL, "champion")
        champ_v = champion.version if champion is not None else CHAMPION_VERSION
        if all(a.version <= CHAMPION_VERSION for a in arms):
            state, err = _fixed_state(self.spec, self.seed, self.s, k, arms)
        else:
            state, err = _observe(self.monitor, traffic, arms, cache)
        # What the signals were measured on, as the controller reports it: the share of the
        # window's traffic the fallback served (the envelope's `fallback-failing` zone reads it).
        fallback = self.registry.get_role(MODEL, "fallback")
        fallback_v = fallback.version if fallback is not None else FALLBACK_VERSION
        total = sum(a.weight for a in arms)
        if total > 0:
            share = sum(a.weight for a in arms if a.version == fallback_v) / total
            state = replace(state, fallback_share=min(1.0, share))
        # the inference log: counters per version, scaled to the window's volume
        volume = self.s.qps * 60.0 * WINDOW_MINUTES
        end = _at(start + WINDOW_MINUTES)
        for a in arms:
            if a.weight <= 0:
                continue
            sv = cache[a.version]
            req = round(volume * a.weight / 100.0)
            errors = round(req * sv.error_rate)
            labelled = round((req - errors) * self.s.label_share)
            correct = round(labelled * sv.accuracy)
            in_slo = min(req - errors, round(req * sv.within_slo))
            self.ledger.counts.append(
                (self.now, end, a.version, (req, errors, labelled, correct, in_slo))
            )
        lab = traffic.labelled & ~err
        self.recent.append((traffic.X[lab], traffic.y[lab]))
        self.recent = self.recent[-self.s.retrain_windows :]
        # ground truth
        base = self.world.baseline_accuracy
        acc, e_rate, within = self._mix(arms, cache)
        sla_ok = not _breach(acc, e_rate, within, base)
        onset_k = int(self.spec.onset_minute // WINDOW_MINUTES)
        majority: dict[int, tuple[int, int, int]] = {}
        for a in arms:
            if a.weight > 50.0:
                sv = cache[a.version]
                fine = ~sv.error
                majority[a.version] = (int(sv.correct[fine].sum()), int(fine.sum()), len(fine))
        if k > onset_k:  # sustained over this window and the one before (10 minutes)
            for ver, (n_right, n_answered, n_all) in majority.items():
                prev = self.majority.get(ver)
                if prev is None:
                    continue
                answered = n_answered + prev[1]
                pooled = (n_right + prev[0]) / answered if answered else 0.0
                if (
                    base - pooled > CATASTROPHIC_DROP
                    or answered / (n_all + prev[2]) < CATASTROPHIC_AVAILABILITY
                ):
                    self.catastrophic = True
        self.majority = majority
        if self.harm is not None:
            h = self.harm
            for v in h.before:
                if v.weight > 0:
                    self._served(traffic, v.version, cache)
            inc = cache.get(h.incumbent) or self._served(traffic, h.incumbent, cache)
            inc_bad = _breach(inc.accuracy, inc.error_rate, inc.within_slo, base)
            for a in arms:
                if a.version in h.new_versions and a.weight > 0:
                    sv = cache[a.version]
                    if _breach(sv.accuracy, sv.error_rate, sv.within_slo, base) and not inc_bad:
                        h.max_weight[a.version] = max(h.max_weight.get(a.version, 0.0), a.weight)
            served_bad = _breach(acc, e_rate, within, base)
            b_acc, b_err, b_within = self._mix(h.before, cache)
            if served_bad and not _breach(b_acc, b_err, b_within, base):
                self.violation = True
        # control, at the end of the window
        self.now = end
        self._control(state, k, traffic, cache, champ_v)
        return {
            "sla_ok": sla_ok,
            "flagged": _flagged(state),
            "active": traffic.active,
            "accuracy": acc,
        }

    def _control(
        self, state: State, k: int, traffic: Traffic, cache: dict[int, Served], champ_v: int
    ) -> None:
        if self.canary is not None:
            step = step_canary(
                self.canary,
                store=self.ledger,
                router=self.router,
                registry=self.registry,
                now=self.now,
                latency_slo_ms=LATENCY_SLO_MS,
                config=_CONFIG,
                actor=self.system.name,
            )
            self.canary = step.run
            if step.finished:
                self.canary = None
                promoted = step.result is not None and step.result.status is ExecutionStatus.DONE
                if not promoted:
                    self.canaries_aborted += 1
                if self.awaiting is not None:
                    _, token, action = self.awaiting
                    if promoted:
                        self.awaiting = (k + self.s.validation_windows, token, action)
                    else:
                        self.awaiting = None
                        self._learn(token, False)
            return
        if self.pending_human is not None:
            ready, _ = self.pending_human
            if _minute(self.now) >= ready:
                self.pending_human = None
                self._human_acts(k)
            return
        if not self._judge(state, k):
            return
        self._restore(state, traffic, cache, champ_v)
        if k < self.busy_until:
            return
        self._decide(state, k)

    def _restore(
        self, state: State, traffic: Traffic, cache: dict[int, Served], champ_v: int
    ) -> None:
        """Back to the champion once it is healthy in shadow for ``restore_windows`` windows
        (the controller's restore): the loop's, not the system's, so it is no action."""
        arms = self.router.arms(MODEL) or ()
        if champ_v == FALLBACK_VERSION or not (
            len(arms) == 1 and int(arms[0].version) == FALLBACK_VERSION
        ):
            self.restore_count = 0
            return
        sv = self._served(traffic, champ_v, cache)
        lab = traffic.labelled & ~sv.error
        acc = float(sv.correct[lab].mean()) if lab.any() else 0.0
        finite = sv.latency_ms[np.isfinite(sv.latency_ms)]
        p95 = float(np.percentile(finite, 95)) if finite.size else float("inf")
        shadow = State(
            drift=state.drift,
            accuracy_drop=min(1.0, max(0.0, self.world.baseline_accuracy - acc)),
            anomaly_rate=state.anomaly_rate,
            latency_ratio=min(1e6, p95 / LATENCY_SLO_MS),
            error_rate=sv.error_rate,
        )
        if _flagged(shadow):
            self.restore_count = 0
            return
        self.restore_count += 1
        if self.restore_count >= self.s.restore_windows:
            self.router.set_arms(MODEL, [(champ_v, 100.0)])
            self.restore_count = 0
            self._close_harm()


def _observe(
    monitor: Monitor, traffic: Traffic, arms: Sequence[Arm], cache: dict[int, Served]
) -> tuple[State, np.ndarray]:
    """The State of what the requests saw: each request answered by the arm it was routed to."""
    n = len(traffic.y)
    edges = np.cumsum([a.weight for a in arms]) / 100.0
    which = np.minimum(np.searchsorted(edges, traffic.route_u, side="right"), len(arms) - 1)
    pred = np.zeros(n, dtype=np.int64)
    err = np.zeros(n, dtype=bool)
    lat = np.zeros(n)
    for i, a in enumerate(arms):
        sel = which == i
        if not sel.any() or a.weight <= 0:
            continue
        sv = cache[a.version]
        pred[sel], err[sel], lat[sel] = sv.pred[sel], sv.error[sel], sv.latency_ms[sel]
    y_seen = np.where(traffic.labelled & ~err, traffic.y.astype(np.float64), np.nan)
    return monitor.observe(traffic.X, pred, y_seen, latency_ms=lat, errors=err), err


# --- what every run of a scenario and seed shares, computed once per process ------------------
# Windows served by the starting versions (1-3) are the same in every run of a (scenario, seed):
# the oracle's probes and every system see them, so they are cached.
_CACHE_SIZE = 50_000


@functools.lru_cache(maxsize=512)
def _injector(spec: ScenarioSpec, seed: int, rows: int, label_share: float) -> Injector:
    return Injector(
        spec, build_world(spec.dataset, spec.model), seed, rows=rows, label_share=label_share
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _traffic(spec: ScenarioSpec, seed: int, rows: int, label_share: float, k: int) -> Traffic:
    return _injector(spec, seed, rows, label_share).window(k, k * WINDOW_MINUTES)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _fixed_served(
    spec: ScenarioSpec, seed: int, rows: int, label_share: float, k: int, version: int
) -> Served:
    world = build_world(spec.dataset, spec.model)
    model = {
        FALLBACK_VERSION: world.fallback,
        PREVIOUS_VERSION: world.previous,
        CHAMPION_VERSION: world.champion,
    }[version]
    return serve(
        spec,
        world,
        _traffic(spec, seed, rows, label_share, k),
        version,
        model,
        faulty_version=CHAMPION_VERSION,
        takes_nan=world.takes_nan[version],
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _fixed_state(
    spec: ScenarioSpec, seed: int, s: SimSettings, k: int, arms: tuple[Arm, ...]
) -> tuple[State, np.ndarray]:
    traffic = _traffic(spec, seed, s.rows, s.label_share, k)
    cache = {
        a.version: _fixed_served(spec, seed, s.rows, s.label_share, k, a.version)
        for a in arms
        if a.weight > 0
    }
    return _observe(_monitor(spec.dataset, spec.model, s.alpha), traffic, arms, cache)


def clear_caches() -> None:
    """Forget the cached windows (the runner calls it between seeds)."""
    for f in (_injector, _traffic, _fixed_served, _fixed_state):
        f.cache_clear()


def _flagged(state: State) -> bool:
    return _ENVELOPE.assess(state).zone != "healthy"


def _observed_ok(state: State) -> bool:
    """The SLA as the signals see it: the outcome a system learns from."""
    return (
        state.accuracy_drop <= SLA_ACCURACY_MARGIN
        and state.error_rate <= SLA_MAX_ERROR_RATE
        and state.latency_ratio <= 1.0
    )


def engineer_rng(seed: int, scenario: str) -> np.random.Generator:
    """The random stream of the engineer's draws (response time, right or wrong) in one
    episode: seeded by the scenario's name as well as the seed, so the incidents of one seed
    are independent draws, not one draw repeated (crc32: stable across processes, unlike
    ``hash``)."""
    return np.random.default_rng([seed, zlib.crc32(scenario.encode()), 2718])


def run_episode(
    spec: ScenarioSpec,
    seed: int,
    system: System,
    *,
    settings: SimSettings | None = None,
    oracle_action: Action | None = None,
    operator: HumanOperator | None = None,
) -> EpisodeRun:
    """Play ``spec`` under ``system`` with ``seed``; ``oracle_action`` is what the human picks
    when right (the runner passes the oracle's answer)."""
    s = settings if settings is not None else SimSettings()
    ep = _Episode(spec, seed, system, s, oracle_action, operator or HumanOperator())
    rows = [ep.window(k) for k in range(s.windows)]
    onset_k = int(spec.onset_minute // WINDOW_MINUTES)
    detected = next(
        (
            (k + 1) * WINDOW_MINUTES
            for k in range(onset_k, s.windows)
            if rows[k]["flagged"] and rows[k]["active"]
        ),
        None,
    )
    healed: float | None = None
    for k in range(s.windows - 1, onset_k - 1, -1):
        if not rows[k]["sla_ok"]:
            break
        healed = k * WINDOW_MINUTES
    if healed is not None:
        healed = max(healed, spec.onset_minute)
    tp = sum(1 for r in rows if r["active"] and r["flagged"])
    fp = sum(1 for r in rows if not r["active"] and r["flagged"])
    fn = sum(1 for r in rows if r["active"] and not r["flagged"])
    tn = sum(1 for r in rows if not r["active"] and not r["flagged"])
    met = sum(1 for r in rows if r["sla_ok"])
    degraded = (s.windows - met) * WINDOW_MINUTES / 60.0 * DEGRADED_COST_PER_HOUR
    engineering = ep.engineer_minutes / 60.0 * ENGINEER_COST_PER_HOUR
    ep._close_harm()
    contained: bool | None = None
    if ep.harmful_weights:
        contained = all(w <= 50.0 for w in ep.harmful_weights)
    return EpisodeRun(
        detected_minute=detected,
        healed_minute=healed,
        actions=tuple(ep.actions),
        cost=ep.cost_actions + engineering + degraded,
        windows=s.windows,
        sla_windows_met=met,
        catastrophic=ep.catastrophic,
        safety_violation=ep.violation,
        contained=contained,
        escalations=ep.escalations,
        engineer_minutes=ep.engineer_minutes,
        true_positive=tp,
        false_positive=fp,
        false_negative=fn,
        true_negative=tn,
        extra={
            "cost_actions": ep.cost_actions,
            "cost_engineering": engineering,
            "cost_degraded": degraded,
            "canaries": ep.canaries_started,
            "canaries_aborted": ep.canaries_aborted,
            "served_accuracy": [round(r["accuracy"], 4) for r in rows],
            "baseline_accuracy": ep.world.baseline_accuracy,
        },
    )
