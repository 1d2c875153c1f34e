"""What the requester needs from the network: announce a job, deliver an input to one peer.

``P2PRequesterNetwork`` does it on the daemon's p2p service: announcements are
sealed in an envelope signed by the node's key and published on the jobs topic;
an input goes over a direct stream to the awarded bid's peer, and only if that
peer has proved (by its signed peer record) that it holds the awarded account.
"""

from __future__ import annotations

from typing import Protocol

from libp2p.peer.id import ID

from node.engine.sealing import SigningP2P
from node.p2p.gossip import JOBS_TOPIC
from protocol.messages import InputDelivery, JobAnnouncement, encode


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


class P2PRequesterNetwork(SigningP2P):
    """``RequesterNetwork`` on the daemon's ``P2PService``."""

    async def announce(self, announcement: JobAnnouncement) -> None:
        await self.p2p.publish(JOBS_TOPIC, self.sealed(announcement))

    async def deliver_input(self, peer_id: bytes, account: bytes, delivery: InputDelivery) -> None:
        await self.p2p.send_input(ID(peer_id), encode(delivery), account=account)
