"""Signed gossip envelopes: sealing, and the checks a gossip validator runs.

A gossip payload travels as ``Envelope(chain_id, type_id, payload, sender,
timestamp, expiry, nonce, signature)``; the signature is the sender's EIP-712
signature over every other field (``signing.envelope_digest``). ``validate_envelope``
accepts an envelope only if it is for our chain, carries a gossip type, is within
its lifetime (allowing ``max_skew_s`` of clock difference), decodes strictly, is
signed by ``sender``, names ``sender`` where the payload names an account, and is
not a replay. The replay check comes last, so forged envelopes cannot fill the
replay cache. Time is a parameter: ``now`` is the caller's unix time in seconds.
"""

from __future__ import annotations

import dataclasses
import heapq
from dataclasses import dataclass, field

from protocol.errors import LocalProtocolError
from protocol.messages.codec import Message, decode, decode_as, encode
from protocol.messages.eip712 import address_of, recover_signer, sign_digest
from protocol.messages.errors import (
    BadSignature,
    Expired,
    FromTheFuture,
    LifetimeTooLong,
    ReplayCacheFull,
    Replayed,
    SenderMismatch,
    UnexpectedMessageType,
    Unsigned,
    WrongChain,
)
from protocol.messages.signing import envelope_digest
from protocol.messages.types import GOSSIP_TYPES, MAX_GOSSIP_PAYLOAD, Envelope

# Clocks of honest nodes (NTP-synced) agree within seconds; 30 s also covers block time.
DEFAULT_MAX_SKEW_S = 30
# Gossip is for live offers: ten minutes is longer than any bid window needs to relay.
DEFAULT_MAX_LIFETIME_S = 600


def seal(
    private_key: bytes,
    chain_id: int,
    message: Message,
    *,
    timestamp: int,
    lifetime_s: int,
    nonce: int,
) -> Envelope:
    """Wrap and sign a gossip payload; ``nonce`` must be fresh (random) per envelope."""
    if not message.GOSSIP:
        raise LocalProtocolError(f"{type(message).__name__} is not a gossip message")
    unsigned = Envelope(
        chain_id=chain_id,
        type_id=message.TYPE_ID,
        payload=encode(message),
        sender=address_of(private_key),
        timestamp=timestamp,
        expiry=timestamp + lifetime_s,
        nonce=nonce,
        signature=b"",
    )
    signature = sign_digest(private_key, envelope_digest(unsigned))
    return dataclasses.replace(unsigned, signature=signature)


@dataclass(frozen=True)
class Verified:
    """A validated gossip message and the account that signed it."""

    sender: bytes
    message: Message
    envelope: Envelope


@dataclass
class ReplayGuard:
    """The (sender, nonce) pairs accepted and not yet expired, bounded in size.

    Entries are kept until their envelope's expiry and forgotten then (an expired
    envelope is refused before this check, so forgetting it is safe); no live entry
    is ever evicted, since that would reopen the door to its replay. A sender holds
    at most ``per_sender`` live entries. Past ``capacity`` live entries in total, a
    sender is refused only if it holds at least its fair share (``capacity`` divided
    by the number of senders with live entries): a few senders' volume never shuts
    out the others, and the total stays below ``2 * capacity`` (one fair share more
    per sender at most), where every new entry is refused.
    """

    capacity: int = 100_000
    per_sender: int = 1_000
    _live: set[tuple[bytes, int]] = field(default_factory=set)
    _by_time: list[tuple[int, bytes, int]] = field(default_factory=list)
    _counts: dict[bytes, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._live)

    @property
    def senders(self) -> int:
        """How many senders hold live entries."""
        return len(self._counts)

    def prune(self, now: int) -> None:
        """Forget entries whose envelopes have expired at ``now``."""
        while self._by_time and self._by_time[0][0] < now:
            _, sender, nonce = heapq.heappop(self._by_time)
            self._live.remove((sender, nonce))
            self._counts[sender] -= 1
            if self._counts[sender] == 0:
                del self._counts[sender]

    def check_and_record(self, sender: bytes, nonce: int, expiry: int, now: int) -> None:
        """Record a fresh (sender, nonce); raises Replayed or ReplayCacheFull."""
        self.prune(now)
        if (sender, nonce) in self._live:
            raise Replayed(f"nonce {nonce} from 0x{sender.hex()} was already accepted")
        held = self._counts.get(sender, 0)
        if held >= self.per_sender:
            raise ReplayCacheFull(f"0x{sender.hex()} has {self.per_sender} live envelopes")
        if len(self._live) >= self.capacity:
            senders = len(self._counts) + (held == 0)
            fair = self.capacity // senders
            if held >= fair or len(self._live) >= 2 * self.capacity:
                raise ReplayCacheFull(
                    f"{len(self._live)} live envelopes are cached and 0x{sender.hex()} holds "
                    f"{held} of them (its fair share is {fair})"
                )
        self._live.add((sender, nonce))
        heapq.heappush(self._by_time, (expiry, sender, nonce))
        self._counts[sender] = held + 1


def _check_times(envelope: Envelope, now: int, max_skew_s: int, max_lifetime_s: int) -> None:
    if envelope.expiry < now:
        raise Expired(f"expired at {envelope.expiry}, now {now}")
    if envelope.timestamp > now + max_skew_s:
        raise FromTheFuture(f"timestamp {envelope.timestamp} is ahead of {now} + {max_skew_s}")
    if not envelope.timestamp <= envelope.expiry <= envelope.timestamp + max_lifetime_s:
        raise LifetimeTooLong(f"lifetime must be within [0, {max_lifetime_s}] s")


def validate_envelope(
    data: bytes | Envelope,
    *,
    chain_id: int,
    now: int,
    replay: ReplayGuard,
    max_skew_s: int = DEFAULT_MAX_SKEW_S,
    max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S,
) -> Verified:
    """The verified payload of a gossip envelope; raises a RemoteProtocolError saying why."""
    envelope = data if isinstance(data, Envelope) else decode_as(data, Envelope, Envelope.MAX_SIZE)
    if envelope.chain_id != chain_id:
        raise WrongChain(f"envelope for chain {envelope.chain_id}, we are on {chain_id}")
    if not envelope.signature:
        raise Unsigned("the envelope has no signature")
    _check_times(envelope, now, max_skew_s, max_lifetime_s)
    message = decode(envelope.payload, GOSSIP_TYPES, MAX_GOSSIP_PAYLOAD)
    if envelope.type_id != message.TYPE_ID:
        raise UnexpectedMessageType(
            f"envelope says type {envelope.type_id}, payload is {type(message).__name__}"
        )
    if recover_signer(envelope_digest(envelope), envelope.signature) != envelope.sender:
        raise BadSignature(f"not signed by 0x{envelope.sender.hex()}")
    named = getattr(message, message.SIGNER_FIELD) if message.SIGNER_FIELD else envelope.sender
    if named != envelope.sender:
        raise SenderMismatch(f"{type(message).__name__} names another account than its signer")
    replay.check_and_record(envelope.sender, envelope.nonce, envelope.expiry, now)
    return Verified(envelope.sender, message, envelope)
