"""A timed probe of a model version: evidence about its latency when it serves no traffic.

While the fallback serves, the champion is judged in shadow on the window's inputs and labels,
which says whether its *answers* are good again; it says nothing about its *speed*, because it
served no request. A champion that was left because its host turned slow must not get all the
traffic back while the host is still slow (it would fall back again one window later: flapping).

The controller therefore remembers the p95 latency of the requests the champion served in its
last window in the ``healthy`` zone (read from the inference log: it costs nothing while all is
well), and before it routes traffic back it probes the champion on a sample of the window's
inputs: the restore waits while the probe is above ``control.restore_latency_tolerance`` × that
p95 (never asked to be under half the latency SLO: a probe of a few milliseconds varies that much
with the load of the machine, and what matters is the SLO; never allowed above the SLO).
Without a healthy latency on record, the probe must be within the latency SLO. The probe times
the model where it serves but not the network and queueing of a real request: comparing it with
the logged latency of real requests, and with at most the whole SLO, errs towards waiting.

The probe must run *where the version serves*: a probe that loads the model into the
controller's own process measures the model, not the host it runs on. :class:`TimedProbe` times
whatever ``load`` returns, so it is given the serving path: in one process with the gateway (the
demo, tests), the gateway's :class:`~safeheal.serve.ModelSource`; in production, a ``load`` that
returns a client of the version's serving replica (anything with ``predict``). The controller's
default loads from the registry, which catches a slow model but not a slow host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from safeheal.errors import ConfigError

__all__ = ["LatencyProbe", "TimedProbe"]


@runtime_checkable
class LatencyProbe(Protocol):
    """Milliseconds one request of ``X`` takes on ``version`` of ``model``, where it serves."""

    def __call__(self, model: str, version: int, X: Any, /) -> float: ...


class TimedProbe:
    """Times ``load(model, version).predict(X)`` ``repeats`` times; returns the fastest, in ms.

    The fastest of a few calls: a busy machine (other processes, a garbage collection) only ever
    adds time to a call, so the minimum is the steadiest estimate of what the version can do,
    while a host that is slow makes every call slow, the fastest included.

    >>> from sklearn.dummy import DummyClassifier
    >>> import numpy as np
    >>> est = DummyClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1])
    >>> probe = TimedProbe(lambda model, version: est, repeats=3)
    >>> probe("churn", 1, np.zeros((10, 2))) >= 0.0
    True
    """

    def __init__(self, load: Callable[[str, int], Any], *, repeats: int = 5) -> None:
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ConfigError(
                f"the `repeats` parameter of TimedProbe must be an integer >= 1; got {repeats!r}"
            )
        self._load = load
        self.repeats = repeats

    def __call__(self, model: str, version: int, X: Any, /) -> float:
        predictor = self._load(model, version)
        times = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            predictor.predict(X)
            times.append((time.perf_counter() - t0) * 1000.0)
        return float(min(times))

    def __repr__(self) -> str:
        return f"TimedProbe(repeats={self.repeats})"
