"""The SLA guard (paper 3.4.1): predict each action's SLA score and drop those below threshold.

SLA_score(x, a) = 0.4·availability + 0.4·accuracy + 0.2·latency, each component predicted for the
state after action a and in [0, 1]. The predictive model is deliberately simple and monotone:

* the components now are availability = 1 − error_rate, accuracy = 1 − accuracy_drop, and
  latency = 1 within the latency SLO, 1 / latency_ratio beyond it;
* an action's :class:`ActionEffect` either keeps a component ("keep") or sets it to the level of
  the model that serves afterwards (the validated fallback, the last known-good version, a fresh
  retrain); that model loses ``drift_sensitivity`` × drift of accuracy; carrying the action out
  costs ``penalty`` (downtime, risk of the switch).

Defaults: NO_OP keeps the current degradation; FALLBACK and ROLLBACK serve a validated model at its
known levels (a little less accurate than the champion at its best, somewhat hurt by drift); RETRAIN
restores accuracy on fresh data but keeps availability and latency and pays a penalty for the
retrain and its canary; ESCALATE keeps the service on the fallback while a human looks.
So the score never increases when drift, accuracy drop, error rate or latency ratio grows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from safeheal.core.action import Action
from safeheal.core.state import State
from safeheal.errors import ConfigError
from safeheal.policy._defaults import SLA_EFFECTS, SLA_THRESHOLD, SLA_WEIGHTS

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

Level = float | Literal["keep"]


def _number(owner: str, name: str, value: object, lo: float, hi: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (lo <= float(value) <= hi)
    ):
        raise ConfigError(
            f"the `{name}` parameter of {owner} must be a number in [{lo:g}, {hi:g}]; got {value!r}"
        )
    return float(value)


@dataclass(frozen=True, slots=True)
class ActionEffect:
    """How an action changes the SLA components (see the module docstring).

    >>> ActionEffect(accuracy=0.99, penalty=0.01).accuracy
    0.99
    """

    availability: Level = "keep"
    accuracy: Level = "keep"
    latency: Level = "keep"
    drift_sensitivity: float = 0.0
    penalty: float = 0.0

    def __post_init__(self) -> None:
        for name in ("availability", "accuracy", "latency"):
            v = getattr(self, name)
            if v != "keep":
                object.__setattr__(self, name, _number("ActionEffect", name, v, 0.0, 1.0))
        object.__setattr__(
            self,
            "drift_sensitivity",
            _number("ActionEffect", "drift_sensitivity", self.drift_sensitivity, 0.0, 1.0),
        )
        object.__setattr__(
            self, "penalty", _number("ActionEffect", "penalty", self.penalty, 0.0, 1.0)
        )

    @classmethod
    def of(cls, value: ActionEffect | Mapping[str, float | str]) -> ActionEffect:
        if isinstance(value, ActionEffect):
            return value
        try:
            return cls(**value)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigError(f"an action effect has unknown keys: {exc}") from None


@dataclass(frozen=True, slots=True)
class SLAWeights:
    """w1, w2, w3 of the SLA score; non-negative and summing to 1."""

    availability: float = SLA_WEIGHTS["availability"]
    accuracy: float = SLA_WEIGHTS["accuracy"]
    latency: float = SLA_WEIGHTS["latency"]

    def __post_init__(self) -> None:
        for name in ("availability", "accuracy", "latency"):
            object.__setattr__(
                self, name, _number("SLAWeights", name, getattr(self, name), 0.0, 1.0)
            )
        total = self.availability + self.accuracy + self.latency
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ConfigError(
                f"the SLA weights availability + accuracy + latency must sum to 1; got {total!r}"
            )


class SLAGuard:
    """Predicted SLA score per action, and the filter at ``threshold`` (0.95).

    >>> guard = SLAGuard()
    >>> s = State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0)
    >>> round(guard.score(s, Action.NO_OP), 3), round(guard.score(s, Action.RETRAIN), 3)
    (0.948, 0.986)
    >>> sorted(a.name for a in guard.filter(s, {Action.NO_OP, Action.RETRAIN}))
    ['RETRAIN']
    """

    __slots__ = ("_fx", "effects", "threshold", "weights")

    def __init__(
        self,
        effects: Mapping[Action | str, ActionEffect | Mapping[str, float | str]] | None = None,
        *,
        weights: SLAWeights | None = None,
        threshold: float = SLA_THRESHOLD,
    ) -> None:
        self.weights = weights if weights is not None else SLAWeights()
        self.threshold = _number("SLAGuard", "threshold", threshold, 0.0, 1.0)
        table = {Action(k): ActionEffect.of(v) for k, v in SLA_EFFECTS.items()}
        for k, v in (effects or {}).items():
            table[Action(k)] = ActionEffect.of(v)
        self.effects: dict[Action, ActionEffect] = table
        # The hot path reads plain tuples: (availability, accuracy, latency, sensitivity, penalty).
        self._fx: dict[Action, tuple[float | None, float | None, float | None, float, float]] = {
            a: (
                None if e.availability == "keep" else float(e.availability),
                None if e.accuracy == "keep" else float(e.accuracy),
                None if e.latency == "keep" else float(e.latency),
                e.drift_sensitivity,
                e.penalty,
            )
            for a, e in table.items()
        }

    @classmethod
    def from_config(cls, cfg: SafehealConfig) -> SLAGuard:
        """The guard a :class:`~safeheal.SafehealConfig` describes."""
        s = cfg.sla
        return cls(
            {name: ActionEffect(**e.model_dump()) for name, e in s.effects.items()},
            weights=SLAWeights(s.weights.availability, s.weights.accuracy, s.weights.latency),
            threshold=s.threshold,
        )

    def components(self, state: State, action: Action) -> tuple[float, float, float]:
        """Predicted (availability, accuracy, latency) after ``action``, each in [0, 1]."""
        try:
            av, ac, la, sens, _ = self._fx[action]
        except KeyError:
            raise ConfigError(
                f"no SLA effect for action {action!r}; give one in SLAGuard(effects=...) or in "
                f"[sla.effects.{getattr(action, 'name', action)}] of the configuration"
            ) from None
        if av is None:
            av = 1.0 - state.error_rate
        if ac is None:
            ac = 1.0 - state.accuracy_drop
        ac -= sens * state.drift
        if ac < 0.0:
            ac = 0.0
        if la is None:
            r = state.latency_ratio
            la = 1.0 if r <= 1.0 else 1.0 / r
        return av, ac, la

    def score(self, state: State, action: Action) -> float:
        """Predicted SLA score of ``action`` in ``state``, in [0, 1]."""
        av, ac, la = self.components(state, action)
        w = self.weights
        s = w.availability * av + w.accuracy * ac + w.latency * la - self._fx[action][4]
        return 0.0 if s < 0.0 else (1.0 if s > 1.0 else s)

    def scores(self, state: State, actions: Iterable[Action]) -> dict[Action, float]:
        """Predicted SLA score of each of ``actions``."""
        return {a: self.score(state, a) for a in actions}

    def filter(self, state: State, actions: Iterable[Action]) -> frozenset[Action]:
        """The ``actions`` whose predicted score is at least the threshold."""
        return frozenset(a for a in actions if self.score(state, a) >= self.threshold)

    def actions(self) -> frozenset[Action]:
        """The actions with a configured effect."""
        return frozenset(self._fx)
