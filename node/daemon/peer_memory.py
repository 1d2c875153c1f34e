"""The peers a node has met, kept in the store so a restarted node can dial them again.

``remember_peers`` runs beside the p2p service: every ``REMEMBER_EVERY_S`` it writes
each connected peer (peer id, the addresses libp2p's identify exchange reported, the
Ethereum account its signed peer record binds it to) with the time it was seen.
``known_addresses`` turns the most recently seen of them into the multiaddrs the p2p
service dials once at start-up, beside its bootstrap peers.
"""

from __future__ import annotations

import logging

import trio
from eth_utils.address import to_checksum_address
from libp2p.peer.id import ID
from libp2p.peer.peerstore import PeerStoreError

from node.p2p import P2PService
from node.store import Store

logger = logging.getLogger(__name__)

# Often enough that a node killed at any moment has met its current peers on record.
REMEMBER_EVERY_S = 5.0
# A peer unseen for a week has most likely moved or left; dialing it only costs a timeout.
MAX_AGE_S = 7 * 24 * 3600
# Dialed at start-up at most: gossipsub needs D = 6 mesh peers, this leaves plenty spare.
MAX_KNOWN = 32


def known_addresses(store: Store, now: float, own_peer_id: str) -> tuple[str, ...]:
    """Multiaddrs (ending in /p2p/<id>) of the peers seen within ``MAX_AGE_S``, newest first."""
    found: list[str] = []
    peers = [p for p in store.list_peers() if p.peer_id != own_peer_id]
    for peer in peers[:MAX_KNOWN]:
        if now - peer.last_seen > MAX_AGE_S:
            break  # listed most recently seen first
        suffix = f"/p2p/{peer.peer_id}"
        found.extend(a if a.endswith(suffix) else a + suffix for a in peer.addrs)
    return tuple(found)


def remember_connected(p2p: P2PService, store: Store) -> int:
    """Write every connected peer to the store; how many."""
    peers = p2p.connected_peers()
    with store.transaction():
        for peer in peers:
            account = p2p.peers.account_of(peer)
            store.see_peer(
                peer.to_base58(),
                address=None if account is None else to_checksum_address("0x" + account.hex()),
                addrs=listening_addresses(p2p, peer),
            )
    return len(peers)


def listening_addresses(p2p: P2PService, peer: ID) -> list[str]:
    """What libp2p knows of where ``peer`` listens (identify fills it in), relays left out."""
    try:
        addrs = p2p.host.get_peerstore().addrs(peer)
    except PeerStoreError:  # not identified yet
        return []
    return [str(a) for a in addrs if "/p2p-circuit" not in str(a)]


async def remember_peers(
    p2p: P2PService,
    store: Store,
    *,
    every_s: float = REMEMBER_EVERY_S,
) -> None:
    """Keep the store's peer list current until cancelled."""
    while True:
        await trio.sleep(every_s)
        try:
            remember_connected(p2p, store)
        except Exception as exc:  # the store busy or a peer gone mid-read: next round
            logger.warning("could not record the connected peers: %r", exc)
