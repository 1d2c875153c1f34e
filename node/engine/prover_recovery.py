"""How the prover carries on after a crash (the recovery half of ``ProverRole``).

The chain sync replays events from the stored cursor, so awards, payments and
slashes are seen exactly once. The tick carries on from each job's stored state: an
announcement seen but not yet decided is decided again (or expires); a won job whose
input is still missing ``INPUT_ASK_S`` later (the stream acknowledged it, then the
node died before storing it) asks the requester again by re-sending our winning bid;
a job left PROVING by a dead process is proved again (it counts as an attempt: a
proof that kills the node cannot loop forever); a stored proof is never made twice;
a SUBMITTED job whose submission was never journaled is submitted again, one whose
journaled submission failed or vanished is retried, and one whose submission is
open or mined waits for reconciliation and ProofAccepted. A fee credited but not
withdrawn before the crash is withdrawn at the first tick.
"""

from __future__ import annotations

import logging

import trio

from node.engine.core import EngineContext
from node.engine.prover_parts import ProverParts
from node.engine.prover_work import prover_job
from node.store import IntentStatus, JobRecord
from protocol.market import ProverState
from protocol.market import actions as ma
from protocol.market.prover import ProvingFailed
from protocol.messages import Bid

logger = logging.getLogger(__name__)

S = ProverState
# The requester retries a failed delivery every 5 s (requester_acts.DELIVERY_RETRY_S): an
# input still missing this long after we saw the award was acknowledged and then lost (a
# crash between the stream's ack and the store), so we ask again by re-sending our bid.
INPUT_ASK_S = 20
_FAILED = (IntentStatus.FAILED, IntentStatus.REVERTED, IntentStatus.DROPPED)


class RecoveryMixin(ProverParts):
    """Resuming interrupted work (prover.py supplies the attributes)."""

    _proving: int | None
    _submitting: set[int]
    _ask_at: dict[int, int]

    async def _sweep(self, ctx: EngineContext) -> None:
        """Withdraw what JobMarket holds for us: a crash may have come between a payment
        and its withdrawal."""
        try:
            owed = await trio.to_thread.run_sync(self.chain.balance_of, self.chain.address)
            if owed:
                params = {"contract": "JobMarket", "owed": str(owed)}
                await ctx.executor.execute("withdraw", None, params, lambda c: c.withdraw())
        except Exception as exc:  # the RPC away, or withdrawn meanwhile: the next payment pulls it
            logger.info("market balance not withdrawn at start: %r", exc)

    async def _seen_again(self, ctx: EngineContext, record: JobRecord, now: int) -> None:
        """An announcement whose decision a crash cut short: decide it, or let it expire."""
        if now > prover_job(record).job.bid_deadline:
            self._advance(ctx, record.key, ma.Tick(), now=now)
        else:
            await self._decide(ctx, record.key)

    def _resume(self, ctx: EngineContext, record: JobRecord, now: int) -> None:
        """Carry on a job whose input, proving or submission a crash or a failed send cut short."""
        job, key = prover_job(record), record.key
        if job.state is S.WON and job.bid is not None:
            self._ask_for_input(ctx, key, job.job.requester_peer_id, job.bid, now)
        else:
            self._ask_at.pop(key, None)
        if job.state is S.PROVING and self._proving != key:
            logger.warning(
                "job %d: the node stopped while proving it; queued again", job.job.job_id
            )
            self._advance(ctx, key, ProvingFailed("the node stopped while proving it"))
        elif job.state is S.SUBMITTED and key not in self._submitting:
            mine = [i for i in ctx.store.intents_for_job(key) if i.kind == "submit_proof"
                    and i.params.get("attempt") == job.attempts]  # fmt: skip
            if not mine:  # the node stopped before journaling it: nothing was sent
                self._submitting.add(key)
                ctx.spawn(lambda: self._submit(ctx, key))
            elif all(i.status in _FAILED for i in mine):
                self._advance(ctx, key, ma.TxFailed("submitProof failed"))

    def _ask_for_input(
        self, ctx: EngineContext, key: int, requester: bytes, bid: Bid, now: int
    ) -> None:
        """Re-send our winning bid every INPUT_ASK_S while the input is missing: the
        requester answers its assigned prover's bid with the input (node.engine.rescue_offers)."""
        due = self._ask_at.setdefault(key, now + INPUT_ASK_S)
        if now < due:
            return
        self._ask_at[key] = now + INPUT_ASK_S
        logger.info("job %d: no input yet; asking the requester again", bid.job_id)

        async def ask() -> None:
            try:
                await self.network.send_bid(requester, bid)
            except Exception as exc:  # the requester unreachable: asked again later
                logger.info("job %d: asking for the input failed: %r", bid.job_id, exc)

        ctx.spawn(ask)
