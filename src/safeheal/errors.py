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
    └── DuplicateOutcomeError(SafehealError, ValueError)  a second outcome for one decision

Messages name what was wrong, what was expected and what was given:

>>> raise DataError("the `current` window has 0 rows; expected at least 1")
Traceback (most recent call last):
...
safeheal.errors.DataError: the `current` window has 0 rows; expected at least 1
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DuplicateOutcomeError",
    "InsufficientDataError",
    "RegistryError",
    "SafehealError",
    "SchemaError",
    "StateError",
    "StoreError",
    "UnknownDecisionError",
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
