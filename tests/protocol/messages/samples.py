"""Valid messages of every type, and keys, for the message tests."""

from __future__ import annotations

from protocol.messages import (
    ArtifactRef,
    Bid,
    BlobHeader,
    BlobRequest,
    ErrorCode,
    ErrorReply,
    InputAck,
    InputDelivery,
    JobAnnouncement,
    JobTerms,
    Message,
    ModelAnnouncement,
    ProverHeartbeat,
    seal,
    sign_bid,
    sign_peer_record,
)
from protocol.messages.eip712 import address_of
from protocol.messages.fields import R

CHAIN_ID = 31337
MARKET = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
ALICE_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
BOB_KEY = bytes.fromhex("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
ALICE, BOB = address_of(ALICE_KEY), address_of(BOB_KEY)
# An identity-multihash peer id of an ed25519 key (libp2p's usual form): 0x00, 36, protobuf key.
PEER_A = bytes([0x00, 36]) + bytes([8, 1, 18, 32]) + b"\xaa" * 32
PEER_B = bytes([0x12, 32]) + b"\xbb" * 32  # a sha2-256 multihash peer id
NOW = 1_700_000_000


def announcement(**changes: object) -> JobAnnouncement:
    fields: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "market": MARKET,
        "job_id": 7,
        "model_id": 1,
        "circuit_id": b"\x0c" * 32,
        "constraint_count": 120_000,
        "max_fee": 10**16,
        "collateral": 10**17,
        "bid_deadline": NOW + 60,
        "accept_window": 60,
        "proof_window": 600,
        "input_commitment": R - 1,
        "requester": ALICE,
        "requester_peer_id": PEER_A,
        "round": 0,
    }
    fields.update(changes)
    return JobAnnouncement(**fields)  # type: ignore[arg-type]


# The terms of announcement(): what a bid on job 7 signs.
TERMS = JobTerms(ALICE, 1, R - 1, 10**17, 60, 600)


def sample_bid(key: bytes = BOB_KEY, terms: JobTerms = TERMS, **changes: int) -> Bid:
    """A bid on announcement()'s job (job 7), signed over ``terms``; fields may be changed."""
    fields = {"job_id": 7, "fee": 10**15, "expiry": NOW + 50, **changes}
    return sign_bid(key, CHAIN_ID, MARKET, terms, peer_id=PEER_B, **fields)


def samples() -> list[Message]:
    """One valid message of every registered type."""
    bid = sample_bid()
    record = sign_peer_record(BOB_KEY, CHAIN_ID, peer_id=PEER_B, seq=3, timestamp=NOW)
    model = ModelAnnouncement(
        1,
        "digits-mlp",
        b"\x01" * 32,
        b"\x02" * 32,
        b"\x03" * 32,
        (
            ArtifactRef("circuit.r1cs", b"\x04" * 32, 12345),
            ArtifactRef("key.zkey", b"\x05" * 32, 9),
        ),
        ALICE,
    )
    heartbeat = ProverHeartbeat(BOB, PEER_B, 3, 2 * 10**9, 50_000, (1, 2, 9))
    messages: list[Message] = [
        announcement(),
        bid,
        model,
        heartbeat,
        record,
        InputDelivery(7, (-(2**31), 0, 5, 2**31 - 1), 12345),
        InputAck(7, R - 1),
        BlobRequest(b"\x09" * 32),
        BlobHeader(b"\x09" * 32, 5 << 20),
        ErrorReply(int(ErrorCode.COMMITMENT_MISMATCH), "commitment 0x12 != job's 0x34"),
    ]
    messages.append(
        seal(ALICE_KEY, CHAIN_ID, announcement(), timestamp=NOW, lifetime_s=60, nonce=1)
    )
    return messages
