"""Every provernet wire message, with its fixed type id and size limit.

Gossip payloads (``GOSSIP = True``) travel inside a signed ``Envelope`` and stay
small: gossipsub drops large payloads silently and costs every relaying node CPU
per message (LIBP2P_NOTES item 4, item 11), so they carry hashes, offers and bids.
Direct-stream messages (private inputs, blob headers, replies) are bigger but
bounded; blobs themselves follow a ``BlobHeader`` as raw bytes, never as a message.

Type ids (never reuse one; tests/protocol/messages pins them):
  1 Envelope | 16 JobAnnouncement, 17 Bid, 18 ModelAnnouncement, 19 ProverHeartbeat,
  20 PeerRecord | 32 InputDelivery, 33 InputAck, 34 BlobRequest, 35 BlobHeader,
  36 ErrorReply.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from protocol.messages.codec import Message, Record, nested, register, wire
from protocol.messages.fields import (
    ADDRESS,
    AMOUNT,
    FIELD_ELEMENT,
    HASH32,
    PEER_ID,
    SIGNATURE,
    U256,
    UINT16,
    UINT32,
    UINT64,
    Blob,
    ListOf,
    SInt,
    Text,
)

# Gossip payloads stay within a few KB (LIBP2P_NOTES item 4).
MAX_GOSSIP_PAYLOAD = 4096
# Envelope fields around the payload: chain id, ids, times, nonce, sender, 65-byte signature.
ENVELOPE_OVERHEAD = 256
# JobMarket stores fees and collateral as uint96 and deadlines as uint40 (IJobMarket.Job),
# and takes accept and proof windows of at most MAX_WINDOW (30 days) seconds.
MAX_ONCHAIN_AMOUNT = (1 << 96) - 1
MAX_ONCHAIN_TIME = (1 << 40) - 1
MAX_WINDOW = 30 * 24 * 3600
MAX_ARTIFACTS = 16
MAX_MODELS_HELD = 256
# Quantized inputs are at most 32-bit fixed point (zkml CompileOptions: bits in 2..32);
# 2^18 values covers a 3x224x224 image (150,528) with room to spare.
INPUT_VALUE_BITS = 32
MAX_INPUT_VALUES = 1 << 18
# A 2^18-value input at <= 5 bytes per msgpack int32 is ~1.3 MB; py-libp2p's stream
# helpers fail near 6.6 MB (LIBP2P_NOTES item 6), so direct frames stay well below.
MAX_INPUT_FRAME = 2 << 20
# Largest blob a header may announce (proving keys of large circuits reach GBs).
MAX_BLOB_BYTES = 1 << 34
_ARTIFACT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


@register(1, MAX_GOSSIP_PAYLOAD + ENVELOPE_OVERHEAD, gossip=False)
@dataclass(frozen=True)
class Envelope(Message):
    """A gossip payload (its full frame) signed by its sender's Ethereum key (``envelope``)."""

    chain_id: int = wire(UINT64)
    type_id: int = wire(UINT16)
    payload: bytes = wire(Blob(MAX_GOSSIP_PAYLOAD))
    sender: bytes = wire(ADDRESS)
    timestamp: int = wire(UINT64)
    expiry: int = wire(UINT64)
    nonce: int = wire(UINT64)
    signature: bytes = wire(Blob(65, allowed=(0, 65)))


@dataclass(frozen=True)
class JobTerms:
    """What a bid's signature covers besides its price (JobMarket's EIP-712 ``Bid``).

    A prover signs the terms it read from the chain, so its bid cannot be awarded on a
    job whose terms differ (another collateral, model, input or windows).
    """

    requester: bytes
    model_id: int
    input_commitment: int
    collateral: int
    accept_window: int
    proof_window: int


