"""provernet's wire messages: the registry, the strict msgpack codec, typed signatures.

Decoding outside bytes raises only ``RemoteProtocolError`` subclasses (see
``errors``); the daemon drops such input and may penalise the peer.
"""

from protocol.messages.codec import REGISTRY, Message, decode, decode_as, encode
from protocol.messages.envelope import ReplayGuard, Verified, seal, validate_envelope
from protocol.messages.signing import (
    bid_digest,
    market_domain_separator,
    recover_bid_signer,
    recover_peer_record_signer,
    sign_bid,
    sign_peer_record,
    verify_peer_record,
)
from protocol.messages.types import (
    GOSSIP_TYPES,
    ArtifactRef,
    Bid,
    BlobHeader,
    BlobRequest,
    Envelope,
    ErrorCode,
    ErrorReply,
    InputAck,
    InputDelivery,
    JobAnnouncement,
    JobTerms,
    ModelAnnouncement,
    PeerRecord,
    ProverHeartbeat,
)

__all__ = [
    "GOSSIP_TYPES",
    "REGISTRY",
    "ArtifactRef",
    "Bid",
    "BlobHeader",
    "BlobRequest",
    "Envelope",
    "ErrorCode",
    "ErrorReply",
    "InputAck",
    "InputDelivery",
    "JobAnnouncement",
    "JobTerms",
    "Message",
    "ModelAnnouncement",
    "PeerRecord",
    "ProverHeartbeat",
    "ReplayGuard",
    "Verified",
    "bid_digest",
    "decode",
    "decode_as",
    "encode",
    "market_domain_separator",
    "recover_bid_signer",
    "recover_peer_record_signer",
    "seal",
    "sign_bid",
    "sign_peer_record",
    "validate_envelope",
    "verify_peer_record",
]
