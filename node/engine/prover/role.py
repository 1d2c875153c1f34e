"""The prover role: bid on announced jobs, accept the ones won once their input checks out,
prove them and get paid.

Theory of operation. Each job seen is a ``protocol.market.ProverJob`` in the store;
every change goes through ``ProverJobs.advance`` and is saved BEFORE its actions are
taken. The stages, one module each, composed here:

- ``Bidding``: an announcement is decided in a task of its own: admitted
  (``planning.admit``: the bid deadline near enough, the accept window long enough,
  the proof window feasible at the node's measured rate, a slot free among the jobs
  won; the model fetched in its own task, fetches.py) and priced (``planning.price``:
  work + acceptJob and submitProof gas x gas price + margin); a declined job keeps its
  reason, an admitted one gets a signed bid over the job's terms, published on the
  bids topic and sent to the requester's peer. A bid locks nothing.
- ``Acceptance``: JobAwarded names the winner; the input is taken only for a job
  awarded to us, only from its requester's account, and only if it can be proved
  (range, commitment, every layer's range checks, a satisfying witness) and our plan
  keeps every accepted job on time; then acceptJob locks our collateral. Otherwise
  the award lapses at its accept deadline and costs us nothing.
- ``Proving``: accepted jobs are proved one at a time, earliest deadline first
  (``planning.next_to_prove``), in the pool's worker processes, verified, stored,
  then submitted through the intent journal. ProofAccepted pays us.
- ``Recovery``: what a crash or a failed send interrupted, carried on from the
  stored state on every tick.

Each tick shows our ``offer`` (free capacity, price, measured rate, models held) to
the heartbeat publisher (heartbeats.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from node.chain.events import ChainEvent
from node.chain.interface import Chain
from node.engine.core import Engine, EngineContext
from node.engine.prover.acceptance import Acceptance
from node.engine.prover.bidding import Bidding
from node.engine.prover.fetches import ModelFetches
from node.engine.prover.heartbeats import HeartbeatPublisher, Offer, held_models
from node.engine.prover.jobs import ACTIVE, HELD, ProverJobs, prover_job
from node.engine.prover.network import Pricing, ProverNetwork
from node.engine.prover.proving import DEFAULT_RATE, Proving
from node.engine.prover.recovery import Recovery
from node.metrics import Metrics
from node.proving import ProverPool
from node.store import JobRecord, Role, Store
from protocol.market import ProverState
from protocol.market import actions as ma
from protocol.market.prover import award_event
from protocol.messages import InputDelivery, JobAnnouncement

logger = logging.getLogger(__name__)

S = ProverState
# A heartbeat's capacity field is a uint16 (protocol.messages.ProverHeartbeat).
MAX_HEARTBEAT_CAPACITY = 0xFFFF
# A JobAwarded landing just before our bid expires reaches us after the chain sync's
# confirmations: an expired bid is given up as lost only this long after its expiry.
AWARD_GRACE_S = 120
_CHAIN_EVENTS = ("JobAwarded", "JobAccepted", "JobCancelled", "ProofAccepted", "ProverSlashed")


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
        gas_price: Callable[[], int] | None = None,
    ) -> None:
        self.chain, self.network, self.pricing, self.metrics = chain, network, pricing, metrics
        self.me = bytes.fromhex(chain.address[2:])
        self.ensure_model = ensure_model
        self.jobs = ProverJobs(clock, self.me)
        self.fetches = ModelFetches(self._circuit, clock)
        self.proving = Proving(self.jobs, pool, circuit=self._circuit, metrics=metrics, rate=rate)
        self.bidding = Bidding(
            self.jobs,
            chain,
            network,
            private_key=private_key,
            market=bytes.fromhex(market[2:]),
            pricing=pricing,
            circuit=self.fetches.wait,
            rate=self._rate,
            gas_price=gas_price or (lambda: 0),
            metrics=metrics,
        )
        self.acceptance = Acceptance(
            self.jobs, chain, network, circuit=self._circuit, rate=self._rate, metrics=metrics
        )
        self.recovery = Recovery(self.jobs, chain, self.bidding, self.acceptance, self.proving)
        self.heartbeats = HeartbeatPublisher(network, self.me)
        self._models: dict[int, Path] = {}
        self._swept = False  # whether the market balance was checked since start

    @property
    def reasons(self) -> dict[int, str]:
        """Why jobs were declined, refused or failed (job key -> reason)."""
        return self.jobs.reasons

    @property
    def rate(self) -> int:
        """The proving rate the planner uses: measured, or the default until then."""
        return self.proving.rate

    def _rate(self) -> int:
        return self.proving.rate

    def register(self, engine: Engine) -> None:
        """Add the prover's handlers to ``engine``."""
        engine.on_message(JobAnnouncement, self.bidding.on_announcement)
        engine.on_message(InputDelivery, self.acceptance.on_input)
        for name in _CHAIN_EVENTS:
            engine.on_event("JobMarket", name, self.on_chain_event)
        engine.on_tick(self.on_tick)

    async def _circuit(self, model_id: int) -> Path:
        if model_id not in self._models:
            self._models[model_id] = await self.ensure_model(model_id)
        return self._models[model_id]

    # -- chain events -------------------------------------------------------------

    def on_chain_event(self, ctx: EngineContext, event: ChainEvent) -> None:
        """Advance our job named by a JobMarket event."""
        record = ctx.store.find_job(int(event.args["jobId"]), Role.PROVER)
        if record is None:
            return
        job, args = prover_job(record), event.args
        step: ma.Event
        if event.name == "JobAwarded":
            prover = bytes.fromhex(str(args["prover"])[2:])
            step = award_event(job, prover, int(args["fee"]), int(args["acceptDeadline"]))
            if prover == self.me and job.state in (S.BID, S.LOST) and self.metrics is not None:
                self.metrics.bids_won.inc()
        elif event.name == "JobAccepted":
            prover = bytes.fromhex(str(args["prover"])[2:])
            if prover != self.me:
                return
            step = ma.ChainJobAccepted(prover, int(args["proofDeadline"]))
        elif event.name == "JobCancelled":
            step = ma.ChainJobCancelled()
        elif event.name == "ProofAccepted":
            if bytes.fromhex(str(args["prover"])[2:]) != self.me:
                return
            step = ma.ChainProofAccepted()
        else:
            if bytes.fromhex(str(args["prover"])[2:]) != self.me:
                return
            step = ma.ChainProverSlashed()
        self.jobs.advance(ctx, record.key, step, defer=True)

    # -- the clock ----------------------------------------------------------------

    async def on_tick(self, ctx: EngineContext, trio_now: float) -> None:
        """Deadlines, undecided announcements, work a crash or a failed send interrupted, and
        the heartbeat."""
        now = int(self.jobs.clock())
        if not self._swept:
            self._swept = True
            ctx.spawn(lambda: self.recovery.sweep(ctx))
        for record in self.jobs.records(ctx.store, (S.SEEN,)):
            if record.key not in self.bidding.deciding:
                await self.recovery.seen_again(ctx, record, now)
        for record in self.jobs.records(ctx.store, ACTIVE):
            await self.recovery.resume(ctx, record, now)
            job = prover_job(ctx.store.get_job(record.key))
            if job.state is S.BID and job.bid is not None and now <= job.bid.expiry + AWARD_GRACE_S:
                continue
            self.jobs.advance(ctx, record.key, ma.Tick(), now=now)
        self.proving.kick(ctx)
        heartbeat = self.heartbeats.due(self.offer(ctx.store), trio_now)
        if heartbeat is not None:
            ctx.spawn(lambda: self.heartbeats.publish(heartbeat))

    def offer(self, store: Store) -> Offer:
        """What this prover offers now, for its heartbeat."""
        free = max(0, self.pricing.capacity - len(self.jobs.records(store, HELD)))
        rate = self.proving.rate if self.proving.rate_measured else 0
        return Offer(min(free, MAX_HEARTBEAT_CAPACITY), self.pricing.price_per_1k, rate,
                     held_models(store))  # fmt: skip

    def records(self, store: Store, states: tuple[ProverState, ...]) -> list[JobRecord]:
        """Our jobs in ``states``, oldest first."""
        return self.jobs.records(store, states)
