"""safeheal: keeps machine-learning models in production healthy on their own, safely.

Detect with statistics, decide inside a deterministic safety envelope with a cost-aware bandit,
heal through canary deployments, and record why. See the README for a tour.

>>> import safeheal
>>> safeheal.State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0).drift
0.0
"""

from safeheal.core import State
from safeheal.errors import (
    ConfigError,
    DataError,
    InsufficientDataError,
    SafehealError,
    SchemaError,
    StateError,
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

__version__ = "0.1.0"

__all__ = [
    "AccuracyMonitor",
    "AccuracyReport",
    "AnomalyDetector",
    "AnomalyReport",
    "ConfigError",
    "DataError",
    "DataQuality",
    "DriftDetector",
    "DriftReport",
    "InsufficientDataError",
    "KSResult",
    "Monitor",
    "SafehealError",
    "SchemaError",
    "State",
    "StateError",
    "WindowReport",
    "__version__",
    "ks_2samp",
]
