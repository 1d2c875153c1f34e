"""The prover's bidding: admit and price an announced job, then sign a bid or decline.

``BiddingMixin`` is the half of ``ProverRole`` (prover.py) that answers
announcements. The job is stored SEEN before the decision (which reads the chain
and may fetch the model), so a decision a crash cuts short is taken again on a
later tick or announcement; ``_deciding`` keeps one decision per job at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from node.engine.core import EngineContext
from node.engine.prover_parts import ProverParts
from node.engine.prover_work import disagreement, payload, prover_job
from node.store import Role, Store
from protocol.market import ProverState, new_prover_job
from protocol.market.planning import Quote, admit, price, submit_gas_estimate
from protocol.market.prover import BidPlaced, Declined
from protocol.messages import Bid, JobAnnouncement, sign_bid

logger = logging.getLogger(__name__)

S = ProverState


class BiddingMixin(ProverParts):
    """Announcements in, bids out (prover.py supplies the attributes)."""

    gas_price: Callable[[], int]
    ensure_model: Callable[[int], Awaitable[Path]]
    reasons: dict[int, str]
    _deciding: set[int]
    _fees: dict[int, int]
    _models: dict[int, Path]

    # -- bidding ----------------------------------------------------------------

    async def on_announcement(self, ctx: EngineContext, inbound: object) -> None:
        """Bid on an announced job we can prove on time, or record why not."""
        job = payload(inbound)
        assert isinstance(job, JobAnnouncement)
        if job.chain_id != self.chain.chain_id or job.market != self.market:
            return
        if job.requester == self.me:
            return
        record = ctx.store.find_job(job.job_id, Role.PROVER)
        if record is None:
            key = ctx.store.add_job(Role.PROVER, new_prover_job(job, self.me, self.rescue_window))
        elif record.state == S.SEEN.value and record.key not in self._deciding:
            key = record.key  # seen before a restart and never decided: decide now
        else:
            return
        await self._decide(ctx, key)

    async def _decide(self, ctx: EngineContext, key: int) -> None:
        """Bid on the SEEN job ``key`` or decline it with the reason."""
        job = prover_job(ctx.store.get_job(key)).job
        self._deciding.add(key)
        try:
            reason = await self._refusal(ctx.store, job)
        finally:
            self._deciding.discard(key)
        if reason is not None:
            if self._advance(ctx, key, Declined(reason)) is not None:
                self.reasons[key] = reason
                logger.info("job %d: declined: %s", job.job_id, reason)
            return
        fee = self._fees.pop(job.job_id)
        bid = sign_bid(self._key, self.chain.chain_id, self.market, job_id=job.job_id, fee=fee,
                       expiry=job.bid_deadline, peer_id=self.network.peer_id)  # fmt: skip
        self._advance(ctx, key, BidPlaced(bid))

    async def _refusal(self, store: Store, job: JobAnnouncement) -> str | None:
        if job.collateral > self.pricing.max_collateral:
            return (
                f"the collateral {job.collateral} exceeds our limit {self.pricing.max_collateral}"
            )
        try:
            onchain = await trio.to_thread.run_sync(self.chain.get_job, job.job_id)
        except Exception as exc:  # unknown job or the RPC away
            return f"the job cannot be read on-chain: {exc}"
        problem = disagreement(job, onchain)
        if problem is not None:
            return problem
        try:
            free = (await trio.to_thread.run_sync(self.chain.stake_of, self.chain.address)).free
            info = await trio.to_thread.run_sync(self.chain.get_model, job.model_id)
            self._models[job.model_id] = await self.ensure_model(job.model_id)
        except Exception as exc:  # unknown model, no peer serving it, a corrupt artifact
            return f"model {job.model_id} is not available: {exc}"
        if info.deprecated:
            return f"model {job.model_id} is deprecated"
        if free < job.collateral:
            return f"our free stake {free} does not cover the collateral {job.collateral}"
        queue = self._queue(store)
        admission = admit(job, info.constraint_count, self.rate, queue, int(self.clock()),
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

    async def _send_bid(self, ctx: EngineContext, key: int, bid: Bid) -> None:
        job = prover_job(ctx.store.get_job(key))
        try:
            await self.network.send_bid(job.job.requester_peer_id, bid)
        except Exception as exc:  # the requester unreachable directly; gossip may still carry it
            logger.warning("job %d: sending the bid failed: %r", job.job.job_id, exc)
        if self.metrics is not None and not job.rescue:
            self.metrics.bids_sent.inc()