@register(16, 1024, gossip=True, signer_field="requester")
@dataclass(frozen=True)
class JobAnnouncement(Message):
    """A job open on-chain, offered for bids until ``bid_deadline``.

    Receivers check: chain id and market are ours; getJob(job_id) is Open (or its award
    lapsed) and agrees on requester, model, input commitment, max fee, collateral and both
    windows; the model's registered circuit hash and constraint count equal ``circuit_id``
    and ``constraint_count`` (pricing trusts the registry, not this claim). The bid
    deadline is the requester's word only: it awards by then or announces again.
    ``round`` counts the job's announcements after a lapsed award or a slash (0 first).
    """

    chain_id: int = wire(UINT64)
    market: bytes = wire(ADDRESS)
    job_id: int = wire(U256)
    model_id: int = wire(UINT64)
    circuit_id: bytes = wire(HASH32)
    constraint_count: int = wire(UINT64)
    max_fee: int = wire(AMOUNT)
    collateral: int = wire(AMOUNT)
    bid_deadline: int = wire(UINT64)
    accept_window: int = wire(UINT32)
    proof_window: int = wire(UINT32)
    input_commitment: int = wire(FIELD_ELEMENT)
    requester: bytes = wire(ADDRESS)
    requester_peer_id: bytes = wire(PEER_ID)
    round: int = wire(UINT16)

    def inconsistency(self) -> str | None:
        if not 0 < self.max_fee <= MAX_ONCHAIN_AMOUNT or self.collateral > MAX_ONCHAIN_AMOUNT:
            return "max fee must be in (0, 2^96) and collateral below 2^96 (JobMarket limits)"
        if not (0 < self.accept_window <= MAX_WINDOW and 0 < self.proof_window <= MAX_WINDOW):
            return f"accept and proof windows must be in (0, {MAX_WINDOW}] s (JobMarket limits)"
        if self.bid_deadline > MAX_ONCHAIN_TIME:
            return "the bid deadline must be below 2^40"
        if self.job_id == 0 or self.model_id == 0:
            return "job and model ids start at 1"
        return None

    @property
    def terms(self) -> JobTerms:
        """The terms a bid on this job signs."""
        return JobTerms(
            self.requester,
            self.model_id,
            self.input_commitment,
            self.collateral,
            self.accept_window,
            self.proof_window,
        )


@register(17, 512, gossip=True, signer_field="prover")
@dataclass(frozen=True)
class Bid(Message):
    """A prover's offer: its price, expiry and signature, and the peer to send the input to.

    The signature is JobMarket's EIP-712 ``Bid`` over these fields and the job's terms
    (``JobTerms``), which the receiver knows from its own job. Receivers (the job's
    requester) check with ``selection.bid_problem``: the job is theirs, the signature
    recovers ``prover`` for this chain, market and terms, the bid has not expired, the
    fee is within the max fee and the prover's free stake covers the collateral.
    ``peer_id`` is where the input goes if the bid wins; the prover's PeerRecord must
    bind it to ``prover`` before any input is sent.
    """

    job_id: int = wire(U256)
    prover: bytes = wire(ADDRESS)
    fee: int = wire(AMOUNT)
    expiry: int = wire(UINT64)
    signature: bytes = wire(SIGNATURE)
    peer_id: bytes = wire(PEER_ID)


@dataclass(frozen=True)
class ArtifactRef(Record):
    """One content-addressed file of a model's artifact set."""

    name: str = wire(Text(64))
    sha256: bytes = wire(HASH32)
    size: int = wire(UINT64)

    def inconsistency(self) -> str | None:
        if not _ARTIFACT_NAME.fullmatch(self.name) or self.name in (".", ".."):
            return f"artifact name {self.name!r} is not a plain file name"
        return None


@register(18, MAX_GOSSIP_PAYLOAD, gossip=True)
@dataclass(frozen=True)
class ModelAnnouncement(Message):
    """A registered model and where its artifacts can be fetched by hash.

    Receivers check getModel(model_id) for the ONNX hash, circuit hash and manifest
    hash and the owner, then every fetched artifact against its sha256 and size.
    """

    model_id: int = wire(UINT64)
    name: str = wire(Text(64))
    onnx_sha256: bytes = wire(HASH32)
    circuit_id: bytes = wire(HASH32)
    manifest_hash: bytes = wire(HASH32)
    artifacts: tuple[ArtifactRef, ...] = wire(ListOf(nested(ArtifactRef), MAX_ARTIFACTS))
    owner: bytes = wire(ADDRESS)

    def inconsistency(self) -> str | None:
        names = [a.name for a in self.artifacts]
        if len(set(names)) != len(names):
            return "artifact names repeat"
        return None if self.model_id > 0 else "model ids start at 1"


