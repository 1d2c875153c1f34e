"""Typed digests against eth_account's EIP-712 encoder; signatures and their refusals."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.messages import (
    Bid,
    JobTerms,
    PeerRecord,
    bid_digest,
    recover_bid_signer,
    sign_peer_record,
    verify_peer_record,
)
from protocol.messages.eip712 import HALF_N, SECP256K1_N, recover_signer, sign_digest
from protocol.messages.errors import BadSignature
from protocol.messages.signing import (
    MARKET_DOMAIN_VERSION,
    envelope_digest,
    peer_record_digest,
    recover_peer_record_signer,
)
from protocol.messages.types import Envelope

from .samples import ALICE, ALICE_KEY, BOB, BOB_KEY, CHAIN_ID, MARKET, PEER_B, TERMS, sample_bid

GOSSIP_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]
MARKET_DOMAIN_TYPE = [*GOSSIP_DOMAIN_TYPE, {"name": "verifyingContract", "type": "address"}]


def reference_digest(
    domain: dict[str, Any], primary: str, members: list[str], message: dict[str, Any]
) -> bytes:
    """The digest eth_account computes for the same typed data (an independent encoder)."""
    domain_type = MARKET_DOMAIN_TYPE if "verifyingContract" in domain else GOSSIP_DOMAIN_TYPE
    types = {
        "EIP712Domain": domain_type,
        primary: [{"name": m.split()[1], "type": m.split()[0]} for m in members],
    }
    signable = encode_typed_data(
        full_message={"types": types, "primaryType": primary, "domain": domain, "message": message}
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


u64 = st.integers(0, 2**64 - 1)
u256 = st.integers(0, 2**256 - 1)
addresses = st.binary(min_size=20, max_size=20)


u32 = st.integers(0, 2**32 - 1)
terms_strategy = st.builds(JobTerms, addresses, u256, u256, u256, u32, u32)
BID_MEMBERS = [
    "uint256 jobId",
    "address prover",
    "uint256 fee",
    "uint64 expiry",
    "address requester",
    "uint256 modelId",
    "uint256 inputCommitment",
    "uint256 collateral",
    "uint32 acceptWindow",
    "uint32 proofWindow",
]


@settings(max_examples=40)
@given(u256, addresses, u256, u64, terms_strategy, st.integers(1, 2**64 - 1), addresses)
def test_bid_digest_matches_eth_account(
    job_id: int,
    prover: bytes,
    fee: int,
    expiry: int,
    terms: JobTerms,
    chain_id: int,
    market: bytes,
) -> None:
    bid = Bid(job_id, prover, fee, expiry, bytes(65), PEER_B)
    domain = {
        "name": "provernet JobMarket",
        "version": "2",  # settlement v2: a v1 bid never validates on a v2 market
        "chainId": chain_id,
        "verifyingContract": "0x" + market.hex(),
    }
    message = {
        "jobId": job_id,
        "prover": "0x" + prover.hex(),
        "fee": fee,
        "expiry": expiry,
        "requester": "0x" + terms.requester.hex(),
        "modelId": terms.model_id,
        "inputCommitment": terms.input_commitment,
        "collateral": terms.collateral,
        "acceptWindow": terms.accept_window,
        "proofWindow": terms.proof_window,
    }
    expected = reference_digest(domain, "Bid", BID_MEMBERS, message)
    assert bid_digest(chain_id, market, bid, terms) == expected
    assert MARKET_DOMAIN_VERSION == "2"


@settings(max_examples=40)
@given(st.integers(0, 2**16 - 1), st.binary(max_size=300), addresses, u64, u64, u64, u64)
def test_envelope_digest_matches_eth_account(
    type_id: int,
    payload: bytes,
    sender: bytes,
    timestamp: int,
    expiry: int,
    nonce: int,
    chain_id: int,
) -> None:
    envelope = Envelope(chain_id, type_id, payload, sender, timestamp, expiry, nonce, b"")
    domain = {"name": "provernet gossip", "version": "1", "chainId": chain_id}
    members = [
        "uint16 typeId",
        "bytes payload",
        "address sender",
        "uint64 timestamp",
        "uint64 expiry",
        "uint64 nonce",
    ]
    message = {
        "typeId": type_id,
        "payload": payload,
        "sender": "0x" + sender.hex(),
        "timestamp": timestamp,
        "expiry": expiry,
        "nonce": nonce,
    }
    assert envelope_digest(envelope) == reference_digest(domain, "Envelope", members, message)


def test_peer_record_digest_and_signature_match_eth_account() -> None:
    record = sign_peer_record(BOB_KEY, CHAIN_ID, peer_id=PEER_B, seq=9, timestamp=123)
    domain = {"name": "provernet gossip", "version": "1", "chainId": CHAIN_ID}
    members = ["bytes peerId", "address account", "uint64 seq", "uint64 timestamp"]
    message = {"peerId": PEER_B, "account": "0x" + BOB.hex(), "seq": 9, "timestamp": 123}
    digest = reference_digest(domain, "PeerRecord", members, message)
    assert peer_record_digest(CHAIN_ID, record) == digest
    assert record.signature == bytes(Account.unsafe_sign_hash(digest, BOB_KEY).signature)
    assert recover_peer_record_signer(CHAIN_ID, record) == BOB
    assert recover_peer_record_signer(CHAIN_ID + 1, record) != BOB


def test_sign_bid_is_recoverable_and_bound_to_its_domain() -> None:
    bid = sample_bid(job_id=3, fee=10, expiry=99)
    assert bid.prover == BOB
    assert (bid.job_id, bid.fee, bid.expiry, bid.peer_id) == (3, 10, 99, PEER_B)
    assert recover_bid_signer(CHAIN_ID, MARKET, bid, TERMS) == BOB
    assert recover_bid_signer(CHAIN_ID + 1, MARKET, bid, TERMS) != BOB
    assert recover_bid_signer(CHAIN_ID, bytes(20), bid, TERMS) != BOB
    for changed in (
        dataclasses.replace(bid, fee=9),
        dataclasses.replace(bid, expiry=100),
        dataclasses.replace(bid, job_id=4),
        dataclasses.replace(bid, prover=ALICE),
    ):
        assert recover_bid_signer(CHAIN_ID, MARKET, changed, TERMS) != BOB
    # The peer id is where the input goes, not part of the on-chain offer.
    moved = dataclasses.replace(bid, peer_id=PEER_B[:-1] + b"\x00")
    assert recover_bid_signer(CHAIN_ID, MARKET, moved, TERMS) == BOB


OTHER_TERMS: dict[str, Any] = {
    "requester": BOB,
    "model_id": TERMS.model_id + 1,
    "input_commitment": TERMS.input_commitment - 1,
    "collateral": TERMS.collateral + 1,
    "accept_window": TERMS.accept_window + 1,
    "proof_window": TERMS.proof_window - 1,
}


def test_other_terms_cover_every_field() -> None:
    assert set(OTHER_TERMS) == {f.name for f in dataclasses.fields(JobTerms)}


@pytest.mark.parametrize("field", sorted(OTHER_TERMS))
def test_a_bid_signed_for_one_set_of_terms_does_not_recover_for_another(field: str) -> None:
    other = dataclasses.replace(TERMS, **{field: OTHER_TERMS[field]})
    bid = sample_bid()
    assert recover_bid_signer(CHAIN_ID, MARKET, bid, TERMS) == BOB
    assert bid_digest(CHAIN_ID, MARKET, bid, other) != bid_digest(CHAIN_ID, MARKET, bid, TERMS)
    assert recover_bid_signer(CHAIN_ID, MARKET, bid, other) != BOB
    # ... and a bid signed over the other terms recovers only for them.
    resigned = sample_bid(terms=other)
    assert recover_bid_signer(CHAIN_ID, MARKET, resigned, other) == BOB
    assert recover_bid_signer(CHAIN_ID, MARKET, resigned, TERMS) != BOB


@settings(max_examples=30)
@given(st.binary(min_size=32, max_size=32))
def test_signatures_are_low_s_and_recover(digest: bytes) -> None:
    signature = sign_digest(ALICE_KEY, digest)
    assert int.from_bytes(signature[32:64], "big") <= HALF_N
    assert signature[64] in (27, 28)
    assert recover_signer(digest, signature) == ALICE


def _high_s(signature: bytes) -> bytes:
    s = SECP256K1_N - int.from_bytes(signature[32:64], "big")
    return signature[:32] + s.to_bytes(32, "big") + bytes([55 - signature[64]])


@pytest.mark.parametrize(
    "mangle",
    [
        _high_s,  # the malleated twin: valid ECDSA, refused per EIP-2 (as JobMarket does)
        lambda sig: sig[:64] + b"\x01",  # v = 1
        lambda sig: sig[:64],  # 64 bytes
        lambda sig: bytes(32) + sig[32:],  # r = 0
        lambda sig: sig[:32] + bytes(32) + sig[64:],  # s = 0
        lambda sig: SECP256K1_N.to_bytes(32, "big") + sig[32:],  # r = n
    ],
)
def test_malformed_signatures_raise_bad_signature(mangle: Any) -> None:
    digest = b"\x42" * 32
    with pytest.raises(BadSignature):
        recover_signer(digest, mangle(sign_digest(ALICE_KEY, digest)))


def test_a_signature_by_another_key_recovers_another_address() -> None:
    digest = b"\x42" * 32
    assert recover_signer(digest, sign_digest(BOB_KEY, digest)) != ALICE


@settings(max_examples=200)
@given(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=64, max_size=64),
    st.sampled_from([27, 28]),
)
def test_random_signatures_recover_or_raise_bad_signature(digest: bytes, rs: bytes, v: int) -> None:
    try:
        address = recover_signer(digest, rs + bytes([v]))
    except BadSignature:
        return
    assert len(address) == 20


def test_verify_peer_record_refuses_a_record_naming_another_account() -> None:
    record = sign_peer_record(BOB_KEY, CHAIN_ID, peer_id=PEER_B, seq=1, timestamp=5)
    verify_peer_record(CHAIN_ID, record)
    claimed = PeerRecord(PEER_B, ALICE, 1, 5, record.signature)
    with pytest.raises(BadSignature):
        verify_peer_record(CHAIN_ID, claimed)
    with pytest.raises(BadSignature):
        verify_peer_record(CHAIN_ID + 1, record)
