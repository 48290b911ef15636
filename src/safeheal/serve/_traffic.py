"""Traffic split: which version answers a request, sticky per request id."""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from safeheal.errors import ConfigError

_SCALE = float(1 << 64)


@dataclass(frozen=True, slots=True)
class Arm:
    """One version of a model and the share of requests it answers, in percent."""

    version: int
    weight: float


def validate_arms(arms: Sequence[Arm | tuple[int, float]], *, model: str) -> tuple[Arm, ...]:
    """Arms as a tuple, after checking them: at least one, distinct integer versions, weights in
    [0, 100] summing to 100 (within 1e-6).

    >>> validate_arms([(3, 90), (4, 10)], model="m")
    (Arm(version=3, weight=90.0), Arm(version=4, weight=10.0))
    >>> validate_arms([(3, 90), (4, 20)], model="m")
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: the weights of model 'm' must sum to 100; got 110
    """
    out: list[Arm] = []
    for item in arms:
        version, weight = (item.version, item.weight) if isinstance(item, Arm) else item
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


def bucket(model: str, request_id: str) -> float:
    """A uniform number in [0, 1) fixed by the model and the request id (BLAKE2b, 64 bits).

    >>> bucket("m", "abc") == bucket("m", "abc")
    True
    """
    digest = hashlib.blake2b(f"{model}\x00{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def choose_arm(arms: Sequence[Arm], model: str, request_id: str) -> Arm:
    """The arm that answers ``request_id``: the first arm whose cumulative weight exceeds
    100·bucket. The same id always lands on the same arm while the weights stay put; raising the
    weight of the first arm only moves requests onto it, so list a canary first.

    >>> arms = validate_arms([(2, 10), (1, 90)], model="m")
    >>> choose_arm(arms, "m", "abc") is choose_arm(arms, "m", "abc")
    True
    """
    if len(arms) == 1:
        return arms[0]
    u = bucket(model, request_id) * 100.0
    cumulative = 0.0
    for arm in arms:
        cumulative += arm.weight
        if u < cumulative:
            return arm
    # Rounding left u above the last sum: the last arm with any weight answers.
    return next(a for a in reversed(arms) if a.weight > 0)


class InMemoryTrafficTable:
    """A thread-safe :class:`~safeheal.serve.TrafficTable` held in memory.

    Reads are lock-free snapshots (an immutable tuple per model); writes replace a model's arms
    at once, so a reader sees the old split or the new one, never a mixture.

    >>> table = InMemoryTrafficTable({"churn": [(1, 100)]})
    >>> table.set_arms("churn", [(2, 5), (1, 95)])
    >>> table.arms("churn")
    (Arm(version=2, weight=5.0), Arm(version=1, weight=95.0))
    >>> table.arms("other") is None
    True
    """

    def __init__(self, initial: dict[str, Sequence[Arm | tuple[int, float]]] | None = None) -> None:
        self._lock = threading.Lock()
        self._arms: dict[str, tuple[Arm, ...]] = {}
        for model, arms in (initial or {}).items():
            self.set_arms(model, arms)

    def arms(self, model: str) -> tuple[Arm, ...] | None:
        return self._arms.get(model)

    def set_arms(self, model: str, arms: Sequence[Arm | tuple[int, float]]) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"a model name must be a non-empty string; got {model!r}")
        checked = validate_arms(arms, model=model)
        with self._lock:
            updated = dict(self._arms)
            updated[model] = checked
            self._arms = updated

    def models(self) -> tuple[str, ...]:
        return tuple(sorted(self._arms))
