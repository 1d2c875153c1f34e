"""The host offers Noise only and Yamux only: other security or muxers cannot connect."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from libp2p import new_host
from libp2p.abc import IHost, IMuxedConn, ISecureTransport
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.transport.tcp.tcp import TCP
from multiaddr import Multiaddr

from node.p2p import Inbound, InvalidAddress, P2PConfig, P2PService
from tests.node.p2p.nodes import open_node


@asynccontextmanager
async def open_foreign_host(security: str, muxer: str) -> AsyncIterator[IHost]:
    """A libp2p host with other choices than ours, closed on exit."""
    key_pair = create_new_key_pair()
    sec: dict[TProtocol, ISecureTransport]
    if security == "plaintext":
        sec = {TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)}
    else:
        sec = {NOISE_PROTOCOL_ID: NoiseTransport(key_pair, new_x25519_key_pair().private_key)}
    mux: dict[TProtocol, type[IMuxedConn]] = (
        {TProtocol(MPLEX_PROTOCOL_ID): Mplex}
        if muxer == "mplex"
        else {TProtocol(YAMUX_PROTOCOL_ID): Yamux}
    )
    host = new_host(key_pair=key_pair, sec_opt=sec, muxer_opt=mux, transports=[TCP()])
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True):
                await host.close()


@pytest.mark.parametrize(("security", "muxer"), [("plaintext", "yamux"), ("noise", "mplex")])
async def test_a_peer_without_noise_and_yamux_cannot_connect(security: str, muxer: str) -> None:
    async with open_node("bob") as bob, open_foreign_host(security, muxer) as stranger:
        target = PeerInfo(bob.peer_id, bob.service.listen_addrs())
        with trio.fail_after(20), pytest.raises(Exception):  # noqa: B017, PT011 (libp2p's class varies)
            await stranger.connect(target)
        assert stranger.get_id() not in bob.service.connected_peers()


async def test_a_noise_and_yamux_peer_connects() -> None:
    async with open_node("bob") as bob, open_foreign_host("noise", "yamux") as friend:
        with trio.fail_after(20):
            await friend.connect(PeerInfo(bob.peer_id, bob.service.listen_addrs()))
            await bob.service.wait_until(lambda: friend.get_id() in bob.service.connected_peers())


def test_libp2p_logs_reach_the_node_log() -> None:
    assert logging.getLogger("libp2p").propagate


@pytest.mark.parametrize("address", ["/ip4/127.0.0.1/tcp/4001", "not a multiaddr"])
def test_a_bootstrap_address_without_a_peer_id_is_refused_up_front(address: str) -> None:
    send, _ = trio.open_memory_channel[Inbound](1)
    with pytest.raises(InvalidAddress, match="bootstrap address"):
        P2PService(create_new_key_pair(), P2PConfig(bootstrap=(address,)), send)
