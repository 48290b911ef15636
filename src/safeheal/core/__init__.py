"""Value types shared by every stage of the loop: State, Action, Verdict, Decision, Outcome."""

from safeheal.core.action import Action
from safeheal.core.decision import (
    CostEstimate,
    Decision,
    Outcome,
    Posterior,
    PosteriorUpdate,
    Source,
    Verdict,
)
from safeheal.core.state import State

__all__ = [
    "Action",
    "CostEstimate",
    "Decision",
    "Outcome",
    "Posterior",
    "PosteriorUpdate",
    "Source",
    "State",
    "Verdict",
]
