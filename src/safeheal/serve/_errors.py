"""Errors of the serving gateway: the library errors callers catch, and the HTTP error they become.

The library errors live in :mod:`safeheal.errors` and are re-exported here::

    ModelNotFoundError   no such model or version     → 404
    AdminConflictError   the action cannot apply now  → 409
    NotSupportedError    not available here           → 501

:class:`ApiError` is internal: it carries an HTTP status and the JSON error body every endpoint
answers with, ``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

from safeheal.errors import AdminConflictError, ModelNotFoundError, NotSupportedError

__all__ = ["AdminConflictError", "ApiError", "ModelNotFoundError", "NotSupportedError"]


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
