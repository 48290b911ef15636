"""Where the healing actions send traffic, and whom they tell: two small Protocols.

- :class:`TrafficRouter`: the arms (version, weight in percent) of each model. The serving
  gateway's traffic table implements it; :class:`InMemoryRouter` is a real one for tests,
  benchmarks and notebooks.
- :class:`SharedRouter`: a :class:`TrafficRouter` kept in the store (any :class:`SplitStore`), so
  a gateway and controllers in other processes serve and steer the same split.
- :class:`Notifier`: tells a human (:class:`WebhookNotifier` posts JSON to a URL).

``heal`` never imports ``serve`` (design.md 1): the gateway's table satisfies
:class:`TrafficRouter` by its shape. An :class:`Arm` is a named tuple ``(version, weight)``, so a
table that takes ``(version, weight)`` pairs takes arms too.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

from safeheal.errors import ConfigError, NotifyError, SafehealError

__all__ = [
    "Arm",
    "ArmLike",
    "InMemoryRouter",
    "Notifier",
    "SharedRouter",
    "SplitStore",
    "StoredSplit",
    "TrafficRouter",
    "WebhookNotifier",
    "check_arms",
]


class Arm(NamedTuple):
    """One version of a model and the share of its traffic, in percent.

    >>> Arm(3, 99.0), tuple(Arm(4, 1.0))
    (Arm(version=3, weight=99.0), (4, 1.0))
    """

    version: int
    weight: float


class ArmLike(Protocol):
    """Anything with a version and a weight (the gateway's own arm type is one)."""

    @property
    def version(self) -> int: ...

    @property
    def weight(self) -> float: ...


def check_arms(arms: Sequence[ArmLike | tuple[int, float]], *, model: str) -> tuple[Arm, ...]:
    """Arms as a tuple of :class:`Arm`, after checking them: at least one, distinct versions
    (integers >= 1), weights in [0, 100] that sum to 100 (within 1e-6).

    >>> check_arms([(2, 1), (1, 99)], model="churn")
    (Arm(version=2, weight=1.0), Arm(version=1, weight=99.0))
    >>> check_arms([(2, 1), (1, 90)], model="churn")
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: the weights of model 'churn' must sum to 100; got 91
    """
    out: list[Arm] = []
    for item in arms:
        if isinstance(item, tuple):
            version, weight = item
        else:
            version, weight = item.version, item.weight
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(
                f"an arm's version of model {model!r} must be an integer >= 1; got {version!r}"
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or not 0 <= weight <= 100
        ):
            raise ConfigError(
                f"the weight of version {version} of model {model!r} must be a number in "
                f"[0, 100]; got {weight!r}"
            )
        out.append(Arm(version, float(weight)))
    if not out:
        raise ConfigError(f"model {model!r} needs at least one arm; got none")
    versions = [a.version for a in out]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"the arms of model {model!r} repeat a version; got {versions}")
    total = math.fsum(a.weight for a in out)
    if abs(total - 100.0) > 1e-6:
        raise ConfigError(f"the weights of model {model!r} must sum to 100; got {total:g}")
    return tuple(out)


@runtime_checkable
class TrafficRouter(Protocol):
    """The traffic split of each model: which versions answer, and in what share.

    Implementations are thread-safe (the controller writes while the gateway reads) and replace a
    model's arms at once. ``set_arms`` raises :class:`~safeheal.errors.ConfigError` for arms that
    are not a split (see :func:`check_arms`). A canary's candidate is listed first.
    """

    def arms(self, model: str) -> Sequence[ArmLike] | None:
        """The model's arms (weights sum to 100), or None if the model is not routed."""
        ...

    def set_arms(self, model: str, arms: Sequence[tuple[int, float]]) -> None:
        """Replace the model's arms at once."""
        ...


