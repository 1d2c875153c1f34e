"""The libp2p host with provernet's fixed configuration (LIBP2P_NOTES.md).

TCP only, Noise only (no plaintext, secio or TLS: defect 7), Yamux only (mplex is
slow), gossipsub /meshsub/1.1.0 with a 1 s heartbeat, adaptive gossip and the
built-in spam limit off (our validators rate-limit instead; defects 4 and 5),
strict signing, metrics off (defect 8). ``open_host`` runs the host and its
pubsub services and closes every socket on the way out (defect 9).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service
from libp2p.transport.tcp.tcp import TCP
from multiaddr import Multiaddr

# libp2p's logger does not propagate by default (LIBP2P_NOTES item 10).
logging.getLogger("libp2p").propagate = True

# Far above defect 2's lockout at 250 inbound connections.
MAX_CONNECTIONS = 1_000_000
# Mesh degree D = 6 (low 4, high 12): gossipsub v1.1 spec defaults, measured in LIBP2P_NOTES.
MESH_DEGREE, MESH_LOW, MESH_HIGH = 6, 4, 12
HEARTBEAT_S = 1
# Seen-message cache: longer than any envelope lives (protocol.messages: 600 s max lifetime).
SEEN_TTL_S = 660


@dataclass(frozen=True)
class HostParts:
    """A running host and its pubsub stack."""

    host: IHost
    swarm: Swarm
    pubsub: Pubsub
    gossipsub: GossipSub

    @property
    def peer_id(self) -> ID:
        """This host's peer id."""
        return self.host.get_id()


def build_host(key_pair: KeyPair) -> HostParts:
    """A host with the fixed transport, security, muxer and gossip configuration."""
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        transports=[TCP()],
        enable_metrics=False,
        enable_mDNS=False,
        connection_config=ConnectionConfig(
            max_connections=MAX_CONNECTIONS,
            high_watermark=MAX_CONNECTIONS,
            max_connections_per_peer=1,  # defect 1: ~250 ms extra per connect otherwise
            min_connections=0,
        ),
    )
    gossipsub = GossipSub(
        protocols=[PROTOCOL_ID_V11],
        degree=MESH_DEGREE,
        degree_low=MESH_LOW,
        degree_high=MESH_HIGH,
        heartbeat_initial_delay=0.1,
        heartbeat_interval=HEARTBEAT_S,
        adaptive_gossip_enabled=False,
        spam_protection_enabled=False,
    )
    pubsub = Pubsub(host, gossipsub, strict_signing=True, seen_ttl=SEEN_TTL_S)
    swarm = host.get_network()
    assert isinstance(swarm, Swarm)
    return HostParts(host, swarm, pubsub, gossipsub)


@asynccontextmanager
async def open_host(parts: HostParts, listen: Sequence[Multiaddr]) -> AsyncIterator[HostParts]:
    """Listen on ``listen`` and run pubsub; on exit close every connection and listener."""
    async with parts.host.run(listen_addrs=list(listen)):
        try:
            async with (
                background_trio_service(parts.pubsub),
                background_trio_service(parts.gossipsub),
            ):
                await parts.pubsub.wait_until_ready()
                yield parts
        finally:
            with trio.CancelScope(shield=True):
                await parts.host.close()


class ConnectionEvents(INotifee):
    """Forwards (peer, connected?) to a channel each time a connection opens or closes."""

    def __init__(self, events: trio.MemorySendChannel[tuple[ID, bool]]) -> None:
        self._events = events

    async def _send(self, conn: INetConn, up: bool) -> None:
        try:
            await self._events.send((conn.muxed_conn.peer_id, up))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the service has stopped

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        await self._send(conn, True)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        await self._send(conn, False)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        await trio.lowlevel.checkpoint()
