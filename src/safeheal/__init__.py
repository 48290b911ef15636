"""safeheal: keeps machine-learning models in production healthy on their own, safely.

Detect with statistics, decide inside a deterministic safety envelope with a cost-aware bandit,
heal through canary deployments, and record why. See the README for a tour.

>>> import safeheal
>>> safeheal.State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0).drift
0.0
"""

import typing as _typing

from safeheal.core import Action, Decision, Outcome, State, Verdict
from safeheal.errors import (
    ActionRefused,
    AdminConflictError,
    ConfigError,
    DataError,
    DuplicateOutcomeError,
    EscalationClosedError,
    InsufficientDataError,
    ModelNotFoundError,
    NotifyError,
    NotSupportedError,
    RegistryError,
    SafehealError,
    SchemaError,
    StateError,
    StoreError,
    UnknownDecisionError,
    UnknownEscalationError,
    UnknownModelError,
)
from safeheal.heal import (
    ActionContext,
    Arm,
    ArmCounters,
    Assessment,
    CanaryLedger,
    CanaryPhase,
    CanaryPlan,
    CanaryRun,
    CanaryState,
    CanaryStep,
    CanaryStore,
    Counters,
    CounterSource,
    EscalationStore,
    ExecutionResult,
    ExecutionStatus,
    Executor,
    ExecutorRegistry,
    InMemoryRouter,
    Judge,
    Judgement,
    MlflowRegistry,
    ModelRegistry,
    ModelVersion,
    Notifier,
    Pause,
    RoleMove,
    RoleMoveLog,
    SetWeight,
    TrafficRouter,
    Wait,
    WebhookNotifier,
    advance,
    approve,
    assess,
    canary_counters,
    default_executors,
    finish_canary,
    step_canary,
)
from safeheal.policy import (
    ActionEffect,
    CostEstimate,
    CostModel,
    CostTerms,
    HybridPolicy,
    ImpactModel,
    Posterior,
    PosteriorStore,
    PosteriorUpdate,
    Rule,
    SafetyEnvelope,
    SLAGuard,
    ThompsonBandit,
)
from safeheal.signals import (
    AccuracyMonitor,
    AccuracyReport,
    AnomalyDetector,
    AnomalyReport,
    DataQuality,
    DriftDetector,
    DriftReport,
    KSResult,
    Monitor,
    WindowReport,
    ks_2samp,
)

if _typing.TYPE_CHECKING:
    from safeheal.config import SafehealConfig, load_config

__version__ = "0.1.0"

__all__ = [
    "AccuracyMonitor",
    "AccuracyReport",
    "Action",
    "ActionContext",
    "ActionEffect",
    "ActionRefused",
    "AdminConflictError",
    "AnomalyDetector",
    "AnomalyReport",
    "Arm",
    "ArmCounters",
    "Assessment",
    "CanaryLedger",
    "CanaryPhase",
    "CanaryPlan",
    "CanaryRun",
    "CanaryState",
    "CanaryStep",
    "CanaryStore",
    "ConfigError",
    "CostEstimate",
    "CostModel",
    "CostTerms",
    "CounterSource",
    "Counters",
    "DataError",
    "DataQuality",
    "Decision",
    "DriftDetector",
    "DriftReport",
    "DuplicateOutcomeError",
    "EscalationClosedError",
    "EscalationStore",
    "ExecutionResult",
    "ExecutionStatus",
    "Executor",
    "ExecutorRegistry",
    "HybridPolicy",
    "ImpactModel",
    "InMemoryRouter",
    "InsufficientDataError",
    "Judge",
    "Judgement",
    "KSResult",
    "MlflowRegistry",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelVersion",
    "Monitor",
    "NotSupportedError",
    "Notifier",
    "NotifyError",
    "Outcome",
    "Pause",
    "Posterior",
    "PosteriorStore",
    "PosteriorUpdate",
    "RegistryError",
    "RoleMove",
    "RoleMoveLog",
    "Rule",
    "SLAGuard",
    "SafehealConfig",
    "SafehealError",
    "SafetyEnvelope",
    "SchemaError",
    "SetWeight",
    "State",
    "StateError",
    "StoreError",
    "ThompsonBandit",
    "TrafficRouter",
    "UnknownDecisionError",
    "UnknownEscalationError",
    "UnknownModelError",
    "Verdict",
    "Wait",
    "WebhookNotifier",
    "WindowReport",
    "__version__",
    "advance",
    "approve",
    "assess",
    "canary_counters",
    "default_executors",
    "finish_canary",
    "ks_2samp",
    "load_config",
    "step_canary",
]

#: Names imported on first use, so that ``import safeheal`` does not import pydantic.
_LAZY = {"SafehealConfig": "safeheal.config", "load_config": "safeheal.config"}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'safeheal' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
