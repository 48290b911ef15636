"""Monte Carlo business-impact estimate (paper 3.4.3): revenue loss averted minus action cost.

Model, with its assumptions in configuration (``[impact]``):

* while the model is degraded the business loses ``revenue_per_minute`` × loss_fraction(x), where
  loss_fraction = min(1, Σ weight_s · signal_s) (latency counts its excess over the SLO);
* left alone, the incident lasts D minutes, D log-normal with median ``incident_minutes_median``
  (the paper's 4.3 h pre-system MTTR) and shape ``incident_minutes_sigma``;
* action a, if it succeeds (probability p, the bandit's posterior mean), ends it after T_a minutes,
  T_a log-normal per action (``[impact.repair]``); an action without a repair time (NO_OP) ends
  nothing early;
* the action costs ``cost_per_unit`` × C(a) dollars.

    impact = revenue_per_minute · loss_fraction(x) · p · E[max(D − T_a, 0)] − cost_per_unit · C(a)

Success is independent of the durations, so the expectation factors exactly; the Monte Carlo part,
E[max(D − T_a, 0)], depends on neither the state nor the posterior, and is sampled once per action
(``samples`` draws, common D draws for every action, seeded) the first time the action is seen.
A decision therefore pays a few multiplications, not a simulation. :meth:`ImpactModel.simulate`
gives the per-draw distribution (with Bernoulli successes) for reports.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from safeheal.core.action import Action
from safeheal.core.state import State
from safeheal.errors import ConfigError
from safeheal.policy._defaults import (
    COST_PER_UNIT,
    IMPACT_SAMPLES,
    INCIDENT_MINUTES_MEDIAN,
    INCIDENT_MINUTES_SIGMA,
    LOSS_WEIGHTS,
    REPAIR_MINUTES,
    REVENUE_PER_MINUTE,
    SIGNALS,
)

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

FloatArray = npt.NDArray[np.float64]


def _check(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        x = float(value)
        if x > 0.0 or (not positive and x == 0.0):
            return x
    bound = "> 0" if positive else ">= 0"
    raise ConfigError(
        f"the `{name}` impact assumption must be a finite number {bound}; got {value!r}"
    )


@dataclass(frozen=True, slots=True)
class ImpactAssumptions:
    """The numbers behind the business-impact estimate (see the module docstring)."""

    revenue_per_minute: float = REVENUE_PER_MINUTE
    cost_per_unit: float = COST_PER_UNIT
    incident_minutes_median: float = INCIDENT_MINUTES_MEDIAN
    incident_minutes_sigma: float = INCIDENT_MINUTES_SIGMA
    loss_weights: Mapping[str, float] = field(default_factory=lambda: dict(LOSS_WEIGHTS))
    #: Per action name: (median minutes, sigma) of the log-normal time to repair.
    repair: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(REPAIR_MINUTES))
    samples: int = IMPACT_SAMPLES

    def __post_init__(self) -> None:
        _check("revenue_per_minute", self.revenue_per_minute)
        _check("cost_per_unit", self.cost_per_unit)
        _check("incident_minutes_median", self.incident_minutes_median, positive=True)
        _check("incident_minutes_sigma", self.incident_minutes_sigma)
        for k, w in self.loss_weights.items():
            if k not in SIGNALS:
                raise ConfigError(
                    f"impact loss weights are per signal ({', '.join(SIGNALS)}); got {k!r}"
                )
            _check(f"loss_weights.{k}", w)
        for k, (median, sigma) in self.repair.items():
            Action(k)
            _check(f"repair.{k}.minutes_median", median, positive=True)
            _check(f"repair.{k}.sigma", sigma)
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ConfigError(
                f"the `samples` impact assumption must be an integer >= 1; got {self.samples!r}"
            )


class ImpactModel:
    """Business impact of an action in dollars: revenue loss averted minus the action's cost.

    >>> m = ImpactModel(seed=3)
    >>> s = State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0)
    >>> m.estimate(s, Action.RETRAIN, p_success=0.8, cost=0.56) > 0
    True
    >>> m.estimate(s, Action.NO_OP, p_success=0.8, cost=0.0)
    0.0
    """

    __slots__ = ("_averted", "_base", "_incident", "_weights", "assumptions")

    def __init__(
        self,
        assumptions: ImpactAssumptions | None = None,
        *,
        seed: int | np.random.SeedSequence | None = None,
    ) -> None:
        self.assumptions = assumptions if assumptions is not None else ImpactAssumptions()
        self._base = (
            seed if isinstance(seed, np.random.SeedSequence) else (np.random.SeedSequence(seed))
        )
        self._weights = tuple((s, float(w)) for s, w in self.assumptions.loss_weights.items())
        self._averted: dict[Action, float] = {}
        self._incident: FloatArray | None = None

    @classmethod
    def from_config(
        cls, cfg: SafehealConfig, seed: int | np.random.SeedSequence | None = None
    ) -> ImpactModel:
        """The model a :class:`~safeheal.SafehealConfig` describes."""
        i = cfg.impact
        return cls(
            ImpactAssumptions(
                revenue_per_minute=i.revenue_per_minute,
                cost_per_unit=i.cost_per_unit,
                incident_minutes_median=i.incident_minutes_median,
                incident_minutes_sigma=i.incident_minutes_sigma,
                loss_weights=i.loss_weights.model_dump(),
                repair={k: (r.minutes_median, r.sigma) for k, r in i.repair.items()},
                samples=i.samples,
            ),
            seed=seed if seed is not None else cfg.policy.seed,
        )

    def loss_fraction(self, state: State) -> float:
        """Share of revenue lost per minute in ``state``, in [0, 1]."""
        total = 0.0
        for signal, w in self._weights:
            v = getattr(state, signal)
            if signal == "latency_ratio":
                v = v - 1.0 if v > 1.0 else 0.0
            total += w * v
        return 1.0 if total > 1.0 else total

    def _rng(self, *key: int) -> np.random.Generator:
        b = self._base
        return np.random.default_rng(
            np.random.SeedSequence(entropy=b.entropy, spawn_key=(*b.spawn_key, *key))
        )

    def _durations(self, action: Action) -> tuple[FloatArray, FloatArray | None]:
        a = self.assumptions
        if self._incident is None:
            z = self._rng(0).standard_normal(a.samples)
            self._incident = a.incident_minutes_median * np.exp(a.incident_minutes_sigma * z)
        rep = a.repair.get(action.name)
        if rep is None:
            return self._incident, None
        z = self._rng(1, zlib.crc32(action.name.encode())).standard_normal(a.samples)
        return self._incident, rep[0] * np.exp(rep[1] * z)

    def averted_minutes(self, action: Action) -> float:
        """Monte Carlo estimate of E[max(D − T_a, 0)]: minutes of incident a success saves."""
        hit = self._averted.get(action)
        if hit is None:
            d, t = self._durations(action)
            hit = 0.0 if t is None else float(np.maximum(d - t, 0.0).mean())
            self._averted[action] = hit
        return hit

    def estimate(self, state: State, action: Action, *, p_success: float, cost: float) -> float:
        """Expected revenue loss averted minus action cost, in dollars."""
        a = self.assumptions
        averted = a.revenue_per_minute * self.loss_fraction(state) * p_success
        return averted * self.averted_minutes(action) - a.cost_per_unit * cost

    def simulate(
        self, state: State, action: Action, *, p_success: float, cost: float
    ) -> FloatArray:
        """Per-draw impacts (success drawn per draw); their mean approaches :meth:`estimate`."""
        a = self.assumptions
        d, t = self._durations(action)
        saved = np.zeros_like(d) if t is None else np.maximum(d - t, 0.0)
        success = self._rng(2, zlib.crc32(action.name.encode())).random(d.size) < p_success
        loss = a.revenue_per_minute * self.loss_fraction(state)
        return np.asarray(loss * saved * success - a.cost_per_unit * cost, dtype=np.float64)
