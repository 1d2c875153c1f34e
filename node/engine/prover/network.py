"""What the prover needs from the network, and what it charges.

``P2PProverNetwork`` sends a bid both ways on the daemon's p2p service: sealed in an
envelope signed by the node's key, straight to the requester's peer and on the bids
topic (the requester may be unreachable directly). Heartbeats go on their topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from libp2p.peer.id import ID

from node.engine.prover.heartbeats import HEARTBEAT_LIFETIME_S
from node.engine.sealing import SigningP2P
from node.p2p.gossip import BIDS_TOPIC, HEARTBEATS_TOPIC
from protocol.messages import Bid, ProverHeartbeat


class ProverNetwork(Protocol):
    """The prover's edge to the p2p network."""

    @property
    def peer_id(self) -> bytes:
        """This node's libp2p peer id (named in our bids)."""
        ...

    async def send_bid(self, requester_peer: bytes, bid: Bid) -> None:
        """Publish ``bid`` on the bids topic and send it to the requester's peer."""
        ...

    async def ask_for_input(self, requester_peer: bytes, bid: Bid) -> None:
        """Send our winning ``bid`` again, to the requester's peer only: it answers an awarded
        prover's bid with the input (a delivery may have been lost)."""
        ...

    def connected_peers(self) -> list[ID]:
        """The peers connected now (a new one hears our heartbeat soon)."""
        ...

    async def publish_heartbeat(self, heartbeat: ProverHeartbeat) -> None:
        """Sign ``heartbeat`` and publish it on the heartbeats topic."""
        ...


class P2PProverNetwork(SigningP2P):
    """``ProverNetwork`` on the daemon's ``P2PService``: bids sealed in signed envelopes."""

    async def send_bid(self, requester_peer: bytes, bid: Bid) -> None:
        data = self.sealed(bid)
        try:
            await self.p2p.send_bid(ID(requester_peer), data)
        finally:  # gossip too: the requester may be unreachable directly
            await self.p2p.publish(BIDS_TOPIC, data)

    async def ask_for_input(self, requester_peer: bytes, bid: Bid) -> None:
        await self.p2p.send_bid(ID(requester_peer), self.sealed(bid))

    def connected_peers(self) -> list[ID]:
        return self.p2p.connected_peers()

    async def publish_heartbeat(self, heartbeat: ProverHeartbeat) -> None:
        await self.p2p.publish(HEARTBEATS_TOPIC, self.sealed(heartbeat, HEARTBEAT_LIFETIME_S))


@dataclass(frozen=True)
class Pricing:
    """What the operator charges (node.config.ProverConfig)."""

    price_per_1k: int
    margin_bps: int
    capacity: int
    max_collateral: int
