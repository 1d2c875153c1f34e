"""How the requester acts on its jobs: step, save, then announce, award, deliver, cancel.

``RequesterActions`` is the half of ``RequesterRole`` (requester.py) that turns a
lifecycle event into a saved job and then performs the actions ``requester_step``
returned, each as a task of the engine. Money moves only through the intent
journal (``ctx.executor.execute``); a refused transaction is fed back as
``TxFailed``, one whose outcome is unknown is left to reconciliation and the tick.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from eth_utils.address import to_checksum_address

from node.api.events import EventLog
from node.chain.errors import ContractRevert, TransactionRejected
from node.chain.interface import Chain
from node.chain.types import Bid as ChainBid
from node.chain.types import JobRequest
from node.engine.core import EngineContext
from node.engine.intents import IntentPendingError
from node.engine.requester_input import PreparedInput, commit_quantized
from node.engine.requester_net import RequesterNetwork
from node.engine.requester_views import TERMINAL
from node.store import BidDirection, BidStatus, IntentStatus, JobRecord, Role, Store
from protocol.market import IllegalTransition, RequesterJob, RequesterState, requester_step
from protocol.market import actions as ma
from protocol.market.planning import DEFAULT_BID_WINDOW_S, suggest_deadlines
from protocol.market.requester import Announced, InputAcked, Resubmitted, new_requester_job
from protocol.messages import Bid, InputDelivery, JobAnnouncement
from protocol.messages.types import MAX_ONCHAIN_AMOUNT
from protocol.r1cs.system import R

logger = logging.getLogger(__name__)

S = RequesterState

# awardJob must land by the bid deadline: one Ethereum slot (12 s) of margin.
AWARD_LEAD_S = 12
# A typical prover's rate, constraints per second: provernet's pure backend proves a
# 2^14 circuit cold in 12.7 s (bench/results/proving.md), about 1,300 a second.
TYPICAL_RATE = 1_000
# The rescue window a requester plans with unless told JobMarket's (set at deployment; 1 h
# by default): the daemon reads it from the contract.
RESCUE_WINDOW_S = 3600
# Late joiners learn an open job from its next announcement.
ANNOUNCE_EVERY_S = 15.0
# Publishing is local (gossipsub queues to peers); longer means the p2p edge is stuck.
ANNOUNCE_TIMEOUT_S = 10.0
# A failed input delivery is retried after this long (the prover may be reconnecting).
DELIVERY_RETRY_S = 5.0
# A refused cancel or slash is sent again one Ethereum slot (12 s) later.
TX_RETRY_S = 12.0
_FAILED = (IntentStatus.FAILED, IntentStatus.REVERTED, IntentStatus.DROPPED)


@dataclass(frozen=True)
class Resubmission:
    """Automatic re-submission of a job that ended unproven, at a higher max fee."""

    fee_factor: float
    max_tries: int


def checksum(raw: bytes) -> str:
    return to_checksum_address("0x" + raw.hex())


class RequesterActions:
    """Stepping and acting; ``RequesterRole`` supplies the chain, network and clock."""

    chain: Chain
    network: RequesterNetwork
    market: bytes
    clock: Callable[[], float]
    logs: dict[int, EventLog]
    _busy: Counter[int]
    _announced_at: dict[int, float]
    _retry_at: dict[int, float]
    _stepped: set[int]
    award_lead_s: int
    models_dir: Path
    keep_inputs: bool
    resubmit: Resubmission | None
    rescue_window: int

    def _advance(
        self,
        ctx: EngineContext,
        key: int,
        event: ma.Event,
        *,
        now: int | None = None,
        defer: bool = False,
    ) -> RequesterJob | None:
        """Step job ``key``, save it, then act; None when ``event`` does not apply now."""
        current = ctx.store.get_job(key).job
        assert isinstance(current, RequesterJob)
        try:
            job, actions = requester_step(current, event, int(self.clock()) if now is None else now)
        except IllegalTransition as exc:
            logger.debug("job %d: %s", key, exc)
            return None
        self._stepped.add(key)  # its actions are this run's to take
        if job != current:
            ctx.store.save_job(key, job)
            if job.state is not current.state:
                self._log(key, job)
            if self._input_done(job) and not self.keep_inputs:
                ctx.store.forget_input(key)
        self._perform(ctx, key, actions, defer=defer)
        return job

    def _input_done(self, job: RequesterJob) -> bool:
        """Whether nobody will need the job's private input again (no delivery, no retry)."""
        if job.state in (S.PROVEN, S.RESCUED, S.RESUBMITTED, S.ABANDONED):
            return True
        return job.state in (S.CANCELLED, S.SLASHED) and self.resubmit is None

    def _perform(
        self, ctx: EngineContext, key: int, actions: tuple[ma.Action, ...], *, defer: bool = False
    ) -> None:
        for action in actions:
            work = self._work(ctx, key, action)
            if work is None:
                continue
            run = work
            if not isinstance(action, ma.Announce):  # gossip may stall; it must not hold a job
                self._busy[key] += 1
                run = released(self._busy, key, work)
            if defer:
                ctx.defer(run)
            else:
                ctx.spawn(run)

    def _work(self, ctx: EngineContext, key: int, action: ma.Action) -> Any:
        if isinstance(action, ma.Announce):
            return lambda: self._announce(ctx, key)
        if isinstance(action, ma.AwardJob):
            return lambda: self._award(ctx, key, action.bid)
        if isinstance(action, ma.DeliverInput):
            return lambda: self._deliver(ctx, key, action.prover)
        if isinstance(action, ma.CancelJob):
            return lambda: self._send(
                ctx,
                key,
                "cancel_job",
                ma.ChainJobCancelled(),
                lambda c, job_id: c.cancel_job(job_id),
            )
        if isinstance(action, ma.Slash):
            return lambda: self._send(
                ctx, key, "slash", ma.ChainProverSlashed(), lambda c, job_id: c.slash(job_id)
            )
        if isinstance(action, ma.Withdraw):
            return lambda: self._withdraw(ctx, key)
        if isinstance(action, ma.ProposeResubmit) and self.resubmit is not None:
            return lambda: self._resubmit(ctx, key)
        return None

    async def _create(
        self, ctx: EngineContext, key: int, request: JobRequest, previous: int | None
    ) -> None:
        params: dict[str, Any] = {"resubmit_of": previous} if previous is not None else {}
        params |= {
            "model_id": request.model_id,
            "input_commitment": str(request.input_commitment),
            "max_fee": str(request.max_fee),
            "collateral": str(request.collateral),
            "bid_deadline": request.bid_deadline,
            "proof_deadline": request.proof_deadline,
        }
        try:
            job_id, _ = await ctx.executor.execute(
                "create_job", key, params, lambda c: c.create_job(request)
            )
        except (ContractRevert, TransactionRejected) as exc:
            self._advance(ctx, key, ma.TxFailed(str(exc)))
            self._note(key, "error", reason=str(exc))
            return
        except IntentPendingError:
            return  # reconciled on a tick; the JobCreated event completes it
        self._advance(ctx, key, ma.ChainJobCreated(job_id))
        if previous is not None:
            self._note(previous, "resubmitted", id=key, job_id=job_id, max_fee=str(request.max_fee))
            self._advance(ctx, previous, Resubmitted(job_id))

    def _open_job(
        self,
        ctx: EngineContext,
        model_id: int,
        constraints: int,
        prepared: PreparedInput,
        terms: tuple[int, int, int],
        previous: int | None = None,
    ) -> int:
        """Store a new job with its input (max fee, collateral, seconds to the proof
        deadline), then create it on-chain in a task; its key."""
        max_fee, collateral, deadline_s = terms
        now = int(self.clock())
        window = min(DEFAULT_BID_WINDOW_S, max(deadline_s // 4, self.award_lead_s + 5))
        suggested = suggest_deadlines(constraints, TYPICAL_RATE, now, window)
        job, _ = new_requester_job(
            max_fee=max_fee,
            collateral=collateral,
            bid_deadline=suggested.bid_deadline,
            proof_deadline=max(now + deadline_s, suggested.bid_deadline + 1),
            rescue_window=self.rescue_window,
        )
        with ctx.store.transaction():
            key = ctx.store.add_job(Role.REQUESTER, job, model_id=model_id)
            ctx.store.put_input(key, prepared.values, prepared.salt)
        self._log(key, job)
        request = JobRequest(model_id, prepared.commitment, collateral, job.bid_deadline,
                             job.proof_deadline, max_fee)  # fmt: skip
        self._busy[key] += 1  # until createJob is journaled, the tick leaves the job alone
        ctx.spawn(released(self._busy, key, lambda: self._create(ctx, key, request, previous)))
        return key

    def _circuit_dir(self, store: Store, model_id: int) -> Path:
        """Where the model's circuit is kept: as the store says, else home models/<id>/."""
        model = store.get_model(model_id)
        held = model.circuit_dir if model and model.circuit_dir else None
        return Path(held) if held else self.models_dir / str(model_id)

    def _tries(self, store: Store, key: int) -> int:
        """How many times the job ``key`` replaces an earlier one."""
        for intent in store.intents_for_job(key):
            if intent.kind == "create_job" and intent.params.get("resubmit_of") is not None:
                return 1 + self._tries(store, int(intent.params["resubmit_of"]))
        return 0

    async def _resubmit(self, ctx: EngineContext, key: int) -> None:
        assert self.resubmit is not None
        record, held = ctx.store.get_job(key), ctx.store.get_input(key)
        job = record.job
        assert isinstance(job, RequesterJob)
        if self._tries(ctx.store, key) >= self.resubmit.max_tries or held is None:
            if not self.keep_inputs:
                ctx.store.forget_input(key)
            self._close_log(key)
            return
        assert record.model_id is not None
        circuit_dir = self._circuit_dir(ctx.store, record.model_id)
        try:
            prepared = await trio.to_thread.run_sync(
                commit_quantized, circuit_dir, held.input_q, secrets.randbelow(R)
            )
            info = await trio.to_thread.run_sync(self.chain.get_model, record.model_id)
        except Exception as exc:  # the model gone or the RPC away: the job stays as it ended
            logger.warning("job %d: not resubmitted: %r", key, exc)
            self._close_log(key)
            return
        max_fee = min(MAX_ONCHAIN_AMOUNT, math.ceil(job.max_fee * self.resubmit.fee_factor))
        deadline_s = max(job.proof_deadline - record.created_at, self.award_lead_s + 6)
        terms = (max_fee, job.collateral, deadline_s)
        self._open_job(ctx, record.model_id, info.constraint_count, prepared, terms, key)

    async def _announce(self, ctx: EngineContext, key: int) -> None:
        record = ctx.store.get_job(key)
        self._announced_at[key] = self.clock()
        try:
            with trio.fail_after(ANNOUNCE_TIMEOUT_S):
                await self.network.announce(self._announcement(ctx.store, record))
        except Exception as exc:  # the p2p edge raises many kinds; the next tick retries
            logger.warning("job %d: announcing failed: %r", key, exc)
            return
        if record.job.state is S.CREATED:
            self._advance(ctx, key, Announced())

    async def _award(self, ctx: EngineContext, key: int, bid: Bid) -> None:
        chain_bid = ChainBid(bid.job_id, checksum(bid.prover), bid.fee, bid.expiry)
        params = {"job_id": str(bid.job_id), "prover": chain_bid.prover, "fee": str(bid.fee)}
        bid_key = next(
            b.key for b in ctx.store.bids_for_job(bid.job_id, BidDirection.RECEIVED) if b.bid == bid
        )
        try:
            result = await ctx.executor.execute(
                "award_job", key, params, lambda c: c.award_job(chain_bid, bid.signature)
            )
        except (ContractRevert, TransactionRejected) as exc:
            ctx.store.set_bid_status(bid_key, BidStatus.INVALID, f"awardJob refused it: {exc}")
            self._advance(ctx, key, ma.TxFailed(str(exc)))
            return
        except IntentPendingError:
            return
        ctx.store.mark_winner(bid.job_id, bid_key)
        awarded = result.event("JobAwarded").args
        self._advance(ctx, key, ma.ChainJobAwarded(bid.prover, int(awarded["fee"])))

    async def _deliver(self, ctx: EngineContext, key: int, prover: bytes) -> None:
        record = ctx.store.get_job(key)
        held = ctx.store.get_input(key)
        assert record.job_id is not None
        bids = [
            b.bid
            for b in ctx.store.bids_for_job(record.job_id, BidDirection.RECEIVED)
            if b.bid.prover == prover and b.status is not BidStatus.INVALID
        ]
        if held is None or not bids:
            self._delivery_failed(key, "no input held or no bid from the prover")
            return
        delivery = InputDelivery(record.job_id, held.input_q, held.salt)
        try:
            await self.network.deliver_input(bids[-1].peer_id, prover, delivery)
        except Exception as exc:  # p2p refusals and stream failures: retried on a tick
            self._delivery_failed(key, repr(exc))
            return
        self._retry_at.pop(key, None)
        self._advance(ctx, key, InputAcked())

    def _delivery_failed(self, key: int, reason: str) -> None:
        # Not stepped with DeliveryFailed: its rule re-delivers at once; the tick retries later.
        logger.info("job %d: delivering the input failed: %s", key, reason)
        self._retry_at[key] = self.clock() + DELIVERY_RETRY_S
        self._note(key, "delivery failed", reason=reason)

    async def _send(
        self,
        ctx: EngineContext,
        key: int,
        kind: str,
        done: ma.Event,
        call: Callable[[Chain, int], Any],
    ) -> None:
        job_id = ctx.store.get_job(key).job_id
        assert job_id is not None
        try:
            await ctx.executor.execute(
                kind, key, {"job_id": str(job_id)}, lambda c: call(c, job_id)
            )
        except (ContractRevert, TransactionRejected) as exc:
            # Often "deadline not passed" by the chain's clock, which trails ours until the
            # next block: try again a block later rather than on every tick.
            self._retry_at[key] = self.clock() + TX_RETRY_S
            self._advance(ctx, key, ma.TxFailed(str(exc)))
            return
        except IntentPendingError:
            return
        self._advance(ctx, key, done)

    async def _withdraw(self, ctx: EngineContext, key: int) -> None:
        try:
            await ctx.executor.execute(
                "withdraw", key, {"contract": "JobMarket"}, lambda c: c.withdraw()
            )
        except (ContractRevert, TransactionRejected) as exc:
            logger.info("job %d: nothing withdrawn: %s", key, exc)  # pulled with another job's
        except IntentPendingError:
            return

    def _tx_failed(self, store: Store, key: int, kind: str) -> bool:
        intents = [i for i in store.intents_for_job(key) if i.kind == kind]
        return not any(i.status not in _FAILED for i in intents)

    def _announcement(self, store: Store, record: JobRecord) -> JobAnnouncement:
        job = record.job
        assert isinstance(job, RequesterJob)
        assert job.job_id is not None
        params = next(i.params for i in store.intents_for_job(record.key) if i.kind == "create_job")
        model = store.get_model(int(params["model_id"]))
        return JobAnnouncement(
            self.chain.chain_id,
            self.market,
            job.job_id,
            int(params["model_id"]),
            model.circuit_id if model else bytes(32),
            model.constraint_count if model else 0,
            job.max_fee,
            job.collateral,
            job.bid_deadline,
            job.proof_deadline,
            int(params["input_commitment"]),
            bytes.fromhex(self.chain.address[2:]),
            self.network.peer_id,
        )

    def _log(self, key: int, job: Any) -> EventLog:
        log = self.logs.setdefault(key, EventLog())
        if not log.closed:
            log.append({"kind": "state", "state": job.state.value, "job_id": job.job_id})
            unproven = job.state in (S.CANCELLED, S.SLASHED)
            if job.state in TERMINAL and not (unproven and self.resubmit is not None):
                log.close()  # an unproven job stays open until its resubmission is decided
        return log

    def _close_log(self, key: int) -> None:
        if key in self.logs:
            self.logs[key].close()

    def _note(self, key: int, kind: str, **details: Any) -> None:
        log = self.logs.get(key)
        if log is not None and not log.closed:
            log.append({"kind": kind, **details})


def released(busy: Counter[int], key: int, work: Callable[[], Any]) -> Callable[[], Any]:
    async def run() -> None:
        try:
            await work()
        finally:
            busy[key] -= 1
            if busy[key] <= 0:
                del busy[key]

    return run
