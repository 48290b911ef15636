"""The error tree of safeheal.

Every error safeheal raises on purpose derives from :class:`SafehealError`. Where a caller would
naturally catch a builtin, the error also derives from it, so existing ``except ValueError`` code
keeps working::

    SafehealError
    ├── ConfigError(SafehealError, ValueError)       a configuration key or value is wrong
    ├── DataError(SafehealError, ValueError)         input data has the wrong shape, type or content
    │   └── SchemaError(DataError)                   columns missing, added, or of the wrong kind
    ├── InsufficientDataError(DataError)             too few rows for the requested statistic
    ├── StateError(SafehealError, ValueError)        a State built from invalid numbers
    ├── StoreError(SafehealError, RuntimeError)      the store is locked, gone or not migrated
    ├── RegistryError(SafehealError, RuntimeError)   the model registry failed or is unreachable
    │   └── UnknownModelError(RegistryError, LookupError)  no such model, version or role
    ├── UnknownDecisionError(SafehealError, KeyError)  an outcome for a decision nobody made
    ├── DuplicateOutcomeError(SafehealError, ValueError)  a second outcome for one decision
    ├── ActionRefused(SafehealError, RuntimeError)   an action could not be carried out at all
    ├── NotifyError(SafehealError, RuntimeError)     a human could not be told (webhook down)
    ├── UnknownEscalationError(SafehealError, LookupError)  an answer to an escalation nobody raised
    ├── EscalationClosedError(SafehealError, ValueError)  a second, different answer to one
    ├── ModelNotFoundError(SafehealError, LookupError)   the gateway serves no such model or version
    ├── AdminConflictError(SafehealError, RuntimeError)  an admin action cannot apply now
    └── NotSupportedError(SafehealError, NotImplementedError)  this admin does not offer the action

The serving gateway answers the last three with HTTP 404, 409 and 501.

Messages name what was wrong, what was expected and what was given:

>>> raise DataError("the `current` window has 0 rows; expected at least 1")
Traceback (most recent call last):
...
safeheal.errors.DataError: the `current` window has 0 rows; expected at least 1
"""

from __future__ import annotations

__all__ = [
    "ActionRefused",
    "AdminConflictError",
    "ConfigError",
    "DataError",
    "DuplicateOutcomeError",
    "EscalationClosedError",
    "InsufficientDataError",
    "ModelNotFoundError",
    "NotSupportedError",
    "NotifyError",
    "RegistryError",
    "SafehealError",
    "SchemaError",
    "StateError",
    "StoreError",
    "UnknownDecisionError",
    "UnknownEscalationError",
    "UnknownModelError",
]


class SafehealError(Exception):
    """Root of every error safeheal raises on purpose."""


class ConfigError(SafehealError, ValueError):
    """A configuration key or value is invalid; raised when the configuration is loaded."""


class DataError(SafehealError, ValueError):
    """Input data has the wrong shape, type or content."""


class SchemaError(DataError):
    """A window's columns do not match the reference: missing, added, or of the wrong kind."""


class InsufficientDataError(DataError):
    """Too few rows to compute the requested statistic."""


class StateError(SafehealError, ValueError):
    """A State was built from values outside their allowed ranges (NaN, negative, above 1)."""


class StoreError(SafehealError, RuntimeError):
    """The store cannot be opened or written (locked, gone, or a migration is missing)."""


class RegistryError(SafehealError, RuntimeError):
    """The model registry could not do what was asked (unreachable, refused, failed to store)."""


class UnknownModelError(RegistryError, LookupError):
    """The registry has no model, or no version, by that name or number."""


class UnknownDecisionError(SafehealError, KeyError):
    """An outcome was reported for a decision id the policy or store does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateOutcomeError(SafehealError, ValueError):
    """An outcome was reported twice for the same decision."""


class ActionRefused(SafehealError, RuntimeError):
    """An executor refused an action before changing anything (no fallback registered, no
    last known-good version, no labelled data); the decision should escalate.

    Executors report a refusal as a result; ``ExecutionResult.raise_for_status()`` raises this.
    """


class NotifyError(SafehealError, RuntimeError):
    """A notifier could not deliver its message (the webhook is down, timed out or said no)."""


class UnknownEscalationError(SafehealError, LookupError):
    """An answer was given to an escalation id that nobody raised."""


class EscalationClosedError(SafehealError, ValueError):
    """An escalation that was already answered got a different answer; each is answered once."""


class ModelNotFoundError(SafehealError, LookupError):
    """The gateway serves no model of that name, or that version cannot be found (HTTP 404)."""

    def __str__(self) -> str:  # LookupError subclasses like KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AdminConflictError(SafehealError, RuntimeError):
    """An admin action cannot apply in the current state, e.g. nothing to roll back to, or a
    version marked unhealthy (HTTP 409)."""


class NotSupportedError(SafehealError, NotImplementedError):
    """The admin implementation in use does not offer this action (HTTP 501)."""
