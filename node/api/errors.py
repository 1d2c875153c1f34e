"""Errors a request handler raises to answer with an HTTP error status.

``HttpError`` carries the status, a short machine-readable ``code`` and a message
for people; the server sends it as ``{"error": {"code": ..., "message": ...}}``.
A handler may also raise ``protocol.errors.RemoteProtocolError`` for bad input
(answered 400 with code ``invalid``); any other exception is a bug (500).
"""

# The class names are the HTTP reason phrases, not N818 "...Error" names.
# ruff: noqa: N818

from __future__ import annotations


class HttpError(Exception):
    """An answer with an error status; subclasses fix ``status`` and ``code``."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class BadRequest(HttpError):
    """The request is malformed: bad JSON, a bad parameter, a bad path."""

    status = 400
    code = "bad_request"


class Unauthorized(HttpError):
    """The API token is missing or wrong."""

    status = 401
    code = "unauthorized"


class NotFound(HttpError):
    """No route, or no such object."""

    status = 404
    code = "not_found"


class MethodNotAllowed(HttpError):
    """The path exists but not with this method; ``allow`` lists the methods it has."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allow: list[str]) -> None:
        super().__init__(message)
        self.allow = allow


class Conflict(HttpError):
    """The object is in a state that does not allow this (cancel an awarded job)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(HttpError):
    """The request body is over the server's cap."""

    status = 413
    code = "payload_too_large"


class NotReady(HttpError):
    """The daemon is still starting (or stopping) and cannot answer this yet."""

    status = 503
    code = "not_ready"


class ApiConfigError(Exception):
    """The API server cannot start as configured (a non-loopback host, a port in use)."""
