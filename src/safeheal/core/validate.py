"""Parameter checks written once: errors name the parameter, what it must be, and what it got."""

from __future__ import annotations

import math
import numbers

from safeheal.errors import ConfigError


def number_in(
    value: object,
    *,
    name: str,
    owner: str,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float if it is a real number in the interval, else a :class:`ConfigError`.

    >>> number_in(0.05, name="alpha", owner="DriftDetector", low=0, high=1, low_open=True,
    ...           high_open=True)
    0.05
    >>> number_in(1.5, name="alpha", owner="DriftDetector", low=0, high=1, low_open=True,
    ...           high_open=True)
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: the `alpha` parameter of DriftDetector must be in (0, 1); got 1.5
    """
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    if math.isinf(low) and math.isinf(high):
        expected = "a finite number"
    elif math.isinf(high):
        expected = f"{'>' if low_open else '>='} {low:g}"
    else:
        expected = f"in {left}{low:g}, {high:g}{right}"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        above = v > low if low_open else v >= low
        below = v < high if high_open else v <= high
        ok = math.isfinite(v) and above and below
    if not ok:
        raise ConfigError(f"the `{name}` parameter of {owner} must be {expected}; got {value!r}")
    return float(value)  # type: ignore[arg-type]
