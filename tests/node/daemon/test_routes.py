"""The daemon's own routes, on a p2p service that is not running."""

from __future__ import annotations

from types import SimpleNamespace

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerstore import PeerStore
from multiaddr import Multiaddr

from node.api import ApiRequest, Routes
from node.daemon.routes import add_daemon_routes
from node.p2p import PeerBook
from node.p2p.identity import peer_id_of


async def test_peers_lists_a_connected_peer_the_peerstore_has_no_addresses_for() -> None:
    # A peer that dialed us is connected before (or without) a peerstore entry; and
    # entries expire. /peers answered 500 for it while the daemons met.
    inbound, dialed = (peer_id_of(create_new_key_pair()) for _ in range(2))
    store = PeerStore()
    store.add_addr(dialed, Multiaddr("/ip4/127.0.0.1/tcp/4001"), 3600)
    p2p = SimpleNamespace(
        connected_peers=lambda: [inbound, dialed],
        peers=PeerBook(),
        host=SimpleNamespace(get_peerstore=lambda: store),
    )
    routes = Routes()
    add_daemon_routes(routes, SimpleNamespace(p2p=p2p, engine=SimpleNamespace(routes=[])))  # type: ignore[arg-type]
    match = routes.match("GET", ["peers"])
    answer = await match.route.handler(ApiRequest("GET", "/peers"))
    addrs = {p["peer_id"]: p["addrs"] for p in answer["peers"]}
    assert addrs == {
        inbound.to_base58(): [],
        dialed.to_base58(): ["/ip4/127.0.0.1/tcp/4001"],
    }
