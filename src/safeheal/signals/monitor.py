"""One window in, one State out: drift, accuracy drop, anomaly rate, latency and errors combined."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safeheal.core.state import State
from safeheal.core.validate import number_in
from safeheal.errors import DataError
from safeheal.signals._multitest import Correction
from safeheal.signals.accuracy import AccuracyMonitor, AccuracyReport
from safeheal.signals.anomaly import AnomalyDetector, AnomalyReport
from safeheal.signals.drift import DriftDetector, DriftReport

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class WindowReport:
    """The evidence behind one State: every test's report, and the window's sizes."""

    drift: DriftReport
    anomaly: AnomalyReport
    #: None when the window carried no label: the accuracy drop is then unknown (reported as 0).
    accuracy: AccuracyReport | None
    n_rows: int
    latency_p95_ms: float | None
    latency_slo_ms: float
    errors: int

    @property
    def accuracy_known(self) -> bool:
        return self.accuracy is not None

    def findings(self) -> tuple[str, ...]:
        """Plain-words lines, one per thing that looks wrong in this window."""
        out: list[str] = []
        if self.drift.drifted.any():
            out.append(self.drift.summary())
        elif self.drift.quality.problems:
            out.append("Data quality: " + "; ".join(self.drift.quality.problems) + ".")
        a = self.accuracy
        if a is not None and a.significant:
            lo, hi = a.drop_ci
            out.append(
                f"Accuracy fell to {a.accuracy:.3f} from a baseline of {a.baseline:.3f} "
                f"(drop {a.drop:.3f}, {1 - a.alpha:.0%} CI {lo:.3f}–{hi:.3f}, n={a.n})."
            )
        an = self.anomaly
        if an.rate > 3 * an.nominal_rate and an.flagged >= 3:
            out.append(
                f"{an.rate:.1%} of inputs are anomalous (expected {an.nominal_rate:.2%} on healthy "
                f"data; {an.flagged} of {an.n} rows)."
            )
        if self.latency_p95_ms is not None and self.latency_p95_ms > self.latency_slo_ms:
            out.append(
                f"p95 latency {self.latency_p95_ms:.0f} ms is above the "
                f"{self.latency_slo_ms:.0f} ms SLO."
            )
        if self.errors:
            out.append(f"{self.errors} of {self.n_rows} requests failed.")
        return tuple(out)


class Monitor:
    """Computes the State of a model for each window of its traffic.

    Parameters
    ----------
    reference:
        Inputs the model was healthy on (array or DataFrame), used by the drift and anomaly tests.
    baseline_accuracy:
        The model's accuracy when healthy; the accuracy drop is measured from it.
    alpha, correction, categorical, feature_names:
        Passed to :class:`DriftDetector` (``alpha`` also sets the accuracy interval's level).
    z:
        Passed to :class:`AnomalyDetector`.
    latency_slo_ms:
        The p95 latency objective; the state's ``latency_ratio`` is p95 latency over it.
    """

    def __init__(
        self,
        reference: object,
        *,
        baseline_accuracy: float,
        alpha: float = 0.05,
        correction: Correction = "holm",
        z: float = 3.0,
        latency_slo_ms: float = 100.0,
        categorical: Sequence[int | str] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        self.latency_slo_ms = number_in(
            latency_slo_ms, name="latency_slo_ms", owner="Monitor", low=0, low_open=True
        )
        self.drift = DriftDetector(
            reference,
            alpha=alpha,
            correction=correction,
            categorical=categorical,
            feature_names=feature_names,
        )
        self.anomaly = AnomalyDetector(
            reference, z=z, categorical=categorical, feature_names=feature_names
        )
        self.accuracy = AccuracyMonitor(baseline_accuracy, alpha=alpha)

    def observe(
        self,
        X: object,
        y_pred: npt.ArrayLike | None = None,
        y_true: npt.ArrayLike | None = None,
        latency_ms: npt.ArrayLike | None = None,
        errors: int | npt.ArrayLike | None = None,
    ) -> State:
        """The State for one window of inputs ``X`` (with predictions, labels, latencies, errors).

        ``y_true`` may be partly or wholly missing (None/NaN): labels arrive late. With no label
        at all the accuracy drop is 0 and ``state.evidence.accuracy`` is None (unknown).
        ``errors`` is a count of failed requests or a boolean (or 0/1) array, one entry per row.
        ``latency_ms`` has one entry per row: NaN means not measured (left out of the p95), +inf
        means the request never answered (a timeout: counted as a failed request).
        """
        drift = self.drift.check(X)
        n = drift.n_current
        anomaly = self.anomaly.check(X)
        acc: AccuracyReport | None = None
        if y_true is not None:
            if y_pred is None:
                raise DataError(
                    "`y_true` was given without `y_pred`; pass both to measure accuracy"
                )
            t = np.asarray(y_true)
            if t.dtype.kind == "f":
                labelled = bool(t.size) and not np.isnan(t).all()
            elif t.dtype.kind in "iub":
                labelled = t.size > 0
            else:
                labelled = any(
                    not (v is None or (isinstance(v, float) and math.isnan(v))) for v in t.ravel()
                )
            if labelled:
                acc = self.accuracy.check(t, y_pred)
        errs = _error_flags(errors, n)
        p95, timeouts = _latency(latency_ms, n)
        if timeouts is not None:
            # A request that never answered (infinite latency) failed, whatever else was said.
            errs = timeouts if errs is None else (errs | timeouts)
        n_err = int(errs.sum()) if errs is not None else _count_errors(errors, n)
        report = WindowReport(
            drift=drift,
            anomaly=anomaly,
            accuracy=acc,
            n_rows=n,
            latency_p95_ms=p95,
            latency_slo_ms=self.latency_slo_ms,
            errors=n_err,
        )
        return State(
            drift=drift.drift,
            accuracy_drop=acc.drop if acc is not None else 0.0,
            anomaly_rate=anomaly.rate,
            latency_ratio=(p95 / self.latency_slo_ms) if p95 is not None else 0.0,
            error_rate=n_err / n,
            evidence=report,
        )


def _latency(latency_ms: npt.ArrayLike | None, n: int) -> tuple[float | None, BoolArray | None]:
    """p95 of the measured latencies, and which rows timed out (+inf)."""
    if latency_ms is None:
        return None, None
    try:
        lat = np.asarray(latency_ms, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("`latency_ms` must hold numbers (milliseconds), one per row") from None
    if lat.ndim != 1 or lat.size != n:
        raise DataError(f"`latency_ms` must hold one duration per row ({n}); got shape {lat.shape}")
    if (lat < 0).any():
        raise DataError("`latency_ms` must hold non-negative durations")
    timeouts = np.isposinf(lat)
    measured = lat[np.isfinite(lat)]
    p95 = float(np.percentile(measured, 95)) if measured.size else None
    return p95, timeouts


def _error_flags(errors: int | npt.ArrayLike | None, n: int) -> BoolArray | None:
    """Per-row failure flags when ``errors`` is an array (booleans or 0/1), else None."""
    if errors is None or (isinstance(errors, int | np.integer) and not isinstance(errors, bool)):
        return None
    arr = np.asarray(errors)
    if arr.ndim != 1 or arr.size != n:
        raise DataError(
            f"`errors` must be a count or one flag per row ({n}); got shape {arr.shape}"
        )
    if arr.dtype.kind != "b" and not (arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all()):
        raise DataError(
            "`errors` flags must be booleans or 0/1, one per row; got values of dtype "
            f"{arr.dtype} such as {arr[:3].tolist()}"
        )
    return arr.astype(bool)


def _count_errors(errors: int | npt.ArrayLike | None, n: int) -> int:
    if errors is None:
        return 0
    count = int(errors)  # type: ignore[arg-type]  # an int: arrays went through _error_flags
    if not 0 <= count <= n:
        raise DataError(f"`errors` must be between 0 and the number of rows ({n}); got {count}")
    return count
