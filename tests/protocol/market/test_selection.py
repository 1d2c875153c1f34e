"""select_winner: the winner is always valid and no valid bid is strictly better."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.market import Reputation, bid_problem, select_winner
from protocol.market.selection import LAPSE_WEIGHT, SLASH_WEIGHT, ranking_key
from protocol.messages import Bid, JobTerms, sign_bid
from protocol.messages.eip712 import address_of

from ..messages.samples import CHAIN_ID, MARKET, NOW, PEER_B, announcement

KEYS = [bytes([i + 1]) * 32 for i in range(4)]
PROVERS = [address_of(key) for key in KEYS]
JOB = announcement(max_fee=1000, collateral=500, bid_deadline=NOW + 60)


def bid(
    key: int,
    fee: int,
    expiry: int = NOW + 30,
    job_id: int = JOB.job_id,
    market: bytes = MARKET,
    terms: JobTerms = JOB.terms,
) -> Bid:
    return sign_bid(
        KEYS[key], CHAIN_ID, market, terms, job_id=job_id, fee=fee, expiry=expiry, peer_id=PEER_B
    )


STAKES = dict.fromkeys(PROVERS, 500)


def test_lowest_fee_wins() -> None:
    bids = [bid(0, 300), bid(1, 200), bid(2, 250)]
    assert select_winner(JOB, bids, STAKES, {}, NOW) == bids[1]


def test_equal_fees_go_to_the_better_reputation() -> None:
    bids = [bid(0, 200), bid(1, 200)]
    reputation = {PROVERS[0]: Reputation(5, 0), PROVERS[1]: Reputation(20, 1)}
    assert Reputation(20, 1).score == 20 - SLASH_WEIGHT
    assert select_winner(JOB, bids, STAKES, reputation, NOW) == bids[1]
    reputation[PROVERS[1]] = Reputation(14, 1)  # one slash outweighs ten fulfilled jobs
    assert select_winner(JOB, bids, STAKES, reputation, NOW) == bids[0]


def test_lapses_count_against_a_prover_one_each() -> None:
    assert Reputation(5, 1, 3).score == 5 - SLASH_WEIGHT - 3 * LAPSE_WEIGHT
    assert Reputation(lapsed=1).score == -LAPSE_WEIGHT < Reputation().score == 0
    assert LAPSE_WEIGHT < SLASH_WEIGHT  # a lapse costs the requester a window, a slash more
    bids = [bid(0, 200), bid(1, 200)]
    reputation = {PROVERS[0]: Reputation(3, 0, 0), PROVERS[1]: Reputation(5, 0, 3)}
    assert select_winner(JOB, bids, STAKES, reputation, NOW) == bids[0]  # 3 > 5 - 3
    reputation[PROVERS[1]] = Reputation(5, 0, 1)
    assert select_winner(JOB, bids, STAKES, reputation, NOW) == bids[1]  # 3 < 5 - 1
    # Fees still come first: lapses only break ties.
    assert select_winner(JOB, [bid(0, 201), bids[1]], STAKES, reputation, NOW) == bids[1]


def test_full_ties_break_by_a_per_job_hash_not_by_address() -> None:
    bids = [bid(k, 200) for k in range(4)]
    winners = set()
    for job_id in range(1, 30):
        job = announcement(job_id=job_id, max_fee=1000, collateral=500, bid_deadline=NOW + 60)
        per_job = [
            sign_bid(
                KEYS[k],
                CHAIN_ID,
                MARKET,
                job.terms,
                job_id=job_id,
                fee=200,
                expiry=NOW + 30,
                peer_id=PEER_B,
            )
            for k in range(4)
        ]
        winner = select_winner(job, per_job, STAKES, {}, NOW)
        assert winner is not None
        assert select_winner(job, per_job[::-1], STAKES, {}, NOW) == winner
        winners.add(winner.prover)
    assert len(winners) > 1  # no address wins every tie
    assert select_winner(JOB, bids, STAKES, {}, NOW) in bids


def test_invalid_bids_never_win() -> None:
    good = bid(3, 900)
    cases = {
        "expired": bid(0, 1, expiry=NOW - 1),
        "other job": bid(0, 1, job_id=JOB.job_id + 1),
        "other market": bid(0, 1, market=b"\x01" * 20),
        "above max": bid(0, 1001),
        "unstaked": bid(1, 1),
        "forged": Bid(JOB.job_id, PROVERS[2], 1, NOW + 30, bid(0, 1).signature, PEER_B),
        "other collateral": bid(0, 1, terms=dataclasses.replace(JOB.terms, collateral=499)),
        "other windows": bid(0, 1, terms=dataclasses.replace(JOB.terms, proof_window=601)),
        "other input": bid(0, 1, terms=dataclasses.replace(JOB.terms, input_commitment=1)),
    }
    stakes = {**STAKES, PROVERS[1]: 499}
    for name, bad in cases.items():
        assert bid_problem(JOB, bad, stakes.get(bad.prover, 0), NOW) is not None, name
        assert select_winner(JOB, [bad, good], stakes, {}, NOW) == good, name
    assert select_winner(JOB, list(cases.values()), stakes, {}, NOW) is None
    assert "for these terms" in str(bid_problem(JOB, cases["other collateral"], 500, NOW))


@pytest.mark.parametrize(
    ("now", "valid"), [(NOW + 30, True), (NOW + 31, False)], ids=["at expiry", "after"]
)
def test_a_bid_is_valid_through_its_expiry_even_past_the_bid_deadline(
    now: int, valid: bool
) -> None:
    """A lapsed award is replaced by a standing bid after the bid deadline (awardJob checks
    only the bid's expiry, inclusive)."""
    job = announcement(max_fee=1000, collateral=500, bid_deadline=NOW)
    late = bid(0, 300, expiry=NOW + 30)
    assert (bid_problem(job, late, 500, now) is None) is valid
    assert (select_winner(job, [late], STAKES, {}, now) == late) is valid


def test_a_re_announcement_keeps_the_standing_bids_valid() -> None:
    standing = bid(0, 300)
    again = dataclasses.replace(JOB, round=1, bid_deadline=NOW + 999, max_fee=999)
    assert bid_problem(again, standing, 500, NOW) is None


bids_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),  # prover
        st.integers(0, 1200),  # fee (max fee is 1000)
        st.integers(NOW - 5, NOW + 20),  # expiry
        st.booleans(),  # forge the signature with another key
    ),
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(
    bids_strategy,
    st.lists(st.integers(400, 600), min_size=4, max_size=4),
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 3), st.integers(0, 5)), min_size=4, max_size=4
    ),
    st.integers(NOW - 2, NOW + 10),
    st.randoms(use_true_random=False),
)
def test_winner_is_valid_and_no_valid_bid_is_better(
    specs: list[tuple[int, int, int, bool]],
    stake_list: list[int],
    counters: list[tuple[int, int, int]],
    now: int,
    rng: random.Random,
) -> None:
    bids = []
    for prover, fee, expiry, forged in specs:
        made = bid(prover, fee, expiry)
        if forged:
            made = Bid(
                made.job_id,
                made.prover,
                fee,
                expiry,
                bid((prover + 1) % 4, fee, expiry).signature,
                PEER_B,
            )
        bids.append(made)
    stakes = dict(zip(PROVERS, stake_list, strict=True))
    reputation = {p: Reputation(*c) for p, c in zip(PROVERS, counters, strict=True)}
    winner = select_winner(JOB, bids, stakes, reputation, now)
    valid = [b for b in bids if bid_problem(JOB, b, stakes[b.prover], now) is None]
    assert (winner is None) == (not valid)
    if winner is None:
        return
    assert winner in valid
    assert winner.fee == min(b.fee for b in valid)
    best = ranking_key(JOB, winner, reputation[winner.prover])
    assert all(best <= ranking_key(JOB, b, reputation[b.prover]) for b in valid)
    rng.shuffle(bids)
    assert select_winner(JOB, bids, stakes, reputation, now) == winner


RECORDS = [Reputation(0, 0), Reputation(3, 0), Reputation(10, 1), Reputation(11, 1, 1)]


def test_every_fee_and_record_combination_of_three_provers() -> None:
    """Fees, then scores, then the per-job hash decide, in any arrival order."""
    fees = (100, 200)
    signed = {(k, fee): bid(k, fee) for k in range(3) for fee in fees}
    for fee_choice in itertools.product(fees, repeat=3):
        for records in itertools.product(RECORDS, repeat=3):
            bids = [signed[(k, fee)] for k, fee in enumerate(fee_choice)]
            reputation = dict(zip(PROVERS, records, strict=False))
            cheapest = [b for b in bids if b.fee == min(fee_choice)]
            best_score = max(reputation[b.prover].score for b in cheapest)
            tied = [b for b in cheapest if reputation[b.prover].score == best_score]
            expected = min(tied, key=lambda b: keccak(JOB.job_id.to_bytes(32, "big") + b.prover))
            for order in itertools.permutations(bids):
                assert select_winner(JOB, order, STAKES, reputation, NOW) == expected
