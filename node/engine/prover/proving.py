"""The prover's proving: accepted jobs proved one at a time, earliest deadline first.

Proofs are made in the pool's worker processes (``prove_input``: witness, the
multi-scalar multiplications, a local verification), stored, then submitted through
the intent journal (its unique rule forbids a second submission of one attempt).
ProofAccepted pays us; the fee is withdrawn at once. The proving rate starts at
``DEFAULT_RATE`` and follows the measured proofs (an exponential average), so
admission plans with what this machine really does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from node.chain.errors import ContractRevert, TransactionRejected
from node.engine.core import EngineContext
from node.engine.intents import IntentPendingError
from node.engine.prover.jobs import ProverJobs, prover_job
from node.engine.prover.work import PROOF_WORDS, MadeProof, prove_input
from node.metrics import Metrics
from node.proving import ProverPool
from node.store import DuplicateIntentError, JobRecord
from protocol.market import ProverState
from protocol.market import actions as ma
from protocol.market.planning import next_to_prove
from protocol.market.prover import ProofReady, ProvingFailed, ProvingStarted

logger = logging.getLogger(__name__)

S = ProverState
# Constraints proved per second before any proof is measured: the pure backend proves a
# 2^14 circuit cold in 12.7 s (bench/results/proving.md), ~1,300/s; rounded down.
DEFAULT_RATE = 1_000
# Weight of the newest measurement in the running proving rate (an exponential average).
RATE_WEIGHT = 0.5


class Proving:
    """Accepted jobs in, proofs and submissions out (``ProverRole`` wires it)."""

    def __init__(
        self,
        jobs: ProverJobs,
        pool: ProverPool,
        *,
        circuit: Callable[[int], Awaitable[Path]],
        metrics: Metrics | None,
        rate: int = DEFAULT_RATE,
    ) -> None:
        self.jobs, self.pool, self.circuit, self.metrics = jobs, pool, circuit, metrics
        self.rate = rate
        self.rate_measured = False  # whether ``rate`` comes from a proof made here
        self.proving: int | None = None  # the job key this process is proving
        self.submitting: set[int] = set()  # submissions not yet journaled
        jobs.handle(ma.Prove, self._prove_work)
        jobs.handle(ma.SubmitProof, self._submit_work)
        jobs.handle(ma.Withdraw, lambda ctx, key, action: lambda: self.withdraw(ctx, key))

    def _prove_work(
        self, ctx: EngineContext, key: int, action: ma.Action
    ) -> Callable[[], Awaitable[None]]:
        async def kick() -> None:
            self.kick(ctx)

        return kick

    def _submit_work(
        self, ctx: EngineContext, key: int, action: ma.Action
    ) -> Callable[[], Awaitable[None]]:
        self.submitting.add(key)
        return lambda: self.submit(ctx, key)

    def kick(self, ctx: EngineContext) -> None:
        """Start proving the accepted job with the earliest deadline, unless one is proving."""
        if self.proving is not None:
            return
        ready = {
            prover_job(r).job.job_id: r.key for r in self.jobs.records(ctx.store, (S.ACCEPTED,))
        }
        queue = [q for q in self.jobs.queue(ctx.store) if q.job_id in ready]
        chosen = next_to_prove(queue, int(self.jobs.clock()))
        if chosen is None:
            return
        key = ready[chosen.job_id]
        self.proving = key
        ctx.spawn(lambda: self._prove(ctx, key))

    async def _prove(self, ctx: EngineContext, key: int) -> None:
        try:
            if self.jobs.advance(ctx, key, ProvingStarted()) is None:
                return
            record = ctx.store.get_job(key)
            if record.proof is None:  # a proof made before a crash is not made again
                made = await self._make(ctx, key, record)
                if made is None:
                    return
                self._measured(made)
                ctx.store.set_proof(key, [*made.words, *made.outputs])
            self.jobs.advance(ctx, key, ProofReady())
        finally:
            self.proving = None
            self.kick(ctx)

    async def _make(self, ctx: EngineContext, key: int, record: JobRecord) -> MadeProof | None:
        """The proof of job ``key``'s held input, or None (ProvingFailed stepped) on failure."""
        job, held = prover_job(record), ctx.store.get_input(key)
        try:
            assert held is not None, "the input is gone"
            circuit_dir = await self.circuit(job.job.model_id)
            return await trio.to_thread.run_sync(
                prove_input, self.pool, circuit_dir, held.input_q, held.salt
            )
        except Exception as exc:  # a failed proof is retried by the lifecycle
            logger.warning("job %d: proving failed: %r", job.job.job_id, exc)
            if self.metrics is not None:
                self.metrics.proof_failures.inc()
            self.jobs.advance(ctx, key, ProvingFailed(repr(exc)))
            return None

    def _measured(self, made: MadeProof) -> None:
        if self.metrics is not None:
            self.metrics.observe_proof(made.seconds)
        measured = made.constraints / max(made.seconds, 1e-3)
        self.rate = max(1, round(RATE_WEIGHT * measured + (1 - RATE_WEIGHT) * self.rate))
        self.rate_measured = True

    async def submit(self, ctx: EngineContext, key: int) -> None:
        """Journal and send submitProof with job ``key``'s stored proof (once per attempt)."""
        try:
            await self._send_proof(ctx, key)
        finally:
            self.submitting.discard(key)

    async def _send_proof(self, ctx: EngineContext, key: int) -> None:
        record = ctx.store.get_job(key)
        job = prover_job(record)
        if record.proof is None:
            self.jobs.advance(ctx, key, ma.TxFailed("no stored proof; proving again"))
            return
        words, outputs = record.proof[:PROOF_WORDS], record.proof[PROOF_WORDS:]
        job_id = job.job.job_id
        params = {"job_id": str(job_id), "attempt": job.attempts}
        try:
            await ctx.executor.execute(
                "submit_proof",
                key,
                params,
                lambda c: c.submit_proof(job_id, words, outputs),
                attempt=job.attempts,
            )
        except (ContractRevert, TransactionRejected) as exc:
            logger.warning("job %d: submitProof refused: %s", job_id, exc)
            self.jobs.advance(ctx, key, ma.TxFailed(str(exc)))
        except (IntentPendingError, DuplicateIntentError) as exc:
            # Open or mined already: reconciliation and ProofAccepted complete it.
            logger.info("job %d: submitProof not sent again: %s", job_id, exc)

    async def withdraw(self, ctx: EngineContext, key: int | None) -> None:
        """Pull our JobMarket balance (the fee of job ``key``, and anything else credited)."""
        try:
            await ctx.executor.execute(
                "withdraw", key, {"contract": "JobMarket"}, lambda c: c.withdraw()
            )
        except (ContractRevert, TransactionRejected, IntentPendingError, DuplicateIntentError) as e:
            logger.info("job %s: nothing withdrawn: %s", key, e)
