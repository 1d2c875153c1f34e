"""The requester's money: createJob, cancelJob, slash, withdraw, and resubmission.

A job's terms come from ``job submit``: the max fee, the collateral, and a deadline
that the bid window, the accept window and the proof window add up to (the latest
the first prover's proof is due, counted from submission). ``open_job`` stores the
job with its private input BEFORE createJob is journaled and sent, so a crash never
leaves escrow the node does not know about. Every transaction goes through the
intent journal (``ctx.executor.execute``): a refused one is fed back as ``TxFailed``
and retried a slot later, one whose outcome is unknown is left to reconciliation.
A slash (permissionless; the collateral is burned, never paid to us) re-opens the
job; a resubmission replaces a cancelled job by a new one at a higher max fee.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from node.api.errors import BadRequest
from node.chain.errors import ContractRevert, TransactionRejected
from node.chain.interface import Chain
from node.chain.types import JobRequest
from node.engine.core import EngineContext
from node.engine.intents import IntentPendingError
from node.engine.requester.inputs import PreparedInput, commit_quantized
from node.engine.requester.jobs import RequesterJobs
from node.store import Role, Store
from protocol.market import RequesterJob
from protocol.market import actions as ma
from protocol.market.planning import (
    DEFAULT_ACCEPT_WINDOW_S,
    DEFAULT_BID_WINDOW_S,
    MIN_ACCEPT_WINDOW_S,
    suggest_terms,
)
from protocol.market.requester import Resubmitted, new_requester_job
from protocol.messages.types import MAX_ONCHAIN_AMOUNT, MAX_WINDOW
from protocol.r1cs.system import R

logger = logging.getLogger(__name__)

# A refused cancel or slash is sent again one Ethereum slot (12 s) later.
TX_RETRY_S = 12.0
# The shortest bid window a deadline is cut into: a few gossip round trips.
MIN_BID_WINDOW_S = 5
# The shortest proof window JobMarket is asked for (a prover's admission decides the rest).
MIN_PROOF_WINDOW_S = 10


@dataclass(frozen=True)
class Resubmission:
    """Automatic re-submission of a job that ended unproven, at a higher max fee."""

    fee_factor: float
    max_tries: int


@dataclass(frozen=True)
class Terms:
    """A new job's amounts and windows, as createJob takes them (seconds and wei)."""

    max_fee: int
    collateral: int
    bid_window: int
    accept_window: int
    proof_window: int

    @property
    def deadline(self) -> int:
        """The seconds from submission to the first prover's proof deadline, at most."""
        return self.bid_window + self.accept_window + self.proof_window


