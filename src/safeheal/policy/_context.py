"""Context buckets of the bandit: the envelope zone and a coarse severity, e.g. "degraded/high".

Severity is the largest ratio signal / scale over the signals; the default scales are the critical
thresholds, so severity 1 means "at the edge of the critical zone". It is cut into a few named
levels (default: low < 0.5 ≤ medium < 0.85 ≤ high).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from safeheal.core.state import State
from safeheal.errors import ConfigError
from safeheal.policy._defaults import SEVERITY_CUTS, SEVERITY_LEVELS, SEVERITY_SCALES, SIGNALS

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig


class ContextBuckets:
    """Maps (state, zone) to the bandit's context name.

    >>> ContextBuckets().bucket(State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0), "degraded")
    'degraded/high'
    """

    __slots__ = ("_scales", "cuts", "levels", "scales")

    def __init__(
        self,
        scales: Mapping[str, float] | None = None,
        cuts: Sequence[float] = SEVERITY_CUTS,
        levels: Sequence[str] = SEVERITY_LEVELS,
    ) -> None:
        table = dict(SEVERITY_SCALES if scales is None else scales)
        for k, v in table.items():
            if k not in SIGNALS:
                raise ConfigError(
                    f"severity scales are per signal ({', '.join(SIGNALS)}); got {k!r}"
                )
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not (math.isfinite(v) and v > 0)
            ):
                raise ConfigError(f"the severity scale of {k} must be a number > 0; got {v!r}")
        cuts = tuple(float(c) for c in cuts)
        levels = tuple(str(x) for x in levels)
        if len(levels) != len(cuts) + 1:
            raise ConfigError(
                f"severity needs one more level name than cuts; got {len(cuts)} cuts and "
                f"{len(levels)} levels"
            )
        if any(b <= a for a, b in itertools.pairwise(cuts)):
            raise ConfigError(f"severity cuts must increase strictly; got {list(cuts)}")
        if len(set(levels)) != len(levels) or any(not x or "/" in x for x in levels):
            raise ConfigError(
                f"severity level names must be unique, non-empty, without '/'; got {list(levels)}"
            )
        self.scales = table
        self.cuts = cuts
        self.levels = levels
        self._scales = tuple((k, 1.0 / v) for k, v in table.items())

    @classmethod
    def from_config(cls, cfg: SafehealConfig) -> ContextBuckets:
        c = cfg.context
        return cls(c.severity_scales.model_dump(), c.severity_cuts, c.severity_levels)

    def severity(self, state: State) -> float:
        """max over signals of signal / scale."""
        return max(float(getattr(state, k)) * inv for k, inv in self._scales)

    def level(self, state: State) -> str:
        """The severity level's name."""
        s = self.severity(state)
        for cut, name in zip(self.cuts, self.levels, strict=False):
            if s < cut:
                return name
        return self.levels[-1]

    def bucket(self, state: State, zone: str) -> str:
        """``"<zone>/<level>"``."""
        return f"{zone}/{self.level(state)}"
