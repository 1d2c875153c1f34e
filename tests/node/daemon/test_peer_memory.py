"""The store remembers the peers a node met; a restarted node dials them without bootstrap.

Real libp2p hosts on 127.0.0.1 (tests/node/p2p/nodes.py). bob dials alice, so alice
learns bob's listening address only from libp2p's identify exchange and his account
only from his signed peer record; both go to alice's store. Restarted with neither
bootstrap peers nor bob dialing her, alice reaches him through what she stored.
"""

from __future__ import annotations

from pathlib import Path

import trio
from eth_account import Account
from libp2p.crypto.ed25519 import create_new_key_pair

from node.daemon.peer_memory import (
    MAX_AGE_S,
    known_addresses,
    listening_addresses,
    remember_connected,
)
from node.store import Store
from tests.node.p2p.nodes import Node, free_tcp_port, open_node
from tests.node.store.conftest import CHAIN_ID, CONTRACTS, Clock

ALICE_KEY, BOB_KEY = b"\x0a" * 32, b"\x0b" * 32
BOB = Account.from_key(BOB_KEY).address


def knows(alice: Node, bob: Node, listen: str) -> bool:
    """Whether alice has bob's account and his listening address."""
    addrs = listening_addresses(alice.service, bob.peer_id)
    full = f"{listen}/p2p/{bob.peer_id}"
    return alice.service.peers.account_of(bob.peer_id) is not None and full in addrs


async def test_a_restarted_node_dials_the_peers_it_remembers(tmp_path: Path) -> None:
    clock = Clock()
    store = Store.open(tmp_path / "node.db", chain_id=CHAIN_ID, contracts=CONTRACTS, clock=clock)
    bob_keys, listen = create_new_key_pair(), f"/ip4/127.0.0.1/tcp/{free_tcp_port()}"
    async with open_node("alice", eth_key=ALICE_KEY) as alice:
        alice_id = alice.peer_id.to_base58()
        bob_node = open_node(
            "bob", eth_key=BOB_KEY, key_pair=bob_keys, listen=listen, bootstrap=[alice.addr()]
        )
        async with bob_node as bob:
            for _ in range(200):  # polled: identify completes without notifying the service
                if knows(alice, bob, listen):
                    break
                await trio.sleep(0.05)
            assert remember_connected(alice.service, store) == 1
    [peer] = store.list_peers()
    assert (peer.peer_id, peer.address) == (bob.peer_id.to_base58(), BOB)
    assert f"{listen}/p2p/{peer.peer_id}" in peer.addrs
    known = known_addresses(store, clock(), alice_id)
    assert f"{listen}/p2p/{peer.peer_id}" in known
    assert known_addresses(store, clock() + MAX_AGE_S + 1, alice_id) == ()  # gone too long
    assert known_addresses(store, clock(), peer.peer_id) == ()  # never ourselves
    async with (
        open_node("bob again", eth_key=BOB_KEY, key_pair=bob_keys, listen=listen) as bob,
        open_node("alice again", eth_key=ALICE_KEY, known=known) as alice,
    ):
        with trio.fail_after(10):
            await alice.service.wait_until(lambda: bob.peer_id in alice.service.connected_peers())
    store.close()
