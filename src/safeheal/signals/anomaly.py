"""Anomaly rate: the share of inferences whose inputs lie far from the reference.

The paper flags a value when ``|z| > 3``. Applied to each of k features, "any |z| > 3" fires on
1 − 0.9973^k of healthy rows (5.3 % at k = 20, more for skewed features), which alone would trip
the ρ > 0.05 fallback rule. So the detector scores a row by its largest |z| and calibrates the
threshold on the reference itself: rows drawn like the reference are flagged at the nominal
two-sided rate of the chosen Z (0.27 % for Z = 3), whatever the number of features, their skew and
their correlation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safeheal.core.validate import number_in
from safeheal.errors import InsufficientDataError
from safeheal.signals._input import columns_of, layout_of

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Fewest reference rows with which the calibrated threshold is trusted.
MIN_REFERENCE_ROWS = 500


@dataclass(frozen=True, slots=True)
class AnomalyReport:
    """The anomaly test of one window."""

    rate: float
    n: int
    flagged: int
    threshold: float
    nominal_rate: float
    #: Rows flagged because a feature held NaN or inf where the reference never did.
    nonfinite_rows: int


class AnomalyDetector:
    """Flags rows whose largest per-feature |z| exceeds a threshold calibrated on the reference.

    ``z`` sets the nominal false-alarm rate, 2·(1 − Φ(z)) (0.27 % at the paper's Z = 3).
    Categorical columns (``categorical``) are left out. A reference feature with a single value
    flags any row whose value differs from it.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> det = AnomalyDetector(rng.normal(size=(20_000, 20)))
    >>> healthy = det.rate(rng.normal(size=(20_000, 20)))
    >>> 0.001 < healthy < 0.005
    True
    >>> det.rate(np.vstack([rng.normal(size=(900, 20)), rng.normal(8, 1, size=(100, 20))])) > 0.09
    True
    """

    def __init__(
        self,
        reference: object,
        *,
        z: float = 3.0,
        categorical: Sequence[int | str] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        self.z = number_in(z, name="z", owner="AnomalyDetector", low=0, low_open=True)
        self.nominal_rate = math.erfc(self.z / math.sqrt(2.0))
        self._layout = layout_of(reference, categorical=categorical, feature_names=feature_names)
        cols = columns_of(reference, self._layout, what="reference", strict=True)
        x = cols.numeric
        if cols.n_rows < MIN_REFERENCE_ROWS:
            raise InsufficientDataError(
                f"AnomalyDetector needs at least {MIN_REFERENCE_ROWS} reference rows to "
                f"calibrate a {self.nominal_rate:.2%} false-alarm rate; got {cols.n_rows}"
            )
        finite = np.isfinite(x)
        has_values = np.asarray(finite.any(axis=1), dtype=bool).tolist()
        empty = [n for n, ok in zip(self.feature_names, has_values, strict=True) if not ok]
        if empty:
            raise InsufficientDataError(
                f"reference column(s) {empty} hold no finite value; a feature needs finite "
                "reference values to be scored"
            )
        self._always_finite: BoolArray = np.asarray(finite.all(axis=1), dtype=bool)
        with np.errstate(invalid="ignore"):
            xm = np.where(finite, x, np.nan)
            self._mean = np.nanmean(xm, axis=1)
            self._std = np.nanstd(xm, axis=1)
        self._constant = ~(self._std > 0)
        scores = self._scores(x)
        ok = np.isfinite(scores)
        if ok.sum() < MIN_REFERENCE_ROWS:
            raise InsufficientDataError(
                f"AnomalyDetector needs at least {MIN_REFERENCE_ROWS} reference rows with finite "
                f"values; got {int(ok.sum())}"
            )
        self.threshold = float(np.quantile(scores[ok], 1.0 - self.nominal_rate))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self._layout.names[i] for i in self._layout.numeric_index)

    def _scores(self, x: FloatArray) -> FloatArray:
        """Per row, the largest |z| over features; +inf where a value is far outside a constant."""
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.where(self._constant, 1.0, self._std)
            z = np.abs(x - self._mean[:, None]) / std[:, None]
            z[self._constant] = np.where(z[self._constant] > 0, np.inf, 0.0)
            z = np.where(np.isnan(z), -np.inf, z)  # missing values do not score
        if z.shape[0] == 0:
            return np.zeros(x.shape[1])
        out: FloatArray = z.max(axis=0)
        return out

    def _flag(self, current: object) -> tuple[BoolArray, BoolArray, int]:
        """Rows over the score threshold, and rows with NaN/inf where the reference had none."""
        cols = columns_of(current, self._layout, what="current", strict=False)
        x = cols.numeric
        by_score: BoolArray = self._scores(x) > self.threshold
        bad = np.logical_and(~np.isfinite(x), self._always_finite[:, None])
        nonfinite: BoolArray = np.asarray(bad.any(axis=0), dtype=bool)
        return by_score, nonfinite, cols.n_rows

    def flags(self, current: object) -> BoolArray:
        """Per row of ``current``: True when the row is anomalous."""
        by_score, nonfinite, _ = self._flag(current)
        return by_score | nonfinite

    def check(self, current: object) -> AnomalyReport:
        """The anomaly report of one window."""
        by_score, nonfinite, n = self._flag(current)
        flagged = int((by_score | nonfinite).sum())
        return AnomalyReport(
            rate=flagged / n,
            n=n,
            flagged=flagged,
            threshold=self.threshold,
            nominal_rate=self.nominal_rate,
            nonfinite_rows=int((nonfinite & ~by_score).sum()),
        )

    def rate(self, current: object) -> float:
        """The share of rows of ``current`` flagged anomalous, in [0, 1]."""
        return self.check(current).rate