def split_deadline(
    deadline_s: int, bid_window: int | None = None, accept_window: int | None = None
) -> tuple[int, int, int]:
    """(bid, accept, proof) windows adding up to ``deadline_s``; BadRequest if it is too short.

    Unless given, the bid window is a quarter of the deadline (5 to 60 s) and the accept
    window a quarter too (20 to 60 s): the proof window gets the rest.
    """
    bid = bid_window or min(DEFAULT_BID_WINDOW_S, max(deadline_s // 4, MIN_BID_WINDOW_S))
    quarter = deadline_s // 4
    accept = accept_window or min(DEFAULT_ACCEPT_WINDOW_S, max(quarter, MIN_ACCEPT_WINDOW_S))
    proof = deadline_s - bid - accept
    if proof < MIN_PROOF_WINDOW_S:
        raise BadRequest(
            f"a deadline of {deadline_s} s leaves {proof} s to prove after a {bid} s bid window "
            f"and a {accept} s accept window; give at least {bid + accept + MIN_PROOF_WINDOW_S} s"
        )
    if accept > MAX_WINDOW or proof > MAX_WINDOW:
        raise BadRequest(f"JobMarket takes accept and proof windows of at most {MAX_WINDOW} s")
    return bid, accept, proof


class Settlement:
    """createJob, cancelJob, slash and withdraw for the requester (``RequesterRole`` wires it)."""

    def __init__(
        self,
        jobs: RequesterJobs,
        chain: Chain,
        *,
        resubmit: Resubmission | None,
        circuit_dir: Callable[[Store, int], Path],
        typical_rate: int,
    ) -> None:
        self.jobs, self.chain, self.resubmit = jobs, chain, resubmit
        self.circuit_dir, self.typical_rate = circuit_dir, typical_rate
        jobs.handle(ma.CancelJob, lambda ctx, key, action: lambda: self.cancel(ctx, key))
        jobs.handle(ma.Slash, lambda ctx, key, action: lambda: self.slash(ctx, key))
        jobs.handle(ma.Withdraw, lambda ctx, key, action: lambda: self.withdraw(ctx, key))
        if resubmit is not None:
            jobs.handle(
                ma.ProposeResubmit, lambda ctx, key, action: lambda: self.resubmit_job(ctx, key)
            )

    def open_job(
        self,
        ctx: EngineContext,
        model_id: int,
        prepared: PreparedInput,
        terms: Terms,
        previous: int | None = None,
    ) -> int:
        """Store a new job with its input, then create it on-chain in a task; its key."""
        now = int(self.jobs.clock())
        job, _ = new_requester_job(
            max_fee=terms.max_fee,
            collateral=terms.collateral,
            bid_deadline=now + terms.bid_window,
            accept_window=terms.accept_window,
            proof_window=terms.proof_window,
        )
        with ctx.store.transaction():
            key = ctx.store.add_job(Role.REQUESTER, job, model_id=model_id)
            ctx.store.put_input(key, prepared.values, prepared.salt)
        self.jobs.log(key, job)
        request = JobRequest(model_id, prepared.commitment, terms.collateral, terms.accept_window,
                             terms.proof_window, terms.max_fee)  # fmt: skip
        self.jobs.busy[key] += 1  # until createJob is journaled, the tick leaves the job alone
        ctx.spawn(
            self.jobs.released(
                key, lambda: self._create(ctx, key, request, terms.bid_window, previous)
            )
        )
        return key

    def advice(self, constraints: int, terms: Terms) -> list[str]:
        """Warnings for terms a typical prover may not meet (never a refusal)."""
        suggested = suggest_terms(constraints, self.typical_rate, 0, terms.bid_window)
        if terms.proof_window >= suggested.proof_window:
            return []
        return [
            f"the proof window of {terms.proof_window} s is below the {suggested.proof_window} s "
            f"a typical prover needs for {constraints:,} constraints: give a longer --deadline"
        ]

    async def _create(
        self,
        ctx: EngineContext,
        key: int,
        request: JobRequest,
        bid_window: int,
        previous: int | None,
    ) -> None:
        params: dict[str, Any] = {"resubmit_of": previous} if previous is not None else {}
        params |= {
            "bid_window": bid_window,
            "model_id": request.model_id,
            "input_commitment": str(request.input_commitment),
            "max_fee": str(request.max_fee),
            "collateral": str(request.collateral),
            "accept_window": request.accept_window,
            "proof_window": request.proof_window,
        }
        try:
            job_id, _ = await ctx.executor.execute(
                "create_job", key, params, lambda c: c.create_job(request)
            )
        except (ContractRevert, TransactionRejected) as exc:
            self.jobs.advance(ctx, key, ma.TxFailed(str(exc)))
            self.jobs.note(key, "error", reason=str(exc))
            return
        except IntentPendingError:
            return  # reconciled on a tick; the JobCreated event completes it
        self.jobs.advance(ctx, key, ma.ChainJobCreated(job_id))
        if previous is not None:
            self.jobs.note(previous, "resubmitted", id=key, job_id=job_id,
                           max_fee=str(request.max_fee))  # fmt: skip
            self.jobs.advance(ctx, previous, Resubmitted(job_id))

    async def cancel(self, ctx: EngineContext, key: int) -> None:
        await self._send(ctx, key, "cancel_job", ma.ChainJobCancelled(), 0,
                         lambda c, job_id: c.cancel_job(job_id))  # fmt: skip

    async def slash(self, ctx: EngineContext, key: int) -> None:
        attempt = self.jobs.job(ctx.store, key).slashes
        await self._send(ctx, key, "slash", ma.ChainProverSlashed(), attempt,
                         lambda c, job_id: c.slash(job_id))  # fmt: skip

    async def _send(
        self,
        ctx: EngineContext,
        key: int,
        kind: str,
        done: ma.Event,
        attempt: int,
        call: Callable[[Chain, int], Any],
    ) -> None:
        job_id = ctx.store.get_job(key).job_id
        assert job_id is not None
        params = {"job_id": str(job_id)}
        try:
            await ctx.executor.execute(
                kind, key, params, lambda c: call(c, job_id), attempt=attempt
            )
        except (ContractRevert, TransactionRejected) as exc:
            # Often "deadline not passed" by the chain's clock, which trails ours until the
            # next block: try again a block later rather than on every tick.
            self.jobs.retry_at[key] = self.jobs.clock() + TX_RETRY_S
            self.jobs.advance(ctx, key, ma.TxFailed(str(exc)))
            return
        except IntentPendingError:
            return
        self.jobs.advance(ctx, key, done)

    async def withdraw(self, ctx: EngineContext, key: int) -> None:
        try:
            await ctx.executor.execute(
                "withdraw", key, {"contract": "JobMarket"}, lambda c: c.withdraw()
            )
        except (ContractRevert, TransactionRejected) as exc:
            logger.info("job %d: nothing withdrawn: %s", key, exc)  # pulled with another job's
        except IntentPendingError:
            return

    # -- resubmission -------------------------------------------------------------

    def tries(self, store: Store, key: int) -> int:
        """How many times the job ``key`` replaces an earlier one."""
        for intent in store.intents_for_job(key):
            if intent.kind == "create_job" and intent.params.get("resubmit_of") is not None:
                return 1 + self.tries(store, int(intent.params["resubmit_of"]))
        return 0

    async def resubmit_job(self, ctx: EngineContext, key: int) -> None:
        assert self.resubmit is not None
        record, held = ctx.store.get_job(key), ctx.store.get_input(key)
        job = record.job
        assert isinstance(job, RequesterJob)
        if self.tries(ctx.store, key) >= self.resubmit.max_tries or held is None:
            if not self.jobs.keep_inputs:
                ctx.store.forget_input(key)
            self.jobs.close_log(key)
            return
        assert record.model_id is not None
        circuit_dir = self.circuit_dir(ctx.store, record.model_id)
        try:
            prepared = await trio.to_thread.run_sync(
                commit_quantized, circuit_dir, held.input_q, secrets.randbelow(R)
            )
        except Exception as exc:  # the model gone: the job stays as it ended
            logger.warning("job %d: not resubmitted: %r", key, exc)
            self.jobs.close_log(key)
            return
        max_fee = min(MAX_ONCHAIN_AMOUNT, math.ceil(job.max_fee * self.resubmit.fee_factor))
        first = next(i.params for i in ctx.store.intents_for_job(key) if i.kind == "create_job")
        bid_window = int(first.get("bid_window", MIN_BID_WINDOW_S))
        terms = Terms(max_fee, job.collateral, bid_window, job.accept_window, job.proof_window)
        self.open_job(ctx, record.model_id, prepared, terms, key)
