"""The prover's acceptance: a won job's input, checked, then acceptJob.

Theory of operation. Our collateral is at risk only once our own acceptJob locks it,
so we send it only after every check that could make the job unprovable or late:

1. the award is ours on-chain (getJob: Awarded to us), and the input comes from the
   job's requester account (bound to its peer by a signed record, node.p2p);
2. the input lies in the circuit's range, matches the on-chain commitment, passes
   every layer's range check and gives a witness that satisfies every constraint
   (``check_input``): an input crafted to commit correctly yet fail later ("poison")
   is refused here, before anything is locked;
3. our plan, with the job ready now and due at now + its proof window, keeps it and
   every job we already accepted on time (``planning.fits``), and our free stake
   covers the collateral.

An input failing 1-2 is refused (the reason is logged and counted by
``provernet_inputs_refused_total``) and we keep waiting for a good one until the
accept deadline; failing 3 we let the award lapse (``AcceptRefused``), which costs us
nothing. While a won job has no input we ask the requester again every
``INPUT_ASK_S`` (a delivery may be lost, or acknowledged and then lost in a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from node.chain.errors import ContractRevert, TransactionRejected
from node.chain.interface import Chain
from node.chain.types import JobInfo, JobStatus
from node.engine.core import EngineContext
from node.engine.intents import IntentPendingError
from node.engine.prover.jobs import COMMITTED, ProverJobs, prover_job
from node.engine.prover.network import ProverNetwork
from node.engine.prover.work import InputRefusedError, check_input, payload
from node.metrics import Metrics
from node.store import DuplicateIntentError, JobRecord, Role, Store
from protocol.market import ProverState
from protocol.market import actions as ma
from protocol.market.planning import QueuedJob, fits
from protocol.market.prover import AcceptRefused, InputChecked
from protocol.messages import InputDelivery

logger = logging.getLogger(__name__)

S = ProverState
# The requester retries a failed delivery every 5 s (requester.delivery.DELIVERY_RETRY_S): an
# input still missing this long after the award was lost on the way or in a crash between
# the stream's ack and the store, so we ask again by re-sending our winning bid.
INPUT_ASK_S = 20


class Acceptance:
    """Inputs in, acceptJob out (``ProverRole`` wires it)."""

    def __init__(
        self,
        jobs: ProverJobs,
        chain: Chain,
        network: ProverNetwork,
        *,
        circuit: Callable[[int], Awaitable[Path]],
        rate: Callable[[], int],
        metrics: Metrics | None,
    ) -> None:
        self.jobs, self.chain, self.network = jobs, chain, network
        self.circuit, self.rate, self.metrics = circuit, rate, metrics
        self.accepting: set[int] = set()  # acceptJob sends not yet journaled
        self._checking: set[int] = set()  # inputs being checked now, one per job
        self._ask_at: dict[int, int] = {}
        jobs.handle(ma.AcceptJob, self._accept_work)

    def _accept_work(
        self, ctx: EngineContext, key: int, action: ma.Action
    ) -> Callable[[], Awaitable[None]]:
        self.accepting.add(key)
        return lambda: self.accept(ctx, key)

    # -- the input ----------------------------------------------------------------

    async def on_input(self, ctx: EngineContext, inbound: object) -> None:
        """Check the input of a job awarded to us; accept the job if it can be proved in time."""
        delivery = payload(inbound)
        assert isinstance(delivery, InputDelivery)
        record = ctx.store.find_job(delivery.job_id, Role.PROVER)
        if record is None or prover_job(record).state not in (S.BID, S.LOST, S.WON):
            return  # not a job we bid on, or its input is here already
        if record.key in self._checking:
            return
        self._checking.add(record.key)
        try:
            await self._take(ctx, record, delivery, getattr(inbound, "account", None))
        finally:
            self._checking.discard(record.key)

    async def _take(
        self, ctx: EngineContext, record: JobRecord, delivery: InputDelivery, sender: bytes | None
    ) -> None:
        key, me = record.key, "0x" + self.jobs.me.hex()
        onchain = await trio.to_thread.run_sync(self.chain.get_job, delivery.job_id)
        ours = onchain.status is JobStatus.AWARDED and onchain.prover.lower() == me
        if ours and prover_job(record).state in (S.BID, S.LOST):
            # The award is on-chain before our sync confirms it: the input may come first.
            awarded = ma.ChainJobAwarded(self.jobs.me, onchain.fee, onchain.deadline)
            if self.jobs.advance(ctx, key, awarded) is not None and self.metrics is not None:
                self.metrics.bids_won.inc()
        if not ours or prover_job(ctx.store.get_job(key)).state is not S.WON:
            return  # not awarded to us (any more)
        if sender is None or "0x" + sender.hex() != onchain.requester.lower():
            logger.warning("job %d: an input from someone other than the requester", key)
            return
        try:
            circuit_dir = await self.circuit(onchain.model_id)
            await trio.to_thread.run_sync(check_input, circuit_dir, delivery.values,
                                          delivery.salt, onchain.input_commitment)  # fmt: skip
        except InputRefusedError as exc:
            self._refused(key, delivery.job_id, "unprovable", str(exc))
            return
        except Exception as exc:  # the model unavailable here: we cannot check, so we wait
            self._refused(key, delivery.job_id, "model unavailable", repr(exc))
            return
        ctx.store.put_input(key, delivery.values, delivery.salt)
        refusal = await self._commit_refusal(ctx.store, record, onchain)
        if refusal is not None:
            if self.jobs.advance(ctx, key, AcceptRefused(refusal)) is not None:
                self.jobs.reasons[key] = refusal
                logger.info("job %d: not accepting the award: %s", delivery.job_id, refusal)
                if self.metrics is not None:
                    self.metrics.awards_let_lapse.labels(refusal.split(":")[0]).inc()
            return
        self.jobs.advance(ctx, key, InputChecked())

    def _refused(self, key: int, job_id: int, kind: str, why: str) -> None:
        self.jobs.reasons[key] = f"input refused: {why}"
        logger.warning("job %d: input refused (%s): %s", job_id, kind, why)
        if self.metrics is not None:
            self.metrics.inputs_refused.labels(kind).inc()

    async def _commit_refusal(
        self, store: Store, record: JobRecord, onchain: JobInfo
    ) -> str | None:
        """Why we would not lock collateral for this job now, or None."""
        job = prover_job(record)
        now = int(self.jobs.clock())
        candidate = QueuedJob(job.job.job_id, job.job.constraint_count,
                              now + onchain.proof_window, now)  # fmt: skip
        admission = fits(candidate, self.jobs.queue(store, COMMITTED), self.rate(), now)
        if not admission.admitted:
            return f"plan: {admission.reason}"
        free = (await trio.to_thread.run_sync(self.chain.stake_of, self.chain.address)).free
        if free < onchain.collateral:
            return f"stake: our free stake {free} no longer covers {onchain.collateral}"
        return None

    async def retry(self, ctx: EngineContext, record: JobRecord) -> None:
        """A WON job whose checked input is held (a refused acceptJob, or a crash after the
        check): decide again whether to accept."""
        key = record.key
        if key in self._checking or ctx.store.get_input(key) is None:
            return
        self._checking.add(key)
        try:
            job_id = prover_job(record).job.job_id
            onchain = await trio.to_thread.run_sync(self.chain.get_job, job_id)
            if onchain.status is not JobStatus.AWARDED:
                return  # the tick's deadlines and the chain's events settle it
            refusal = await self._commit_refusal(ctx.store, record, onchain)
            event = InputChecked() if refusal is None else AcceptRefused(refusal)
            self.jobs.advance(ctx, key, event)
        except Exception as exc:  # the RPC away: the next tick tries again
            logger.info("job %d: acceptance not decided: %r", key, exc)
        finally:
            self._checking.discard(key)

    def ask_for_input(self, ctx: EngineContext, record: JobRecord, now: int) -> None:
        """While a won job has no input, re-send our winning bid every INPUT_ASK_S: the
        requester answers its awarded prover's bid with the input (requester.delivery)."""
        key, job = record.key, prover_job(record)
        if job.state is not S.WON or job.bid is None or ctx.store.get_input(key) is not None:
            self._ask_at.pop(key, None)
            return
        due = self._ask_at.setdefault(key, now + INPUT_ASK_S)
        if now < due:
            return
        self._ask_at[key] = now + INPUT_ASK_S
        bid, peer = job.bid, job.job.requester_peer_id
        logger.info("job %d: no input yet; asking the requester again", bid.job_id)

        async def ask() -> None:
            try:
                await self.network.ask_for_input(peer, bid)
            except Exception as exc:  # the requester unreachable: asked again later
                logger.info("job %d: asking for the input failed: %r", bid.job_id, exc)

        ctx.spawn(ask)

    # -- acceptJob ----------------------------------------------------------------

    async def accept(self, ctx: EngineContext, key: int) -> None:
        """Journal and send acceptJob for the ACCEPTING job ``key``."""
        try:
            await self._send(ctx, key)
        finally:
            self.accepting.discard(key)

    async def _send(self, ctx: EngineContext, key: int) -> None:
        job_id = prover_job(ctx.store.get_job(key)).job.job_id
        try:
            result = await ctx.executor.execute(
                "accept_job", key, {"job_id": str(job_id)}, lambda c: c.accept_job(job_id)
            )
        except (ContractRevert, TransactionRejected) as exc:
            logger.warning("job %d: acceptJob refused: %s", job_id, exc)
            self.jobs.advance(ctx, key, ma.TxFailed(str(exc)))
            return
        except (IntentPendingError, DuplicateIntentError) as exc:
            # Open or mined already: reconciliation and the JobAccepted event complete it.
            logger.info("job %d: acceptJob not sent again: %s", job_id, exc)
            return
        deadline = int(result.event("JobAccepted").args["proofDeadline"])
        logger.info("job %d: accepted; the proof is due by %d", job_id, deadline)
        if self.metrics is not None:
            self.metrics.jobs_accepted.inc()
        self.jobs.advance(ctx, key, ma.ChainJobAccepted(self.jobs.me, deadline))
