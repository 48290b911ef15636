"""Layer 4, healing: the model registry and canary deployments.

- :class:`ModelRegistry` is the interface to model versions, roles (``champion``, ``challenger``,
  ``fallback``), health marks and the history of every role move; :class:`MlflowRegistry`
  implements it over MLflow's model registry.
- :class:`CanaryPlan`, :func:`assess` and :func:`advance` are the canary deployment (paper 3.4.2)
  as data and pure functions.

Importing this package is light: MLflow is imported only when an :class:`MlflowRegistry` is built.
"""

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
from safeheal.heal._mlflow import MlflowRegistry
from safeheal.heal._registry import (
    ROLES,
    ModelRegistry,
    ModelVersion,
    Role,
    RoleMove,
    RoleMoveLog,
)

__all__ = [
    "ROLES",
    "ArmCounters",
    "ArmScore",
    "Assessment",
    "CanaryPhase",
    "CanaryPlan",
    "CanaryState",
    "Counters",
    "Judge",
    "Judgement",
    "MlflowRegistry",
    "ModelRegistry",
    "ModelVersion",
    "Pause",
    "Role",
    "RoleMove",
    "RoleMoveLog",
    "SetWeight",
    "Step",
    "Wait",
    "abort",
    "advance",
    "assess",
    "ladder",
    "pause",
    "promote",
    "resume",
]
