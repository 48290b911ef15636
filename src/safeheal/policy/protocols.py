"""The small interfaces the policy needs from the outside world, implemented elsewhere.

``safeheal.store`` implements :class:`PosteriorStore` over SQLAlchemy (SQLite or PostgreSQL);
``safeheal.control`` wires it into a :class:`~safeheal.policy.HybridPolicy`. The policy itself does
no I/O.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from safeheal.core.decision import CostEstimate, Decision, Outcome, Posterior

__all__ = ["CostEstimate", "Posterior", "PosteriorStore"]


@runtime_checkable
class PosteriorStore(Protocol):
    """Durable memory of a policy: decisions, outcomes, posteriors and cost estimates.

    Every write is one transaction. ``record_outcome`` must check, inside its transaction, that the
    decision exists (else :class:`~safeheal.errors.UnknownDecisionError`) and has no outcome yet
    (else :class:`~safeheal.errors.DuplicateOutcomeError`); on any error nothing is written.
    A store that is locked or gone raises :class:`~safeheal.errors.StoreError`.
    """

    def load_posteriors(self) -> list[Posterior]:
        """Every stored posterior."""
        ...

    def load_costs(self) -> list[CostEstimate]:
        """Every stored cost estimate."""
        ...

    def record_decision(self, decision: Decision, *, model: str | None = None) -> None:
        """Keep a decision (with its verdict, safe set, propensity and reasons)."""
        ...

    def get_decision(self, decision_id: str) -> Decision:
        """A stored decision; UnknownDecisionError if there is none with that id."""
        ...

    def record_outcome(
        self,
        outcome: Outcome,
        posterior: Posterior | None,
        cost: CostEstimate | None,
    ) -> None:
        """Atomically keep an outcome and the posterior and cost estimate it produced."""
        ...