class InMemoryRouter:
    """A thread-safe :class:`TrafficRouter` held in memory.

    Readers get an immutable snapshot without a lock; a write replaces a model's arms at once, so
    a reader sees the old split or the new one, never a mixture. ``history(model)`` lists the last
    splits set (up to ``HISTORY``), oldest first. The gateway serves from this same table
    (``safeheal.serve.InMemoryTrafficTable`` is this class).

    >>> router = InMemoryRouter({"churn": [(1, 100)]})
    >>> router.set_arms("churn", [Arm(2, 1.0), Arm(1, 99.0)])
    >>> router.arms("churn")
    (Arm(version=2, weight=1.0), Arm(version=1, weight=99.0))
    >>> router.arms("other") is None
    True
    """

    #: Splits kept per model by :meth:`history` (a long-running gateway must not grow forever).
    HISTORY = 1000

    def __init__(self, initial: Mapping[str, Sequence[tuple[int, float]]] | None = None) -> None:
        self._lock = threading.Lock()
        self._arms: dict[str, tuple[Arm, ...]] = {}
        self._history: dict[str, deque[tuple[Arm, ...]]] = {}
        for model, arms in (initial or {}).items():
            self.set_arms(model, arms)

    def arms(self, model: str) -> tuple[Arm, ...] | None:
        return self._arms.get(model)

    def set_arms(self, model: str, arms: Sequence[tuple[int, float]]) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"a model name must be a non-empty string; got {model!r}")
        checked = check_arms(arms, model=model)
        with self._lock:
            updated = dict(self._arms)
            updated[model] = checked
            self._arms = updated
            self._history.setdefault(model, deque(maxlen=self.HISTORY)).append(checked)

    def models(self) -> tuple[str, ...]:
        """Names of the routed models, sorted."""
        return tuple(sorted(self._arms))

    def history(self, model: str) -> list[tuple[Arm, ...]]:
        """Every split set for ``model``, oldest first."""
        with self._lock:
            return list(self._history.get(model, ()))

    def __repr__(self) -> str:
        return f"InMemoryRouter({self._arms!r})"


class StoredSplit(Protocol):
    """A model's split as a :class:`SplitStore` keeps it."""

    @property
    def arms(self) -> Sequence[tuple[int, float]]: ...

    @property
    def revision(self) -> int: ...


@runtime_checkable
class SplitStore(Protocol):
    """Where a :class:`SharedRouter` keeps the splits (``safeheal.store.SqlStore`` is one)."""

    def save_split(
        self, model: str, arms: Sequence[tuple[int, float]], *, at: datetime | None = None
    ) -> int:
        """Replace the model's split; return its new revision."""
        ...

    def load_splits(self, models: Sequence[str] | None = None) -> Mapping[str, StoredSplit]:
        """The stored splits (of ``models``), by model."""
        ...


_log = logging.getLogger("safeheal.heal")


