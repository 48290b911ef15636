"""Errors of the serving gateway: the library errors callers catch, and the HTTP error they become.

The library errors join the tree of :mod:`safeheal.errors`::

    SafehealError
    ├── ModelNotFoundError(SafehealError, LookupError)   no such model or version     → 404
    ├── AdminConflictError(SafehealError, RuntimeError)  the action cannot apply now  → 409
    └── NotSupportedError(SafehealError, NotImplementedError)  not available here     → 501

:class:`ApiError` is internal: it carries an HTTP status and the JSON error body every endpoint
answers with, ``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

from safeheal.errors import SafehealError


class ModelNotFoundError(SafehealError, LookupError):
    """No model of that name is served, or that version cannot be found."""

    def __str__(self) -> str:  # LookupError subclasses like KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AdminConflictError(SafehealError, RuntimeError):
    """An admin action cannot apply in the current state (e.g. nothing to roll back to)."""


class NotSupportedError(SafehealError, NotImplementedError):
    """The admin implementation in use does not offer this action."""


class ApiError(Exception):
    """An error answered to the client with ``status`` and a JSON body naming the problem."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}
