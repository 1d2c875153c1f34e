"""provernet's envelopes and peer records as topic rules and record verifiers."""

from __future__ import annotations

import dataclasses
import time

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from node.p2p import (
    HEARTBEATS_TOPIC,
    JOBS_TOPIC,
    TopicRules,
    envelope_delivery,
    local_peer_record,
    market_topics,
    peer_record_verifier,
)
from node.p2p.records import PeerIdMismatch
from protocol.errors import RemoteProtocolError
from protocol.messages import Bid, ReplayGuard, Verified, decode, encode
from protocol.messages.errors import (
    BadSignature,
    Expired,
    Replayed,
    UnexpectedMessageType,
    Unsigned,
)
from tests.node.p2p.wire import (
    ALICE,
    ALICE_KEY,
    CHAIN_ID,
    heartbeat,
    sealed_bid,
    sealed_heartbeat,
)

NOW = 1_700_000_000


def new_peer() -> ID:
    return ID.from_pubkey(create_new_key_pair().public_key)


ALICE_PEER, BOB_PEER = new_peer(), new_peer()


def rules_by_topic() -> dict[str, TopicRules]:
    return {r.topic: r for r in market_topics(CHAIN_ID, lambda: float(NOW))}


def admit(
    topic: str, data: bytes, origin: ID, rules: dict[str, TopicRules] | None = None
) -> Verified:
    rule = (rules or rules_by_topic())[topic]
    message = rule.decode(data)
    rule.check(message, origin, float(NOW))
    assert isinstance(message, Verified)
    return message


def test_the_four_market_topics_take_envelopes_of_their_own_type() -> None:
    assert set(rules_by_topic()) == {
        "/provernet/jobs/1",
        "/provernet/bids/1",
        "/provernet/models/1",
        "/provernet/heartbeats/1",
    }
    data = sealed_heartbeat(ALICE_KEY, ALICE_PEER, nonce=1, now=NOW)
    verified = admit(HEARTBEATS_TOPIC, data, ALICE_PEER)
    assert verified.sender == ALICE
    assert verified.message == heartbeat(ALICE_KEY, ALICE_PEER)
    with pytest.raises(UnexpectedMessageType):
        rules_by_topic()[JOBS_TOPIC].decode(data)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"unsigned": True}, Unsigned),
        ({"now": NOW - 120}, Expired),
    ],
)
def test_unsigned_and_expired_envelopes_are_refused(
    changes: dict[str, object], error: type[Exception]
) -> None:
    data = sealed_heartbeat(ALICE_KEY, ALICE_PEER, nonce=1, **{"now": NOW, **changes})  # type: ignore[arg-type]
    with pytest.raises(error):
        admit(HEARTBEATS_TOPIC, data, ALICE_PEER)


def test_a_forged_signature_is_refused() -> None:
    data = bytearray(sealed_heartbeat(ALICE_KEY, ALICE_PEER, nonce=1, now=NOW))
    data[-10] ^= 1  # inside the signature
    with pytest.raises(RemoteProtocolError):
        admit(HEARTBEATS_TOPIC, bytes(data), ALICE_PEER)


def test_a_replay_is_refused_by_the_same_rules() -> None:
    rules = rules_by_topic()
    data = sealed_heartbeat(ALICE_KEY, ALICE_PEER, nonce=9, now=NOW)
    admit(HEARTBEATS_TOPIC, data, ALICE_PEER, rules)
    with pytest.raises(Replayed):
        admit(HEARTBEATS_TOPIC, data, ALICE_PEER, rules)


def test_a_message_naming_another_peer_than_its_publisher_is_refused() -> None:
    data = sealed_heartbeat(ALICE_KEY, ALICE_PEER, nonce=1, now=NOW)
    with pytest.raises(PeerIdMismatch):
        admit(HEARTBEATS_TOPIC, data, BOB_PEER)


def test_a_peer_record_binds_its_peer_to_its_signer() -> None:
    verify = peer_record_verifier(CHAIN_ID)
    record = local_peer_record(ALICE_KEY, CHAIN_ID, ALICE_PEER, int(time.time()))
    assert verify(record, ALICE_PEER) == ALICE
    with pytest.raises(PeerIdMismatch):
        verify(record, BOB_PEER)
    with pytest.raises(RemoteProtocolError):
        peer_record_verifier(CHAIN_ID + 1)(record, ALICE_PEER)
    with pytest.raises(RemoteProtocolError):
        verify(b"\x92\x14", ALICE_PEER)


def test_a_record_claiming_an_account_it_was_not_signed_by_is_refused() -> None:
    record = decode(local_peer_record(ALICE_KEY, CHAIN_ID, ALICE_PEER, NOW))
    claimed = dataclasses.replace(record, account=b"\x11" * 20)  # type: ignore[type-var]
    with pytest.raises(BadSignature):
        peer_record_verifier(CHAIN_ID)(encode(claimed), ALICE_PEER)


def test_direct_bids_take_the_envelope_rules_with_their_own_guard() -> None:
    rules = envelope_delivery(Bid, CHAIN_ID, ReplayGuard(), time.time)
    offer = sealed_bid(ALICE_KEY, ALICE_PEER, job_id=7, fee=5, nonce=1)
    verified = rules.decode(offer)
    rules.check(verified, ALICE_PEER, time.time())
    assert verified.message.fee == 5
    with pytest.raises(PeerIdMismatch):
        rules.check(
            rules.decode(sealed_bid(ALICE_KEY, ALICE_PEER, job_id=7, fee=5, nonce=2)),
            BOB_PEER,
            time.time(),
        )
    with pytest.raises(UnexpectedMessageType):
        rules.decode(sealed_heartbeat(ALICE_KEY, ALICE_PEER, nonce=3))
