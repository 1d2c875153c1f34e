"""The prover's bidding: admit and price an announced job, then sign a bid or decline.

The job is stored SEEN before the decision (which reads the chain and may fetch the
model), so a decision a crash cuts short is taken again on a later tick or
announcement. Each decision runs in a task of its own within ``DECIDE_TIMEOUT_S``
(``start``; ``deciding`` keeps one per job at a time): a slow RPC or model server
never stalls the engine. A decision that cannot be taken yet (the model still
downloading in its own task, fetches.py; the RPC away) leaves the job SEEN, to be
decided again after ``RETRY_S``. Only jobs won and not yet settled count against the
capacity (a bid locks nothing, and acceptance checks the plan again), so far-off
bid deadlines cannot lock a prover out of other work. A bid commits us to
nothing: it is a signed price over the job's on-chain terms (JobTerms), valid until
``BID_SLACK_S`` after the bid deadline so that the requester may award it when the
winner's award lapses. A job announced again after a lapse or a slash (a later
``round``) is decided afresh if we lost or declined it before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from node.chain.errors import RpcUnreachable
from node.chain.interface import Chain
from node.chain.rpc import TRANSPORT_ERRORS
from node.engine.core import EngineContext
from node.engine.prover.fetches import ModelFetchError, NotYet
from node.engine.prover.jobs import HELD, ProverJobs, prover_job
from node.engine.prover.network import Pricing, ProverNetwork
from node.engine.prover.work import disagreement, payload
from node.metrics import Metrics
from node.store import Role
from protocol.market import ProverState, new_prover_job
from protocol.market import actions as ma
from protocol.market.planning import BID_SLACK_S, Quote, admit, price, submit_gas_estimate
from protocol.market.prover import BidPlaced, Declined, Reannounced
from protocol.messages import Bid, JobAnnouncement, sign_bid

logger = logging.getLogger(__name__)

S = ProverState
# One decision's chain reads and its wait for the model, at most.
DECIDE_TIMEOUT_S = 20.0
# How long a decision waits for a model download before deciding again later.
MODEL_WAIT_S = 5.0
# A decision that could not be taken is tried again this much later.
RETRY_S = 5.0
# The RPC away: these leave a decision for later instead of declining the job.
_UNREACHABLE: tuple[type[BaseException], ...] = (RpcUnreachable, *TRANSPORT_ERRORS)


class Bidding:
    """Announcements in, bids out (``ProverRole`` wires it)."""

    def __init__(
        self,
        jobs: ProverJobs,
        chain: Chain,
        network: ProverNetwork,
        *,
        private_key: bytes,
        market: bytes,
        pricing: Pricing,
        circuit: Callable[[EngineContext, int, float], Awaitable[Path]],
        rate: Callable[[], int],
        gas_price: Callable[[], int],
        metrics: Metrics | None,
    ) -> None:
        self.jobs, self.chain, self.network = jobs, chain, network
        self._key, self.market, self.pricing = private_key, market, pricing
        self.circuit, self.rate, self.gas_price, self.metrics = circuit, rate, gas_price, metrics
        self.deciding: set[int] = set()  # announcements being admitted and priced now
        self.retry_at: dict[int, float] = {}  # undecided jobs: when to try again
        self._fees: dict[int, int] = {}
        jobs.handle(
            ma.SendBid, lambda ctx, key, action: lambda: self.send_bid(ctx, key, action.bid)
        )

    async def on_announcement(self, ctx: EngineContext, inbound: object) -> None:
        """Bid on an announced job we can prove on time, or record why not."""
        job = payload(inbound)
        assert isinstance(job, JobAnnouncement)
        if job.chain_id != self.chain.chain_id or job.market != self.market:
            return
        if job.requester == self.jobs.me:
            return
        record = ctx.store.find_job(job.job_id, Role.PROVER)
        if record is None:
            key = ctx.store.add_job(Role.PROVER, new_prover_job(job, self.jobs.me))
        elif job.round > prover_job(record).job.round:
            if self.jobs.advance(ctx, record.key, Reannounced(job)) is None:
                return  # we hold (or failed) this job: a new round is not for us
            key = record.key
        elif record.state == S.SEEN.value:
            key = record.key  # seen before a restart or left undecided: decide now
        else:
            return
        self.start(ctx, key, force=True)

    def start(self, ctx: EngineContext, key: int, *, force: bool = False) -> None:
        """Decide the SEEN job ``key`` in a task of its own, unless one is deciding it or
        (without ``force``) its retry time has not come."""
        if key in self.deciding or (not force and self.jobs.clock() < self.retry_at.get(key, 0)):
            return
        self.deciding.add(key)
        ctx.spawn(lambda: self._decide_task(ctx, key))

    async def _decide_task(self, ctx: EngineContext, key: int) -> None:
        try:
            with trio.move_on_after(DECIDE_TIMEOUT_S) as scope:
                await self.decide(ctx, key)
            if scope.cancelled_caught:
                logger.info("job %d: deciding took over %g s; trying again later", key,
                            DECIDE_TIMEOUT_S)  # fmt: skip
                self.retry_at[key] = self.jobs.clock() + RETRY_S
        finally:
            self.deciding.discard(key)

    async def decide(self, ctx: EngineContext, key: int) -> None:
        """Bid on the SEEN job ``key`` or decline it with the reason; leave it SEEN if the
        decision must wait."""
        job = prover_job(ctx.store.get_job(key)).job
        try:
            reason = await self._refusal(ctx, job)
        except NotYet as exc:
            logger.info("job %d: not decided yet: %s", job.job_id, exc)
            self.retry_at[key] = self.jobs.clock() + RETRY_S
            return
        self.retry_at.pop(key, None)
        if reason is not None:
            if self.jobs.advance(ctx, key, Declined(reason)) is not None:
                self.jobs.reasons[key] = reason
                logger.info("job %d: declined: %s", job.job_id, reason)
            return
        fee = self._fees.pop(job.job_id)
        bid = sign_bid(self._key, self.chain.chain_id, self.market, job.terms, job_id=job.job_id,
                       fee=fee, expiry=job.bid_deadline + BID_SLACK_S,
                       peer_id=self.network.peer_id)  # fmt: skip
        self.jobs.advance(ctx, key, BidPlaced(bid))

    async def _refusal(self, ctx: EngineContext, job: JobAnnouncement) -> str | None:
        if job.collateral > self.pricing.max_collateral:
            return (
                f"the collateral {job.collateral} exceeds our limit {self.pricing.max_collateral}"
            )
        try:
            onchain = await trio.to_thread.run_sync(self.chain.get_job, job.job_id)
            chain_now = await trio.to_thread.run_sync(self.chain.timestamp)
            free = (await trio.to_thread.run_sync(self.chain.stake_of, self.chain.address)).free
            info = await trio.to_thread.run_sync(self.chain.get_model, job.model_id)
        except _UNREACHABLE as exc:
            raise NotYet(f"the chain cannot be reached: {exc}") from exc
        except Exception as exc:  # an unknown job or model: the contract reverts
            return f"the job cannot be read on-chain: {exc}"
        problem = disagreement(job, onchain, chain_now)
        if problem is not None:
            return problem
        if info.deprecated:
            return f"model {job.model_id} is deprecated"
        if free < job.collateral:
            return f"our free stake {free} does not cover the collateral {job.collateral}"
        # Won jobs only: a bid commits us to nothing, and acceptance checks the plan again.
        held = self.jobs.queue(ctx.store, HELD)
        admission = admit(job, info.constraint_count, self.rate(), held, int(self.jobs.clock()),
                          self.pricing.capacity)  # fmt: skip
        if not admission.admitted:
            return admission.reason
        try:
            await self.circuit(ctx, job.model_id, MODEL_WAIT_S)
        except ModelFetchError as exc:
            return f"model {job.model_id} is not available: {exc}"
        quote = await self._quote(job, info.n_public)
        self._fees[job.job_id] = quote.fee
        return quote.refusal

    async def _quote(self, job: JobAnnouncement, n_public: int) -> Quote:
        gas_price = await trio.to_thread.run_sync(self.gas_price)
        p = self.pricing
        gas = submit_gas_estimate(n_public)
        return price(job.constraint_count, p.price_per_1k, gas, gas_price, p.margin_bps,
                     job.max_fee)  # fmt: skip

    async def send_bid(self, ctx: EngineContext, key: int, bid: Bid) -> None:
        job = prover_job(ctx.store.get_job(key))
        try:
            await self.network.send_bid(job.job.requester_peer_id, bid)
        except Exception as exc:  # the requester unreachable directly; gossip may still carry it
            logger.warning("job %d: sending the bid failed: %r", job.job.job_id, exc)
        if self.metrics is not None:
            self.metrics.bids_sent.inc()
