"""The requester's auction: announce, take bids, award, and award again after a failure.

Theory of operation. A job is announced (and re-announced every ``ANNOUNCE_EVERY_S``
while its bid window is open). Bids arrive by gossip or directly; each is stored with
its verdict (``bid_problem``: signature over this chain, market and the job's terms,
expiry, fee, the prover's free stake), judged in a task of its own so the stake read
never stalls the engine; a bid whose prover's stake cannot be read (the RPC away)
stays pending and is judged again (``PENDING_RETRY_S``), and at the window's close
every pending bid is judged with the stakes read then. When the bid window closes
the winner is ``select_winner``'s and awardJob is sent; nothing of the prover's is
locked by it.

An award that lapses (no acceptJob by the accept deadline) or a slash (accepted, not
proved) sends the job back to the auction: once the chain's own clock has passed the
deadline (awardJob would revert before), the best standing bid that is still valid is
awarded at once; the failed prover's bid is its won bid and never chosen again. With
no standing bid the job is announced again with a new bid window (REOPENED); after
``MAX_AWARDS`` awards the requester gives up and cancels, getting its whole escrow back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import trio
from eth_utils.address import to_checksum_address

from node.chain.errors import ContractRevert, TransactionRejected
from node.chain.interface import Chain
from node.chain.types import Bid as ChainBid
from node.engine.core import EngineContext
from node.engine.intents import IntentPendingError
from node.engine.requester.jobs import RequesterJobs
from node.engine.requester.network import RequesterNetwork
from node.store import BidDirection, BidStatus, JobRecord, Store
from protocol.market import RequesterJob, RequesterState
from protocol.market import actions as ma
from protocol.market.requester import MAX_AWARDS, Announced, AwardChosen, GiveUp, Reopen
from protocol.market.selection import Reputation, bid_problem, select_winner
from protocol.messages import Bid, JobAnnouncement

logger = logging.getLogger(__name__)

S = RequesterState
# Late joiners learn an open job from its next announcement.
ANNOUNCE_EVERY_S = 15.0
# Publishing is local (gossipsub queues to peers); longer means the p2p edge is stuck.
ANNOUNCE_TIMEOUT_S = 10.0
# A refused awardJob (often "accept window open" by a chain clock that trails ours by a
# block) is retried no sooner than one Ethereum slot later.
TX_RETRY_S = 12.0
# Bids that may still win: valid ones and those that lost an earlier award of the job.
STANDING = (BidStatus.VALID, BidStatus.LOST)
# What the award considers: those, and bids whose stake could not be read yet.
CANDIDATES = (*STANDING, BidStatus.PENDING)
# A pending bid (its prover's stake unread) is judged again this often.
PENDING_RETRY_S = 5.0


class StakeUnknown(Exception):  # noqa: N818 (named for the reason)
    """A prover's stake could not be read now."""


def checksum(raw: bytes) -> str:
    """A 20-byte address in EIP-55 form."""
    return to_checksum_address("0x" + raw.hex())


def created_terms(store: Store, key: int) -> Mapping[str, Any]:
    """The createJob parameters journaled for job ``key`` (model, commitment, amounts)."""
    return next(i.params for i in store.intents_for_job(key) if i.kind == "create_job")


