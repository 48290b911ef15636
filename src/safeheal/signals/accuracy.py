"""Accuracy drop against a baseline, from labels that arrive after the predictions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safeheal.core.validate import number_in
from safeheal.errors import DataError, InsufficientDataError


@dataclass(frozen=True, slots=True)
class AccuracyReport:
    """Accuracy of one window of labelled predictions, with a Wilson confidence interval."""

    accuracy: float
    #: Baseline accuracy minus current accuracy, clipped at 0: the state's a.
    drop: float
    #: Confidence interval of the accuracy at level 1 − alpha.
    ci_low: float
    ci_high: float
    n: int
    baseline: float
    alpha: float

    @property
    def drop_ci(self) -> tuple[float, float]:
        """Confidence interval of the drop (clipped to [0, 1])."""
        return (
            min(1.0, max(0.0, self.baseline - self.ci_high)),
            min(1.0, max(0.0, self.baseline - self.ci_low)),
        )

    @property
    def significant(self) -> bool:
        """True when the whole confidence interval lies below the baseline."""
        return self.ci_high < self.baseline


def wilson_interval(successes: int, n: int, alpha: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    >>> lo, hi = wilson_interval(90, 100, 0.05)
    >>> round(lo, 4), round(hi, 4)
    (0.8256, 0.9448)
    """
    from scipy.stats import norm

    if n <= 0:
        return (0.0, 1.0)
    zq = float(norm.isf(alpha / 2.0))
    p = successes / n
    denom = 1.0 + zq * zq / n
    centre = (p + zq * zq / (2 * n)) / denom
    half = zq * math.sqrt(p * (1 - p) / n + zq * zq / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


class AccuracyMonitor:
    """Compares the accuracy of labelled predictions with a baseline accuracy.

    >>> mon = AccuracyMonitor(0.9)
    >>> r = mon.check([1, 0, 1, 1, 0, 1, 0, 1, 1, 1], [1, 0, 0, 1, 0, 1, 1, 1, 1, 0])
    >>> r.accuracy, round(r.drop, 2), r.n
    (0.7, 0.2, 10)
    """

    def __init__(self, baseline: float, *, alpha: float = 0.05) -> None:
        owner = "AccuracyMonitor"
        self.baseline = number_in(
            baseline, name="baseline", owner=owner, low=0, high=1, low_open=True
        )
        self.alpha = number_in(
            alpha, name="alpha", owner=owner, low=0, high=1, low_open=True, high_open=True
        )

    def check(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> AccuracyReport:
        """Accuracy of ``y_pred`` against ``y_true``; pairs whose label is missing are left out."""
        t = np.asarray(y_true)
        p = np.asarray(y_pred)
        for name, arr in (("y_true", t), ("y_pred", p)):
            if arr.ndim != 1:
                raise DataError(
                    f"`{name}` must be a 1-D sequence of labels, one per prediction; got shape "
                    f"{arr.shape}"
                )
        if t.shape != p.shape:
            raise DataError(
                f"`y_true` and `y_pred` must have the same length; got {t.size} and {p.size}"
            )
        numeric_t = t.dtype.kind in "fiub"
        numeric_p = p.dtype.kind in "fiub"
        if numeric_t != numeric_p and t.dtype.kind != "O" and p.dtype.kind != "O":
            raise DataError(
                f"`y_true` ({t.dtype}) and `y_pred` ({p.dtype}) hold different kinds of labels; "
                "compare labels of the same kind (e.g. both integers or both strings)"
            )
        if numeric_p and p.dtype.kind == "f":
            finite = p[np.isfinite(p)]
            if finite.size and not np.all(finite == np.round(finite)):
                raise DataError(
                    "`y_pred` holds fractional values such as "
                    f"{finite[finite != np.round(finite)][:3].tolist()}: pass predicted labels "
                    "(e.g. model.predict), not probabilities"
                )
        if numeric_t and numeric_p:
            labelled = ~np.isnan(t) if t.dtype.kind == "f" else np.ones(t.shape, dtype=bool)
            n = int(labelled.sum())
            correct = int((t[labelled] == p[labelled]).sum())
        else:
            t = t.astype(object)
            p = p.astype(object)
            labelled = np.array([not _missing(v) for v in t], dtype=bool)
            n = int(labelled.sum())
            correct = int(sum(_same(a, b) for a, b in zip(t[labelled], p[labelled], strict=True)))
        if n == 0:
            raise InsufficientDataError(
                "no labelled prediction in this window; accuracy needs at least one label"
            )
        acc = correct / n
        lo, hi = wilson_interval(correct, n, self.alpha)
        return AccuracyReport(
            accuracy=acc,
            drop=min(1.0, max(0.0, self.baseline - acc)),
            ci_low=lo,
            ci_high=hi,
            n=n,
            baseline=self.baseline,
            alpha=self.alpha,
        )


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _same(a: object, b: object) -> bool:
    if isinstance(a, int | float | np.number) and isinstance(b, int | float | np.number):
        return bool(float(a) == float(b))
    return bool(a == b)
