"""The node's libp2p edge: gossip topics behind validators, direct streams, peer bookkeeping.

``P2PService`` (service.py) is the one task that touches libp2p; the daemon starts
it with ``await nursery.start(service.run)`` and reads validated ``GossipMessage``s
and ``DirectMessage``s from the channel it passed in. Topic and delivery rules are
pluggable (``TopicRules``, ``DirectRules``); records.py supplies the rules for
provernet's signed envelopes and peer records. The host's configuration follows
LIBP2P_NOTES.md (host.py); identity.py keeps the node's key.
"""

from node.p2p.config import DirectMessage, DirectRules, Inbound, P2PConfig
from node.p2p.direct import BID_PROTOCOL, BLOB_PROTOCOL, INPUT_PROTOCOL, RECORD_PROTOCOL
from node.p2p.errors import (
    BadMessage,
    FrameTooLarge,
    HashMismatch,
    IdentityError,
    InvalidAddress,
    NotBound,
    P2PError,
    PeerFault,
    Refused,
    StreamFailed,
    StreamTimeout,
    Truncated,
)
from node.p2p.gossip import (
    BIDS_TOPIC,
    HEARTBEATS_TOPIC,
    JOBS_TOPIC,
    MODELS_TOPIC,
    TOPICS,
    AdmissionUndecided,
    Drop,
    GossipMessage,
    NotAdmitted,
    TopicRules,
)
from node.p2p.identity import load_or_create_identity, peer_id_of
from node.p2p.peers import PeerBook, ScorePolicy
from node.p2p.records import (
    envelope_delivery,
    envelope_topic,
    local_peer_record,
    market_topics,
    peer_record_verifier,
)
from node.p2p.service import P2PService

__all__ = [
    "BIDS_TOPIC",
    "BID_PROTOCOL",
    "BLOB_PROTOCOL",
    "HEARTBEATS_TOPIC",
    "INPUT_PROTOCOL",
    "JOBS_TOPIC",
    "MODELS_TOPIC",
    "RECORD_PROTOCOL",
    "TOPICS",
    "AdmissionUndecided",
    "BadMessage",
    "DirectMessage",
    "DirectRules",
    "Drop",
    "FrameTooLarge",
    "GossipMessage",
    "HashMismatch",
    "IdentityError",
    "Inbound",
    "InvalidAddress",
    "NotAdmitted",
    "NotBound",
    "P2PConfig",
    "P2PError",
    "P2PService",
    "PeerBook",
    "PeerFault",
    "Refused",
    "ScorePolicy",
    "StreamFailed",
    "StreamTimeout",
    "TopicRules",
    "Truncated",
    "envelope_delivery",
    "envelope_topic",
    "load_or_create_identity",
    "local_peer_record",
    "market_topics",
    "peer_id_of",
    "peer_record_verifier",
]
