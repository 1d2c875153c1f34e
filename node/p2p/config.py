"""The p2p service's configuration and what it hands the daemon."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from libp2p.peer.id import ID

from node.p2p.gossip import GossipMessage, accept_all
from node.p2p.peers import ScorePolicy


@dataclass(frozen=True)
class P2PConfig:
    """Where to listen, whom to dial, and the edge's limits."""

    listen: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    # Full multiaddrs ending in /p2p/<peer id>.
    bootstrap: tuple[str, ...] = ()
    # Peers met in earlier runs (full multiaddrs too): dialed once at start, not redialed.
    known: tuple[str, ...] = ()
    reconnect_interval_s: float = 2.0
    stream_timeout_s: float = 10.0
    # Default cap on a fetched blob; a caller passes the registry's size when it knows it.
    max_blob_bytes: int = 1 << 30
    score: ScorePolicy = field(default_factory=ScorePolicy)


@dataclass(frozen=True)
class DirectRules:
    """What one direct delivery protocol (input, bid) accepts; as ``TopicRules``."""

    max_bytes: int
    decode: Callable[[bytes], Any]
    check: Callable[[Any, ID, float], None] = accept_all
    rate_per_s: float = 2.0
    burst: float = 10.0


@dataclass(frozen=True)
class DirectMessage:
    """A direct delivery accepted from ``peer`` (bound to ``account``, if known)."""

    protocol: str
    message: Any
    data: bytes
    peer: ID
    account: bytes | None


Inbound = GossipMessage | DirectMessage
