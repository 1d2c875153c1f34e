"""The root of every error protocol/ raises, split by whose fault it is.

``LocalProtocolError`` means the caller broke a precondition (a bug on our side).
``RemoteProtocolError`` means bytes or values that came from outside (a peer, a
file, a user) are malformed; callers drop or report them and carry on.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by protocol/."""


class LocalProtocolError(ProtocolError):
    """The caller broke a precondition: a bug in provernet, not bad input."""


class RemoteProtocolError(ProtocolError):
    """Input from outside (peer message, file, user value) is malformed or inconsistent."""
