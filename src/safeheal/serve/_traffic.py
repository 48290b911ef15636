"""Traffic split: which version answers a request, sticky per request id."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from safeheal.heal._routing import Arm
from safeheal.heal._routing import InMemoryRouter as InMemoryTrafficTable

__all__ = ["Arm", "InMemoryTrafficTable", "bucket", "choose_arm"]

_SCALE = float(1 << 64)


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

    >>> arms = (Arm(2, 10.0), Arm(1, 90.0))
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
