"""How the prover carries on after a crash, or after a send that failed.

The chain sync replays events from the stored cursor, so awards, acceptances,
payments and slashes are seen exactly once. The tick carries on from each job's
stored state: an announcement seen but not yet decided is decided again (or
expires); a won job whose checked input is held is decided again (accept, or let
lapse); an ACCEPTING job whose acceptJob was never journaled is sent again, one
whose journaled acceptJob failed or vanished is retried (until the accept
deadline), one that is open or mined waits for reconciliation and JobAccepted; a
job left PROVING by a dead process is proved again (it counts as an attempt: a proof
that kills the node cannot loop forever); a stored proof is never made twice; a
SUBMITTED job is handled like an ACCEPTING one, for submitProof. A fee credited but
not withdrawn before the crash is withdrawn at the first tick.
"""

from __future__ import annotations

import logging

import trio

from node.chain.interface import Chain
from node.engine.core import EngineContext
from node.engine.prover.acceptance import Acceptance
from node.engine.prover.bidding import Bidding
from node.engine.prover.jobs import ProverJobs, prover_job
from node.engine.prover.proving import Proving
from node.store import Intent, IntentStatus, JobRecord, Store
from protocol.market import ProverState
from protocol.market import actions as ma
from protocol.market.prover import Declined, ProvingFailed

logger = logging.getLogger(__name__)

S = ProverState
_FAILED = (IntentStatus.FAILED, IntentStatus.REVERTED, IntentStatus.DROPPED)


class Recovery:
    """Resuming interrupted work (``ProverRole`` calls it on every tick)."""

    def __init__(
        self,
        jobs: ProverJobs,
        chain: Chain,
        bidding: Bidding,
        acceptance: Acceptance,
        proving: Proving,
    ) -> None:
        self.jobs, self.chain = jobs, chain
        self.bidding, self.acceptance, self.proving = bidding, acceptance, proving

    async def sweep(self, ctx: EngineContext) -> None:
        """Withdraw what JobMarket holds for us: a crash may have come between a payment
        and its withdrawal."""
        try:
            owed = await trio.to_thread.run_sync(self.chain.balance_of, self.chain.address)
            if owed:
                params = {"contract": "JobMarket", "owed": str(owed)}
                await ctx.executor.execute("withdraw", None, params, lambda c: c.withdraw())
        except Exception as exc:  # the RPC away, or withdrawn meanwhile: the next payment pulls it
            logger.info("market balance not withdrawn at start: %r", exc)

    async def seen_again(self, ctx: EngineContext, record: JobRecord, now: int) -> None:
        """An announcement whose decision a crash cut short: decide it, or let it expire."""
        if now > prover_job(record).job.bid_deadline:
            self.jobs.advance(ctx, record.key, Declined("the bid deadline passed"), now=now)
        else:
            self.bidding.start(ctx, record.key)

    async def resume(self, ctx: EngineContext, record: JobRecord, now: int) -> None:
        """Carry on a job whose acceptance, proving or submission was cut short."""
        job, key = prover_job(record), record.key
        if job.state is S.WON:
            self.acceptance.ask_for_input(ctx, record, now)
            await self.acceptance.retry(ctx, record)
        elif job.state is S.ACCEPTING and key not in self.acceptance.accepting:
            self._resend(ctx, key, "accept_job", 0)
        elif job.state is S.PROVING and self.proving.proving != key:
            logger.warning(
                "job %d: the node stopped while proving it; queued again", job.job.job_id
            )
            self.jobs.advance(ctx, key, ProvingFailed("the node stopped while proving it"))
        elif job.state is S.SUBMITTED and key not in self.proving.submitting:
            self._resend(ctx, key, "submit_proof", job.attempts)

    def _resend(self, ctx: EngineContext, key: int, kind: str, attempt: int) -> None:
        mine = self._intents(ctx.store, key, kind, attempt)
        if not mine:  # the node stopped before journaling it: nothing was sent
            if kind == "accept_job":
                self.acceptance.accepting.add(key)
                ctx.spawn(lambda: self.acceptance.accept(ctx, key))
            else:
                self.proving.submitting.add(key)
                ctx.spawn(lambda: self.proving.submit(ctx, key))
        elif all(i.status in _FAILED for i in mine):
            self.jobs.advance(ctx, key, ma.TxFailed(f"{kind} failed"))

    @staticmethod
    def _intents(store: Store, key: int, kind: str, attempt: int) -> list[Intent]:
        return [i for i in store.intents_for_job(key) if i.kind == kind and i.attempt == attempt]
