"""Layer 4, healing: the model registry, the actions, and canary deployments.

- :class:`ModelRegistry` is the interface to model versions, roles (``champion``, ``challenger``,
  ``fallback``), health marks and the history of every role move; :class:`MlflowRegistry`
  implements it over MLflow's model registry, :class:`InMemoryRegistry` in memory (the
  benchmark's).
- :class:`CanaryPlan`, :func:`assess` and :func:`advance` are the canary deployment (paper 3.4.2)
  as data and pure functions; :class:`CanaryRun` and :func:`finish_canary` deploy with them, and
  :func:`step_canary` follows a running canary one window at a time (counts both arms from the
  inference log, advances, routes, saves, finishes).
- Executors carry out the actions (:func:`default_executors`: NO_OP, FALLBACK, ROLLBACK, RETRAIN,
  ESCALATE) on an :class:`ActionContext` and report an :class:`ExecutionResult` with measured
  costs. They move traffic through a :class:`TrafficRouter` (the gateway's table, or
  :class:`InMemoryRouter`), tell humans through a :class:`Notifier` (:class:`WebhookNotifier`),
  and keep canaries and escalations in a :class:`CanaryStore` / :class:`EscalationStore` (the SQL
  store implements both).

Importing this package is light: MLflow is imported only when an :class:`MlflowRegistry` is built.
"""

from safeheal.heal._actions import (
    EscalateExecutor,
    FallbackExecutor,
    NoOpExecutor,
    RollbackExecutor,
    approve,
    default_executors,
)
from safeheal.heal._canary import (
    ArmCounters,
    ArmScore,
    Assessment,
    CanaryPhase,
    CanaryPlan,
    CanaryState,
    Counters,
    Judge,
    Judgement,
    Pause,
    SetWeight,
    Step,
    Wait,
    abort,
    advance,
    assess,
    ladder,
    pause,
    promote,
    resume,
)
from safeheal.heal._deploy import CanaryRun, canary_plan, finish_canary, route_canary
from safeheal.heal._execution import (
    ActionContext,
    CanaryStore,
    EscalationStore,
    ExecutionResult,
    ExecutionStatus,
    Executor,
    ExecutorRegistry,
    Measurement,
)
from safeheal.heal._loop import (
    CanaryLedger,
    CanaryStep,
    CounterSource,
    canary_counters,
    step_canary,
)
from safeheal.heal._memory import InMemoryRegistry
from safeheal.heal._mlflow import MlflowRegistry
from safeheal.heal._registry import (
    ROLES,
    ModelRegistry,
    ModelVersion,
    Role,
    RoleMove,
    RoleMoveLog,
)
from safeheal.heal._retrain import (
    HOLDOUT_TAG,
    RetrainExecutor,
    TrainingFunction,
    resolve_training_function,
)
from safeheal.heal._routing import (
    Arm,
    ArmLike,
    InMemoryRouter,
    Notifier,
    SharedRouter,
    SplitStore,
    StoredSplit,
    TrafficRouter,
    WebhookNotifier,
    check_arms,
)

__all__ = [
    "HOLDOUT_TAG",
    "ROLES",
    "ActionContext",
    "Arm",
    "ArmCounters",
    "ArmLike",
    "ArmScore",
    "Assessment",
    "CanaryLedger",
    "CanaryPhase",
    "CanaryPlan",
    "CanaryRun",
    "CanaryState",
    "CanaryStep",
    "CanaryStore",
    "CounterSource",
    "Counters",
    "EscalateExecutor",
    "EscalationStore",
    "ExecutionResult",
    "ExecutionStatus",
    "Executor",
    "ExecutorRegistry",
    "FallbackExecutor",
    "InMemoryRegistry",
    "InMemoryRouter",
    "Judge",
    "Judgement",
    "Measurement",
    "MlflowRegistry",
    "ModelRegistry",
    "ModelVersion",
    "NoOpExecutor",
    "Notifier",
    "Pause",
    "RetrainExecutor",
    "Role",
    "RoleMove",
    "RoleMoveLog",
    "RollbackExecutor",
    "SetWeight",
    "SharedRouter",
    "SplitStore",
    "Step",
    "StoredSplit",
    "TrafficRouter",
    "TrainingFunction",
    "Wait",
    "WebhookNotifier",
    "abort",
    "advance",
    "approve",
    "assess",
    "canary_counters",
    "canary_plan",
    "check_arms",
    "default_executors",
    "finish_canary",
    "ladder",
    "pause",
    "promote",
    "resolve_training_function",
    "resume",
    "route_canary",
    "step_canary",
]