@register(19, MAX_GOSSIP_PAYLOAD, gossip=True, signer_field="prover")
@dataclass(frozen=True)
class ProverHeartbeat(Message):
    """A prover's standing offer: free capacity, price and speed, models it can prove.

    Advisory (requesters use it to set max fees and deadlines); nothing is paid on it.
    """

    prover: bytes = wire(ADDRESS)
    peer_id: bytes = wire(PEER_ID)
    capacity: int = wire(UINT16)
    price_per_1k_constraints: int = wire(AMOUNT)
    proving_rate: int = wire(UINT64)  # constraints per second, measured
    models: tuple[int, ...] = wire(ListOf(UINT64, MAX_MODELS_HELD))

    def inconsistency(self) -> str | None:
        if any(b <= a for a, b in zip(self.models, self.models[1:], strict=False)):
            return "models must be strictly increasing (sorted, no repeats)"
        return None


@register(20, 512, gossip=True, signer_field="account")
@dataclass(frozen=True)
class PeerRecord(Message):
    """Binds a libp2p peer id to an Ethereum account, signed by that account.

    Carries its own signature (``signing.sign_peer_record``) so it can be stored and
    forwarded outside an envelope. Receivers check it with ``verify_peer_record`` and
    keep, per account, the record with the highest ``seq``; a requester sends an input
    only over a stream whose authenticated remote peer id is the winner's record's.
    """

    peer_id: bytes = wire(PEER_ID)
    account: bytes = wire(ADDRESS)
    seq: int = wire(UINT64)
    timestamp: int = wire(UINT64)
    signature: bytes = wire(SIGNATURE)


@register(32, MAX_INPUT_FRAME, gossip=False)
@dataclass(frozen=True)
class InputDelivery(Message):
    """The private input for an awarded job, requester to assigned prover only.

    Quantized fixed-point values, not floats: the on-chain commitment is Poseidon over
    exactly these integers and the salt, so the prover checks the commitment before
    proving and never re-quantizes (float rounding could differ between machines).
    """

    job_id: int = wire(U256)
    values: tuple[int, ...] = wire(ListOf(SInt(INPUT_VALUE_BITS), MAX_INPUT_VALUES))
    salt: int = wire(FIELD_ELEMENT)


@register(33, 256, gossip=False)
@dataclass(frozen=True)
class InputAck(Message):
    """The prover accepts an input: the commitment it computed matches the job's.

    The requester checks that the commitment equals the job's input commitment.
    """

    job_id: int = wire(U256)
    input_commitment: int = wire(FIELD_ELEMENT)


@register(34, 128, gossip=False)
@dataclass(frozen=True)
class BlobRequest(Message):
    """Ask a peer for the blob with this sha256."""

    sha256: bytes = wire(HASH32)


@register(35, 128, gossip=False)
@dataclass(frozen=True)
class BlobHeader(Message):
    """Precedes ``length`` raw bytes whose sha256 the receiver checks at the end."""

    sha256: bytes = wire(HASH32)
    length: int = wire(UINT64)

    def inconsistency(self) -> str | None:
        return None if self.length <= MAX_BLOB_BYTES else "blob longer than MAX_BLOB_BYTES"


class ErrorCode(enum.IntEnum):
    """Why a direct request was refused."""

    MALFORMED = 1
    UNKNOWN_JOB = 2
    NOT_ASSIGNED = 3
    COMMITMENT_MISMATCH = 4
    NOT_FOUND = 5
    TOO_LARGE = 6
    BUSY = 7
    INTERNAL = 8


@register(36, 512, gossip=False)
@dataclass(frozen=True)
class ErrorReply(Message):
    """A refusal on a direct stream: a code from ``ErrorCode`` and a human reason."""

    code: int = wire(UINT16)
    reason: str = wire(Text(256))

    def inconsistency(self) -> str | None:
        known = self.code in ErrorCode._value2member_map_
        return None if known else f"unknown error code {self.code}"


GOSSIP_TYPES: tuple[type[Message], ...] = (
    JobAnnouncement,
    Bid,
    ModelAnnouncement,
    ProverHeartbeat,
    PeerRecord,
)
