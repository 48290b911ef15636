"""What the policy decided and why, and what came of it: plain values the store can keep."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from safeheal.core.action import Action
from safeheal.core.state import State

Source = Literal["envelope", "bandit", "fallback-of-last-resort"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The safety envelope's ruling on one State."""

    #: The action that must be taken, or None when the policy may choose.
    mandatory: Action | None
    #: The actions that are safe in this state.
    permitted: frozenset[Action]
    #: The name of the envelope zone that matched (e.g. "critical", "healthy").
    zone: str
    #: Plain words naming the signal and threshold that decided.
    reasons: tuple[str, ...]
    #: The zone's default action (the paper's π_det(x)), or None; warm-starts the bandit.
    default: Action | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mandatory": self.mandatory.name if self.mandatory else None,
            "permitted": sorted(a.name for a in self.permitted),
            "zone": self.zone,
            "reasons": list(self.reasons),
            "default": self.default.name if self.default else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        return cls(
            mandatory=Action(d["mandatory"]) if d.get("mandatory") else None,
            permitted=frozenset(Action(a) for a in d["permitted"]),
            zone=str(d["zone"]),
            reasons=tuple(d.get("reasons", ())),
            default=Action(d["default"]) if d.get("default") else None,
        )


def new_id() -> str:
    """A fresh decision id (UUID4 hex)."""
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision of the policy, with everything needed to explain and evaluate it later."""

    action: Action
    verdict: Verdict
    #: The actions the choice was made from: permitted, then filtered by the SLA guard.
    safe_set: frozenset[Action]
    source: Source
    #: Probability of choosing ``action`` under the policy in this state (1.0 when forced).
    propensity: float
    #: Predicted SLA score per action considered.
    scores: Mapping[Action, float]
    #: Plain-words reasons, in the order they applied.
    reasons: tuple[str, ...]
    state: State
    #: The bandit's context bucket (zone and severity), e.g. "degraded/high".
    context: str = ""
    #: Posterior draws θ per action, when the bandit chose.
    draws: Mapping[Action, float] = field(default_factory=dict)
    #: Cost C(a) per action considered.
    costs: Mapping[Action, float] = field(default_factory=dict)
    #: Monte Carlo business-impact estimate (revenue loss averted minus action cost), if computed.
    impact: float | None = None
    mode: str = "hybrid"
    id: str = field(default_factory=new_id)
    at: datetime = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (actions by name, times in ISO 8601)."""
        s = self.state
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "action": self.action.name,
            "verdict": self.verdict.to_dict(),
            "safe_set": sorted(a.name for a in self.safe_set),
            "source": self.source,
            "propensity": self.propensity,
            "scores": {a.name: v for a, v in self.scores.items()},
            "reasons": list(self.reasons),
            "state": {
                "drift": s.drift,
                "accuracy_drop": s.accuracy_drop,
                "anomaly_rate": s.anomaly_rate,
                "latency_ratio": s.latency_ratio,
                "error_rate": s.error_rate,
                "fallback_share": s.fallback_share,
            },
            "context": self.context,
            "draws": {a.name: v for a, v in self.draws.items()},
            "costs": {a.name: v for a, v in self.costs.items()},
            "impact": self.impact,
            "mode": self.mode,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        return cls(
            id=str(d["id"]),
            at=datetime.fromisoformat(d["at"]),
            action=Action(d["action"]),
            verdict=Verdict.from_dict(d["verdict"]),
            safe_set=frozenset(Action(a) for a in d["safe_set"]),
            source=d["source"],
            propensity=float(d["propensity"]),
            scores={Action(k): float(v) for k, v in d.get("scores", {}).items()},
            reasons=tuple(d.get("reasons", ())),
            state=State(**d["state"]),
            context=str(d.get("context", "")),
            draws={Action(k): float(v) for k, v in d.get("draws", {}).items()},
            costs={Action(k): float(v) for k, v in d.get("costs", {}).items()},
            impact=None if d.get("impact") is None else float(d["impact"]),
            mode=str(d.get("mode", "hybrid")),
        )

    @classmethod
    def from_json(cls, text: str) -> Decision:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened after a decision: success (the heal worked), and its measured cost."""

    decision_id: str
    success: bool
    #: Measured cost C(a) in [0, 1], if known.
    cost: float | None = None
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class Posterior:
    """Beta(alpha, beta) posterior of one action's success in one context bucket."""

    context: str
    action: str  # Action name
    alpha: float
    beta: float


@dataclass(frozen=True, slots=True)
class PosteriorUpdate:
    """What one outcome changes in the Beta posterior of one action in one context bucket.

    A store adds ``successes`` to the alpha and ``failures`` to the beta of the posterior it holds
    for (``context``, ``action``), in the transaction that keeps the outcome, so that policies in
    several processes sharing the store lose none of each other's outcomes. When it holds none
    yet, it starts from Beta(``prior_alpha``, ``prior_beta``): the posterior the policy had for the
    pair (its prior, plus the warm start for the zone's default action).

    >>> u = PosteriorUpdate("degraded/high", "ROLLBACK", successes=1.0, failures=0.0,
    ...                     prior_alpha=3.0, prior_beta=1.0)
    >>> u.successes + u.prior_alpha, u.failures + u.prior_beta  # the first outcome of the pair
    (4.0, 1.0)
    """

    context: str
    action: str  # Action name
    successes: float
    failures: float
    prior_alpha: float
    prior_beta: float


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Running estimate of one action's normalised cost terms, each in [0, 1]."""

    action: str  # Action name
    compute: float
    risk: float
    downtime: float
    #: Number of measurements folded into the estimate (0: the configured default).
    n: int = 0
