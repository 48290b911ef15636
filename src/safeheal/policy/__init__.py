"""Layers 1–3, decision: safety envelope, SLA guard, cost-aware constrained Thompson sampling.

Pure computation: no I/O. Persistence reaches the policy through :class:`PosteriorStore`, which
``safeheal.store`` implements.
"""

from safeheal.policy._bandit import Choice, ThompsonBandit, argmax_probabilities
from safeheal.policy._costs import CostModel, CostTerms, CostWeights
from safeheal.policy._envelope import Condition, RiskHigh, Rule, SafetyEnvelope, paper_rules
from safeheal.policy._sla import ActionEffect, SLAGuard, SLAWeights
from safeheal.policy.protocols import CostEstimate, Posterior, PosteriorStore

__all__ = [
    "ActionEffect",
    "Choice",
    "Condition",
    "CostEstimate",
    "CostModel",
    "CostTerms",
    "CostWeights",
    "Posterior",
    "PosteriorStore",
    "RiskHigh",
    "Rule",
    "SLAGuard",
    "SLAWeights",
    "SafetyEnvelope",
    "ThompsonBandit",
    "argmax_probabilities",
    "paper_rules",
]
