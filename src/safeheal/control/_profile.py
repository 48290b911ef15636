"""Where a model's Monitor comes from: a monitoring profile per (model, version), in the store.

A profile is what a version was healthy on: reference inputs (rows x features) and the accuracy it
had on them, plus its latency objective. It is saved with the version when the version is
registered (:func:`register_profile`), and by the controller itself when a retrain registers a
candidate (the recent rows it was trained on). It lives in the store (table ``monitor_profiles``)
rather than in the model registry because the controller reads it on every cache miss, the store
is what every controller process shares, and it works with any
:class:`~safeheal.heal.ModelRegistry`, not MLflow's only. A version without a profile of its own
is monitored with the newest profile of its model.

:class:`MonitorCache` builds one :class:`~safeheal.signals.Monitor` per (model, version) from its
profile (the reference is sorted once, when the monitor is built) and keeps it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from safeheal.core.validate import number_in
from safeheal.errors import DataError
from safeheal.signals import Monitor
from safeheal.store import ProfileRecord, SqlStore

__all__ = ["MonitorCache", "make_profile", "register_profile"]


def make_profile(
    model: str,
    version: int,
    reference: Any,
    *,
    baseline_accuracy: float,
    at: datetime,
    feature_names: Sequence[str] | None = None,
    latency_slo_ms: float = 100.0,
    source: str = "",
) -> ProfileRecord:
    """A profile from a reference (array or DataFrame, rows x features) and a baseline accuracy.

    Feature names come from ``feature_names``, else the DataFrame's columns, else ``x0, x1, …``.
    """
    owner = "make_profile"
    baseline = number_in(
        baseline_accuracy, name="baseline_accuracy", owner=owner, low=0, high=1, low_open=True
    )
    slo = number_in(latency_slo_ms, name="latency_slo_ms", owner=owner, low=0, low_open=True)
    names: list[str]
    if feature_names is not None:
        names = [str(n) for n in feature_names]
    elif hasattr(reference, "columns"):
        names = [str(c) for c in reference.columns]
    else:
        names = []
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 1:
        raise DataError(f"a reference must be rows x features; got shape {ref.shape}")
    if not names:
        names = [f"x{i}" for i in range(ref.shape[1])]
    if len(names) != ref.shape[1]:
        raise DataError(
            f"a reference of {ref.shape[1]} features needs as many names; got {len(names)}"
        )
    return ProfileRecord(
        model=model,
        version=int(version),
        feature_names=tuple(names),
        reference=ref,
        baseline_accuracy=baseline,
        latency_slo_ms=slo,
        source=source,
        created_at=at,
    )


def register_profile(
    store: SqlStore,
    model: str,
    version: int,
    reference: Any,
    *,
    at: datetime,
    baseline_accuracy: float | None = None,
    estimator: Any = None,
    X_eval: Any = None,
    y_eval: Any = None,
    feature_names: Sequence[str] | None = None,
    latency_slo_ms: float = 100.0,
    source: str = "registered",
) -> ProfileRecord:
    """Save the profile of ``model`` version ``version`` in ``store`` and return it.

    ``baseline_accuracy`` is given, or measured as ``estimator.score(X_eval, y_eval)`` on held-out
    data (accuracy for a scikit-learn classifier).
    """
    if baseline_accuracy is None:
        if estimator is None or X_eval is None or y_eval is None:
            raise DataError(
                "register_profile needs `baseline_accuracy`, or `estimator`, `X_eval` and "
                "`y_eval` to measure it"
            )
        baseline_accuracy = float(estimator.score(X_eval, y_eval))
    profile = make_profile(
        model,
        version,
        reference,
        baseline_accuracy=baseline_accuracy,
        at=at,
        feature_names=feature_names,
        latency_slo_ms=latency_slo_ms,
        source=source,
    )
    store.save_profile(profile)
    return profile


class MonitorCache:
    """One :class:`~safeheal.signals.Monitor` per (model, version), built from the store's
    profiles on first use and kept (least recently used dropped beyond ``size``). Thread-safe."""

    def __init__(self, store: SqlStore, *, size: int = 4096, alpha: float = 0.05) -> None:
        self._store = store
        self._size = size
        self._alpha = alpha
        self._lock = threading.Lock()
        self._monitors: OrderedDict[tuple[str, int], tuple[Monitor, ProfileRecord]] = OrderedDict()

    def get(self, model: str, version: int) -> tuple[Monitor, ProfileRecord] | None:
        """The monitor of ``model`` version ``version`` and the profile it was built from (the
        version's own, else the newest of the model); None when the model has no profile."""
        key = (model, int(version))
        with self._lock:
            hit = self._monitors.get(key)
            if hit is not None:
                self._monitors.move_to_end(key)
                return hit
        profile = self._store.load_profile(model, version)
        if profile is None:
            profile = self._store.load_profile(model)
        if profile is None:
            return None
        monitor = self.build(profile)
        with self._lock:
            self._monitors[key] = (monitor, profile)
            while len(self._monitors) > self._size:
                self._monitors.popitem(last=False)
        return monitor, profile

    def build(self, profile: ProfileRecord) -> Monitor:
        """The Monitor of ``profile`` (a DataError if its reference is unusable)."""
        return Monitor(
            profile.reference,
            baseline_accuracy=profile.baseline_accuracy,
            alpha=self._alpha,
            latency_slo_ms=profile.latency_slo_ms,
            feature_names=list(profile.feature_names),
            categorical=list(profile.categorical) or None,
        )

    def forget(self, model: str, version: int | None = None) -> None:
        """Drop the cached monitors of ``model`` (of one version, if given)."""
        with self._lock:
            for key in [k for k in self._monitors if k[0] == model]:
                if version is None or key[1] == version:
                    del self._monitors[key]
