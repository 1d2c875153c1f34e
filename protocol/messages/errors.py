"""Why a wire message or a signed envelope was refused.

Every failure to decode or validate outside input is a ``RemoteProtocolError``
subclass, so a validator can drop the message and log the class name; building a
message with bad values locally is a ``LocalProtocolError`` (our bug).
"""

from __future__ import annotations

# The class names are the reasons a validator logs (h11 style), not N818's *Error names.
# ruff: noqa: N818
from protocol.errors import LocalProtocolError, RemoteProtocolError


class InvalidMessageValue(LocalProtocolError):
    """A message was constructed locally with a value its field does not allow."""


class MalformedMessage(RemoteProtocolError):
    """The bytes are not a well-formed encoding of a known message."""


class UnknownMessageType(MalformedMessage):
    """The type id names no message in the registry."""


class OversizedMessage(MalformedMessage):
    """The encoding is longer than its type (or the context) allows."""


class NonCanonicalEncoding(MalformedMessage):
    """The bytes decode, but are not the one encoding the message has."""


class UnexpectedMessageType(MalformedMessage):
    """A well-formed message of a type this context does not accept."""


class EnvelopeRejected(RemoteProtocolError):
    """A signed gossip envelope failed validation; subclasses say why."""


class WrongChain(EnvelopeRejected):
    """The envelope was made for another chain id."""


class Unsigned(EnvelopeRejected):
    """The envelope carries no signature."""


class BadSignature(EnvelopeRejected):
    """The signature is malformed or not the claimed sender's."""


class SenderMismatch(EnvelopeRejected):
    """The payload names an account other than the envelope's signer."""


class Expired(EnvelopeRejected):
    """The envelope's expiry has passed."""


class FromTheFuture(EnvelopeRejected):
    """The envelope's timestamp is ahead of our clock by more than the allowed skew."""


class LifetimeTooLong(EnvelopeRejected):
    """The envelope asks to live longer than the network allows."""


class Replayed(EnvelopeRejected):
    """This (sender, nonce) was already accepted and has not expired."""


class ReplayCacheFull(EnvelopeRejected):
    """The replay cache (or this sender's share of it) is full; the message is dropped."""
