"""Settings of the serving gateway: one frozen value, validated when built."""

from __future__ import annotations

from dataclasses import dataclass, field

from safeheal.core.validate import number_in
from safeheal.errors import ConfigError

_OWNER = "GatewaySettings"


def _int_at_least(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(
            f"the `{name}` parameter of {_OWNER} must be an integer >= {low}; got {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """How the gateway limits requests, authenticates admins and logs inferences.

    >>> GatewaySettings(max_rows=100).max_rows
    100
    >>> GatewaySettings(log_batch_size=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: the `log_batch_size` parameter of GatewaySettings must be ...
    """

    #: Bearer token of the admin API. ``None`` disables the admin API (every call answers 401).
    admin_token: str | None = field(default=None, repr=False)
    #: Largest request body accepted, in bytes; larger bodies get 413.
    max_body_bytes: int = 1 << 20
    #: Most rows (or labels) accepted in one request; more get 413.
    max_rows: int = 1_000
    #: Capacity of the in-memory inference-log queue, in records.
    log_queue_size: int = 100_000
    #: The log writer hands the sink batches of at most this many records ...
    log_batch_size: int = 256
    #: ... and flushes whatever is queued at least this often, in seconds.
    log_flush_interval_s: float = 0.05
    #: When the queue is full, a request waits this long (seconds, without blocking other
    #: requests) for room; then its record is dropped and counted.
    log_enqueue_timeout_s: float = 1.0
    #: On shutdown, how long to wait for the queue to drain into the sink, in seconds.
    log_drain_timeout_s: float = 30.0
    #: Run ``predict`` in a worker thread instead of the event loop. Off by default: for
    #: sub-millisecond models the hand-off costs more than the call; turn it on for models whose
    #: predict takes long enough to stall other requests.
    predict_in_thread: bool = False

    def __post_init__(self) -> None:
        token = self.admin_token
        if token is not None and (not isinstance(token, str) or len(token) < 16):
            got = f"a {type(token).__name__}" if not isinstance(token, str) else f"{len(token)}"
            raise ConfigError(
                f"the `admin_token` parameter of {_OWNER} must be a string of at least 16 "
                f"characters, or None to disable the admin API; got {got}"
                + (" characters" if isinstance(token, str) else "")
            )
        _int_at_least(self.max_body_bytes, "max_body_bytes", 1)
        _int_at_least(self.max_rows, "max_rows", 1)
        _int_at_least(self.log_queue_size, "log_queue_size", 1)
        _int_at_least(self.log_batch_size, "log_batch_size", 1)
        for name, low_open in (
            ("log_flush_interval_s", True),
            ("log_enqueue_timeout_s", False),
            ("log_drain_timeout_s", False),
        ):
            number_in(getattr(self, name), name=name, owner=_OWNER, low=0, low_open=low_open)
        if not isinstance(self.predict_in_thread, bool):
            raise ConfigError(
                f"the `predict_in_thread` parameter of {_OWNER} must be a bool; "
                f"got {self.predict_in_thread!r}"
            )
