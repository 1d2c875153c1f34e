"""provernet's wire messages on the network edge: gossip envelopes and peer records.

``market_topics`` gives the rules of the four market topics: each carries signed
``Envelope``s (protocol.messages) of one payload type, has a replay guard of its own
(a flood on one topic never refuses another's messages), limits each signing
account's rate (``ACCOUNT_RATES``) and, where the daemon gives one, awaits the
topic's on-chain admission. ``envelope_delivery`` gives
the same rules to a direct protocol (bids sent straight to the requester).
``decode`` runs every check that does not depend on what this node saw before or
on who sent it (encoding, chain id, lifetime, EIP-712 signature, the payload naming
its signer); ``check`` requires a peer id the payload names to be the sending peer,
then records the (sender, nonce) pair, refusing replays. The daemon receives
``Verified`` (signer account, payload, envelope).

Peer records bind a peer id to an Ethereum account: ``local_peer_record`` signs
ours, ``peer_record_verifier`` checks a remote one against the stream's peer id.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping

from libp2p.peer.id import ID

from node.p2p.config import DirectRules
from node.p2p.gossip import BIDS_TOPIC, HEARTBEATS_TOPIC, JOBS_TOPIC, MODELS_TOPIC, TopicRules
from protocol.errors import RemoteProtocolError
from protocol.messages import (
    Bid,
    Envelope,
    JobAnnouncement,
    Message,
    ModelAnnouncement,
    PeerRecord,
    ProverHeartbeat,
    ReplayGuard,
    Verified,
    decode_as,
    encode,
    recover_peer_record_signer,
    seal,
    sign_peer_record,
    validate_envelope,
)
from protocol.messages.errors import BadSignature, ReplayCacheFull, UnexpectedMessageType

# Payload fields that name the peer a reply should go to; it must be the publisher.
PEER_FIELDS = ("peer_id", "requester_peer_id")
TOPIC_TYPES: dict[str, type[Message]] = {
    JOBS_TOPIC: JobAnnouncement,
    BIDS_TOPIC: Bid,
    MODELS_TOPIC: ModelAnnouncement,
    HEARTBEATS_TOPIC: ProverHeartbeat,
}


# Per signing account (rate per second, burst), across every peer it publishes through:
# a requester re-announces each open job every 15 s, a prover heartbeats every 15 s and
# bids on each job once, an owner announces each model it serves once a period.
ACCOUNT_RATES: dict[str, tuple[float, float]] = {
    JOBS_TOPIC: (2.0, 30.0),
    BIDS_TOPIC: (5.0, 50.0),
    MODELS_TOPIC: (1.0, 20.0),
    HEARTBEATS_TOPIC: (0.5, 5.0),
}
Admit = Callable[[Verified], Awaitable[None]]


class PeerIdMismatch(RemoteProtocolError):  # noqa: N818 (named for the reason, as in protocol.messages)
    """A message names a peer id other than the peer that sent it."""


def market_topics(
    chain_id: int,
    wall_clock: Callable[[], float],
    *,
    admit: Mapping[str, Admit] | None = None,
    on_bound: Callable[[str], None] = lambda name: None,
) -> list[TopicRules]:
    """Rules for the job, bid, model and heartbeat topics on ``chain_id``.

    ``admit[topic]``, where given, is awaited for every message of that topic that
    passed the checks needing no chain; it raises node.p2p.NotAdmitted to refuse one.
    """
    rules = []
    for topic, payload in TOPIC_TYPES.items():
        replay = ReplayGuard()
        decode, check = _envelope_rules(payload, chain_id, replay, wall_clock, on_bound)
        rate, burst = ACCOUNT_RATES[topic]
        rules.append(
            TopicRules(
                topic,
                Envelope.MAX_SIZE,
                decode,
                check,
                account_of=_signer,
                account_rate_per_s=rate,
                account_burst=burst,
                admit=None if admit is None else admit.get(topic),
            )
        )
    return rules


def envelope_topic(
    topic: str,
    payload: type[Message],
    chain_id: int,
    replay: ReplayGuard,
    wall_clock: Callable[[], float],
) -> TopicRules:
    """Rules for a topic whose messages are envelopes carrying ``payload``."""
    decode, check = _envelope_rules(payload, chain_id, replay, wall_clock)
    return TopicRules(topic, Envelope.MAX_SIZE, decode, check, account_of=_signer)


def _signer(verified: Verified) -> bytes:
    return verified.sender


def envelope_delivery(
    payload: type[Message],
    chain_id: int,
    replay: ReplayGuard,
    wall_clock: Callable[[], float],
) -> DirectRules:
    """Rules for a direct protocol carrying envelopes of ``payload`` (bids to a requester).

    Give it a guard of its own: a bid sent both ways arrives twice, once per guard,
    and the daemon keeps one by (sender, nonce).
    """
    decode, check = _envelope_rules(payload, chain_id, replay, wall_clock)
    return DirectRules(Envelope.MAX_SIZE, decode, check)


def _envelope_rules(
    payload: type[Message],
    chain_id: int,
    replay: ReplayGuard,
    wall_clock: Callable[[], float],
    on_bound: Callable[[str], None] = lambda name: None,
) -> tuple[Callable[[bytes], Verified], Callable[[Verified, ID, float], None]]:
    def decode(data: bytes) -> Verified:
        # A fresh guard: replays are judged in ``check``, once the rest has passed.
        verified = validate_envelope(
            data, chain_id=chain_id, now=int(wall_clock()), replay=ReplayGuard()
        )
        if not isinstance(verified.message, payload):
            name = type(verified.message).__name__
            raise UnexpectedMessageType(f"expected {payload.__name__}, got {name}")
        return verified

    def check(verified: Verified, origin: ID, now: float) -> None:
        for name in PEER_FIELDS:
            named = getattr(verified.message, name, None)
            if named is not None and named != origin.to_bytes():
                raise PeerIdMismatch(f"{name} is not the sending peer {origin}")
        envelope = verified.envelope
        try:
            replay.check_and_record(envelope.sender, envelope.nonce, envelope.expiry, int(now))
        except ReplayCacheFull:
            on_bound(f"replay_cache:{payload.__name__}")
            raise

    return decode, check


def local_peer_record(private_key: bytes, chain_id: int, peer_id: ID, now: int) -> bytes:
    """Our signed peer record; ``now`` doubles as its sequence number."""
    record = sign_peer_record(
        private_key, chain_id, peer_id=peer_id.to_bytes(), seq=now, timestamp=now
    )
    return encode(record)


def peer_record_verifier(chain_id: int) -> Callable[[bytes, ID], bytes]:
    """A function giving the account a peer record binds ``peer`` to, or raising."""

    def verify(data: bytes, peer: ID) -> bytes:
        record = decode_as(data, PeerRecord, PeerRecord.MAX_SIZE)
        if record.peer_id != peer.to_bytes():
            raise PeerIdMismatch(f"the record is for another peer than {peer}")
        signer = recover_peer_record_signer(chain_id, record)
        if signer != record.account:
            raise BadSignature("the record is not signed by the account it names")
        return record.account

    return verify


def sealed_for_gossip(
    private_key: bytes, chain_id: int, message: Message, *, now: float, lifetime_s: int
) -> bytes:
    """``message`` in an envelope signed by ``private_key``, encoded for the wire.

    Each envelope gets a fresh random nonce: receivers drop a (sender, nonce) pair
    they have seen (protocol.messages.ReplayGuard).
    """
    envelope = seal(
        private_key,
        chain_id,
        message,
        timestamp=int(now),
        lifetime_s=lifetime_s,
        nonce=secrets.randbits(63),
    )
    return encode(envelope)
