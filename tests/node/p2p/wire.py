"""Signed provernet messages for the p2p tests: keys, heartbeats, envelopes."""

from __future__ import annotations

import dataclasses
import time

from libp2p.peer.id import ID

from node.anvil import DEV_PRIVATE_KEYS
from protocol.messages import JobTerms, ProverHeartbeat, encode, seal, sign_bid
from protocol.messages.eip712 import address_of

CHAIN_ID = 31337
MARKET = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
ALICE_KEY, BOB_KEY, CAROL_KEY = (bytes.fromhex(k[2:]) for k in DEV_PRIVATE_KEYS[1:4])
ALICE, BOB, CAROL = (address_of(k) for k in (ALICE_KEY, BOB_KEY, CAROL_KEY))
# The terms of alice's job that the test bids sign (any values: nothing checks them here).
TERMS = JobTerms(ALICE, 1, 7, 10**16, 60, 600)


def heartbeat(key: bytes, peer: ID, *, capacity: int = 2) -> ProverHeartbeat:
    """A prover heartbeat from ``key``'s account, naming ``peer``."""
    return ProverHeartbeat(address_of(key), peer.to_bytes(), capacity, 10**12, 50_000, (1, 2))


def sealed_heartbeat(
    key: bytes,
    peer: ID,
    *,
    nonce: int,
    capacity: int = 2,
    now: int | None = None,
    lifetime_s: int = 60,
    unsigned: bool = False,
) -> bytes:
    """The envelope bytes a prover publishes on the heartbeat topic."""
    timestamp = int(time.time()) if now is None else now
    envelope = seal(
        key,
        CHAIN_ID,
        heartbeat(key, peer, capacity=capacity),
        timestamp=timestamp,
        lifetime_s=lifetime_s,
        nonce=nonce,
    )
    if unsigned:
        envelope = dataclasses.replace(envelope, signature=b"")
    return encode(envelope)


def sealed_bid(key: bytes, peer: ID, *, job_id: int, fee: int, nonce: int) -> bytes:
    """A prover's signed bid for ``job_id``, in a signed envelope."""
    now = int(time.time())
    bid = sign_bid(key, CHAIN_ID, MARKET, TERMS, job_id=job_id, fee=fee, expiry=now + 60,
                   peer_id=peer.to_bytes())  # fmt: skip
    return encode(seal(key, CHAIN_ID, bid, timestamp=now, lifetime_s=60, nonce=nonce))
