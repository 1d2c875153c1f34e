"""The private input's way out: to the prover awarded on-chain, and to no one else.

The input goes to ``job.prover``, which only a JobAwarded event (our own award's
answer, or the chain sync) sets, over a direct stream to the peer named in that
prover's winning bid, and only if the peer's signed record binds it to the prover's
account (node.p2p). A failed delivery is retried ``DELIVERY_RETRY_S`` later while the
award stands. An awarded prover whose input went missing (its node died between the
stream's acknowledgement and storing it) re-sends its winning bid; while the job still
waits for its acceptance the requester answers with the input again (``asks_for_input``;
it goes only to that prover's bound peer, so a replayed bid leaks nothing).
"""

from __future__ import annotations

import logging

from node.engine.core import EngineContext
from node.engine.requester.jobs import RequesterJobs
from node.engine.requester.network import RequesterNetwork
from node.store import BidDirection, BidStatus
from protocol.market import RequesterJob, RequesterState
from protocol.market import actions as ma
from protocol.market.requester import InputAcked
from protocol.messages import Bid, InputDelivery

logger = logging.getLogger(__name__)

S = RequesterState
# A failed input delivery is retried after this long (the prover may be reconnecting).
DELIVERY_RETRY_S = 5.0
# States in which the awarded prover may still need the input to accept.
AWAITING_ACCEPT = (S.AWARDED, S.INPUT_DELIVERED)


def asks_for_input(job: object, bid: Bid) -> bool:
    """Whether ``bid`` is the awarded prover of ``job`` asking again for its input."""
    if not isinstance(job, RequesterJob) or job.state not in AWAITING_ACCEPT:
        return False
    return bid.job_id == job.job_id and bid.prover == job.prover


class Delivery:
    """Sends a job's input to its awarded prover (``RequesterRole`` wires it)."""

    def __init__(self, jobs: RequesterJobs, network: RequesterNetwork) -> None:
        self.jobs, self.network = jobs, network
        jobs.handle(
            ma.DeliverInput, lambda ctx, key, action: lambda: self.deliver(ctx, key, action.prover)
        )

    def due(self, key: int, now: float) -> bool:
        """Whether a delivery of job ``key`` may be tried now (none failed recently)."""
        return now >= self.jobs.retry_at.get(key, 0.0)

    async def deliver(self, ctx: EngineContext, key: int, prover: bytes) -> None:
        record = ctx.store.get_job(key)
        job = record.job
        assert isinstance(job, RequesterJob)
        assert record.job_id is not None
        if job.prover != prover or job.state not in AWAITING_ACCEPT:
            return  # the award moved on (lapsed, accepted): nobody else gets the input
        held = ctx.store.get_input(key)
        won = [
            b.bid
            for b in ctx.store.bids_for_job(record.job_id, BidDirection.RECEIVED)
            if b.bid.prover == prover and b.status is BidStatus.WON
        ]
        if held is None or not won:
            self._failed(key, "no input held or no winning bid from the prover")
            return
        delivery = InputDelivery(record.job_id, held.input_q, held.salt)
        try:
            await self.network.deliver_input(won[-1].peer_id, prover, delivery)
        except Exception as exc:  # p2p refusals and stream failures: retried on a tick
            self._failed(key, repr(exc))
            return
        self.jobs.retry_at.pop(key, None)
        self.jobs.note(key, "input delivered", prover="0x" + prover.hex())
        if job.state is S.AWARDED:
            self.jobs.advance(ctx, key, InputAcked())

    def _failed(self, key: int, reason: str) -> None:
        # Not stepped with DeliveryFailed: its rule re-delivers at once; the tick retries later.
        logger.info("job %d: delivering the input failed: %s", key, reason)
        self.jobs.retry_at[key] = self.jobs.clock() + DELIVERY_RETRY_S
        self.jobs.note(key, "delivery failed", reason=reason)
