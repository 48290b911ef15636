"""Time for the controller: one small protocol, a real clock and two for tests and the demo.

Nothing in the loop calls ``datetime.now()``: every component gets the controller's clock, so the
same code runs in real time (``RealClock``), step by step (``ManualClock``, tests), or faster than
real time (``AcceleratedClock``, the demo and the benchmark).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from safeheal.core.validate import number_in
from safeheal.errors import ConfigError

__all__ = ["AcceleratedClock", "Clock", "ManualClock", "RealClock"]


def _aware(t: object, what: str) -> datetime:
    if not isinstance(t, datetime) or t.utcoffset() is None:
        raise ConfigError(f"{what} must be a timezone-aware datetime; got {t!r}")
    return t


@runtime_checkable
class Clock(Protocol):
    """The time now (timezone-aware), and a way to wait on the same time scale.

    A clock is also callable (``clock()`` is ``clock.now()``), so it can be handed to anything
    that takes a ``Callable[[], datetime]`` (the registry, an ``ActionContext``, the policy).
    """

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...

    def __call__(self) -> datetime: ...


class RealClock:
    """Wall-clock time in UTC.

    >>> RealClock().now().tzinfo is UTC
    True
    """

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def __call__(self) -> datetime:
        return self.now()

    def __repr__(self) -> str:
        return "RealClock()"


class ManualClock:
    """A clock that moves only when told to; ``sleep`` moves it at once. Thread-safe.

    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> clock = ManualClock(t0)
    >>> clock.advance(minutes=5)
    datetime.datetime(2026, 1, 1, 0, 5, tzinfo=datetime.timezone.utc)
    >>> clock.sleep(60); clock.now() - t0
    datetime.timedelta(seconds=360)
    """

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start, "the `start` of ManualClock")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def __call__(self) -> datetime:
        return self.now()

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (backwards too: a clock that jumps is something to survive)."""
        when = _aware(when, "`when`")
        with self._lock:
            self._now = when

    def advance(self, delta: timedelta | None = None, *, minutes: float = 0.0) -> datetime:
        """Move on by ``delta`` and/or ``minutes``; return the new time."""
        step = (delta or timedelta()) + timedelta(minutes=minutes)
        with self._lock:
            self._now += step
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=max(0.0, seconds)))

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"


class AcceleratedClock:
    """Simulated time that runs ``speed`` times faster than the wall clock, from ``start``.

    >>> clock = AcceleratedClock(datetime(2026, 1, 1, tzinfo=UTC), speed=600)
    >>> clock.now() >= datetime(2026, 1, 1, tzinfo=UTC)
    True
    """

    def __init__(self, start: datetime, *, speed: float = 60.0) -> None:
        self._start = _aware(start, "the `start` of AcceleratedClock")
        self.speed = number_in(speed, name="speed", owner="AcceleratedClock", low=0, low_open=True)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def __call__(self) -> datetime:
        return self.now()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)

    def __repr__(self) -> str:
        return f"AcceleratedClock(speed={self.speed:g})"
