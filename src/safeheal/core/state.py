"""The state x_t of one model for one window: the numbers the policy decides on."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from safeheal.errors import StateError

_RATES = ("drift", "accuracy_drop", "anomaly_rate", "error_rate", "fallback_share")


@dataclass(frozen=True, slots=True)
class State:
    """What the signals say about one model over one window.

    ``drift`` (d), ``accuracy_drop`` (a), ``anomaly_rate`` (ρ) and ``error_rate`` are in [0, 1];
    ``latency_ratio`` is p95 latency over the latency SLO, any finite number >= 0 (above 1 means
    the SLO is breached). Invalid numbers are refused at construction.

    ``fallback_share`` in [0, 1] is the share of the window's rows that the model's ``fallback``
    version served (1.0: the service runs on its fallback). It says what the other numbers were
    measured on: an accuracy drop measured while the fallback serves all traffic means the
    fallback suffers too, and the envelope's ``fallback-failing`` zone answers it with RETRAIN
    instead of asking again for the FALLBACK that is already in effect. The controller fills it
    in; a State built by hand or by :class:`safeheal.Monitor` alone has 0.0 (not on the fallback).

    ``evidence`` carries what the numbers were computed from (a
    :class:`safeheal.signals.WindowReport` when built by :class:`safeheal.Monitor`); it takes no
    part in equality.

    >>> State(drift=0.12, accuracy_drop=0.0, anomaly_rate=0.003)  # doctest: +NORMALIZE_WHITESPACE
    State(drift=0.12, accuracy_drop=0.0, anomaly_rate=0.003, latency_ratio=0.0, error_rate=0.0,
          fallback_share=0.0)
    >>> State(drift=float("nan"), accuracy_drop=0.0, anomaly_rate=0.0)
    Traceback (most recent call last):
    ...
    safeheal.errors.StateError: State.drift must be a number in [0, 1]; got nan
    """

    drift: float
    accuracy_drop: float
    anomaly_rate: float
    latency_ratio: float = 0.0
    error_rate: float = 0.0
    fallback_share: float = 0.0
    evidence: object | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in (*_RATES, "latency_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise StateError(f"State.{name} must be a number; got {type(value).__name__}")
            value = float(value)
            if name == "latency_ratio":
                if not (math.isfinite(value) and value >= 0.0):
                    raise StateError(
                        f"State.latency_ratio must be a finite number >= 0; got {value!r}"
                    )
            elif not (0.0 <= value <= 1.0):  # also refuses NaN
                raise StateError(f"State.{name} must be a number in [0, 1]; got {value!r}")
            object.__setattr__(self, name, value)

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        """``(d, a, ρ, latency_ratio, error_rate)``."""
        return (
            self.drift,
            self.accuracy_drop,
            self.anomaly_rate,
            self.latency_ratio,
            self.error_rate,
        )
