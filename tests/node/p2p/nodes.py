"""Named test nodes on 127.0.0.1: real libp2p hosts run by P2PService."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from node.p2p import (
    DirectRules,
    Inbound,
    P2PConfig,
    P2PService,
    ScorePolicy,
    TopicRules,
    local_peer_record,
    market_topics,
    peer_id_of,
    peer_record_verifier,
)
from node.p2p.direct import BlobLookup
from tests.node.p2p.wire import CHAIN_ID

# Fast redials keep the tests short; the daemon's default is 2 s.
RECONNECT_S = 0.2
INBOX_SIZE = 256


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def raw_topic(
    topic: str, max_bytes: int = 1024, rate: float = 100.0, burst: float = 100.0
) -> TopicRules:
    """A topic taking any bytes up to ``max_bytes``: what a careless or hostile node runs."""
    return TopicRules(topic, max_bytes, decode=bytes, rate_per_s=rate, burst=burst)


@dataclass
class Node:
    """One running service and the receiving end of its inbound channel."""

    name: str
    service: P2PService
    inbox: trio.MemoryReceiveChannel[Inbound]

    @property
    def peer_id(self) -> ID:
        return self.service.peer_id

    def addr(self) -> str:
        return str(self.service.listen_addrs()[0])

    async def next_message(self) -> Any:
        """The next inbound item (bounded by the caller's fail_after)."""
        return await self.inbox.receive()

    def assert_inbox_empty(self) -> None:
        try:
            item = self.inbox.receive_nowait()
        except trio.WouldBlock:
            return
        raise AssertionError(f"{self.name} received {item!r}")


def market_rules() -> list[TopicRules]:
    """The four market topics with this node's own replay guard."""
    return market_topics(CHAIN_ID, time.time)


@asynccontextmanager
async def open_node(
    name: str,
    *,
    topics: Sequence[TopicRules] = (),
    bootstrap: Sequence[str] = (),
    known: Sequence[str] = (),
    listen: str = "/ip4/127.0.0.1/tcp/0",
    key_pair: KeyPair | None = None,
    eth_key: bytes | None = None,
    inputs: DirectRules | None = None,
    bids: DirectRules | None = None,
    blobs: BlobLookup | None = None,
    stream_timeout_s: float = 5.0,
    score: ScorePolicy | None = None,
) -> AsyncIterator[Node]:
    """Run a node named ``name`` until the block ends; its sockets are closed after."""
    key_pair = key_pair or create_new_key_pair()
    config = P2PConfig(
        listen=(listen,),
        bootstrap=tuple(bootstrap),
        known=tuple(known),
        reconnect_interval_s=RECONNECT_S,
        stream_timeout_s=stream_timeout_s,
        score=score or ScorePolicy(),
    )
    record = None
    if eth_key is not None:
        record = local_peer_record(eth_key, CHAIN_ID, peer_id_of(key_pair), now=1_700_000_000)
    send, receive = trio.open_memory_channel[Inbound](INBOX_SIZE)
    service = P2PService(
        key_pair,
        config,
        send,
        topics=topics,
        inputs=inputs,
        bids=bids,
        blobs=blobs,
        local_record=record,
        verify_record=peer_record_verifier(CHAIN_ID),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        yield Node(name, service, receive)
        nursery.cancel_scope.cancel()
