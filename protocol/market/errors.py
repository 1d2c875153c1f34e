"""Errors of the market rules: all are the caller's bugs (local)."""

from __future__ import annotations

from protocol.errors import LocalProtocolError


class IllegalTransition(LocalProtocolError):  # noqa: N818 (h11 names it the same way)
    """An event arrived in a state whose transition table has no entry for it."""