class SharedRouter:
    """A :class:`TrafficRouter` kept in a :class:`SplitStore`: every process on the same store
    (the gateway, the controllers) serves and steers the same split.

    ``set_arms`` checks the arms, writes them in one transaction (the model's revision goes up)
    and updates this process's copy at once. ``arms`` reads the copy, which is reloaded from the
    store when it is older than ``refresh_seconds``: on the request path that costs a clock
    read, and one query per interval (by whichever request comes first; the others keep using
    the copy meanwhile). With ``refresh_seconds=0`` every read goes to the store (the
    controller's choice: it must see a split a human just set). A store that cannot be read
    leaves the last copy in service (and is logged): the gateway keeps serving.

    ``models`` limits the router to those models (the gateway's); by default it routes every
    model the store has a split for.
    """

    def __init__(
        self,
        splits: SplitStore,
        *,
        models: Sequence[str] | None = None,
        refresh_seconds: float = 0.25,
    ) -> None:
        if (
            isinstance(refresh_seconds, bool)
            or not isinstance(refresh_seconds, int | float)
            or not (math.isfinite(refresh_seconds) and refresh_seconds >= 0)
        ):
            raise ConfigError(
                f"the `refresh_seconds` parameter of SharedRouter must be a number >= 0; "
                f"got {refresh_seconds!r}"
            )
        self.splits = splits
        self.refresh_seconds = float(refresh_seconds)
        self._only = None if models is None else tuple(models)
        self._copy: dict[str, tuple[int, tuple[Arm, ...]]] = {}
        self._write_lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._due = 0.0
        self.refresh()

    def refresh(self) -> None:
        """Reload the copy from the store now (raises what the store raises)."""
        stored = self.splits.load_splits(self._only)
        with self._write_lock:
            fresh: dict[str, tuple[int, tuple[Arm, ...]]] = {}
            for model, split in stored.items():
                old = self._copy.get(model)
                if old is not None and old[0] >= split.revision:
                    fresh[model] = old  # unchanged (or newer here: just written by this process)
                else:
                    fresh[model] = (split.revision, tuple(Arm(v, w) for v, w in split.arms))
            self._copy = fresh
            self._due = time.monotonic() + self.refresh_seconds

    def _maybe_refresh(self) -> None:
        if time.monotonic() < self._due or not self._refreshing.acquire(blocking=False):
            return
        try:
            self.refresh()
        except SafehealError as exc:
            self._due = time.monotonic() + self.refresh_seconds
            _log.warning("traffic splits not refreshed, serving the last ones read: %s", exc)
        finally:
            self._refreshing.release()

    def arms(self, model: str) -> tuple[Arm, ...] | None:
        if self.refresh_seconds == 0:
            self._read_one(model)
        else:
            self._maybe_refresh()
        hit = self._copy.get(model)
        return None if hit is None else hit[1]

    def _read_one(self, model: str) -> None:
        if self._only is not None and model not in self._only:
            return
        split = self.splits.load_splits([model]).get(model)
        with self._write_lock:
            if split is None:
                return
            old = self._copy.get(model)
            if old is None or old[0] < split.revision:
                updated = dict(self._copy)
                updated[model] = (split.revision, tuple(Arm(v, w) for v, w in split.arms))
                self._copy = updated

    def set_arms(self, model: str, arms: Sequence[tuple[int, float]]) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"a model name must be a non-empty string; got {model!r}")
        checked = check_arms(arms, model=model)
        revision = self.splits.save_split(model, [(a.version, a.weight) for a in checked])
        with self._write_lock:
            old = self._copy.get(model)
            if old is None or old[0] < revision:
                updated = dict(self._copy)
                updated[model] = (revision, checked)
                self._copy = updated

    def revision(self, model: str) -> int | None:
        """The revision of the model's split in this process's copy (None: not routed)."""
        hit = self._copy.get(model)
        return None if hit is None else hit[0]

    def models(self) -> tuple[str, ...]:
        """Names of the routed models, sorted."""
        if self.refresh_seconds > 0:
            self._maybe_refresh()
        return tuple(sorted(self._copy))

    def __repr__(self) -> str:
        return f"SharedRouter({self.splits!r}, refresh_seconds={self.refresh_seconds:g})"


@runtime_checkable
class Notifier(Protocol):
    """Tells a human something (an escalation). ``payload`` is JSON-ready.

    Raises :class:`~safeheal.errors.NotifyError` when the message could not be delivered.
    """

    def notify(self, payload: Mapping[str, Any]) -> None: ...


class WebhookNotifier:
    """A :class:`Notifier` that POSTs the payload as JSON to ``url`` and expects a 2xx answer
    within ``timeout_seconds``. Anything else (refused, timed out, 4xx, 5xx) is a
    :class:`~safeheal.errors.NotifyError` naming the URL and what went wrong.
    """

    def __init__(self, url: str, *, timeout_seconds: float = 5.0) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the `url` parameter of WebhookNotifier must be an http:// or https:// URL; "
                f"got {url!r}"
            )
        if (
            isinstance(timeout_seconds, bool)
            or not isinstance(timeout_seconds, int | float)
            or not (math.isfinite(timeout_seconds) and timeout_seconds > 0)
        ):
            raise ConfigError(
                f"the `timeout_seconds` parameter of WebhookNotifier must be a number > 0; "
                f"got {timeout_seconds!r}"
            )
        self.url = url
        self.timeout_seconds = float(timeout_seconds)

    def notify(self, payload: Mapping[str, Any]) -> None:
        import httpx

        try:
            body = json.dumps(dict(payload), allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise NotifyError(f"the webhook payload is not JSON: {error}") from None
        try:
            response = httpx.post(
                self.url,
                content=body,
                headers={"content-type": "application/json"},
                timeout=self.timeout_seconds,
            )
        except httpx.TimeoutException:
            raise NotifyError(
                f"the webhook {self.url} did not answer within {self.timeout_seconds:g} s"
            ) from None
        except httpx.HTTPError as error:
            raise NotifyError(f"the webhook {self.url} could not be reached: {error}") from None
        if not response.is_success:
            raise NotifyError(
                f"the webhook {self.url} answered {response.status_code} "
                f"{response.reason_phrase}: {response.text[:200]}"
            )

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.url!r})"
