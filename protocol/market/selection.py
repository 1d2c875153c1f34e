"""Which bid a requester awards: the winner-selection rule.

A bid is valid for a job when it names the job, is signed by its prover for this
chain, market and the job's terms, has not expired, asks at most the max fee, and
the prover's free stake covers the collateral (acceptJob would revert otherwise). Among valid bids
the lowest fee wins; equal fees go to the better reputation; remaining ties go to
the lowest keccak256(job id, prover), a per-job order that favours no address
across jobs, then to the later expiry and the signature bytes (total and
deterministic: every requester picks the same winner from the same bids).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_utils.crypto import keccak

from protocol.messages.errors import BadSignature
from protocol.messages.signing import recover_bid_signer
from protocol.messages.types import Bid, JobAnnouncement

# A slash costs a requester a whole proof window of waiting; one slashed job outweighs ten
# fulfilled ones (Brevis and Succinct likewise suspend provers below a bar). A lapse costs
# it an accept window, and a requester that withholds inputs can cause lapses: one each.
SLASH_WEIGHT = 10
LAPSE_WEIGHT = 1


@dataclass(frozen=True)
class Reputation:
    """A prover's on-chain record: JobMarket.proverStats counters."""

    fulfilled: int = 0
    slashed: int = 0
    lapsed: int = 0

    @property
    def score(self) -> int:
        """fulfilled - SLASH_WEIGHT * slashed - LAPSE_WEIGHT * lapsed; higher is better, new
        provers score 0."""
        return self.fulfilled - SLASH_WEIGHT * self.slashed - LAPSE_WEIGHT * self.lapsed


def bid_problem(job: JobAnnouncement, bid: Bid, free_stake: int, now: int) -> str | None:
    """Why ``bid`` cannot win ``job`` at ``now``, or None when it can."""
    if bid.job_id != job.job_id:
        return f"the bid is for job {bid.job_id}"
    if now > bid.expiry:
        return f"the bid expired at {bid.expiry}"
    if bid.fee > job.max_fee:
        return f"fee {bid.fee} exceeds the max fee {job.max_fee}"
    if free_stake < job.collateral:
        return f"free stake {free_stake} does not cover the collateral {job.collateral}"
    try:
        signer = recover_bid_signer(job.chain_id, job.market, bid, job.terms)
    except BadSignature as exc:
        return f"bad signature: {exc}"
    return None if signer == bid.prover else "the bid is not signed by its prover for these terms"


RankKey = tuple[int, int, bytes, int, bytes]


def ranking_key(job: JobAnnouncement, bid: Bid, reputation: Reputation) -> RankKey:
    """Smaller is better: fee, then reputation, then the deterministic tie-breaks."""
    shuffle = keccak(job.job_id.to_bytes(32, "big") + bid.prover)
    return (bid.fee, -reputation.score, shuffle, -bid.expiry, bid.signature)


def select_winner(
    job: JobAnnouncement,
    bids: Iterable[Bid],
    stakes: Mapping[bytes, int],
    reputation: Mapping[bytes, Reputation],
    now: int,
) -> Bid | None:
    """The bid to award, or None when no bid is valid.

    ``stakes`` maps provers to their free stake (ProverStaking.freeStakeOf);
    ``reputation`` maps provers to their counters (unknown provers score 0).
    """
    best: Bid | None = None
    best_key: RankKey | None = None
    for bid in bids:
        if bid_problem(job, bid, stakes.get(bid.prover, 0), now) is not None:
            continue
        key = ranking_key(job, bid, reputation.get(bid.prover, Reputation()))
        if best_key is None or key < best_key:
            best, best_key = bid, key
    return best
