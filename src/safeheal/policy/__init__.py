"""Layers 1–3, decision: safety envelope, SLA guard, cost-aware constrained Thompson sampling.

Pure computation: no I/O. Persistence reaches the policy through :class:`PosteriorStore`, which
``safeheal.store`` implements.

>>> from safeheal import HybridPolicy, State
>>> policy = HybridPolicy(seed=0)
>>> decision = policy.decide(State(drift=0.31, accuracy_drop=0.02, anomaly_rate=0.01))
>>> decision.action, decision.source
(Action.FALLBACK, 'envelope')
"""

from safeheal.policy._bandit import Choice, ThompsonBandit, argmax_probabilities
from safeheal.policy._context import ContextBuckets
from safeheal.policy._costs import CostModel, CostTerms, CostWeights
from safeheal.policy._envelope import Condition, RiskHigh, Rule, SafetyEnvelope, paper_rules
from safeheal.policy._hybrid import MODES, HybridPolicy, Mode
from safeheal.policy._impact import ImpactAssumptions, ImpactModel
from safeheal.policy._sla import ActionEffect, SLAGuard, SLAWeights
from safeheal.policy.protocols import CostEstimate, Posterior, PosteriorStore, PosteriorUpdate

__all__ = [
    "MODES",
    "ActionEffect",
    "Choice",
    "Condition",
    "ContextBuckets",
    "CostEstimate",
    "CostModel",
    "CostTerms",
    "CostWeights",
    "HybridPolicy",
    "ImpactAssumptions",
    "ImpactModel",
    "Mode",
    "Posterior",
    "PosteriorStore",
    "PosteriorUpdate",
    "RiskHigh",
    "Rule",
    "SLAGuard",
    "SLAWeights",
    "SafetyEnvelope",
    "ThompsonBandit",
    "argmax_probabilities",
    "paper_rules",
]
