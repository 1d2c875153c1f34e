"""What the prover needs from the network, and what it charges.

``P2PProverNetwork`` sends a bid both ways on the daemon's p2p service: sealed in an
envelope signed by the node's key, straight to the requester's peer and on the bids
topic (the requester may be unreachable directly).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from libp2p.peer.id import ID

from node.engine.requester_net import ANNOUNCEMENT_LIFETIME_S
from node.p2p.gossip import BIDS_TOPIC
from node.p2p.records import sealed_for_gossip
from node.p2p.service import P2PService
from protocol.messages import Bid


class ProverNetwork(Protocol):
    """The prover's edge to the p2p network."""

    @property
    def peer_id(self) -> bytes:
        """This node's libp2p peer id (named in our bids)."""
        ...

    async def send_bid(self, requester_peer: bytes, bid: Bid) -> None:
        """Publish ``bid`` on the bids topic and send it to the requester's peer."""
        ...


class P2PProverNetwork:
    """``ProverNetwork`` on the daemon's ``P2PService``: bids sealed in signed envelopes."""

    def __init__(
        self,
        p2p: P2PService,
        private_key: bytes,
        chain_id: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.p2p, self._key, self.chain_id, self._clock = p2p, private_key, chain_id, wall_clock

    @property
    def peer_id(self) -> bytes:
        return bytes(self.p2p.peer_id.to_bytes())

    async def send_bid(self, requester_peer: bytes, bid: Bid) -> None:
        data = sealed_for_gossip(
            self._key, self.chain_id, bid, now=self._clock(), lifetime_s=ANNOUNCEMENT_LIFETIME_S
        )
        try:
            await self.p2p.send_bid(ID(requester_peer), data)
        finally:  # gossip too: the requester may be unreachable directly
            await self.p2p.publish(BIDS_TOPIC, data)


@dataclass(frozen=True)
class Pricing:
    """What the operator charges (node.config.ProverConfig)."""

    price_per_1k: int
    margin_bps: int
    capacity: int
    max_collateral: int
