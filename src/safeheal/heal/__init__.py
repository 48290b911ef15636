"""Layer 4, healing: canary deployments.

- :class:`CanaryPlan`, :func:`assess` and :func:`advance` are the canary deployment (paper 3.4.2)
  as data and pure functions.
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

__all__ = [
    "ArmCounters",
    "ArmScore",
    "Assessment",
    "CanaryPhase",
    "CanaryPlan",
    "CanaryState",
    "Counters",
    "Judge",
    "Judgement",
    "Pause",
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
