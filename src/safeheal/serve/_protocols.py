"""Where the gateway meets the rest of safeheal: small Protocols, implemented elsewhere.

- :class:`ModelSource`: name and version to a fitted predictor and its feature names
  (:class:`~safeheal.serve.StaticModelSource`, :class:`~safeheal.serve.RegistryModelSource`).
- :class:`TrafficTable`: the arms of each model, set by the canary and the controller
  (:class:`~safeheal.serve.InMemoryTrafficTable`).
- :class:`InferenceSink`: where logged batches go (:class:`~safeheal.serve.MemorySink`; the
  store's SQL sink).
- :class:`AdminActions`: what the admin API does (:class:`~safeheal.serve.HealingAdmin` over the
  registry, the traffic table and the store; :class:`~safeheal.serve.TrafficAdmin` over the
  traffic table alone).
- :class:`RoleRegistry`: the part of the model registry the gateway reads (the MLflow adapter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from safeheal.serve._records import FeedbackRecord, InferenceRecord
from safeheal.serve._traffic import Arm

#: The registry roles (aliases) a version can hold.
Role = Literal["champion", "challenger", "fallback"]


@runtime_checkable
class Predictor(Protocol):
    """A fitted model: ``predict`` takes a float64 array (rows x features, in feature order)
    and returns one prediction per row."""

    def predict(self, X: NDArray[np.float64], /) -> Any: ...


@runtime_checkable
class ModelSource(Protocol):
    """Loads model versions. Both methods raise
    :class:`~safeheal.serve.ModelNotFoundError` for an unknown name or version."""

    def load(self, name: str, version: int) -> Predictor:
        """The fitted predictor of one version (may be slow; the gateway caches it)."""
        ...

    def feature_names(self, name: str, version: int) -> Sequence[str]:
        """The version's input features, in the order ``predict`` expects them."""
        ...


@runtime_checkable
class TrafficTable(Protocol):
    """The current arms of each served model. Implementations are thread-safe: the controller
    writes while the gateway reads."""

    def arms(self, model: str) -> tuple[Arm, ...] | None:
        """The model's arms (weights sum to 100), or None if the model is not served."""
        ...

    def set_arms(self, model: str, arms: Sequence[Arm | tuple[int, float]]) -> None:
        """Replace the model's arms at once; a ConfigError if they are invalid."""
        ...

    def models(self) -> tuple[str, ...]:
        """Names of the served models, sorted."""
        ...


@runtime_checkable
class InferenceSink(Protocol):
    """Durable home of the inference log. ``write`` is called from one background thread with
    one batch at a time and should keep the batch atomically (one transaction): after it
    returns, the batch survives a crash of the gateway."""

    def write(
        self, inferences: Sequence[InferenceRecord], feedback: Sequence[FeedbackRecord]
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class CanaryStatus:
    """A canary that is running: what it deploys, against what, and where it is."""

    canary_id: str
    #: The action that started it (``RETRAIN``, ``FALLBACK``).
    action: str
    candidate_version: int
    incumbent_version: int | None
    #: ``pending``, ``progressing`` or ``paused``.
    phase: str
    #: The candidate's share of the traffic, in percent.
    weight: float
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EscalationStatus:
    """An escalation: pending in a status report, or as it stands after an approval."""

    escalation_id: str
    #: ``pending``, ``approved`` or ``rejected``.
    status: str
    detail: str = ""
    model: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What the admin API reports about one served model."""

    model: str
    arms: tuple[Arm, ...]
    #: Versions holding registry roles (champion, challenger, fallback), where known.
    roles: Mapping[str, int] = field(default_factory=dict)
    #: Whether a rollback has somewhere to go.
    rollback_available: bool = False
    #: Canaries of the model still running, oldest first.
    canaries: tuple[CanaryStatus, ...] = ()
    #: Escalations about the model waiting for a human, oldest first.
    escalations: tuple[EscalationStatus, ...] = ()


@runtime_checkable
class AdminActions(Protocol):
    """What the admin API can do. Methods may block (they run in a worker thread); they raise
    :class:`~safeheal.serve.ModelNotFoundError` (404), :class:`~safeheal.serve.AdminConflictError`
    (409) or :class:`~safeheal.serve.NotSupportedError` (501)."""

    def status(self) -> Sequence[ModelStatus]: ...

    def promote(self, model: str, version: int, *, reason: str) -> ModelStatus: ...

    def rollback(self, model: str, *, reason: str) -> ModelStatus: ...

    def approve(self, escalation_id: str, *, note: str) -> EscalationStatus: ...


class RegisteredVersion(Protocol):
    """A registered model version, as the registry adapter returns it."""

    @property
    def version(self) -> int: ...


@runtime_checkable
class RoleRegistry(Protocol):
    """The part of the model registry the gateway needs: who holds a role, and loading a version.
    ``safeheal.heal``'s MLflow adapter implements it (roles: champion, challenger, fallback)."""

    def get_role(self, name: str, role: Role) -> RegisteredVersion | None: ...

    def load(self, name: str, version: int) -> Any: ...
