"""What the requester needs from the network: announce a job, deliver an input to one peer.

``P2PRequesterNetwork`` does it on the daemon's p2p service: announcements are
sealed in an envelope signed by the node's key and published on the jobs topic;
an input goes over a direct stream to the winning bid's peer, and only if that
peer has proved (by its signed peer record) that it holds the winner's account.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from libp2p.peer.id import ID

from node.p2p.gossip import JOBS_TOPIC
from node.p2p.records import sealed_for_gossip
from node.p2p.service import P2PService
from protocol.messages import InputDelivery, JobAnnouncement, Message, encode

# An announcement is relayed while its bid window may still be open; the gossip
# validators refuse envelopes living longer than 600 s (protocol.messages.envelope).
ANNOUNCEMENT_LIFETIME_S = 300


class RequesterNetwork(Protocol):
    """The requester's edge to the p2p network."""

    @property
    def peer_id(self) -> bytes:
        """This node's libp2p peer id (where provers send bids directly)."""
        ...

    async def announce(self, announcement: JobAnnouncement) -> None:
        """Gossip ``announcement`` to the provers."""
        ...

    async def deliver_input(self, peer_id: bytes, account: bytes, delivery: InputDelivery) -> None:
        """Send ``delivery`` to ``peer_id`` only, and only if it is bound to ``account``."""
        ...


class SigningP2P:
    """The daemon's ``P2PService`` with the node's key: the base of the roles' networks."""

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

    def sealed(self, message: Message, lifetime_s: int = ANNOUNCEMENT_LIFETIME_S) -> bytes:
        """``message`` in an envelope signed by this node, encoded for gossip."""
        return sealed_for_gossip(
            self._key, self.chain_id, message, now=self._clock(), lifetime_s=lifetime_s
        )


class P2PRequesterNetwork(SigningP2P):
    """``RequesterNetwork`` on the daemon's ``P2PService``."""

    async def announce(self, announcement: JobAnnouncement) -> None:
        await self.p2p.publish(JOBS_TOPIC, self.sealed(announcement))

    async def deliver_input(self, peer_id: bytes, account: bytes, delivery: InputDelivery) -> None:
        await self.p2p.send_input(ID(peer_id), encode(delivery), account=account)
