"""Layer 1, detection: drift, accuracy drop, anomaly rate, combined per window into a State.

Pure computation over arrays: no I/O, no database, no web.
"""

from safeheal.signals._ks import KSResult, ks_2samp
from safeheal.signals._multitest import CORRECTIONS, Correction
from safeheal.signals.accuracy import AccuracyMonitor, AccuracyReport
from safeheal.signals.anomaly import AnomalyDetector, AnomalyReport
from safeheal.signals.drift import DataQuality, DriftDetector, DriftReport
from safeheal.signals.monitor import Monitor, WindowReport

__all__ = [
    "CORRECTIONS",
    "AccuracyMonitor",
    "AccuracyReport",
    "AnomalyDetector",
    "AnomalyReport",
    "Correction",
    "DataQuality",
    "DriftDetector",
    "DriftReport",
    "KSResult",
    "Monitor",
    "WindowReport",
    "ks_2samp",
]
