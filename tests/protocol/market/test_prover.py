"""The prover's transition table: bidding, proving with retries, failure, rescue."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.market import (
    IllegalTransition,
    ProverJob,
    ProverState,
    award_event,
    new_prover_job,
    new_rescue_job,
    prover_step,
    rescue_event,
)
from protocol.market.actions import (
    AckInput,
    Action,
    ChainJobAwarded,
    ChainJobCancelled,
    ChainProofAccepted,
    ChainProofRescued,
    ChainProverSlashed,
    Event,
    ForgetInput,
    ProofDeadlinePassed,
    Prove,
    ReportFailure,
    SendBid,
    SubmitProof,
    Tick,
    TxFailed,
    Withdraw,
)
from protocol.market.prover import (
    MAX_ATTEMPTS,
    TABLE,
    AwardedToOther,
    BidPlaced,
    Declined,
    InputReceived,
    ProofReady,
    ProvingFailed,
    ProvingStarted,
    RescueAccepted,
)
from protocol.messages import sign_bid

from ..messages.samples import ALICE, BOB, BOB_KEY, CHAIN_ID, MARKET, NOW, PEER_B, announcement

S = ProverState
RESCUE = 3600
JOB = announcement(max_fee=100, bid_deadline=NOW + 60, proof_deadline=NOW + 600)
BID = sign_bid(
    BOB_KEY, CHAIN_ID, MARKET, job_id=JOB.job_id, fee=50, expiry=NOW + 30, peer_id=PEER_B
)
CAROL = b"\x0c" * 20


def walk(job: ProverJob, steps: list[tuple[Event, int]]) -> tuple[ProverJob, list[Action]]:
    seen: list[Action] = []
    for event, now in steps:
        job, actions = prover_step(job, event, now)
        seen += actions
    return job, seen


def won() -> ProverJob:
    job = new_prover_job(JOB, BOB, RESCUE)
    return walk(job, [(BidPlaced(BID), NOW), (award_event(job, BOB, 50), NOW + 5)])[0]


def test_happy_path() -> None:
    job, actions = walk(
        won(),
        [
            (InputReceived(), NOW + 70),
            (ProvingStarted(), NOW + 71),
            (ProofReady(), NOW + 200),
            (ChainProofAccepted(), NOW + 220),
        ],
    )
    assert job.state is S.PAID
    assert actions == [AckInput(), Prove(), SubmitProof(), Withdraw(), ForgetInput()]
    assert job.bid == BID


def test_bidding_emits_the_signed_bid() -> None:
    job, actions = prover_step(new_prover_job(JOB, BOB, RESCUE), BidPlaced(BID), NOW)
    assert (job.state, actions) == (S.BID, (SendBid(BID),))
    assert SendBid.MOVES_MONEY  # it authorises the collateral lock


@pytest.mark.parametrize(
    ("event", "now"),
    [(AwardedToOther(), NOW + 5), (ChainJobCancelled(), NOW + 61), (Tick(), NOW + 61)],
)
def test_losing_is_quiet(event: Event, now: int) -> None:
    job = walk(new_prover_job(JOB, BOB, RESCUE), [(BidPlaced(BID), NOW)])[0]
    job, actions = prover_step(job, event, now)
    assert (job.state, actions) == (S.LOST, ())


def test_award_event_tells_ours_from_theirs() -> None:
    job = new_prover_job(JOB, BOB, RESCUE)
    assert award_event(job, BOB, 5) == ChainJobAwarded(BOB, 5)
    assert award_event(job, ALICE, 5) == AwardedToOther()
    with pytest.raises(IllegalTransition):
        prover_step(job, ChainJobAwarded(ALICE, 5), NOW)


def test_proving_failures_retry_then_fail_loudly() -> None:
    job = walk(won(), [(InputReceived(), NOW + 70)])[0]
    for attempt in range(1, MAX_ATTEMPTS):
        job, _ = prover_step(job, ProvingStarted(), NOW + 80)
        job, actions = prover_step(job, ProvingFailed("worker died"), NOW + 90)
        assert (job.state, job.attempts, actions) == (S.INPUT_RECEIVED, attempt, (Prove(),))
    job, _ = prover_step(job, ProvingStarted(), NOW + 80)
    job, actions = prover_step(job, ProvingFailed("worker died"), NOW + 90)
    assert job.state is S.FAILED
    assert isinstance(actions[0], ReportFailure)
    assert "worker died" in actions[0].reason
    job, actions = prover_step(job, ChainProverSlashed(), NOW + 5000)
    assert (job.state, actions) == (S.SLASHED, ())


def test_a_reverted_submission_after_the_deadline_fails() -> None:
    job = walk(
        won(),
        [(InputReceived(), NOW + 70), (ProvingStarted(), NOW + 71), (ProofReady(), NOW + 590)],
    )[0]
    job, actions = prover_step(job, TxFailed("ProofDeadlinePassed"), NOW + 601)
    assert job.state is S.FAILED
    assert actions[-1] == ForgetInput()


def test_the_deadline_fails_a_job_still_waiting_or_proving() -> None:
    for steps in (
        [],
        [(InputReceived(), NOW + 70)],
        [(InputReceived(), NOW + 70), (ProvingStarted(), NOW + 71)],
    ):
        job = walk(won(), steps)[0]
        job, actions = prover_step(job, Tick(), NOW + 601)
        assert job.state is S.FAILED
        assert isinstance(actions[0], ReportFailure)


def test_a_submitted_proof_survives_the_deadline_tick() -> None:
    job = walk(
        won(),
        [(InputReceived(), NOW + 70), (ProvingStarted(), NOW + 71), (ProofReady(), NOW + 599)],
    )[0]
    job, actions = prover_step(job, Tick(), NOW + 601)
    assert (job.state, actions) == (S.SUBMITTED, ())
    assert prover_step(job, ChainProofAccepted(), NOW + 602)[0].state is S.PAID


def test_slashed_by_anothers_rescue() -> None:
    job = walk(won(), [(InputReceived(), NOW + 70)])[0]
    job, actions = prover_step(job, ChainProofRescued(CAROL), NOW + 700)
    assert job.state is S.SLASHED
    assert isinstance(actions[0], ReportFailure)


def test_rescue_path_is_paid_by_the_rescued_event_naming_us() -> None:
    job = new_rescue_job(JOB, BOB, RESCUE)
    assert job.work_deadline == JOB.proof_deadline + RESCUE
    job, actions = walk(
        job,
        [
            (Tick(), NOW + 700),
            (InputReceived(), NOW + 701),
            (ProvingStarted(), NOW + 702),
            (ProofReady(), NOW + 900),
        ],
    )
    assert job.state is S.SUBMITTED
    with pytest.raises(IllegalTransition):
        prover_step(job, ChainProofRescued(BOB), NOW + 910)  # must go through rescue_event
    assert rescue_event(job, CAROL) == ChainProofRescued(CAROL)
    job, actions = prover_step(job, rescue_event(job, BOB), NOW + 910)
    assert (job.state, actions) == (S.PAID, (Withdraw(), ForgetInput()))


def test_a_rescue_lost_to_another_rescuer_or_the_window_is_lost_not_slashed() -> None:
    job = walk(new_rescue_job(JOB, BOB, RESCUE), [(InputReceived(), NOW + 701)])[0]
    assert prover_step(job, ChainProofRescued(CAROL), NOW + 800)[0].state is S.LOST
    assert prover_step(job, Tick(), NOW + 600 + RESCUE + 1)[0].state is S.LOST
    with pytest.raises(IllegalTransition):
        prover_step(job, ChainProofAccepted(), NOW + 800)


@pytest.mark.parametrize(
    "bid",
    [
        sign_bid(BOB_KEY, CHAIN_ID, MARKET, job_id=8, fee=50, expiry=NOW + 30, peer_id=PEER_B),
        sign_bid(BOB_KEY, CHAIN_ID, MARKET, job_id=7, fee=101, expiry=NOW + 30, peer_id=PEER_B),
        sign_bid(BOB_KEY, CHAIN_ID, MARKET, job_id=7, fee=50, expiry=NOW - 1, peer_id=PEER_B),
    ],
)
def test_placing_a_bid_that_cannot_win_is_our_bug(bid: object) -> None:
    with pytest.raises(IllegalTransition):
        prover_step(new_prover_job(JOB, BOB, RESCUE), BidPlaced(bid), NOW)  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition):
        prover_step(new_prover_job(JOB, ALICE, RESCUE), BidPlaced(BID), NOW)  # not our bid


EVENTS: list[Event] = [
    Declined("busy"),
    BidPlaced(BID),
    ChainJobAwarded(BOB, 50),
    AwardedToOther(),
    ChainJobCancelled(),
    InputReceived(),
    ProvingStarted(),
    ProofReady(),
    ProvingFailed("x"),
    TxFailed("x"),
    ChainProofAccepted(),
    ChainProofRescued(CAROL),
    ChainProverSlashed(),
    RescueAccepted(),
]


@pytest.mark.parametrize(
    ("state", "event"),
    list(itertools.product(S, EVENTS)),
    ids=lambda v: getattr(v, "name", type(v).__name__),
)
def test_every_pair_outside_the_table_raises(state: ProverState, event: Event) -> None:
    job = ProverJob(state, JOB, BOB, RESCUE, rescue=isinstance(event, RescueAccepted))
    if (state, type(event)) in TABLE:
        assert isinstance(prover_step(job, event, NOW)[0].state, ProverState)
    else:
        with pytest.raises(IllegalTransition):
            prover_step(job, event, NOW)
    with pytest.raises(IllegalTransition):
        prover_step(job, ProofDeadlinePassed(), NOW)


TERMINAL = {S.PAID, S.DECLINED, S.LOST, S.SLASHED}


@settings(max_examples=200)
@given(
    st.booleans(),
    st.lists(st.tuples(st.sampled_from([*EVENTS, Tick()]), st.integers(0, 5_000)), max_size=25),
)
def test_random_walks_end_cleanly(rescue: bool, steps: list[tuple[Event, int]]) -> None:
    job = (new_rescue_job if rescue else new_prover_job)(JOB, BOB, RESCUE)
    proved = False
    for event, dt in sorted(steps, key=lambda s: s[1]):
        before = job.state
        try:
            job, actions = prover_step(job, event, NOW - 10 + dt)
        except IllegalTransition:
            continue
        if before in TERMINAL:
            assert actions == ()
        proved = proved or SubmitProof() in actions
        assert job.state is not S.PAID or proved  # paid only after submitting
        assert job.attempts <= MAX_ATTEMPTS
