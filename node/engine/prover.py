"""The prover role: admit, price and bid on announced jobs; prove and submit the ones won.

Theory of operation. Each job seen is a ``protocol.market.ProverJob`` in the store
(role "prover"; a rescue is a second record, role "rescuer": see prover_rescue.py);
every change goes through ``prover_step`` and is saved BEFORE its actions are
taken. An announcement is admitted (``planning.admit``: deadline feasible at the
node's measured proving rate, capacity free) and priced (``planning.price``: work +
submitProof gas x gas price + margin); a declined job keeps its reason, an admitted
one gets a signed bid, published on the bids topic and sent to the requester's
peer. JobAwarded names the winner. The input is taken only for a job awarded to us
(or offered to rescue), only from the job's requester account, and only if it
matches the on-chain commitment; it is kept in the store (mode 0600) until the job
leaves the pipeline. Proofs are made one at a time, earliest deadline first
(``planning.next_to_prove``), in the pool's worker processes, verified, stored,
then submitted through the intent journal (its unique rule forbids a second
submission). ProofAccepted pays us. The proving rate starts at ``DEFAULT_RATE``
and follows the measured proofs. Each tick shows our ``offer`` (free capacity,
price, measured rate, models held) to the heartbeat publisher (heartbeats.py).

After a crash the tick carries every job on from its stored state (prover_recovery.py).
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
from node.chain.types import JobStatus
from node.engine.core import Engine, EngineContext
from node.engine.heartbeats import HeartbeatPublisher, Offer, held_models
from node.engine.intents import IntentPendingError
from node.engine.prover_bids import BiddingMixin
from node.engine.prover_net import Pricing, ProverNetwork
from node.engine.prover_recovery import RecoveryMixin
from node.engine.prover_rescue import RescueMixin
from node.engine.prover_work import (
    PROOF_WORDS,
    InputRefusedError,
    MadeProof,
    check_input,
    payload,
    prove_input,
    prover_job,
)
from node.metrics import Metrics
from node.proving import ProverPool
from node.store import DuplicateIntentError, JobRecord, Role, Store
from protocol.market import ProverJob, ProverState, prover_step
from protocol.market import actions as ma
from protocol.market.errors import IllegalTransition
from protocol.market.planning import (
    QueuedJob,
    next_to_prove,
)
from protocol.market.prover import (
    InputReceived,
    ProofReady,
    ProvingFailed,
    ProvingStarted,
    award_event,
    rescue_event,
)
from protocol.messages import InputDelivery, JobAnnouncement

logger = logging.getLogger(__name__)

S = ProverState
# Constraints proved per second before any proof is measured: the pure backend proves a
# 2^14 circuit cold in 12.7 s (bench/results/proving.md), ~1,300/s; rounded down.
DEFAULT_RATE = 1_000
# Weight of the newest measurement in the running proving rate (an exponential average).
RATE_WEIGHT = 0.5
# A bid stays valid until the proof deadline: the requester may award it any time before.
ACTIVE = (S.BID, S.WON, S.RESCUE, S.INPUT_RECEIVED, S.PROVING, S.SUBMITTED)
# Jobs won (or rescues taken) and not yet settled: each holds one of the capacity's slots.
HELD = (S.WON, S.INPUT_RECEIVED, S.PROVING, S.SUBMITTED)
# A heartbeat's capacity field is a uint16 (protocol.messages.ProverHeartbeat).
MAX_HEARTBEAT_CAPACITY = 0xFFFF
# A JobAwarded landing just before the bid deadline reaches us after the chain sync's
# confirmations: a bid is given up as lost only this long after its deadline.
AWARD_GRACE_S = 120
_ROLES = (Role.PROVER, Role.RESCUER)


class ProverRole(BiddingMixin, RecoveryMixin, RescueMixin):
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
        rescue: bool = False,
        gas_price: Callable[[], int] | None = None,
    ) -> None:
        self.chain, self.network, self.pool = chain, network, pool
        self._key, self.market = private_key, bytes.fromhex(market[2:])
        self.me = bytes.fromhex(chain.address[2:])
        self.pricing, self.ensure_model, self.metrics = pricing, ensure_model, metrics
        self.clock, self.rate, self.rescue_window = clock, rate, rescue_window
        self.rate_measured = False  # whether ``rate`` comes from a proof made here
        self.heartbeats = HeartbeatPublisher(network, self.me)
        self.rescue = rescue  # prove others' overdue jobs (prover_rescue.py)
        self.gas_price = gas_price or (lambda: 0)
        self.reasons: dict[int, str] = {}
        self._proving: int | None = None  # the job key this process is proving
        self._deciding: set[int] = set()  # announcements being admitted and priced now
        self._submitting: set[int] = set()  # submissions not yet journaled
        self._ask_at: dict[int, int] = {}  # when to ask again for a won job's missing input
        self._swept = False  # whether the market balance was checked since start
        self._fees: dict[int, int] = {}
        self._models: dict[int, Path] = {}
        self._init_rescue()

    def register(self, engine: Engine) -> None:
        """Add the prover's handlers to ``engine``."""
        engine.on_message(JobAnnouncement, self.on_announcement)
        engine.on_message(InputDelivery, self.on_input)
        for name in ("JobAwarded", "JobCancelled", "ProofAccepted", "ProverSlashed"):
            engine.on_event("JobMarket", name, self.on_chain_event)
        engine.on_tick(self.on_tick)

    def _records(self, store: Store, states: tuple[ProverState, ...]) -> list[JobRecord]:
        """Our jobs and rescues in ``states``, oldest first."""
        wanted = [s.value for s in states]
        found = [r for role in _ROLES for r in store.list_jobs(role, wanted)]
        return sorted(found, key=lambda r: r.key)

    def _queue(self, store: Store) -> list[QueuedJob]:
        """Jobs we hold or may be awarded, as the planner sees them."""
        now = int(self.clock())
        queue = []
        for record in self._records(store, ACTIVE):
            job = prover_job(record)
            ready = now if job.state is not S.BID else job.job.bid_deadline
            queue.append(QueuedJob(job.job.job_id, job.job.constraint_count,
                                   job.work_deadline, ready))  # fmt: skip
        return queue

    # -- award and input --------------------------------------------------------

    def on_chain_event(self, ctx: EngineContext, event: ChainEvent) -> None:
        """Advance our job (and our rescue) named by a JobMarket event."""
        for role in _ROLES:
            record = ctx.store.find_job(int(event.args["jobId"]), role)
            if record is not None:
                self._on_event(ctx, record, event)

    def _on_event(self, ctx: EngineContext, record: JobRecord, event: ChainEvent) -> None:
        job = prover_job(record)
        step: ma.Event
        if event.name == "JobAwarded":
            prover = bytes.fromhex(str(event.args["prover"])[2:])
            step = award_event(job, prover, int(event.args["fee"]))
            if prover == self.me and job.state is S.BID and self.metrics is not None:
                self.metrics.bids_won.inc()
        elif event.name == "JobCancelled":
            step = ma.ChainJobCancelled()
        elif event.name == "ProofAccepted":
            solver = bytes.fromhex(str(event.args["prover"])[2:])
            rescued = bool(event.args["rescued"])
            step = rescue_event(job, solver) if rescued else ma.ChainProofAccepted()
        else:
            step = ma.ChainProverSlashed()
        self._advance(ctx, record.key, step, defer=True)

    async def on_input(self, ctx: EngineContext, inbound: object) -> None:
        """Take the input of a job awarded to us, from its requester, matching its commitment."""
        delivery = payload(inbound)
        assert isinstance(delivery, InputDelivery)
        record = ctx.store.find_job(delivery.job_id, Role.PROVER)
        if record is None or prover_job(record).state not in (S.BID, S.WON):
            record = ctx.store.find_job(delivery.job_id, Role.RESCUER)
            if record is None or prover_job(record).state is not S.RESCUE:
                return  # not a job we bid on or offered to rescue (or its input is here)
        onchain = await trio.to_thread.run_sync(self.chain.get_job, delivery.job_id)
        if prover_job(record).state is S.BID and onchain.prover.lower() == "0x" + self.me.hex():
            # The award is on-chain before our sync confirms it: the input may come first.
            self._advance(ctx, record.key, ma.ChainJobAwarded(self.me, onchain.fee))
            if self.metrics is not None:
                self.metrics.bids_won.inc()
        state = prover_job(ctx.store.get_job(record.key)).state
        if state is not S.WON and not (state is S.RESCUE and onchain.status is JobStatus.AWARDED):
            return  # not awarded to us, or no longer rescuable
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
        if self._proving is not None:
            return
        ready = {
            prover_job(r).job.job_id: r.key for r in self._records(ctx.store, (S.INPUT_RECEIVED,))
        }
        queue = [q for q in self._queue(ctx.store) if q.job_id in ready]
        chosen = next_to_prove(queue, int(self.clock()))
        if chosen is None:
            return
        key = ready[chosen.job_id]
        self._proving = key
        ctx.spawn(lambda: self._prove(ctx, key))

    async def _prove(self, ctx: EngineContext, key: int) -> None:
        try:
            if self._advance(ctx, key, ProvingStarted()) is None:
                return
            record = ctx.store.get_job(key)
            if record.proof is None:  # a proof made before a crash is not made again
                made = await self._make(ctx, key, record)
                if made is None:
                    return
                self._measured(made)
                ctx.store.set_proof(key, [*made.words, *made.outputs])
            self._advance(ctx, key, ProofReady())
        finally:
            self._proving = None
            self._kick(ctx)

    async def _make(self, ctx: EngineContext, key: int, record: JobRecord) -> MadeProof | None:
        """The proof of job ``key``'s held input, or None (ProvingFailed stepped) on failure."""
        job, held = prover_job(record), ctx.store.get_input(key)
        try:
            assert held is not None, "the input is gone"
            circuit_dir = await self._circuit(job.job.model_id)
            return await trio.to_thread.run_sync(
                prove_input, self.pool, circuit_dir, held.input_q, held.salt
            )
        except Exception as exc:  # a failed proof is retried by the lifecycle
            logger.warning("job %d: proving failed: %r", job.job.job_id, exc)
            self._advance(ctx, key, ProvingFailed(repr(exc)))
            return None

    def _measured(self, made: MadeProof) -> None:
        if self.metrics is not None:
            self.metrics.observe_proof(made.seconds)
        measured = made.constraints / max(made.seconds, 1e-3)
        self.rate = max(1, round(RATE_WEIGHT * measured + (1 - RATE_WEIGHT) * self.rate))
        self.rate_measured = True

    def offer(self, store: Store) -> Offer:
        """What this prover offers now, for its heartbeat."""
        free = max(0, self.pricing.capacity - len(self._records(store, HELD)))
        rate = self.rate if self.rate_measured else 0
        return Offer(min(free, MAX_HEARTBEAT_CAPACITY), self.pricing.price_per_1k, rate,
                     held_models(store))  # fmt: skip

    async def _submit(self, ctx: EngineContext, key: int) -> None:
        self._submitting.add(key)
        try:
            await self._send_proof(ctx, key)
        finally:
            self._submitting.discard(key)

    async def _send_proof(self, ctx: EngineContext, key: int) -> None:
        """Journal and send submitProof with job ``key``'s stored proof (once per attempt)."""
        record = ctx.store.get_job(key)
        job = prover_job(record)
        if record.proof is None:
            self._advance(ctx, key, ma.TxFailed("no stored proof; proving again"))
            return
        words, outputs = record.proof[:PROOF_WORDS], record.proof[PROOF_WORDS:]
        job_id = job.job.job_id
        params = {"job_id": str(job_id), "attempt": job.attempts}
        try:
            await ctx.executor.execute(
                "submit_proof", key, params, lambda c: c.submit_proof(job_id, words, outputs)
            )
        except (ContractRevert, TransactionRejected) as exc:
            logger.warning("job %d: submitProof refused: %s", job_id, exc)
            self._advance(ctx, key, ma.TxFailed(str(exc)))
        except (IntentPendingError, DuplicateIntentError) as exc:
            # Open or mined already: reconciliation and ProofAccepted complete it.
            logger.info("job %d: submitProof not sent again: %s", job_id, exc)

    async def _withdraw(self, ctx: EngineContext, key: int) -> None:
        try:
            await ctx.executor.execute(
                "withdraw", key, {"contract": "JobMarket"}, lambda c: c.withdraw()
            )
        except (ContractRevert, TransactionRejected, IntentPendingError, DuplicateIntentError) as e:
            logger.info("job %d: nothing withdrawn: %s", key, e)

    # -- stepping ---------------------------------------------------------------

    async def on_tick(self, ctx: EngineContext, trio_now: float) -> None:
        """Deadlines, undecided announcements, work a crash or a failed send interrupted, and
        the heartbeat."""
        now = int(self.clock())
        if not self._swept:
            self._swept = True
            ctx.spawn(lambda: self._sweep(ctx))
        for record in self._records(ctx.store, (S.SEEN,)):
            if record.key not in self._deciding:
                await self._seen_again(ctx, record, now)
        for record in self._records(ctx.store, ACTIVE):
            self._resume(ctx, record, now)
            job = prover_job(ctx.store.get_job(record.key))
            if job.state is S.BID and now <= job.job.bid_deadline + AWARD_GRACE_S:
                continue
            self._advance(ctx, record.key, ma.Tick(), now=now)
        if self.rescue:
            await self._scan_rescues(ctx, now)
        self._kick(ctx)
        heartbeat = self.heartbeats.due(self.offer(ctx.store), trio_now)
        if heartbeat is not None:
            ctx.spawn(lambda: self.heartbeats.publish(heartbeat))

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
        current = prover_job(ctx.store.get_job(key))
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
            self._submitting.add(key)
            work = lambda: self._submit(ctx, key)  # noqa: E731
        elif isinstance(action, ma.Withdraw):
            work = lambda: self._withdraw(ctx, key)  # noqa: E731
        elif isinstance(action, ma.ForgetInput):
            ctx.store.forget_input(key)
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
