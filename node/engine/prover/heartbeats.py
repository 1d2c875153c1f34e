"""Prover heartbeats out: a prover's standing offer, repeated on gossip.

The prover role (prover.py) shows its ``Offer`` to a ``HeartbeatPublisher`` on every
engine tick; the publisher answers with the ``ProverHeartbeat`` to publish, if one is
due: every ``HEARTBEAT_EVERY_S``, soon after a new peer connects, and at once when the
free capacity or the price differs from the last one. The role publishes it in a task
of its own, so a slow peer never stalls the engine loop. Receivers keep the
newest per prover (known_provers.py); nothing is paid on a heartbeat.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from node.engine.models.records import held_dir
from node.engine.repeat import RepeatSchedule
from node.store import Store
from protocol.messages import ProverHeartbeat
from protocol.messages.types import MAX_MODELS_HELD

logger = logging.getLogger(__name__)

# A requester choosing a fee sees an offer at most this old; one small message per
# prover per period stays far below the topic's rate limit (5/s, node.p2p.gossip).
HEARTBEAT_EVERY_S = 15.0
# Receivers forget a prover after three periods: one or two lost heartbeats keep it.
HEARTBEAT_TTL_S = 3 * HEARTBEAT_EVERY_S
# The envelope is relayed no longer than a receiver would keep it.
HEARTBEAT_LIFETIME_S = int(HEARTBEAT_TTL_S)


@dataclass(frozen=True)
class Offer:
    """What a prover offers now: free job slots, price, measured speed, models held."""

    free_capacity: int
    price_per_1k: int
    proving_rate: int  # constraints per second; 0 until a proof is measured
    models: tuple[int, ...]

    def heartbeat(self, prover: bytes, peer_id: bytes) -> ProverHeartbeat:
        """The offer as ``prover``'s heartbeat from ``peer_id``."""
        return ProverHeartbeat(
            prover=prover,
            peer_id=peer_id,
            capacity=self.free_capacity,
            price_per_1k_constraints=self.price_per_1k,
            proving_rate=self.proving_rate,
            models=self.models,
        )


class HeartbeatNetwork(Protocol):
    """What the publisher needs from the p2p network."""

    @property
    def peer_id(self) -> bytes: ...

    def connected_peers(self) -> Sequence[Hashable]: ...

    async def publish_heartbeat(self, heartbeat: ProverHeartbeat) -> None:
        """Sign ``heartbeat`` in an envelope and publish it on the heartbeats topic."""
        ...


class HeartbeatPublisher:
    """Publishes the prover's offer on schedule and when capacity or price change."""

    def __init__(
        self, network: HeartbeatNetwork, prover: bytes, *, every_s: float = HEARTBEAT_EVERY_S
    ) -> None:
        self.network, self.prover = network, prover
        self._schedule = RepeatSchedule(every_s)
        self._last: tuple[int, int] | None = None  # (free capacity, price) last published
        self.published = 0

    def due(self, offer: Offer, now: float) -> ProverHeartbeat | None:
        """The heartbeat to publish at ``now`` (trio's clock): on schedule or on a change."""
        if (offer.free_capacity, offer.price_per_1k) != self._last:
            self._schedule.hurry(now)
        if not self._schedule.due(now, self.network.connected_peers()):
            return None
        self._last = (offer.free_capacity, offer.price_per_1k)
        return offer.heartbeat(self.prover, self.network.peer_id)

    async def publish(self, heartbeat: ProverHeartbeat) -> None:
        """Publish ``heartbeat``; a failure is logged (the next period tries again)."""
        try:
            await self.network.publish_heartbeat(heartbeat)
            self.published += 1
        except Exception as exc:  # gossip is best effort
            logger.warning("publishing the heartbeat failed: %r", exc)


def held_models(store: Store) -> tuple[int, ...]:
    """The ids of the models whose circuits this node holds and that are not deprecated."""
    held = sorted(
        m.model_id for m in store.list_models() if not m.deprecated and held_dir(m) is not None
    )
    return tuple(held[:MAX_MODELS_HELD])
