"""What can go wrong at the network edge, split by whose fault it is.

``P2PError`` is the root. ``PeerFault`` subclasses mean the remote peer sent
something no honest peer sends (bad framing, wrong bytes for a hash): the peer is
penalised. ``StreamFailed`` means the transport gave out (reset, timeout, refused
dial) and blames nobody. ``Refused`` is a well-formed refusal from the peer.
"""

# ruff: noqa: N818  (the class names are the reasons logged and counted)

from __future__ import annotations


class P2PError(Exception):
    """Root of every error node.p2p raises."""


class IdentityError(P2PError):
    """The node's libp2p key file cannot be read, written or trusted."""


class InvalidAddress(P2PError):
    """A configured multiaddr cannot be used (a bootstrap address needs /p2p/<peer id>)."""


class NotBound(P2PError):
    """The peer is not bound to the Ethereum account the caller requires."""


class StreamFailed(P2PError):
    """A direct stream could not be opened or broke off; nobody is blamed."""


class StreamTimeout(StreamFailed):
    """A read, write or dial on a direct stream took longer than allowed."""


class PeerFault(P2PError):
    """The peer broke the direct-stream protocol; it is penalised."""


class FrameTooLarge(PeerFault):
    """A frame or blob announces more bytes than this stream accepts."""


class Truncated(PeerFault):
    """The stream ended before the announced length arrived (a sender killed mid-stream)."""


class HashMismatch(PeerFault):
    """The bytes received do not hash to the announced or requested sha256."""


class BadMessage(PeerFault):
    """A direct message or reply is not one this protocol allows."""


class Refused(P2PError):
    """The peer answered with a refusal (an ``ErrorReply``)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"refused ({code}): {reason}")
        self.code = code
        self.reason = reason