class Auction:
    """Announcements out, bids in, awards out (``RequesterRole`` wires it)."""

    def __init__(
        self,
        jobs: RequesterJobs,
        chain: Chain,
        network: RequesterNetwork,
        market: bytes,
        *,
        bid_window_s: int,
    ) -> None:
        self.jobs, self.chain, self.network, self.market = jobs, chain, network, market
        self.bid_window_s = bid_window_s  # of a re-opened job's new round
        self.announced_at: dict[int, float] = {}
        self.judged_at: dict[int, float] = {}  # pending bids: when last judged
        self.judging: set[int] = set()  # bids being judged now
        jobs.handle(ma.Announce, lambda ctx, key, action: lambda: self.announce(ctx, key))
        jobs.handle(ma.AwardJob, lambda ctx, key, action: lambda: self.award(ctx, key, action.bid))

    # -- announcements ----------------------------------------------------------

    def announcement(self, store: Store, record: JobRecord) -> JobAnnouncement:
        """The job as gossiped: its on-chain terms and the current round's bid deadline."""
        job = record.job
        assert isinstance(job, RequesterJob)
        assert job.job_id is not None
        params = created_terms(store, record.key)
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
            job.accept_window,
            job.proof_window,
            int(params["input_commitment"]),
            bytes.fromhex(self.chain.address[2:]),
            self.network.peer_id,
            job.round,
        )

    def announce_due(self, key: int, job: RequesterJob, now: float) -> bool:
        """Whether job ``key`` should be announced (again) now."""
        since = now - self.announced_at.get(key, -ANNOUNCE_EVERY_S)
        return since >= ANNOUNCE_EVERY_S and now <= job.bid_deadline

    async def announce(self, ctx: EngineContext, key: int) -> None:
        record = ctx.store.get_job(key)
        self.announced_at[key] = self.jobs.clock()
        try:
            with trio.fail_after(ANNOUNCE_TIMEOUT_S):
                await self.network.announce(self.announcement(ctx.store, record))
        except Exception as exc:  # the p2p edge raises many kinds; the next tick retries
            logger.warning("job %d: announcing failed: %r", key, exc)
            return
        if record.job.state in (S.CREATED, S.REOPENED):
            self.jobs.advance(ctx, key, Announced())

    # -- bids -------------------------------------------------------------------

    async def judge(self, ctx: EngineContext, record: JobRecord, bid_key: int, bid: Bid) -> None:
        """Store a new bid's verdict: valid (it may win now or after a failure) or why not;
        pending while the prover's stake cannot be read."""
        self.judged_at[bid_key] = self.jobs.clock()
        try:
            problem = await self._problem(ctx.store, record, bid)
        except StakeUnknown as exc:
            logger.info("job %d: the bid of %s is judged later: %s", record.key,
                        checksum(bid.prover), exc)  # fmt: skip
            return
        self.judged_at.pop(bid_key, None)
        status = BidStatus.INVALID if problem else BidStatus.VALID
        ctx.store.set_bid_status(bid_key, status, problem)
        self.jobs.note(record.key, "bid", prover=checksum(bid.prover), fee=str(bid.fee),
                       reason=problem)  # fmt: skip

    def judge_pending(self, ctx: EngineContext, record: JobRecord, now: float) -> None:
        """Judge again, each in a task, the pending bids of ``record`` whose retry is due."""
        job = record.job
        assert isinstance(job, RequesterJob)
        assert job.job_id is not None
        for b in ctx.store.bids_for_job(job.job_id, BidDirection.RECEIVED):
            due = self.judged_at.get(b.key, 0.0) + PENDING_RETRY_S
            if b.status is BidStatus.PENDING and now >= due and b.key not in self.judging:
                self.spawn_judge(ctx, record, b.key, b.bid)

    def spawn_judge(self, ctx: EngineContext, record: JobRecord, bid_key: int, bid: Bid) -> None:
        """``judge`` in a task of its own (one per bid at a time)."""
        self.judging.add(bid_key)

        async def run() -> None:
            try:
                await self.judge(ctx, ctx.store.get_job(record.key), bid_key, bid)
            finally:
                self.judging.discard(bid_key)

        ctx.spawn(run)

    async def _problem(self, store: Store, record: JobRecord, bid: Bid) -> str | None:
        try:
            free = (await trio.to_thread.run_sync(self.chain.stake_of, checksum(bid.prover))).free
        except Exception as exc:  # the RPC away: the bid stays pending
            raise StakeUnknown(
                f"the stake of {checksum(bid.prover)} cannot be read: {exc}"
            ) from exc
        return bid_problem(self.announcement(store, record), bid, free, int(self.jobs.clock()))

    async def choose(self, ctx: EngineContext, key: int, job: RequesterJob, now: int) -> bool:
        """Award the best standing bid of job ``key``; False when none is valid now."""
        assert job.job_id is not None
        records = [
            b
            for b in ctx.store.bids_for_job(job.job_id, BidDirection.RECEIVED)
            if b.status in CANDIDATES
        ]
        if not records:
            return False
        stakes, reputation = await self._standing({b.bid.prover for b in records})
        announcement = self.announcement(ctx.store, ctx.store.get_job(key))
        for b in records:  # stakes move and bids expire: record what disqualifies a bid now
            problem = bid_problem(announcement, b.bid, stakes[b.bid.prover], now)
            if problem is not None:
                ctx.store.set_bid_status(b.key, BidStatus.INVALID, problem)
            elif b.status is BidStatus.PENDING:
                ctx.store.set_bid_status(b.key, BidStatus.VALID, None)
        winner = select_winner(announcement, [b.bid for b in records], stakes, reputation, now)
        if winner is None:
            return False
        return self.jobs.advance(ctx, key, AwardChosen(winner), now=now) is not None

    async def after_failure(
        self, ctx: EngineContext, key: int, job: RequesterJob, now: int
    ) -> None:
        """A LAPSED or SLASHED job: award the next standing bid, announce again, or give up."""
        if job.awards >= MAX_AWARDS:
            why = f"{job.awards} awards ended without a proof"
            self.jobs.note(key, "giving up", reason=why)
            self.jobs.advance(ctx, key, GiveUp(why), now=now)
            return
        if job.state is S.LAPSED:
            # awardJob and cancelJob revert until the chain's clock passes the accept deadline.
            assert job.accept_deadline is not None
            chain_now = await trio.to_thread.run_sync(self.chain.timestamp)
            if chain_now <= job.accept_deadline:
                return
        if await self.choose(ctx, key, job, now):
            return
        self.jobs.advance(ctx, key, Reopen(now + self.bid_window_s), now=now)

    async def _standing(
        self, provers: set[bytes]
    ) -> tuple[dict[bytes, int], dict[bytes, Reputation]]:
        """Each prover's free stake (ProverStaking) and record (JobMarket.proverStats)."""
        stakes, reputation = {}, {}
        for prover in sorted(provers):
            address = checksum(prover)
            stakes[prover] = (await trio.to_thread.run_sync(self.chain.stake_of, address)).free
            stats = await trio.to_thread.run_sync(self.chain.prover_stats, address)
            reputation[prover] = Reputation(stats.fulfilled, stats.slashed, stats.lapsed)
        return stakes, reputation

    # -- the award --------------------------------------------------------------

    def chain_bid(self, store: Store, key: int, bid: Bid) -> ChainBid:
        """``bid`` as awardJob takes it: with the job's terms, as the prover signed them."""
        job = self.jobs.job(store, key)
        params = created_terms(store, key)
        return ChainBid(
            bid.job_id,
            checksum(bid.prover),
            bid.fee,
            bid.expiry,
            self.chain.address,
            int(params["model_id"]),
            int(params["input_commitment"]),
            job.collateral,
            job.accept_window,
            job.proof_window,
        )

    async def award(self, ctx: EngineContext, key: int, bid: Bid) -> None:
        job = self.jobs.job(ctx.store, key)
        chain_bid = self.chain_bid(ctx.store, key, bid)
        params = {"job_id": str(bid.job_id), "prover": chain_bid.prover, "fee": str(bid.fee)}
        bid_key = next(
            b.key for b in ctx.store.bids_for_job(bid.job_id, BidDirection.RECEIVED) if b.bid == bid
        )
        try:
            result = await ctx.executor.execute(
                "award_job",
                key,
                params,
                lambda c: c.award_job(chain_bid, bid.signature),
                attempt=job.awards,
            )
        except (ContractRevert, TransactionRejected) as exc:
            ctx.store.set_bid_status(bid_key, BidStatus.INVALID, f"awardJob refused it: {exc}")
            self.jobs.retry_at[key] = self.jobs.clock() + TX_RETRY_S
            self.jobs.advance(ctx, key, ma.TxFailed(str(exc)))
            return
        except IntentPendingError:
            return
        ctx.store.mark_winner(bid.job_id, bid_key)
        self.jobs.advance(ctx, key, awarded_event(result.event("JobAwarded").args))

    def mark_winner(self, store: Store, job_id: int, prover: bytes, fee: int) -> None:
        """Mark the stored bid a JobAwarded event names (its award's own answer was lost)."""
        for b in store.bids_for_job(job_id, BidDirection.RECEIVED):
            if (b.bid.prover, b.bid.fee) == (prover, fee) and b.status in STANDING:
                store.mark_winner(job_id, b.key)
                return


def awarded_event(args: Mapping[str, Any]) -> ma.ChainJobAwarded:
    """The lifecycle event of a JobAwarded log's arguments."""
    prover = bytes.fromhex(str(args["prover"])[2:])
    return ma.ChainJobAwarded(prover, int(args["fee"]), int(args["acceptDeadline"]))
