"""The systems compared (paper 5.1.2): hybrid, paper, rl-only, rules-only, human-in-the-loop.

Every system sees the same State, computed by the project's detectors for each window, and is
asked to decide only in windows the detectors flag (a State outside the envelope's healthy zone):
healthy windows need no decision. What a system decides is carried out by the project's executors
(:mod:`safeheal.heal`); how it is deployed (with or without a canary) is the system's own.

- **hybrid**: :class:`~safeheal.policy.HybridPolicy` in ``hybrid`` mode, as the project's
  controller runs it: retrains deploy by the paper's canary, and a critical state in a context
  with no outcome yet, or three failed heals in a row, escalate to the engineer instead.
- **paper**: the same, with the policy in ``paper`` mode (the literal formula, design.md 9.1).
- **rl-only**: cost-aware Thompson sampling (:class:`~safeheal.policy.ThompsonBandit`) over
  every healing action, with ε-greedy exploration (ε = 0.1: with probability ε a uniformly random
  action), no envelope, no SLA guard, and no canary: a retrained model takes all traffic at once.
- **rules-only**: :data:`EXPERT_RULES`, twelve fixed rules, first match wins; no learning.
- **human**: an engineer alerted by the same detectors answers after a response time with mean
  45 minutes and picks the best action (the oracle's) with probability 0.88.

Each learning system keeps what it learnt across the episodes of one seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from safeheal.config import SafehealConfig
from safeheal.core.action import Action
from safeheal.core.decision import Decision
from safeheal.core.state import State
from safeheal.errors import ConfigError
from safeheal.policy import (
    ContextBuckets,
    CostModel,
    CostWeights,
    HybridPolicy,
    SafetyEnvelope,
    ThompsonBandit,
)

__all__ = [
    "EXPERT_RULES",
    "HEALING_ACTIONS",
    "ExpertRule",
    "HumanOperator",
    "PolicySystem",
    "RLOnlySystem",
    "RulesOnlySystem",
    "ScriptedSystem",
    "System",
    "cost_model",
    "make_system",
]

#: The actions the autonomous baselines choose from (ESCALATE is the hybrid's last resort only).
HEALING_ACTIONS: tuple[Action, ...] = (
    Action.NO_OP,
    Action.FALLBACK,
    Action.ROLLBACK,
    Action.RETRAIN,
)


def cost_model(beta: float = 0.3) -> CostModel:
    """The cost model with risk weight ``beta`` (the paper's β); compute and downtime share the
    rest in the paper's ratio 0.5 : 0.2, so β = 0.3 gives the paper's weights exactly."""
    rest = 1.0 - beta
    return CostModel(
        weights=CostWeights(compute=rest * 5.0 / 7.0, risk=beta, downtime=rest * 2.0 / 7.0)
    )


class System(Protocol):
    """A system under test: decides on flagged windows, and learns from outcomes (or not)."""

    name: str
    #: Deploy retrained models by canary (False: all traffic at once).
    canary: bool
    #: A human investigates each alert before acting (the human-in-the-loop baseline).
    investigates: bool

    def decide(self, state: State) -> tuple[Action, Any]:
        """The action for ``state`` and a token to hand back to :meth:`learn`."""
        ...

    def learn(self, token: Any, success: bool) -> None:
        """The outcome of the decision ``token`` stood for."""
        ...


class PolicySystem:
    """The project's policy (``hybrid`` or ``paper`` mode) as the controller runs it: retrains
    deploy by canary, and the controller's escalation rule applies (:meth:`escalate`)."""

    canary = True
    investigates = False

    def __init__(self, mode: str, seed: int, *, beta: float = 0.3) -> None:
        self.name = "hybrid" if mode == "hybrid" else "paper"
        self.policy = HybridPolicy(mode=mode, seed=seed, costs=cost_model(beta))  # type: ignore[arg-type]
        control = SafehealConfig().control
        self.max_failures = control.max_consecutive_failures
        self.escalate_novel = control.escalate_novel
        self._handled: set[str] = set()

    def escalate(self, token: Any, failures: int) -> str | None:
        """Why the controller would escalate instead of carrying out ``token`` (a Decision), or
        None: ``control.max_consecutive_failures`` failed heals in a row, or a mandatory action
        in a context with no outcome yet (``control.escalate_novel``). A context a human handled
        is no longer novel."""
        if not isinstance(token, Decision):
            return None
        if failures >= self.max_failures:
            self._handled.add(token.context)
            return f"{failures} heals failed in a row"
        if self.escalate_novel and token.verdict.mandatory is not None:
            seen = {p.context for p in self.policy.bandit.posteriors()} | self._handled
            if token.context not in seen:
                self._handled.add(token.context)
                return f"a novel situation: {token.context} with no outcome yet"
        return None

    def decide(self, state: State) -> tuple[Action, Any]:
        d = self.policy.decide(state)
        return d.action, d

    def learn(self, token: Any, success: bool) -> None:
        if isinstance(token, Decision):
            self.policy.update(token, success=success)


class RLOnlySystem:
    """Thompson sampling over :data:`HEALING_ACTIONS` with ε-greedy exploration, unconstrained.

    ``epsilon`` is the share of decisions taken uniformly at random (the paper's ε = 0.1; the
    sensitivity analysis varies it). The context is the same bucket the hybrid uses (the zone
    the State falls in and a coarse severity), so both see the same state representation; the
    zone constrains nothing here.
    """

    canary = False
    investigates = False
    name = "rl-only"

    def __init__(self, seed: int, *, epsilon: float = 0.1, beta: float = 0.3) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"the `epsilon` of RLOnlySystem must be in [0, 1]; got {epsilon!r}")
        ss = np.random.SeedSequence([seed, 31337])
        b, r = ss.spawn(2)
        self.epsilon = epsilon
        self.bandit = ThompsonBandit(b)
        self._rng = np.random.default_rng(r)
        self.costs = cost_model(beta)
        self._envelope = SafetyEnvelope()
        self._contexts = ContextBuckets()
        self._cost = {a: self.costs.cost(a) for a in HEALING_ACTIONS}

    def decide(self, state: State) -> tuple[Action, Any]:
        zone = self._envelope.assess(state).zone
        context = self._contexts.bucket(state, zone)
        if self._rng.random() < self.epsilon:
            action = HEALING_ACTIONS[int(self._rng.integers(len(HEALING_ACTIONS)))]
        else:
            action = self.bandit.choose(context, HEALING_ACTIONS, costs=self._cost).action
        return action, (context, action)

    def learn(self, token: Any, success: bool) -> None:
        context, action = token
        self.bandit.update(context, action, success)


