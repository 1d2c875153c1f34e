"""The requester's answer to bids after the award: rescue offers, and the winner asking again.

An assigned prover whose input went missing (its node died between the stream's
acknowledgement and storing it) re-sends its winning bid; while the job is
INPUT_DELIVERED the requester answers with the input again (``asks_for_input``;
it goes only to that prover's bound peer, so a replayed bid leaks nothing).

A prover in rescue mode (node.engine.prover_rescue) offers to rescue an overdue job
with a signed ``Bid`` for it (expiry: the rescue window's end). JobMarket pays a
rescue from the escrow and the assigned prover's collateral, never from the
requester's pocket beyond the max fee, so a requester takes the offer of any prover
JobMarket would accept: staked, not the assigned prover, inside the window. The input
goes to ONE rescuer, the first valid offer's (its bid is stored VALID; ordinary bids
expire at the bid deadline, rescue offers after the proof deadline, which tells them
apart after a restart). The chosen rescuer's repeated offers are answered by
delivering again (a delivery may be lost); other offers are stored INVALID with why.
"""

from __future__ import annotations

from typing import Protocol

import trio

from node.chain.interface import Chain
from node.engine.core import EngineContext
from node.engine.requester_acts import checksum
from node.store import BidDirection, BidStatus, JobRecord, Store
from protocol.market import RequesterJob, RequesterState
from protocol.market import actions as ma
from protocol.market.requester import RescuerChosen
from protocol.messages import Bid
from protocol.messages.errors import BadSignature
from protocol.messages.signing import recover_bid_signer


class Requester(Protocol):
    """What answering an offer needs of ``RequesterRole``."""

    chain: Chain
    market: bytes

    def clock(self) -> float: ...

    def _advance(
        self,
        ctx: EngineContext,
        key: int,
        event: ma.Event,
        *,
        now: int | None = None,
        defer: bool = False,
    ) -> RequesterJob | None: ...


def asks_for_input(job: object, bid: Bid) -> bool:
    """Whether ``bid`` is the requester's ``job``'s assigned prover asking again for the
    input delivered to it."""
    if not isinstance(job, RequesterJob) or job.state is not RequesterState.INPUT_DELIVERED:
        return False
    return bid.job_id == job.job_id and bid.prover == job.prover


def rescue_offer_problem(
    job: RequesterJob, bid: Bid, stake: int, chain_id: int, market: bytes, now: int
) -> str | None:
    """Why JobMarket would not take a rescue of ``job`` from ``bid``'s prover, or None."""
    if job.state is not RequesterState.OVERDUE:
        return f"the job is {job.state.value}, not overdue"
    if bid.job_id != job.job_id:
        return f"the offer is for job {bid.job_id}"
    if bid.prover == job.prover:
        return "the assigned prover cannot rescue its own job"
    if now > job.proof_deadline + job.rescue_window or now > bid.expiry:
        return "the rescue window has closed or the offer expired"
    if stake == 0:
        return "JobMarket takes rescues from staked provers only"
    try:
        signer = recover_bid_signer(chain_id, market, bid)
    except BadSignature as exc:
        return f"bad signature: {exc}"
    return None if signer == bid.prover else "the offer is not signed by its prover"


def chosen_rescuer(store: Store, job: RequesterJob) -> bytes | None:
    """The prover of the first valid rescue offer for ``job``, if any."""
    assert job.job_id is not None
    for record in store.bids_for_job(job.job_id, BidDirection.RECEIVED):
        offer = record.bid
        is_rescue = offer.expiry > job.proof_deadline and offer.prover != job.prover
        if is_rescue and record.status is BidStatus.VALID:
            return offer.prover
    return None


async def answer_rescue_offer(
    requester: Requester, ctx: EngineContext, record: JobRecord, bid_key: int, bid: Bid
) -> None:
    """Judge ``bid`` as an offer to rescue the overdue job ``record``; deliver if it is chosen."""
    job = record.job
    assert isinstance(job, RequesterJob)
    if bid.prover == job.prover or bid.expiry <= job.proof_deadline:
        return  # a bid of the auction sent again, not an offer: its status stands
    try:
        stake = (
            await trio.to_thread.run_sync(requester.chain.stake_of, checksum(bid.prover))
        ).stake
    except Exception:  # the RPC away: judged again at the next offer
        return
    now = int(requester.clock())
    chain_id = requester.chain.chain_id
    problem = rescue_offer_problem(job, bid, stake, chain_id, requester.market, now)
    chosen = chosen_rescuer(ctx.store, job)
    if problem is None and chosen is not None and chosen != bid.prover:
        problem = f"another prover ({checksum(chosen)}) is rescuing the job"
    ctx.store.set_bid_status(bid_key, BidStatus.INVALID if problem else BidStatus.VALID, problem)
    if problem is None:
        requester._advance(ctx, record.key, RescuerChosen(bid.prover))
