"""Per-feature drift detection: two-sample KS for numeric features, chi-square for categorical ones.

The detector sorts its reference once when it is built. Checking a window then costs one sort of
the window and a linear merge per feature, run in compiled code on every core. Each feature's test
is corrected for multiplicity (Holm by default), so many healthy features do not add up to a false
alarm; the state's drift ``d`` is the largest effect size among the features whose test rejects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from safeheal.core.validate import number_in
from safeheal.errors import ConfigError, InsufficientDataError
from safeheal.signals import _ks
from safeheal.signals._input import Columns, Layout, columns_of, layout_of
from safeheal.signals._multitest import CORRECTIONS, Correction, correct

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class DataQuality:
    """What was wrong with a window's data, feature by feature (arrays in feature order)."""

    #: NaN values per feature (left out of the test).
    missing: IntArray
    #: +/-inf values per feature (left out of the test).
    nonfinite: IntArray
    #: Share of a feature's finite values outside the reference's [min, max] (NaN for categorical).
    out_of_range: FloatArray
    #: Share of a categorical feature's values never seen in the reference (NaN for numeric).
    unseen_categories: FloatArray
    missing_columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    wrong_type_columns: tuple[str, ...] = ()
    #: Reference features with a single value: any change in them is drift.
    constant_in_reference: tuple[str, ...] = ()
    #: Plain-words findings, one per problem; empty when the window is clean.
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the window had no data-quality problem."""
        return not self.problems


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The drift test of one window against the reference, feature by feature.

    Arrays are in the order of ``feature_names``. A feature that could not be tested (its column
    was missing, or it held no finite value) has NaN statistic and p-value and is not drifted.
    """

    feature_names: tuple[str, ...]
    #: KS statistic D for numeric features; total-variation distance for categorical ones.
    statistic: FloatArray
    p_value: FloatArray
    #: The statistic each feature's test had to exceed at its corrected level.
    critical_value: FloatArray
    drifted: BoolArray
    #: Per-test significance level after the multiple-testing correction.
    level: FloatArray
    #: Values actually tested per feature (finite, present).
    n_tested: IntArray
    n_reference: int
    n_current: int
    alpha: float
    correction: str
    categorical: BoolArray
    quality: DataQuality = field(repr=False)

    @property
    def drift(self) -> float:
        """The state's d: the largest statistic among drifted features, 0.0 when none drifted."""
        if not self.drifted.any():
            return 0.0
        return float(np.max(self.statistic[self.drifted]))

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the drifted features, largest effect first."""
        idx = np.flatnonzero(self.drifted)
        idx = idx[np.argsort(-self.statistic[idx], kind="stable")]
        return tuple(self.feature_names[i] for i in idx)

    def summary(self) -> str:
        """One plain-words sentence about this window."""
        names = self.drifted_features
        if not names:
            text = (
                f"No feature drifted ({len(self.feature_names)} tested at family level "
                f"{self.alpha:g}, {self.correction} correction)."
            )
        else:
            shown = ", ".join(
                f"{n} (D={self.statistic[self.feature_names.index(n)]:.3f})" for n in names[:5]
            )
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            text = f"{len(names)} of {len(self.feature_names)} features drifted: {shown}{more}."
        if self.quality.problems:
            text += " Data quality: " + "; ".join(self.quality.problems) + "."
        return text


class DriftDetector:
    """Tests each feature of a window against a fixed reference sample.

    Parameters
    ----------
    reference:
        2-D NumPy array (rows × features) or pandas DataFrame: data the model was healthy on.
    alpha:
        Family-wise significance level (false-discovery rate for ``"bh"``), in (0, 1).
    correction:
        ``"holm"`` (default), ``"bonferroni"``, ``"bh"`` (Benjamini-Hochberg) or ``"none"``.
    categorical:
        Column indices or names to test as categories (chi-square test, total-variation size).
    feature_names:
        Names for the columns of an array reference (a DataFrame's own names are used otherwise).

    >>> import numpy as np
    >>> rng = np.random.default_rng(5)
    >>> det = DriftDetector(rng.normal(size=(2000, 3)))
    >>> report = det.check(rng.normal(size=(1000, 3)) + [0.0, 0.0, 0.5])
    >>> report.drifted_features
    ('x2',)
    >>> round(report.drift, 2)
    0.2
    """

    def __init__(
        self,
        reference: object,
        *,
        alpha: float = 0.05,
        correction: Correction = "holm",
        categorical: Sequence[int | str] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        alpha = number_in(
            alpha, name="alpha", owner="DriftDetector", low=0, high=1, low_open=True, high_open=True
        )
        if correction not in CORRECTIONS:
            raise ConfigError(
                f"the `correction` parameter of DriftDetector must be one of "
                f"{', '.join(repr(c) for c in CORRECTIONS)}; got {correction!r}"
            )
        self.alpha = float(alpha)
        self.correction: Correction = correction
        self._layout: Layout = layout_of(
            reference, categorical=categorical, feature_names=feature_names
        )
        cols = columns_of(reference, self._layout, what="reference", strict=True)
        self.n_reference = cols.n_rows
        ref = cols.numeric  # fresh (k, n) array owned by us
        _ks.sort_rows(ref)
        self._ref = ref
        self._ref_lo, self._ref_hi = _finite_bounds(ref)
        finite = self._ref_hi - self._ref_lo
        empty = [
            self._layout.names[i]
            for i, f in zip(self._layout.numeric_index, finite, strict=True)
            if f == 0
        ]
        if empty:
            raise InsufficientDataError(
                f"reference column(s) {empty} hold no finite value; a feature needs at least one "
                "finite reference value to be tested"
            )
        k = ref.shape[0]
        rows = np.arange(k)
        self._ref_min = ref[rows, self._ref_lo]
        self._ref_max = ref[rows, self._ref_hi - 1]
        self._cat_ref = tuple(_category_counts(c) for c in cols.categorical)
        constant = [
            self._layout.names[i]
            for i, lo, hi in zip(
                self._layout.numeric_index, self._ref_min, self._ref_max, strict=True
            )
            if lo == hi
        ]
        constant += [
            self._layout.names[i]
            for i, counts in zip(self._layout.categorical_index, self._cat_ref, strict=True)
            if len(counts) == 1
        ]
        self._constant = tuple(sorted(constant, key=self._layout.names.index))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The reference's column names, in order."""
        return self._layout.names

    def check(self, current: object) -> DriftReport:
        """Test every feature of ``current`` against the reference.

        ``current`` must have the reference's columns: the same number for an array, the same
        names for a DataFrame (missing, added or wrongly typed columns are reported as data-quality
        problems, and those features are not tested).
        """
        lay = self._layout
        cols = columns_of(current, lay, what="current", strict=False)
        k_all = len(lay.names)
        stat = np.full(k_all, np.nan)
        pval = np.full(k_all, np.nan)
        crit = np.full(k_all, np.nan)
        n_tested = np.zeros(k_all, dtype=np.int64)
        missing = np.zeros(k_all, dtype=np.int64)
        nonfinite = np.zeros(k_all, dtype=np.int64)
        out_of_range = np.full(k_all, np.nan)
        unseen = np.full(k_all, np.nan)
        en = np.zeros(k_all, dtype=np.int64)

        num_idx = np.asarray(lay.numeric_index, dtype=np.int64)
        if num_idx.size:
            cur = cols.numeric
            _ks.sort_rows(cur)
            lo, hi = _finite_bounds(cur)
            n_rows = cur.shape[1]
            nan_first = _nan_start(cur)
            missing[num_idx] = n_rows - nan_first
            nonfinite[num_idx] = nan_first - (hi - lo)
            present = cols.present[num_idx]
            hi = np.where(present, hi, lo)  # an absent column tests nothing
            diff = _ks.merge_statistics(self._ref, self._ref_lo, self._ref_hi, cur, lo, hi)
            n = self._ref_hi - self._ref_lo
            m = hi - lo
            ok = m > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                d = diff / (n.astype(np.float64) * m)
            p = _ks.pvalues(diff, n, np.where(ok, m, 0))
            stat[num_idx] = np.where(ok, d, np.nan)
            pval[num_idx] = p
            n_tested[num_idx] = m
            en[num_idx] = np.where(ok, n, 0)
            below = np.array(
                [
                    np.searchsorted(cur[f, lo[f] : hi[f]], self._ref_min[f], "left")
                    for f in range(len(num_idx))
                ]
            )
            above = np.array(
                [
                    (hi[f] - lo[f])
                    - np.searchsorted(cur[f, lo[f] : hi[f]], self._ref_max[f], "right")
                    for f in range(len(num_idx))
                ]
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                out_of_range[num_idx] = np.where(ok, (below + above) / np.maximum(m, 1), np.nan)

        for j, i in enumerate(lay.categorical_index):
            if not cols.present[i]:
                continue
            col = cols.categorical[j]
            is_missing = np.array([_is_missing(v) for v in col], dtype=bool)
            missing[i] = int(is_missing.sum())
            values = col[~is_missing]
            if values.size == 0:
                continue
            ref_counts = self._cat_ref[j]
            cur_counts = _category_counts(values)
            tv, p_cat, new_share = _categorical_test(ref_counts, cur_counts)
            stat[i], pval[i], unseen[i] = tv, p_cat, new_share
            n_tested[i] = values.size

        corrected = correct(pval, self.alpha, self.correction)
        for f in np.flatnonzero(~np.isnan(corrected.levels) & ~_categorical_mask(lay)):
            crit[f] = _ks.critical_value(float(corrected.levels[f]), int(en[f]), int(n_tested[f]))

        quality = self._quality(cols, missing, nonfinite, out_of_range, unseen, n_tested)
        return DriftReport(
            feature_names=lay.names,
            statistic=stat,
            p_value=pval,
            critical_value=crit,
            drifted=corrected.rejected,
            level=corrected.levels,
            n_tested=n_tested,
            n_reference=self.n_reference,
            n_current=cols.n_rows,
            alpha=self.alpha,
            correction=self.correction,
            categorical=_categorical_mask(lay),
            quality=quality,
        )

    def _quality(
        self,
        cols: Columns,
        missing: IntArray,
        nonfinite: IntArray,
        out_of_range: FloatArray,
        unseen: FloatArray,
        n_tested: IntArray,
    ) -> DataQuality:
        names = self._layout.names
        n = cols.n_rows
        problems: list[str] = []
        if cols.missing_columns:
            problems.append(f"column(s) missing from the window: {', '.join(cols.missing_columns)}")
        if cols.extra_columns:
            problems.append(f"column(s) not in the reference: {', '.join(cols.extra_columns)}")
        if cols.wrong_type_columns:
            problems.append(
                "non-numeric values in numeric column(s): " + ", ".join(cols.wrong_type_columns)
            )
        for i, name in enumerate(names):
            if missing[i]:
                problems.append(f"{name}: {missing[i] / n:.1%} missing values")
            if nonfinite[i]:
                problems.append(f"{name}: {nonfinite[i]} infinite value(s)")
            if cols.present[i] and n_tested[i] == 0:
                problems.append(f"{name}: no finite value to test")
            if out_of_range[i] > 0.01:
                problems.append(
                    f"{name}: {out_of_range[i]:.1%} of values outside the reference range"
                )
            if unseen[i] > 0:
                problems.append(
                    f"{name}: {unseen[i]:.1%} of values are categories never seen before"
                )
        return DataQuality(
            missing=missing,
            nonfinite=nonfinite,
            out_of_range=out_of_range,
            unseen_categories=unseen,
            missing_columns=cols.missing_columns,
            extra_columns=cols.extra_columns,
            wrong_type_columns=cols.wrong_type_columns,
            constant_in_reference=self._constant,
            problems=tuple(problems),
        )


def _categorical_mask(lay: Layout) -> BoolArray:
    return np.asarray(lay.is_categorical, dtype=bool)


def _finite_bounds(a: FloatArray) -> tuple[IntArray, IntArray]:
    """Per sorted row, the slice [lo, hi) of finite values (-inf sorts first, +inf and NaN last)."""
    k = a.shape[0]
    lo = np.empty(k, dtype=np.int64)
    hi = np.empty(k, dtype=np.int64)
    for f in range(k):
        row = a[f]
        lo[f] = np.searchsorted(row, -np.inf, "right")
        hi[f] = np.searchsorted(row, np.inf, "left")
    return lo, hi


def _nan_start(a: FloatArray) -> IntArray:
    """Per sorted row, the index of the first NaN (NaN sorts last)."""
    return np.array(
        [np.searchsorted(a[f], np.nan, "left") for f in range(a.shape[0])], dtype=np.int64
    )


def _is_missing(v: object) -> bool:
    if v is None:
        return True
    return isinstance(v, float) and math.isnan(v)


def _category_counts(values: npt.NDArray[Any]) -> dict[object, int]:
    counts: dict[object, int] = {}
    for v in values:
        if _is_missing(v):
            continue
        counts[v] = counts.get(v, 0) + 1
    return counts


def _categorical_test(ref: dict[object, int], cur: dict[object, int]) -> tuple[float, float, float]:
    """Total-variation distance, chi-square p-value, and the share of unseen categories."""
    from scipy.stats import chi2_contingency

    cats = list(ref.keys() | cur.keys())
    r = np.array([ref.get(c, 0) for c in cats], dtype=np.float64)
    c = np.array([cur.get(c, 0) for c in cats], dtype=np.float64)
    tv = 0.5 * float(np.abs(r / r.sum() - c / c.sum()).sum())
    unseen = float(sum(cur[v] for v in cur if v not in ref) / c.sum())
    if len(cats) < 2:
        return tv, 1.0, unseen
    res = chi2_contingency(np.vstack([r, c]))
    return tv, float(res.pvalue), unseen
