"""The hybrid policy (paper 3.5; design.md 3.5): envelope first, then the bandit inside it.

``mode="hybrid"`` (the project's rule, design.md 9.1):

1. the envelope's verdict has a mandatory action → take it (source "envelope");
2. otherwise the SLA guard removes the permitted actions predicted below its threshold, and the
   bandit chooses among the rest (source "bandit"; with one action left there is nothing to draw);
3. if the guard removed them all: the mandatory action, else the safest permitted action (highest
   predicted SLA score, then lowest cost), else ESCALATE (source "fallback-of-last-resort").

So the action is always in ``verdict.permitted`` and equals ``verdict.mandatory`` when that is set.

``mode="paper"`` is the paper's literal π_hybrid, kept for comparison:
π_det(x) (the zone's default action) when π_det(x) ≠ ∅ and risk_high(x), else Thompson sampling over
A_safe(x) = π_det(x) ∪ {NO_OP}, without the SLA guard. What the paper guarantees, and what the tests
check, is only that the action is π_det(x) or NO_OP, and is π_det(x) whenever π_det(x) ≠ ∅ and
risk_high(x). With the paper's thresholds, π_det(x) ≠ ∅ implies risk_high(x) (design.md 9.1), so
the bandit only ever sees {NO_OP}; and since risk_high ignores latency and errors, a state that is
critical only by an operational SLO breach gets NO_OP or FALLBACK, where hybrid mode forces
FALLBACK. That is the paper's rule, not a bug of this mode.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import numpy as np

from safeheal.core.action import Action
from safeheal.core.decision import Decision, Outcome, PosteriorUpdate, Source, Verdict
from safeheal.core.state import State
from safeheal.errors import (
    ConfigError,
    DataError,
    DuplicateOutcomeError,
    StateError,
    StoreError,
    UnknownDecisionError,
)
from safeheal.policy._bandit import ThompsonBandit
from safeheal.policy._context import ContextBuckets
from safeheal.policy._costs import CostModel, CostTerms
from safeheal.policy._envelope import RiskHigh, SafetyEnvelope
from safeheal.policy._impact import ImpactModel
from safeheal.policy._order import ordered, rank
from safeheal.policy._sla import SLAGuard
from safeheal.policy.protocols import PosteriorStore

if TYPE_CHECKING:
    from collections.abc import Mapping

    from safeheal.config import SafehealConfig

Mode = Literal["hybrid", "paper"]
MODES: tuple[Mode, ...] = ("hybrid", "paper")
Seed = int | np.random.SeedSequence | None

#: Open decisions (and answered ids) a policy without a store remembers; older ones are forgotten.
MAX_PENDING = 100_000


def _now() -> datetime:
    return datetime.now(UTC)


def _split_seed(seed: Seed) -> tuple[Seed, Seed]:
    """Independent seeds for the bandit and the impact model."""
    if seed is None:
        return None, None
    if not isinstance(seed, np.random.SeedSequence) and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise ConfigError(
            f"the `seed` parameter of HybridPolicy must be a non-negative integer, a "
            f"numpy SeedSequence or None; got {seed!r}"
        )
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    child = np.random.SeedSequence(entropy=ss.entropy, spawn_key=ss.spawn_key)
    b, i = child.spawn(2)
    return b, i


class HybridPolicy:
    """Decides what to do about a model's State, safely, and learns from outcomes.

    Components default to the paper's configuration; ``seed`` seeds the bandit (when it is built
    here) and the impact model. With a ``store`` (a :class:`~safeheal.policy.PosteriorStore`), the
    policy loads posteriors and cost estimates from it when built, records every decision in it and
    persists every outcome before applying it; without one, it remembers its open decisions itself.
    Policies in several processes may share one store: each outcome is added to the stored
    posterior, and the policy adopts what the store then holds for that (context, action).
    Not thread-safe: give each thread (or each controller) its own policy.

    >>> policy = HybridPolicy(seed=1)
    >>> d = policy.decide(State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0))
    >>> d.verdict.zone, d.context, d.source, d.action in d.verdict.permitted
    ('degraded', 'degraded/high', 'bandit', True)
    >>> policy.update(d, success=True).success
    True
    >>> d = policy.decide(State(drift=0.28, accuracy_drop=0.0, anomaly_rate=0.0))
    >>> d.action, d.source, d.propensity
    (Action.FALLBACK, 'envelope', 1.0)
    """

    def __init__(
        self,
        envelope: SafetyEnvelope | None = None,
        costs: CostModel | None = None,
        sla: SLAGuard | None = None,
        bandit: ThompsonBandit | None = None,
        mode: Mode = "hybrid",
        store: PosteriorStore | None = None,
        seed: Seed = None,
        *,
        impact: ImpactModel | None = None,
        contexts: ContextBuckets | None = None,
        risk_high: RiskHigh | None = None,
        model: str | None = None,
        clock: Callable[[], datetime] | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(
                f"the `mode` parameter of HybridPolicy must be one of {', '.join(MODES)}; "
                f"got {mode!r}"
            )
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ConfigError(
                f"the `max_pending` parameter of HybridPolicy must be an integer >= 1; "
                f"got {max_pending!r}"
            )
        if store is not None and not isinstance(store, PosteriorStore):
            raise ConfigError(
                f"the `store` parameter of HybridPolicy must implement "
                f"safeheal.policy.PosteriorStore; got {type(store).__name__}"
            )
        bandit_seed, impact_seed = _split_seed(seed)
        self.mode: Mode = mode
        self.envelope = envelope if envelope is not None else SafetyEnvelope()
        self.costs = costs if costs is not None else CostModel()
        self.sla = sla if sla is not None else SLAGuard()
        self.bandit = bandit if bandit is not None else ThompsonBandit(bandit_seed)
        self.impact = impact if impact is not None else ImpactModel(seed=impact_seed)
        self.contexts = contexts if contexts is not None else ContextBuckets()
        self.risk_high = risk_high if risk_high is not None else RiskHigh()
        self.store = store
        self.model = model
        self.max_pending = max_pending
        self._clock = clock if clock is not None else _now
        self._ordered: dict[frozenset[Action], tuple[Action, ...]] = {}
        # FIFO-bounded (OrderedDict pops its oldest entry in O(1); a dict would not)
        self._open: OrderedDict[str, tuple[str, Action, Action | None]] = OrderedDict()
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._check_coverage()
        if store is not None:
            self.bandit.load(store.load_posteriors())
            self.costs.load(store.load_costs())

    @classmethod
    def from_config(
        cls,
        cfg: SafehealConfig,
        *,
        store: PosteriorStore | None = None,
        seed: Seed = None,
        model: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> HybridPolicy:
        """The policy ``cfg`` describes; ``seed``, if given, overrides ``policy.seed``."""
        bandit_seed, impact_seed = _split_seed(seed if seed is not None else cfg.policy.seed)
        return cls(
            SafetyEnvelope.from_config(cfg),
            CostModel.from_config(cfg),
            SLAGuard.from_config(cfg),
            ThompsonBandit.from_config(cfg, seed=bandit_seed),
            mode=cfg.policy.mode,
            store=store,
            impact=ImpactModel.from_config(cfg, seed=impact_seed),
            contexts=ContextBuckets.from_config(cfg),
            risk_high=RiskHigh.from_config(cfg),
            model=model,
            clock=clock,
        )

    def _check_coverage(self) -> None:
        needed = self.envelope.actions() | {Action.NO_OP, Action.ESCALATE}
        tables = (("cost terms", self.costs.actions()), ("SLA effect", self.sla.actions()))
        for what, have in tables:
            missing = sorted(a.name for a in needed - have)
            if missing:
                raise ConfigError(
                    f"the envelope can choose {', '.join(missing)}, which has no {what}; "
                    f"configure it (costs.actions.<NAME> / sla.effects.<NAME>)"
                )

    # --- deciding ------------------------------------------------------------------------------
    def decide(self, state: State) -> Decision:
        """The decision for ``state``, with the verdict, the safe set, scores, costs and reasons."""
        if not isinstance(state, State):
            raise StateError(f"decide() needs a safeheal.State; got {type(state).__name__}")
        verdict = self.envelope.assess(state)
        context = self.contexts.bucket(state, verdict.zone)
        reasons = list(verdict.reasons)
        if self.mode == "hybrid":
            considered = self._order(verdict.permitted)
        else:  # the paper's A_safe = π_det(x) ∪ {NO_OP} may lie outside the permitted set
            considered = self._order(verdict.permitted | {Action.NO_OP})
        score, cost = self.sla.score, self.costs.cost
        scores = {a: score(state, a) for a in considered}
        costs = {a: cost(a) for a in considered}
        if self.mode == "hybrid":
            action, source, safe, propensity, draws = self._hybrid(
                verdict, context, considered, scores, costs, reasons
            )
        else:
            action, source, safe, propensity, draws = self._paper(
                state, verdict, context, costs, reasons
            )
        if action not in scores:  # ESCALATE from an empty permitted set
            scores[action] = score(state, action)
            costs[action] = cost(action)
        p = self.bandit.mean(context, action, verdict.default)
        impact = self.impact.estimate(state, action, p_success=p, cost=costs[action])
        decision = Decision(
            action=action,
            verdict=verdict,
            safe_set=safe,
            source=source,
            propensity=propensity,
            scores=scores,
            reasons=tuple(reasons),
            state=state,
            context=context,
            draws=draws,
            costs=costs,
            impact=impact,
            mode=self.mode,
            at=self._clock(),
        )
        if self.store is not None:
            self.store.record_decision(decision, model=self.model)
        else:
            self._remember(decision.id, (context, action, verdict.default))
        return decision

    def _order(self, actions: frozenset[Action]) -> tuple[Action, ...]:
        hit = self._ordered.get(actions)
        if hit is None:
            hit = self._ordered[actions] = ordered(actions)
        return hit

    def _hybrid(
        self,
        verdict: Verdict,
        context: str,
        permitted: tuple[Action, ...],
        scores: dict[Action, float],
        costs: dict[Action, float],
        reasons: list[str],
    ) -> tuple[Action, Source, frozenset[Action], float, dict[Action, float]]:
        if verdict.mandatory is not None:
            action = verdict.mandatory
            reasons.append(f"{action.name} is mandatory in the {verdict.zone} zone")
            return action, "envelope", frozenset((action,)), 1.0, {}
        threshold = self.sla.threshold
        safe: list[Action] = []
        for a in permitted:
            if scores[a] >= threshold:
                safe.append(a)
            else:
                reasons.append(
                    f"SLA guard removed {a.name}: predicted SLA score {scores[a]:.3f} "
                    f"< {threshold:.2f}"
                )
        if safe:
            safe_t = tuple(safe)
            action, propensity, draws = self._learn(
                context, safe_t, costs, verdict.default, reasons
            )
            return action, "bandit", frozenset(safe_t), propensity, draws
        action = self._last_resort(verdict, permitted, scores, costs)
        reasons.append(
            f"no permitted action passes the SLA guard; {action.name} is the "
            + ("mandatory action" if action is verdict.mandatory else "safest permitted action")
        )
        return action, "fallback-of-last-resort", frozenset(), 1.0, {}

    def _paper(
        self,
        state: State,
        verdict: Verdict,
        context: str,
        costs: dict[Action, float],
        reasons: list[str],
    ) -> tuple[Action, Source, frozenset[Action], float, dict[Action, float]]:
        det = verdict.mandatory if verdict.mandatory is not None else verdict.default
        if det is not None and self.risk_high(state):
            reasons.append(f"paper mode: π_det(x) = {det.name} and risk_high(x) holds")
            return det, "envelope", frozenset((det,)), 1.0, {}
        a_safe = self._order(frozenset((Action.NO_OP,) if det is None else (det, Action.NO_OP)))
        names = ", ".join(a.name for a in a_safe)
        reasons.append(f"paper mode: π_learn over A_safe = π_det(x) ∪ {{NO_OP}} = {{{names}}}")
        action, propensity, draws = self._learn(context, a_safe, costs, verdict.default, reasons)
        return action, "bandit", frozenset(a_safe), propensity, draws

    def _learn(
        self,
        context: str,
        safe: tuple[Action, ...],
        costs: dict[Action, float],
        default: Action | None,
        reasons: list[str],
    ) -> tuple[Action, float, dict[Action, float]]:
        if len(safe) == 1:
            reasons.append(f"{safe[0].name} is the only action left to choose")
            return safe[0], 1.0, {}
        bandit = self.bandit
        choice = bandit._choose(context, safe, costs, default)
        a = choice.action
        propensity = bandit._propensity(context, safe, costs, default)[a]
        reasons.append(
            f"bandit chose {a.name} in {context}: λ·θ − C = {bandit.lam:g}·{choice.draws[a]:.3f} "
            f"− {costs[a]:.3f} = {choice.values[a]:.3f}, the best of {len(safe)} "
            f"(propensity {propensity:.3f})"
        )
        return a, propensity, choice.draws

    @staticmethod
    def _last_resort(
        verdict: Verdict,
        permitted: tuple[Action, ...],
        scores: dict[Action, float],
        costs: dict[Action, float],
    ) -> Action:
        if verdict.mandatory is not None:
            return verdict.mandatory
        if not permitted:
            return Action.ESCALATE
        return max(permitted, key=lambda a: (scores[a], -costs[a], -rank(a)))

    # --- learning ------------------------------------------------------------------------------
    def update(
        self,
        decision: Decision,
        success: bool,
        cost: CostTerms | Mapping[str, float] | float | None = None,
    ) -> Outcome:
        """Fold in the outcome of ``decision``: success or not, and its measured cost if known.

        ``cost`` is the three measured terms (:class:`CostTerms`) or a total C(a) in [0, 1]. The
        outcome's posterior update and the new cost estimate are computed first, persisted through
        the store (which refuses an unknown or already answered decision), and only then applied:
        on any error nothing changes. With a store, the store adds the outcome to the posterior it
        holds for (context, action) and the policy takes the result, so it also picks up the
        outcomes other policies sharing the store recorded for that pair. Without a store the
        policy updates its own posterior, and checks the id against the decisions it made.
        """
        if not isinstance(decision, Decision):
            raise DataError(
                f"update() needs a Decision returned by decide(); got {type(decision).__name__}"
            )
        if not isinstance(success, bool | np.bool_):
            raise DataError(f"the `success` of an outcome must be a bool; got {success!r}")
        if self.store is None:
            if decision.id in self._closed:
                raise DuplicateOutcomeError(
                    f"decision {decision.id} already has an outcome; each decision gets one"
                )
            rec = self._open.get(decision.id)
            if rec is None:
                raise UnknownDecisionError(
                    f"no open decision with id {decision.id!r}: this policy did not make it, or it "
                    f"is older than the last {self.max_pending} decisions it remembers"
                )
            context, action, default = rec
        else:
            context, action, default = (
                decision.context,
                decision.action,
                decision.verdict.default,
            )
        estimate, measured = (
            self.costs.estimate_after(action, cost) if cost is not None else (None, None)
        )
        outcome = Outcome(decision.id, bool(success), measured, self._clock())
        if self.store is not None:
            prior_alpha, prior_beta = self.bandit.params(context, action, default)
            update = PosteriorUpdate(
                context,
                action.name,
                successes=1.0 if success else 0.0,
                failures=0.0 if success else 1.0,
                prior_alpha=prior_alpha,
                prior_beta=prior_beta,
            )
            stored = self.store.record_outcome(outcome, update, estimate)
            if stored is None:
                raise StoreError(
                    f"the store {type(self.store).__name__} recorded the outcome of decision "
                    f"{decision.id!r} but returned no posterior for {action.name} in "
                    f"{context!r}; PosteriorStore.record_outcome must return the stored posterior"
                )
            posterior = stored
        else:
            posterior = self.bandit.posterior_after(context, action, bool(success), default)
            del self._open[decision.id]
            self._closed[decision.id] = None
            if len(self._closed) > self.max_pending:
                self._closed.popitem(last=False)
        self.bandit.set_posterior(posterior)
        if estimate is not None:
            self.costs.set_estimate(estimate)
        return outcome

    def _remember(self, decision_id: str, rec: tuple[str, Action, Action | None]) -> None:
        self._open[decision_id] = rec
        if len(self._open) > self.max_pending:
            self._open.popitem(last=False)

    def __repr__(self) -> str:
        return (
            f"HybridPolicy(mode={self.mode!r}, zones={[r.zone for r in self.envelope.rules]}, "
            f"store={type(self.store).__name__ if self.store is not None else None})"
        )
