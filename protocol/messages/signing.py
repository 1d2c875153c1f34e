"""The typed signatures provernet makes: on-chain bids, gossip envelopes, peer records.

Bids are signed exactly as JobMarket recovers them: domain {name "provernet
JobMarket", version "2", chainId, verifyingContract = the market} and the type
``Bid(uint256 jobId,address prover,uint256 fee,uint64 expiry,address requester,
uint256 modelId,uint256 inputCommitment,uint256 collateral,uint32 acceptWindow,
uint32 proofWindow)``: a prover's price and the job terms it read (``JobTerms``).
Envelopes and peer records use the gossip domain {name "provernet gossip", version
"1", chainId}, so a signature made for one chain never validates on another.
"""

from __future__ import annotations

from protocol.messages.eip712 import (
    EIP712_DOMAIN_CHAIN_ONLY,
    EIP712_DOMAIN_WITH_CONTRACT,
    TypedStruct,
    address_of,
    recover_signer,
    sign_digest,
    typed_digest,
)
from protocol.messages.errors import BadSignature
from protocol.messages.types import Bid, Envelope, JobTerms, PeerRecord

MARKET_DOMAIN_NAME = "provernet JobMarket"
GOSSIP_DOMAIN_NAME = "provernet gossip"
MARKET_DOMAIN_VERSION = "2"  # settlement v2: bids cover the job's terms
DOMAIN_VERSION = "1"

BID_TYPE = TypedStruct(
    "Bid",
    (
        ("uint256", "jobId"),
        ("address", "prover"),
        ("uint256", "fee"),
        ("uint64", "expiry"),
        ("address", "requester"),
        ("uint256", "modelId"),
        ("uint256", "inputCommitment"),
        ("uint256", "collateral"),
        ("uint32", "acceptWindow"),
        ("uint32", "proofWindow"),
    ),
)
ENVELOPE_TYPE = TypedStruct(
    "Envelope",
    (
        ("uint16", "typeId"),
        ("bytes", "payload"),
        ("address", "sender"),
        ("uint64", "timestamp"),
        ("uint64", "expiry"),
        ("uint64", "nonce"),
    ),
)
PEER_RECORD_TYPE = TypedStruct(
    "PeerRecord",
    (("bytes", "peerId"), ("address", "account"), ("uint64", "seq"), ("uint64", "timestamp")),
)


def market_domain_separator(chain_id: int, market: bytes) -> bytes:
    """JobMarket.domainSeparator() for a market at ``market`` on ``chain_id``."""
    return EIP712_DOMAIN_WITH_CONTRACT.hash_struct(
        (MARKET_DOMAIN_NAME, MARKET_DOMAIN_VERSION, chain_id, market)
    )


def gossip_domain_separator(chain_id: int) -> bytes:
    """The domain separator of gossip envelopes and peer records on ``chain_id``."""
    return EIP712_DOMAIN_CHAIN_ONLY.hash_struct((GOSSIP_DOMAIN_NAME, DOMAIN_VERSION, chain_id))


def bid_digest(chain_id: int, market: bytes, bid: Bid, terms: JobTerms) -> bytes:
    """The digest JobMarket.bidDigest returns for ``bid`` on a job with ``terms``."""
    struct_hash = BID_TYPE.hash_struct(
        (
            bid.job_id,
            bid.prover,
            bid.fee,
            bid.expiry,
            terms.requester,
            terms.model_id,
            terms.input_commitment,
            terms.collateral,
            terms.accept_window,
            terms.proof_window,
        )
    )
    return typed_digest(market_domain_separator(chain_id, market), struct_hash)


def sign_bid(
    private_key: bytes,
    chain_id: int,
    market: bytes,
    terms: JobTerms,
    *,
    job_id: int,
    fee: int,
    expiry: int,
    peer_id: bytes,
) -> Bid:
    """A bid by the key's account on a job with ``terms``, signed so that JobMarket.awardJob
    accepts it for that job and no other."""
    unsigned = Bid(job_id, address_of(private_key), fee, expiry, bytes(65), peer_id)
    signature = sign_digest(private_key, bid_digest(chain_id, market, unsigned, terms))
    return Bid(job_id, unsigned.prover, fee, expiry, signature, peer_id)


def recover_bid_signer(chain_id: int, market: bytes, bid: Bid, terms: JobTerms) -> bytes:
    """The account that signed ``bid`` for this market and job terms; raises BadSignature."""
    return recover_signer(bid_digest(chain_id, market, bid, terms), bid.signature)


def envelope_digest(envelope: Envelope) -> bytes:
    """The EIP-712 digest an envelope's signature covers (all fields but the signature)."""
    struct_hash = ENVELOPE_TYPE.hash_struct(
        (
            envelope.type_id,
            envelope.payload,
            envelope.sender,
            envelope.timestamp,
            envelope.expiry,
            envelope.nonce,
        )
    )
    return typed_digest(gossip_domain_separator(envelope.chain_id), struct_hash)


def peer_record_digest(chain_id: int, record: PeerRecord) -> bytes:
    """The EIP-712 digest a peer record's signature covers."""
    struct_hash = PEER_RECORD_TYPE.hash_struct(
        (record.peer_id, record.account, record.seq, record.timestamp)
    )
    return typed_digest(gossip_domain_separator(chain_id), struct_hash)


def sign_peer_record(
    private_key: bytes, chain_id: int, *, peer_id: bytes, seq: int, timestamp: int
) -> PeerRecord:
    """A record binding ``peer_id`` to the key's account."""
    unsigned = PeerRecord(peer_id, address_of(private_key), seq, timestamp, bytes(65))
    signature = sign_digest(private_key, peer_record_digest(chain_id, unsigned))
    return PeerRecord(peer_id, unsigned.account, seq, timestamp, signature)


def recover_peer_record_signer(chain_id: int, record: PeerRecord) -> bytes:
    """The account that signed ``record``; raises BadSignature."""
    return recover_signer(peer_record_digest(chain_id, record), record.signature)


def verify_peer_record(chain_id: int, record: PeerRecord) -> None:
    """Raise BadSignature unless ``record`` is signed by the account it names."""
    if recover_peer_record_signer(chain_id, record) != record.account:
        raise BadSignature(f"the peer record is not signed by 0x{record.account.hex()}")