@dataclass(frozen=True, slots=True)
class ExpertRule:
    """One expert rule: when ``condition`` holds for a State, take ``action``."""

    name: str
    description: str
    condition: Callable[[State], bool]
    action: Action

    def words(self) -> str:
        """The rule in plain words, for the report."""
        return f"{self.description} → {self.action.name}"


#: The rules-only baseline's twelve rules (paper 5.1.2), first match wins. Their statistical
#: thresholds are the detectors' (KS α = 0.05, anomaly Z = 3.0), the same as every system's.
EXPERT_RULES: tuple[ExpertRule, ...] = (
    ExpertRule(
        "errors", "more than 5% of requests fail", lambda s: s.error_rate > 0.05, Action.FALLBACK
    ),
    ExpertRule(
        "latency",
        "p95 latency is above the SLO",
        lambda s: s.latency_ratio > 1.0,
        Action.FALLBACK,
    ),
    ExpertRule(
        "accuracy-severe",
        "accuracy fell by more than 0.15",
        lambda s: s.accuracy_drop > 0.15,
        Action.FALLBACK,
    ),
    ExpertRule(
        "drift-severe",
        "a feature drifted with KS D above 0.20",
        lambda s: s.drift > 0.20,
        Action.FALLBACK,
    ),
    ExpertRule(
        "anomalies-severe",
        "more than 5% of inputs are anomalous (|z| > 3)",
        lambda s: s.anomaly_rate > 0.05,
        Action.FALLBACK,
    ),
    ExpertRule(
        "version-fault",
        "accuracy fell by more than 0.10 while the inputs hardly drifted (D ≤ 0.10): "
        "the deployed version is at fault",
        lambda s: s.accuracy_drop > 0.10 and s.drift <= 0.10,
        Action.ROLLBACK,
    ),
    ExpertRule(
        "drift-accuracy",
        "accuracy fell by more than 0.10 and the inputs drifted (D > 0.10): retrain on recent data",
        lambda s: s.accuracy_drop > 0.10,
        Action.RETRAIN,
    ),
    ExpertRule(
        "drift-moderate",
        "a feature drifted with KS D above 0.15: retrain on recent data",
        lambda s: s.drift > 0.15,
        Action.RETRAIN,
    ),
    ExpertRule(
        "slow-and-failing",
        "p95 latency above 90% of the SLO and more than 1% of requests fail",
        lambda s: s.latency_ratio > 0.9 and s.error_rate > 0.01,
        Action.ROLLBACK,
    ),
    ExpertRule(
        "anomalies",
        "more than 3% of inputs are anomalous",
        lambda s: s.anomaly_rate > 0.03,
        Action.FALLBACK,
    ),
    ExpertRule(
        "errors-rising",
        "more than 2% of requests fail",
        lambda s: s.error_rate > 0.02,
        Action.FALLBACK,
    ),
    ExpertRule(
        "otherwise",
        "anything else the detectors flag: serve the validated fallback",
        lambda s: True,
        Action.FALLBACK,
    ),
)


