"""The roles' signing edge to the p2p service: gossip sealed in envelopes signed by the node.

``SigningP2P`` is the base of the requester's and the prover's networks
(node.engine.requester.network, node.engine.prover.network): the daemon's
``P2PService`` together with the node's key and chain id.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from node.p2p.records import sealed_for_gossip
from node.p2p.service import P2PService
from protocol.messages import Message

# An envelope is relayed no longer than the gossip validators allow (600 s,
# protocol.messages.envelope); announcements are repeated well within that.
DEFAULT_LIFETIME_S = 300


class SigningP2P:
    """The daemon's ``P2PService`` with the node's key."""

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

    def sealed(self, message: Message, lifetime_s: int = DEFAULT_LIFETIME_S) -> bytes:
        """``message`` in an envelope signed by this node, encoded for gossip."""
        return sealed_for_gossip(
            self._key, self.chain_id, message, now=self._clock(), lifetime_s=lifetime_s
        )
