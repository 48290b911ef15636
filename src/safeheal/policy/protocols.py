"""The small interfaces the policy needs from the outside world, implemented elsewhere.

``safeheal.store`` implements :class:`PosteriorStore` over SQLAlchemy (SQLite or PostgreSQL);
``safeheal.control`` wires it into a :class:`~safeheal.policy.HybridPolicy`. The policy itself does
no I/O.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from safeheal.core.decision import CostEstimate, Decision, Outcome, Posterior, PosteriorUpdate

__all__ = ["CostEstimate", "Posterior", "PosteriorStore", "PosteriorUpdate"]


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
        update: PosteriorUpdate | None,
        cost: CostEstimate | None,
    ) -> Posterior | None:
        """Atomically keep an outcome, apply its posterior update and keep its cost estimate.

        In the same transaction as the outcome, ``update`` is applied to the stored posterior of
        its (context, action): its successes are added to alpha and its failures to beta, or, when
        the store holds no posterior for the pair yet, the posterior starts from
        Beta(prior_alpha, prior_beta) plus the update. Increments, not absolute values, so that
        several policies sharing the store (one per process, or several on one database) never
        overwrite each other's outcomes. Returns the posterior as stored after the update (which
        includes every other writer's outcomes for the pair), or None when ``update`` is None.

        ``cost`` is absolute: it replaces the stored estimate for its action (last writer wins).
        """
        ...
