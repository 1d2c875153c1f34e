"""The prover role: admit, price and bid on announced jobs; prove and submit the ones won.

Theory of operation. Each job seen is a ``protocol.market.ProverJob`` in the store
(role "prover"); every change goes through ``prover_step`` and is saved BEFORE its
actions are taken. An announcement is admitted (``planning.admit``: deadline feasible
at the node's measured proving rate, capacity free) and priced (``planning.price``:
work + submitProof gas x gas price + margin); a declined job keeps its reason, an
admitted one gets a signed bid, published on the bids topic and sent to the
requester's peer. JobAwarded names the winner. The input is taken only for a job
awarded to us, only from the job's requester account, and only if it matches the
on-chain commitment; proofs are made one at a time, earliest deadline first
(``planning.next_to_prove``), in the pool's worker processes, verified, then
submitted through the intent journal (its unique rule forbids a second submission).
ProofAccepted pays us. The proving rate starts at ``DEFAULT_RATE`` and follows the
measured proofs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from node.chain.errors import ContractRevert, TransactionRejected
from node.chain.events import ChainEvent
from node.chain.interface import Chain
from node.chain.types import JobInfo, JobStatus
from node.engine.core import Engine, EngineContext
from node.engine.intents import IntentPendingError
from node.engine.prover_net import Pricing, ProverNetwork
from node.engine.prover_work import InputRefusedError, MadeProof, check_input, prove_input
from node.metrics import Metrics
from node.proving import ProverPool
from node.store import IntentStatus, JobRecord, Role, Store
from protocol.market import ProverJob, ProverState, new_prover_job, prover_step
from protocol.market import actions as ma
from protocol.market.errors import IllegalTransition
from protocol.market.planning import (
    QueuedJob,
    Quote,
    admit,
    next_to_prove,
    price,
    submit_gas_estimate,
)
from protocol.market.prover import (
    BidPlaced,
    Declined,
    InputReceived,
    ProofReady,
    ProvingFailed,
    ProvingStarted,
    award_event,
)
from protocol.messages import (
    Bid,
    InputDelivery,
    JobAnnouncement,
    Verified,
    sign_bid,
)

logger = logging.getLogger(__name__)

S = ProverState
# Constraints proved per second before any proof is measured: the pure backend proves a
# 2^14 circuit cold in 12.7 s (bench/results/proving.md), ~1,300/s; rounded down.
DEFAULT_RATE = 1_000
# Weight of the newest measurement in the running proving rate (an exponential average).
RATE_WEIGHT = 0.5
# A bid stays valid until the proof deadline: the requester may award it any time before.
ACTIVE = (S.BID, S.WON, S.INPUT_RECEIVED, S.PROVING, S.SUBMITTED)
QUEUED = (S.WON, S.INPUT_RECEIVED, S.PROVING, S.SUBMITTED)
# A JobAwarded landing just before the bid deadline reaches us after the chain sync's
# confirmations: a bid is given up as lost only this long after its deadline.
AWARD_GRACE_S = 120
_FAILED = (IntentStatus.FAILED, IntentStatus.REVERTED, IntentStatus.DROPPED)


class ProverRole:
    """Registers the announcement and input handlers, the JobMarket events and a tick."""

    def __init__(
        self,
        chain: Chain,
        network: ProverNetwork,
        pool: ProverPool,
        *,
        private_key: bytes,
        market: str,
        pricing: Pricing,
        ensure_model: Callable[[int], Awaitable[Path]],
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        rate: int = DEFAULT_RATE,
        rescue_window: int = 3600,
        gas_price: Callable[[], int] | None = None,
    ) -> None:
        self.chain, self.network, self.pool = chain, network, pool
        self._key, self.market = private_key, bytes.fromhex(market[2:])
        self.me = bytes.fromhex(chain.address[2:])
        self.pricing, self.ensure_model, self.metrics = pricing, ensure_model, metrics
        self.clock, self.rate, self.rescue_window = clock, rate, rescue_window
        self.gas_price = gas_price or (lambda: 0)
        self.reasons: dict[int, str] = {}
        self._proving = False
        self._fees: dict[int, int] = {}
        self._models: dict[int, Path] = {}
        self._made: dict[int, MadeProof] = {}

    def register(self, engine: Engine) -> None:
        """Add the prover's handlers to ``engine``."""
        engine.on_message(JobAnnouncement, self.on_announcement)
        engine.on_message(InputDelivery, self.on_input)
        for name in ("JobAwarded", "JobCancelled", "ProofAccepted", "ProverSlashed"):
            engine.on_event("JobMarket", name, self.on_chain_event)
        engine.on_tick(self.on_tick)

    # -- bidding ----------------------------------------------------------------

    async def on_announcement(self, ctx: EngineContext, inbound: object) -> None:
        """Bid on an announced job we can prove on time, or record why not."""
        job = _payload(inbound)
        assert isinstance(job, JobAnnouncement)
        if job.chain_id != self.chain.chain_id or job.market != self.market:
            return
        if job.requester == self.me or ctx.store.find_job(job.job_id, Role.PROVER) is not None:
            return
        key = ctx.store.add_job(Role.PROVER, new_prover_job(job, self.me, self.rescue_window))
        reason = await self._refusal(ctx.store, job)
        if reason is not None:
            self._advance(ctx, key, Declined(reason))
            self.reasons[key] = reason
            logger.info("job %d: declined: %s", job.job_id, reason)
            return
        fee = self._fees.pop(job.job_id)
        bid = sign_bid(
            self._key,
            self.chain.chain_id,
            self.market,
            job_id=job.job_id,
            fee=fee,
            expiry=job.bid_deadline,
            peer_id=self.network.peer_id,
        )
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
        disagreement = _disagreement(job, onchain)
        if disagreement is not None:
            return disagreement
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

    def _queue(self, store: Store) -> list[QueuedJob]:
        """Jobs we hold or may be awarded, as the planner sees them."""
        now = int(self.clock())
        queue = []
        for record in store.list_jobs(Role.PROVER, [s.value for s in ACTIVE]):
            job = _job(record)
            ready = now if job.state is not S.BID else job.job.bid_deadline
            queue.append(QueuedJob(job.job.job_id, job.job.constraint_count,
                                   job.work_deadline, ready))  # fmt: skip
        return queue

    async def _send_bid(self, ctx: EngineContext, key: int, bid: Bid) -> None:
        job = _job(ctx.store.get_job(key))
        try:
            await self.network.send_bid(job.job.requester_peer_id, bid)
        except Exception as exc:  # the requester unreachable directly; gossip may still carry it
            logger.warning("job %d: sending the bid failed: %r", job.job.job_id, exc)
        if self.metrics is not None:
            self.metrics.bids_sent.inc()

    # -- award and input --------------------------------------------------------

    def on_chain_event(self, ctx: EngineContext, event: ChainEvent) -> None:
        """Advance our job named by a JobMarket event."""
        record = ctx.store.find_job(int(event.args["jobId"]), Role.PROVER)
        if record is None:
            return
        job = _job(record)
        step: ma.Event
        if event.name == "JobAwarded":
            prover = bytes.fromhex(str(event.args["prover"])[2:])
            step = award_event(job, prover, int(event.args["fee"]))
            if prover == self.me and job.state is S.BID and self.metrics is not None:
                self.metrics.bids_won.inc()
        elif event.name == "JobCancelled":
            step = ma.ChainJobCancelled()
        elif event.name == "ProofAccepted":
            rescuer = bytes.fromhex(str(event.args["prover"])[2:])
            rescued = bool(event.args["rescued"])
            step = ma.ChainProofRescued(rescuer) if rescued else ma.ChainProofAccepted()
        else:
            step = ma.ChainProverSlashed()
        self._advance(ctx, record.key, step, defer=True)

    async def on_input(self, ctx: EngineContext, inbound: object) -> None:
        """Take the input of a job awarded to us, from its requester, matching its commitment."""
        delivery = _payload(inbound)
        assert isinstance(delivery, InputDelivery)
        record = ctx.store.find_job(delivery.job_id, Role.PROVER)
        if record is None or _job(record).state not in (S.BID, S.WON):
            return  # not a job we bid on (or its input is already here)
        onchain = await trio.to_thread.run_sync(self.chain.get_job, delivery.job_id)
        if _job(record).state is S.BID and onchain.prover.lower() == "0x" + self.me.hex():
            # The award is on-chain before our sync confirms it: the input may come first.
            self._advance(ctx, record.key, ma.ChainJobAwarded(self.me, onchain.fee))
            if self.metrics is not None:
                self.metrics.bids_won.inc()
        if _job(ctx.store.get_job(record.key)).state is not S.WON:
            return  # not awarded to us
        sender = getattr(inbound, "account", None)
        if sender is None or "0x" + sender.hex() != onchain.requester.lower():
            logger.warning("job %d: an input from someone other than the requester", record.key)
            return
        circuit_dir = await self._circuit(onchain.model_id)
        try:
            await trio.to_thread.run_sync(check_input, circuit_dir, delivery.values,
                                          delivery.salt, onchain.input_commitment)  # fmt: skip
        except InputRefusedError as exc:
            self.reasons[record.key] = str(exc)
            logger.warning("job %d: input refused: %s", delivery.job_id, exc)
            return
        ctx.store.put_input(record.key, delivery.values, delivery.salt)
        self._advance(ctx, record.key, InputReceived())

    async def _circuit(self, model_id: int) -> Path:
        if model_id not in self._models:
            self._models[model_id] = await self.ensure_model(model_id)
        return self._models[model_id]

    # -- proving ----------------------------------------------------------------

    def _kick(self, ctx: EngineContext) -> None:
        """Start proving the ready job with the earliest deadline, unless one is proving."""
        if self._proving:
            return
        ready = {
            _job(r).job.job_id: r.key
            for r in ctx.store.list_jobs(Role.PROVER, [S.INPUT_RECEIVED.value])
        }
        queue = [q for q in self._queue(ctx.store) if q.job_id in ready]
        chosen = next_to_prove(queue, int(self.clock()))
        if chosen is None:
            return
        self._proving = True
        ctx.spawn(lambda: self._prove(ctx, ready[chosen.job_id]))

    async def _prove(self, ctx: EngineContext, key: int) -> None:
        try:
            if self._advance(ctx, key, ProvingStarted()) is None:
                return
            job, held = _job(ctx.store.get_job(key)), ctx.store.get_input(key)
            try:
                assert held is not None, "the input is gone"
                circuit_dir = await self._circuit(job.job.model_id)
                made = await trio.to_thread.run_sync(
                    prove_input, self.pool, circuit_dir, held.input_q, held.salt
                )
            except Exception as exc:  # a failed proof is retried by the lifecycle
                logger.warning("job %d: proving failed: %r", job.job.job_id, exc)
                self._advance(ctx, key, ProvingFailed(repr(exc)))
                return
            self._measured(made)
            ctx.store.set_proof(key, [*made.words, *made.outputs])
            self._made[key] = made
            self._advance(ctx, key, ProofReady())
        finally:
            self._proving = False
            self._kick(ctx)

    def _measured(self, made: MadeProof) -> None:
        if self.metrics is not None:
            self.metrics.observe_proof(made.seconds)
        measured = made.constraints / max(made.seconds, 1e-3)
        self.rate = max(1, round(RATE_WEIGHT * measured + (1 - RATE_WEIGHT) * self.rate))

    async def _submit(self, ctx: EngineContext, key: int) -> None:
        job = _job(ctx.store.get_job(key))
        made = self._made.get(key)
        if made is None:
            self._advance(ctx, key, ma.TxFailed("the proof was lost (restart); proving again"))
            return
        job_id = job.job.job_id
        params = {"job_id": str(job_id), "attempt": job.attempts}
        try:
            await ctx.executor.execute(
                "submit_proof", key, params,
                lambda c: c.submit_proof(job_id, made.words, made.outputs),
            )  # fmt: skip
        except (ContractRevert, TransactionRejected) as exc:
            logger.warning("job %d: submitProof refused: %s", job_id, exc)
            self._advance(ctx, key, ma.TxFailed(str(exc)))
        except IntentPendingError:
            return  # reconciled on a tick; ProofAccepted completes it

    async def _withdraw(self, ctx: EngineContext, key: int) -> None:
        try:
            await ctx.executor.execute(
                "withdraw", key, {"contract": "JobMarket"}, lambda c: c.withdraw()
            )
        except (ContractRevert, TransactionRejected, IntentPendingError) as exc:
            logger.info("job %d: nothing withdrawn: %s", key, exc)

    # -- stepping ---------------------------------------------------------------

    async def on_tick(self, ctx: EngineContext, _trio_now: float) -> None:
        """Deadlines, and submissions whose transaction failed."""
        now = int(self.clock())
        for record in ctx.store.list_jobs(Role.PROVER, [s.value for s in ACTIVE]):
            job = _job(record)
            if job.state is S.SUBMITTED and self._submit_failed(ctx.store, record.key):
                self._advance(ctx, record.key, ma.TxFailed("submitProof failed"))
            if job.state is S.BID and now <= job.job.bid_deadline + AWARD_GRACE_S:
                continue
            self._advance(ctx, record.key, ma.Tick(), now=now)
        self._kick(ctx)

    def _submit_failed(self, store: Store, key: int) -> bool:
        job = _job(store.get_job(key))
        mine = [i for i in store.intents_for_job(key) if i.kind == "submit_proof"
                and i.params.get("attempt") == job.attempts]  # fmt: skip
        return bool(mine) and all(i.status in _FAILED for i in mine)

    def _advance(
        self,
        ctx: EngineContext,
        key: int,
        event: ma.Event,
        *,
        now: int | None = None,
        defer: bool = False,
    ) -> ProverJob | None:
        """Step job ``key``, save it, then act; None when ``event`` does not apply now."""
        current = _job(ctx.store.get_job(key))
        try:
            job, actions = prover_step(current, event, int(self.clock()) if now is None else now)
        except IllegalTransition as exc:
            logger.debug("prover job %d: %s", key, exc)
            return None
        if job != current:
            ctx.store.save_job(key, job)
        for action in actions:
            self._act(ctx, key, action, defer)
        return job

    def _act(self, ctx: EngineContext, key: int, action: ma.Action, defer: bool) -> None:
        work: Callable[[], Awaitable[None]] | None = None
        if isinstance(action, ma.SendBid):
            bid = action.bid
            work = lambda: self._send_bid(ctx, key, bid)  # noqa: E731
        elif isinstance(action, ma.SubmitProof):
            work = lambda: self._submit(ctx, key)  # noqa: E731
        elif isinstance(action, ma.Withdraw):
            work = lambda: self._withdraw(ctx, key)  # noqa: E731
        elif isinstance(action, ma.ForgetInput):
            ctx.store.forget_input(key)
            self._made.pop(key, None)
        elif isinstance(action, ma.ReportFailure):
            self.reasons[key] = action.reason
            logger.error("prover job %d: %s", key, action.reason)
        elif isinstance(action, ma.Prove):
            ctx.defer(self._kick_later(ctx)) if defer else self._kick(ctx)
        if work is not None:
            (ctx.defer if defer else ctx.spawn)(work)

    def _kick_later(self, ctx: EngineContext) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            self._kick(ctx)

        return run


def _disagreement(job: JobAnnouncement, onchain: JobInfo) -> str | None:
    """Why the announcement misstates the on-chain job (protocol.messages.JobAnnouncement)."""
    if onchain.status is not JobStatus.OPEN:
        return f"the job is {onchain.status.name.lower()} on-chain"
    announced = (job.requester.hex(), job.model_id, job.input_commitment, job.max_fee,
                 job.collateral, job.bid_deadline, job.proof_deadline)  # fmt: skip
    actual = (onchain.requester[2:].lower(), onchain.model_id, onchain.input_commitment,
              onchain.max_fee, onchain.collateral, onchain.bid_deadline,
              onchain.proof_deadline)  # fmt: skip
    return None if announced == actual else "the announcement disagrees with the on-chain job"


def _payload(inbound: object) -> object:
    message = getattr(inbound, "message", inbound)
    return message.message if isinstance(message, Verified) else message


def _job(record: JobRecord) -> ProverJob:
    job = record.job
    assert isinstance(job, ProverJob)
    return job
