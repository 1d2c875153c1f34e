"""The prover's bidding: admit and price an announced job, then sign a bid or decline.

The job is stored SEEN before the decision (which reads the chain and may fetch the
model), so a decision a crash cuts short is taken again on a later tick or
announcement; ``deciding`` keeps one decision per job at a time. A bid commits us to
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

from node.chain.interface import Chain
from node.engine.core import EngineContext
from node.engine.prover.jobs import ProverJobs, prover_job
from node.engine.prover.network import Pricing, ProverNetwork
from node.engine.prover.work import disagreement, payload
from node.metrics import Metrics
from node.store import Role, Store
from protocol.market import ProverState, new_prover_job
from protocol.market import actions as ma
from protocol.market.planning import BID_SLACK_S, Quote, admit, price, submit_gas_estimate
from protocol.market.prover import BidPlaced, Declined, Reannounced
from protocol.messages import Bid, JobAnnouncement, sign_bid

logger = logging.getLogger(__name__)

S = ProverState


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
        circuit: Callable[[int], Awaitable[Path]],
        rate: Callable[[], int],
        gas_price: Callable[[], int],
        metrics: Metrics | None,
    ) -> None:
        self.jobs, self.chain, self.network = jobs, chain, network
        self._key, self.market, self.pricing = private_key, market, pricing
        self.circuit, self.rate, self.gas_price, self.metrics = circuit, rate, gas_price, metrics
        self.deciding: set[int] = set()  # announcements being admitted and priced now
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
        elif record.state == S.SEEN.value and record.key not in self.deciding:
            key = record.key  # seen before a restart and never decided: decide now
        else:
            return
        await self.decide(ctx, key)

    async def decide(self, ctx: EngineContext, key: int) -> None:
        """Bid on the SEEN job ``key`` or decline it with the reason."""
        job = prover_job(ctx.store.get_job(key)).job
        self.deciding.add(key)
        try:
            reason = await self._refusal(ctx.store, job)
        finally:
            self.deciding.discard(key)
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

    async def _refusal(self, store: Store, job: JobAnnouncement) -> str | None:
        if job.collateral > self.pricing.max_collateral:
            return (
                f"the collateral {job.collateral} exceeds our limit {self.pricing.max_collateral}"
            )
        try:
            onchain = await trio.to_thread.run_sync(self.chain.get_job, job.job_id)
            chain_now = await trio.to_thread.run_sync(self.chain.timestamp)
        except Exception as exc:  # unknown job or the RPC away
            return f"the job cannot be read on-chain: {exc}"
        problem = disagreement(job, onchain, chain_now)
        if problem is not None:
            return problem
        try:
            free = (await trio.to_thread.run_sync(self.chain.stake_of, self.chain.address)).free
            info = await trio.to_thread.run_sync(self.chain.get_model, job.model_id)
            await self.circuit(job.model_id)
        except Exception as exc:  # unknown model, no peer serving it, a corrupt artifact
            return f"model {job.model_id} is not available: {exc}"
        if info.deprecated:
            return f"model {job.model_id} is deprecated"
        if free < job.collateral:
            return f"our free stake {free} does not cover the collateral {job.collateral}"
        queue = self.jobs.queue(store)
        admission = admit(job, info.constraint_count, self.rate(), queue, int(self.jobs.clock()),
                          self.pricing.capacity)  # fmt: skip
        if not admission.admitted:
            return admission.reason
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
