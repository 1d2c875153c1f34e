"""The requester's transition table: the paths a job takes, and refusal of everything else."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.market import IllegalTransition, RequesterJob, RequesterState, requester_step
from protocol.market.actions import (
    Action,
    Announce,
    AwardJob,
    BidDeadlinePassed,
    CancelJob,
    ChainJobAwarded,
    ChainJobCancelled,
    ChainJobCreated,
    ChainProofAccepted,
    ChainProofRescued,
    ChainProverSlashed,
    CreateJob,
    DeliverInput,
    Event,
    ProposeResubmit,
    Slash,
    Tick,
    TxFailed,
    Withdraw,
)
from protocol.market.requester import (
    TABLE,
    Announced,
    AwardChosen,
    DeliveryFailed,
    InputAcked,
    RescuerChosen,
    Resubmitted,
    new_requester_job,
)
from protocol.messages import sign_bid

from ..messages.samples import BOB, BOB_KEY, CHAIN_ID, MARKET, NOW, PEER_B

S = RequesterState
BID_DEADLINE, PROOF_DEADLINE, RESCUE = NOW + 60, NOW + 600, 3600
BID = sign_bid(BOB_KEY, CHAIN_ID, MARKET, job_id=7, fee=50, expiry=NOW + 30, peer_id=PEER_B)
CAROL = b"\x0c" * 20


def fresh() -> tuple[RequesterJob, tuple[Action, ...]]:
    return new_requester_job(
        max_fee=100,
        collateral=10,
        bid_deadline=BID_DEADLINE,
        proof_deadline=PROOF_DEADLINE,
        rescue_window=RESCUE,
    )


def walk(steps: list[tuple[Event, int]]) -> tuple[RequesterJob, list[Action]]:
    job, actions = fresh()
    seen = list(actions)
    for event, now in steps:
        job, actions = requester_step(job, event, now)
        seen += actions
    return job, seen


def test_happy_path() -> None:
    job, actions = walk(
        [
            (ChainJobCreated(7), NOW),
            (Announced(), NOW),
            (AwardChosen(BID), NOW + 10),
            (ChainJobAwarded(BOB, 50), NOW + 12),
            (InputAcked(), NOW + 13),
            (ChainProofAccepted(), NOW + 200),
        ]
    )
    assert job.state is S.PROVEN
    assert (job.job_id, job.prover, job.fee) == (7, BOB, 50)
    assert actions == [CreateJob(), Announce(), AwardJob(BID), DeliverInput(BOB), Withdraw()]


def test_unawarded_job_is_cancelled_at_the_first_tick_after_the_bid_deadline() -> None:
    job, _ = walk([(ChainJobCreated(7), NOW), (Announced(), NOW), (Tick(), BID_DEADLINE)])
    assert job.state is S.ANNOUNCED
    job, more = requester_step(job, Tick(), BID_DEADLINE + 1)
    assert (job.state, more) == (S.CANCELLING, (CancelJob(),))
    job, more = requester_step(job, ChainJobCancelled(), BID_DEADLINE + 20)
    assert (job.state, more) == (S.CANCELLED, (Withdraw(), ProposeResubmit()))
    job, _ = requester_step(job, Resubmitted(8), BID_DEADLINE + 30)
    assert (job.state, job.replaced_by) == (S.RESUBMITTED, 8)


def test_a_missed_deadline_is_slashed_after_the_rescue_window_in_one_late_tick() -> None:
    job, _ = walk(
        [(ChainJobCreated(7), NOW), (AwardChosen(BID), NOW), (ChainJobAwarded(BOB, 50), NOW + 1)]
    )
    job, actions = requester_step(job, Tick(), PROOF_DEADLINE + RESCUE + 1)
    assert (job.state, actions) == (S.SLASHING, (Slash(),))
    job, actions = requester_step(job, TxFailed("nonce too low"), PROOF_DEADLINE + RESCUE + 2)
    assert job.state is S.OVERDUE
    job, actions = requester_step(job, Tick(), PROOF_DEADLINE + RESCUE + 3)
    assert actions == (Slash(),)  # the next tick re-issues it
    job, actions = requester_step(job, ChainProverSlashed(), PROOF_DEADLINE + RESCUE + 9)
    assert (job.state, actions) == (S.SLASHED, (Withdraw(), ProposeResubmit()))


def test_rescue_by_a_chosen_rescuer() -> None:
    job, _ = walk(
        [
            (ChainJobCreated(7), NOW),
            (AwardChosen(BID), NOW),
            (ChainJobAwarded(BOB, 50), NOW + 1),
            (Tick(), PROOF_DEADLINE + 1),
        ]
    )
    assert job.state is S.OVERDUE
    job, actions = requester_step(job, RescuerChosen(CAROL), PROOF_DEADLINE + 2)
    assert actions == (DeliverInput(CAROL),)
    job, actions = requester_step(job, ChainProofRescued(CAROL), PROOF_DEADLINE + 100)
    assert (job.state, actions) == (S.RESCUED, (Withdraw(),))


def test_late_chain_events_are_accepted_after_our_clock_moved_on() -> None:
    job, _ = walk(
        [
            (ChainJobCreated(7), NOW),
            (AwardChosen(BID), NOW),
            (ChainJobAwarded(BOB, 50), NOW + 1),
            (Tick(), PROOF_DEADLINE + 5),
        ]
    )
    assert requester_step(job, ChainProofAccepted(), PROOF_DEADLINE + 6)[0].state is S.PROVEN


def test_failed_award_returns_to_announced_and_a_failed_delivery_retries() -> None:
    job, _ = walk([(ChainJobCreated(7), NOW), (Announced(), NOW), (AwardChosen(BID), NOW)])
    job, actions = requester_step(job, TxFailed("InsufficientFreeStake"), NOW + 1)
    assert (job.state, actions) == (S.ANNOUNCED, ())
    job, _ = walk(
        [(ChainJobCreated(7), NOW), (AwardChosen(BID), NOW), (ChainJobAwarded(BOB, 50), NOW + 1)]
    )
    job, actions = requester_step(job, DeliveryFailed("stream reset"), NOW + 2)
    assert (job.state, actions) == (S.AWARDED, (DeliverInput(BOB),))


@pytest.mark.parametrize(
    ("bid", "now"),
    [
        (BID, BID.expiry + 1),  # expired
        (
            sign_bid(BOB_KEY, CHAIN_ID, MARKET, job_id=7, fee=50, expiry=NOW + 99, peer_id=PEER_B),
            BID_DEADLINE + 1,
        ),  # past the bid deadline
        (
            sign_bid(BOB_KEY, CHAIN_ID, MARKET, job_id=8, fee=50, expiry=NOW + 30, peer_id=PEER_B),
            NOW,
        ),  # another job
        (
            sign_bid(BOB_KEY, CHAIN_ID, MARKET, job_id=7, fee=101, expiry=NOW + 30, peer_id=PEER_B),
            NOW,
        ),  # above the max fee
    ],
)
def test_awarding_a_bid_that_cannot_land_is_our_bug(bid: object, now: int) -> None:
    job, _ = walk([(ChainJobCreated(7), NOW)])
    with pytest.raises(IllegalTransition):
        requester_step(job, AwardChosen(bid), now)  # type: ignore[arg-type]


def test_time_events_only_come_from_ticks() -> None:
    job, _ = walk([(ChainJobCreated(7), NOW)])
    with pytest.raises(IllegalTransition):
        requester_step(job, BidDeadlinePassed(), BID_DEADLINE + 1)


def test_bad_job_terms_are_refused() -> None:
    with pytest.raises(IllegalTransition):
        new_requester_job(
            max_fee=0, collateral=0, bid_deadline=1, proof_deadline=2, rescue_window=0
        )


EVENTS: list[Event] = [
    ChainJobCreated(7),
    Announced(),
    AwardChosen(BID),
    ChainJobAwarded(BOB, 50),
    InputAcked(),
    DeliveryFailed("x"),
    RescuerChosen(CAROL),
    ChainProofAccepted(),
    ChainProofRescued(CAROL),
    ChainProverSlashed(),
    ChainJobCancelled(),
    TxFailed("x"),
    Resubmitted(9),
]


@pytest.mark.parametrize(
    ("state", "event"),
    list(itertools.product(S, EVENTS)),
    ids=lambda v: getattr(v, "name", type(v).__name__),
)
def test_every_pair_outside_the_table_raises(state: RequesterState, event: Event) -> None:
    job = RequesterJob(state, 100, 10, BID_DEADLINE, PROOF_DEADLINE, RESCUE, 7, BOB, 50)
    if (state, type(event)) in TABLE:
        assert requester_step(job, event, NOW)[0].state is TABLE[(state, type(event))][0]
    else:
        with pytest.raises(IllegalTransition):
            requester_step(job, event, NOW)


def test_money_moving_actions_are_marked() -> None:
    money = {cls.__name__ for cls in (CreateJob, AwardJob, CancelJob, Slash, Withdraw)}
    kinds = {
        CreateJob(),
        AwardJob(BID),
        CancelJob(),
        Slash(),
        Withdraw(),
        Announce(),
        DeliverInput(BOB),
        ProposeResubmit(),
    }
    assert {type(a).__name__ for a in kinds if a.MOVES_MONEY} == money


TERMINAL = {S.PROVEN, S.RESCUED, S.ABANDONED, S.RESUBMITTED}
PENDING_TX = {AwardJob: S.AWARDING, CancelJob: S.CANCELLING, Slash: S.SLASHING}


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([*EVENTS, Tick()]), st.integers(0, 5_000)), max_size=25))
def test_random_walks_keep_the_money_rules(steps: list[tuple[Event, int]]) -> None:
    job, _ = fresh()
    for event, dt in sorted(steps, key=lambda s: s[1]):
        before = job.state
        try:
            job, actions = requester_step(job, event, NOW - 10 + dt)
        except IllegalTransition:
            continue
        if before in TERMINAL:
            assert actions == ()
        for action in actions:
            assert not isinstance(action, CreateJob)  # escrow is taken once, at creation
            if type(action) in PENDING_TX:  # a sent transaction is awaited in its own state
                assert job.state is PENDING_TX[type(action)]
