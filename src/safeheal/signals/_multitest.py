"""Corrections for testing many features at once, written once for every detector.

Each method gives, for a vector of p-values, which hypotheses are rejected at family level
``alpha`` and the per-test level each p-value was held to at its step of the procedure:

- ``"holm"``: step-down Holm; controls the family-wise error rate (default).
- ``"bonferroni"``: every test at ``alpha / k``; controls the family-wise error rate.
- ``"bh"``: step-up Benjamini-Hochberg; controls the false-discovery rate. Every test is held to
  the level of the procedure's last rejection, ``alpha · r / k`` (``alpha / k`` when r = 0).
- ``"none"``: every test at ``alpha``.

>>> import numpy as np
>>> r = correct(np.array([0.001, 0.02, 0.04, 0.3]), 0.05, "holm")
>>> r.rejected.tolist(), r.levels.round(4).tolist()
([True, False, False, False], [0.0125, 0.0167, 0.025, 0.05])
>>> correct(np.array([0.001, 0.02, 0.04, 0.3]), 0.05, "bh").rejected.tolist()
[True, True, False, False]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

Correction = Literal["holm", "bonferroni", "bh", "none"]
CORRECTIONS: tuple[str, ...] = get_args(Correction)


@dataclass(frozen=True, slots=True)
class Corrected:
    """Rejections and per-test levels; NaN p-values (untestable features) are never rejected."""

    rejected: npt.NDArray[np.bool_]
    levels: npt.NDArray[np.float64]


def correct(p: npt.NDArray[np.float64], alpha: float, method: Correction) -> Corrected:
    """Apply a multiple-testing correction to ``p`` at family level ``alpha``."""
    p = np.asarray(p, dtype=np.float64)
    testable = ~np.isnan(p)
    k = int(testable.sum())
    levels = np.full(p.shape, np.nan)
    rejected = np.zeros(p.shape, dtype=bool)
    if k == 0:
        return Corrected(rejected, levels)
    idx = np.flatnonzero(testable)
    pv = p[idx]
    order = np.argsort(pv, kind="stable")
    ranks = np.empty(k, dtype=np.int64)
    ranks[order] = np.arange(1, k + 1)
    if method == "none":
        lv = np.full(k, alpha)
        rej = pv <= lv
    elif method == "bonferroni":
        lv = np.full(k, alpha / k)
        rej = pv <= lv
    elif method == "holm":
        lv = alpha / (k - ranks + 1)
        ok = pv[order] <= lv[order]
        # Step down: stop at the first sorted p-value above its level.
        stop = k if ok.all() else int(np.argmin(ok))
        rej = ranks <= stop
    elif method == "bh":
        ok = pv[order] <= alpha * np.arange(1, k + 1) / k
        # Step up: reject everything up to the largest sorted p-value below its level; every
        # test was in effect held to that level, alpha * (rejections) / k.
        last = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
        lv = np.full(k, alpha * max(last, 1) / k)
        rej = pv <= lv
    else:  # pragma: no cover - guarded by the callers' validation
        raise ValueError(f"unknown correction {method!r}; expected one of {CORRECTIONS}")
    levels[idx] = lv
    rejected[idx] = rej
    return Corrected(rejected, levels)
