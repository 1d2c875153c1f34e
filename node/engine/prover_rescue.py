"""Rescue mode (prover.rescue): prove other provers' overdue jobs inside JobMarket's rescue window.

Theory of operation. After a job's proof deadline JobMarket takes its proof from any
staked prover but the assigned one until the rescue window closes, and pays that
rescuer the fee plus half the assigned prover's collateral (JobMarket.submitProof).
A rescuer needs the private input, which only the requester holds, so it offers: a
``Bid`` for the job signed like any bid (fee: the awarded fee, which is what
JobMarket pays; expiry: the window's end), sent to the requester's peer. A
requester whose job is overdue hands the input to the first valid offer's prover
(node.engine.rescue_offers). The offer cannot be misused: awardJob takes only Open
jobs, and an overdue job is Awarded.

Candidates are the jobs whose announcement we hold because we lost or declined
them. One slot after the proof deadline (the chain's clock trails ours until the
next block) getJob says whether the job is still Awarded to someone else; if so,
and the rescue fits our queue before the window's end, it gets a record of role
"rescuer" in state RESCUE, holding the signed offer. The offer is repeated while no
input has come (an offer or a delivery may be lost, or the requester may not have
noticed the deadline yet), ``OFFER_EVERY_S`` after the first and twice as long after
each next, up to ``OFFER_MAX_S``: a requester that never answers is not flooded.
From INPUT_RECEIVED on a rescue is proved and submitted like our own jobs, against
the window's end; the ProofAccepted naming us as rescuer pays it.
"""

from __future__ import annotations

import dataclasses
import logging

import trio

from node.chain.types import JobInfo, JobStatus
from node.engine.core import EngineContext
from node.engine.prover_parts import ProverParts
from node.engine.prover_work import prover_job
from node.store import JobRecord, Role, Store
from protocol.market import ProverState
from protocol.market.planning import admit
from protocol.market.prover import new_rescue_job
from protocol.messages import Bid, JobAnnouncement, sign_bid

logger = logging.getLogger(__name__)

S = ProverState
# JobMarket judges "after the deadline" by the latest block's time, which trails ours
# by up to one 12 s Ethereum slot: look for rescues only this long after the deadline.
RESCUE_AFTER_S = 12
# A job not yet rescuable (the chain says it is open, or getJob failed) is asked again this
# often; the requester is offered our rescue again this often until its input arrives.
RECHECK_S = 15
OFFER_EVERY_S = 10
OFFER_MAX_S = 300
_CANDIDATES = (S.LOST.value, S.DECLINED.value)


class RescueMixin(ProverParts):
    """The rescue half of ``ProverRole`` (prover.py supplies the attributes)."""

    _settled: set[int]
    _next_check: dict[int, int]
    _offered_at: dict[int, float]  # when the next offer is due
    _offers: dict[int, int]

    def _init_rescue(self) -> None:
        self._settled = set()  # job ids no longer worth asking about
        self._next_check = {}
        self._offered_at = {}
        self._offers = {}

    async def _scan_rescues(self, ctx: EngineContext, now: int) -> None:
        """Open rescues of overdue jobs we hold the announcement of; repeat pending offers."""
        for record in ctx.store.list_jobs(Role.PROVER, _CANDIDATES):
            job = prover_job(record).job
            if self._worth_asking(ctx.store, job, now):
                await self._consider(ctx, job, now)
        for record in ctx.store.list_jobs(Role.RESCUER, [S.RESCUE.value]):
            if now >= self._offered_at.get(record.key, float("-inf")):
                await self._offer(ctx, record)

    def _worth_asking(self, store: Store, job: JobAnnouncement, now: int) -> bool:
        if job.job_id in self._settled or now < self._next_check.get(job.job_id, 0):
            return False
        if now > job.proof_deadline + self.rescue_window or store.find_job(
            job.job_id, Role.RESCUER
        ):
            self._settled.add(job.job_id)
            return False
        return now > job.proof_deadline + RESCUE_AFTER_S

    async def _consider(self, ctx: EngineContext, job: JobAnnouncement, now: int) -> None:
        """Open a rescue of ``job`` if the chain says it is overdue and we can prove it in time."""
        self._next_check[job.job_id] = now + RECHECK_S
        try:
            onchain = await trio.to_thread.run_sync(self.chain.get_job, job.job_id)
        except Exception as exc:  # the RPC away: asked again later
            logger.info("job %d: rescue not checked: %r", job.job_id, exc)
            return
        if onchain.status is not JobStatus.AWARDED or onchain.prover.lower() == self._hex_me:
            self._settled.add(job.job_id)  # proven, slashed, cancelled, or ours
            return
        reason = await self._rescue_refusal(ctx.store, job, now)
        if reason is not None:
            logger.info("job %d: not rescued: %s", job.job_id, reason)
            return
        offer = self._signed_offer(job, onchain)
        rescue = dataclasses.replace(new_rescue_job(job, self.me, self.rescue_window), bid=offer)
        key = ctx.store.add_job(Role.RESCUER, rescue)
        self._settled.add(job.job_id)
        logger.info("job %d: overdue; offering the requester to rescue it", job.job_id)
        await self._offer(ctx, ctx.store.get_job(key))

    @property
    def _hex_me(self) -> str:
        return "0x" + self.me.hex()

    async def _rescue_refusal(self, store: Store, job: JobAnnouncement, now: int) -> str | None:
        """Why we cannot rescue ``job`` now, or None."""
        end = job.proof_deadline + self.rescue_window
        try:
            stake = (await trio.to_thread.run_sync(self.chain.stake_of, self.chain.address)).stake
            info = await trio.to_thread.run_sync(self.chain.get_model, job.model_id)
            await self._circuit(job.model_id)
        except Exception as exc:  # the RPC away, or the model not to be had
            return f"stake or model {job.model_id} unavailable: {exc}"
        if stake == 0:
            return "JobMarket takes rescues from staked provers only, and we have no stake"
        # Planned as a job whose input comes at once and whose deadline is the window's end.
        as_job = dataclasses.replace(job, bid_deadline=now, proof_deadline=end)
        queue = self._queue(store)
        admission = admit(as_job, info.constraint_count, self.rate, queue, now,
                          self.pricing.capacity)  # fmt: skip
        return None if admission.admitted else admission.reason

    def _signed_offer(self, job: JobAnnouncement, onchain: JobInfo) -> Bid:
        return sign_bid(self._key, self.chain.chain_id, self.market, job_id=job.job_id,
                        fee=onchain.fee, expiry=job.proof_deadline + self.rescue_window,
                        peer_id=self.network.peer_id)  # fmt: skip

    async def _offer(self, ctx: EngineContext, record: JobRecord) -> None:
        """Send the rescue's signed offer to the job's requester."""
        job = prover_job(record)
        assert job.bid is not None, "a rescue record holds its offer"
        sent = self._offers[record.key] = self._offers.get(record.key, 0) + 1
        pause = min(OFFER_EVERY_S * 2 ** (sent - 1), OFFER_MAX_S)
        self._offered_at[record.key] = self.clock() + pause
        try:
            await self.network.send_bid(job.job.requester_peer_id, job.bid)
        except Exception as exc:  # the requester unreachable: offered again later
            logger.info("job %d: rescue offer not delivered: %r", job.job.job_id, exc)