class RulesOnlySystem:
    """The twelve :data:`EXPERT_RULES`; deploys retrains by canary; learns nothing."""

    canary = True
    investigates = False
    name = "rules-only"

    def __init__(self, rules: tuple[ExpertRule, ...] = EXPERT_RULES) -> None:
        self.rules = rules

    def decide(self, state: State) -> tuple[Action, Any]:
        for rule in self.rules:
            if rule.condition(state):
                return rule.action, rule.name
        return Action.NO_OP, None  # pragma: no cover - the last rule always matches

    def learn(self, token: Any, success: bool) -> None:
        return None


@dataclass(frozen=True, slots=True)
class HumanOperator:
    """The human-in-the-loop baseline's engineer (paper 5.1.2).

    The response time is gamma-distributed with mean ``mean_response_minutes`` (shape 4: rarely
    under 10 minutes, sometimes over 90); the engineer then picks the best action (the oracle's)
    with probability ``accuracy``, otherwise one of the other healing actions uniformly, and
    spends ``hands_on_minutes`` carrying it out.
    """

    mean_response_minutes: float = 45.0
    accuracy: float = 0.88
    hands_on_minutes: float = 15.0
    shape: float = 4.0

    def response_minutes(self, rng: np.random.Generator) -> float:
        return float(rng.gamma(self.shape, self.mean_response_minutes / self.shape))

    def pick(self, best: Action, rng: np.random.Generator) -> Action:
        if rng.random() < self.accuracy:
            return best
        others = [a for a in HEALING_ACTIONS if a is not best]
        return others[int(rng.integers(len(others)))]


class HumanSystem:
    """The human-in-the-loop baseline: every flagged window raises an alert to a
    :class:`HumanOperator`; the simulator runs the investigation (see :mod:`._sim`)."""

    canary = True
    investigates = True
    name = "human"

    def __init__(self, operator: HumanOperator | None = None) -> None:
        self.operator = operator if operator is not None else HumanOperator()

    def decide(self, state: State) -> tuple[Action, Any]:
        return Action.ESCALATE, None

    def learn(self, token: Any, success: bool) -> None:
        return None


class ScriptedSystem:
    """Takes ``action`` once, at window ``at_window``, and nothing else: the oracle's probe.

    ``name`` defaults to ``"oracle"``; with ``at_window=None`` it takes ``action`` at every
    flagged window (``ScriptedSystem(Action.NO_OP, None)`` is the always-NO_OP system the tests
    compare with)."""

    canary = True
    investigates = False

    def __init__(self, action: Action, at_window: int | None, *, name: str = "oracle") -> None:
        self.action = action
        self.at_window = at_window
        self.name = name

    def decide(self, state: State) -> tuple[Action, Any]:
        return self.action, None

    def learn(self, token: Any, success: bool) -> None:
        return None


def make_system(name: str, seed: int, *, epsilon: float = 0.1, beta: float = 0.3) -> System:
    """A fresh system by name (one of :data:`~safeheal.bench.SYSTEMS`), seeded."""
    makers: Mapping[str, Callable[[], System]] = {
        "hybrid": lambda: PolicySystem("hybrid", seed, beta=beta),
        "paper": lambda: PolicySystem("paper", seed, beta=beta),
        "rl-only": lambda: RLOnlySystem(seed, epsilon=epsilon, beta=beta),
        "rules-only": lambda: RulesOnlySystem(),
        "human": lambda: HumanSystem(),
    }
    try:
        return makers[name]()
    except KeyError:
        raise ConfigError(f"unknown system {name!r}; expected one of {', '.join(makers)}") from None
