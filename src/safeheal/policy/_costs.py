"""Action costs: C(a) = α·compute(a) + β·risk(a) + γ·downtime(a) (paper 3.1).

Each term is normalised to [0, 1]. The configured per-action terms are a starting estimate; measured
costs (CPU seconds of a retrain, traffic exposed to a failing canary, minutes of degraded service,
each normalised by the caller) are averaged into it as the system runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safeheal.core.action import Action
from safeheal.errors import ConfigError, DataError
from safeheal.policy._defaults import COST_PRIOR_WEIGHT, COST_TERMS, COST_WEIGHTS
from safeheal.policy.protocols import CostEstimate

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

_TERMS = ("compute", "risk", "downtime")


def _unit(owner: str, name: str, value: object, error: type[Exception]) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0.0 <= float(value) <= 1.0)
    ):
        raise error(f"the `{name}` term of {owner} must be a number in [0, 1]; got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class CostTerms:
    """The three normalised cost terms of one action (or one measurement of them).

    >>> CostTerms(compute=0.8, risk=0.4, downtime=0.2)
    CostTerms(compute=0.8, risk=0.4, downtime=0.2)
    >>> CostTerms(compute=1.5, risk=0.0, downtime=0.0)
    Traceback (most recent call last):
    ...
    safeheal.errors.DataError: the `compute` term of CostTerms must be a number in [0, 1]; got 1.5
    """

    compute: float
    risk: float
    downtime: float

    def __post_init__(self) -> None:
        for name in _TERMS:
            object.__setattr__(self, name, _unit("CostTerms", name, getattr(self, name), DataError))

    @classmethod
    def of(cls, value: CostTerms | Mapping[str, float]) -> CostTerms:
        """From a CostTerms or a mapping with the keys compute, risk and downtime."""
        if isinstance(value, CostTerms):
            return value
        missing = set(_TERMS) - set(value)
        extra = set(value) - set(_TERMS)
        if missing or extra:
            raise ConfigError(
                f"cost terms need exactly the keys compute, risk, downtime; got {sorted(value)}"
            )
        return cls(value["compute"], value["risk"], value["downtime"])


@dataclass(frozen=True, slots=True)
class CostWeights:
    """α, β, γ of C(a); non-negative and summing to 1, so C(a) stays in [0, 1]."""

    compute: float = COST_WEIGHTS["compute"]
    risk: float = COST_WEIGHTS["risk"]
    downtime: float = COST_WEIGHTS["downtime"]

    def __post_init__(self) -> None:
        for name in _TERMS:
            object.__setattr__(
                self, name, _unit("CostWeights", name, getattr(self, name), ConfigError)
            )
        total = self.compute + self.risk + self.downtime
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ConfigError(
                f"the cost weights compute + risk + downtime must sum to 1; got {total!r}"
            )

    def combine(self, t: CostTerms) -> float:
        """α·compute + β·risk + γ·downtime."""
        return self.compute * t.compute + self.risk * t.risk + self.downtime * t.downtime


class CostModel:
    """Per-action cost estimates and C(a).

    ``defaults`` overrides the configured terms of some actions (the rest keep the defaults of
    :mod:`safeheal.config`). A measurement is averaged in as one more sample, the default counting
    as ``prior_weight`` samples.

    >>> costs = CostModel()
    >>> round(costs.cost(Action.RETRAIN), 3)  # 0.5·0.8 + 0.3·0.4 + 0.2·0.2
    0.56
    >>> est = costs.observe(Action.RETRAIN, compute=0.4, risk=0.4, downtime=0.2)
    >>> round(est.compute, 3), est.n, round(costs.cost(Action.RETRAIN), 3)
    (0.6, 1, 0.46)
    """

    __slots__ = ("_cost", "_est", "prior_weight", "weights")

    def __init__(
        self,
        defaults: Mapping[Action | str, CostTerms | Mapping[str, float]] | None = None,
        *,
        weights: CostWeights | None = None,
        prior_weight: float = COST_PRIOR_WEIGHT,
    ) -> None:
        if (
            isinstance(prior_weight, bool)
            or not isinstance(prior_weight, int | float)
            or not (math.isfinite(prior_weight) and prior_weight >= 0)
        ):
            raise ConfigError(
                f"the `prior_weight` parameter of CostModel must be a number >= 0; "
                f"got {prior_weight!r}"
            )
        self.weights = weights if weights is not None else CostWeights()
        self.prior_weight = float(prior_weight)
        self._est: dict[Action, CostEstimate] = {}
        self._cost: dict[Action, float] = {}
        table: dict[Action, CostTerms] = {Action(k): CostTerms.of(v) for k, v in COST_TERMS.items()}
        for k, v in (defaults or {}).items():
            table[Action(k)] = CostTerms.of(v)
        for action, t in table.items():
            self._set(CostEstimate(action.name, t.compute, t.risk, t.downtime, 0))

    @classmethod
    def from_config(cls, cfg: SafehealConfig) -> CostModel:
        """The cost model a :class:`~safeheal.SafehealConfig` describes."""
        c = cfg.costs
        return cls(
            {name: CostTerms(t.compute, t.risk, t.downtime) for name, t in c.actions.items()},
            weights=CostWeights(c.weights.compute, c.weights.risk, c.weights.downtime),
            prior_weight=c.prior_weight,
        )

    # --- reading -------------------------------------------------------------------------------
    def cost(self, action: Action) -> float:
        """C(a) for the current estimate of ``action``'s terms."""
        try:
            return self._cost[action]
        except KeyError:
            raise self._unknown(action) from None

    def terms(self, action: Action) -> CostTerms:
        """The current estimate of ``action``'s three terms."""
        e = self.estimate(action)
        return CostTerms(e.compute, e.risk, e.downtime)

    def estimate(self, action: Action) -> CostEstimate:
        """The current estimate of ``action`` (with its number of measurements)."""
        try:
            return self._est[Action(action)]
        except KeyError:
            raise self._unknown(action) from None

    def estimates(self) -> list[CostEstimate]:
        """Every estimate, in action registration order."""
        from safeheal.policy._order import ordered

        return [self._est[a] for a in ordered(self._est)]

    def actions(self) -> frozenset[Action]:
        """The actions with a cost estimate."""
        return frozenset(self._est)

    # --- learning ------------------------------------------------------------------------------
    def estimate_after(
        self, action: Action, measured: CostTerms | Mapping[str, float] | float
    ) -> tuple[CostEstimate, float]:
        """The estimate one measurement would produce, and the measurement's C(a); changes nothing.

        ``measured`` is the three terms, or a total C(a) in [0, 1], which is split over the terms
        in the proportions of the current estimate (evenly when that is zero; each capped at 1).
        """
        old = self.estimate(action)
        if isinstance(measured, int | float) and not isinstance(measured, bool):
            total = _unit("a measured cost", "total", measured, DataError)
            current = self._cost[Action(action)]
            if current > 0.0:
                f = total / current
                m = CostTerms(
                    min(1.0, old.compute * f), min(1.0, old.risk * f), min(1.0, old.downtime * f)
                )
            else:
                m = CostTerms(total, total, total)
        elif isinstance(measured, CostTerms | Mapping):
            m = CostTerms.of(measured)
        else:
            raise DataError(
                f"a measured cost must be CostTerms, a mapping of terms or a number in [0, 1]; "
                f"got {measured!r}"
            )
        step = 1.0 / (self.prior_weight + old.n + 1.0)
        new = CostEstimate(
            old.action,
            old.compute + (m.compute - old.compute) * step,
            old.risk + (m.risk - old.risk) * step,
            old.downtime + (m.downtime - old.downtime) * step,
            old.n + 1,
        )
        return new, self.weights.combine(m)

    def observe(
        self, action: Action, *, compute: float, risk: float, downtime: float
    ) -> CostEstimate:
        """Average one measurement of ``action``'s terms into its estimate; return the new one."""
        new, _ = self.estimate_after(action, CostTerms(compute, risk, downtime))
        self._set(new)
        return new

    def set_estimate(self, estimate: CostEstimate) -> None:
        """Replace one action's estimate (e.g. loaded from a store)."""
        _unit("CostEstimate", "compute", estimate.compute, DataError)
        _unit("CostEstimate", "risk", estimate.risk, DataError)
        _unit("CostEstimate", "downtime", estimate.downtime, DataError)
        self._set(estimate)

    def load(self, estimates: Iterable[CostEstimate]) -> None:
        """Replace the estimates of the actions in ``estimates``."""
        for e in estimates:
            self.set_estimate(e)

    # --- internals -----------------------------------------------------------------------------
    def _set(self, e: CostEstimate) -> None:
        action = Action(e.action)
        self._est[action] = e
        self._cost[action] = self.weights.combine(CostTerms(e.compute, e.risk, e.downtime))

    def _unknown(self, action: object) -> ConfigError:
        return ConfigError(
            f"no cost terms for action {action!r}; give them in CostModel(defaults=...) or in "
            f"[costs.actions.{getattr(action, 'name', action)}] of the configuration"
        )

    def __repr__(self) -> str:
        body = ", ".join(f"{a.name}={c:.3f}" for a, c in self._cost.items())
        return f"CostModel({body})"
