"""The requester's transition table: every rule, the paths a job takes, refusal of the rest."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.market import IllegalTransition, RequesterJob, RequesterState, requester_step
from protocol.market.actions import (
    AcceptDeadlinePassed,
    Action,
    Announce,
    AwardJob,
    BidDeadlinePassed,
    CancelJob,
    ChainJobAccepted,
    ChainJobAwarded,
    ChainJobCancelled,
    ChainJobCreated,
    ChainProofAccepted,
    ChainProverSlashed,
    CreateJob,
    DeliverInput,
    Event,
    ProofDeadlinePassed,
    ProposeResubmit,
    Slash,
    Tick,
    TxFailed,
    Withdraw,
)
from protocol.market.requester import (
    AWARDABLE,
    TABLE,
    TERMINAL,
    Announced,
    AwardChosen,
    DeliveryFailed,
    GiveUp,
    InputAcked,
    Reopen,
    Resubmitted,
    new_requester_job,
)
from protocol.messages import Bid, JobTerms, sign_bid
from protocol.messages.eip712 import address_of

from ..messages.samples import ALICE, BOB, BOB_KEY, CHAIN_ID, MARKET, NOW, PEER_B

S = RequesterState
BID_DEADLINE, ACCEPT_WINDOW, PROOF_WINDOW = NOW + 60, 60, 600
TERMS = JobTerms(ALICE, 1, 5, 10, ACCEPT_WINDOW, PROOF_WINDOW)
CAROL_KEY = b"\x0c" * 32
CAROL = address_of(CAROL_KEY)


def signed(key: bytes = BOB_KEY, *, job_id: int = 7, fee: int = 50, expiry: int = NOW + 30) -> Bid:
    return sign_bid(key, CHAIN_ID, MARKET, TERMS, job_id=job_id, fee=fee, expiry=expiry,
                    peer_id=PEER_B)  # fmt: skip


BID = signed()
# Carol's standing bid, valid well past the bid deadline (for a re-award after a lapse).
STANDING = signed(CAROL_KEY, fee=60, expiry=BID_DEADLINE + 5000)


def fresh() -> tuple[RequesterJob, tuple[Action, ...]]:
    return new_requester_job(
        max_fee=100,
        collateral=10,
        bid_deadline=BID_DEADLINE,
        accept_window=ACCEPT_WINDOW,
        proof_window=PROOF_WINDOW,
    )


def walk(
    steps: list[tuple[Event, int]], job: RequesterJob | None = None
) -> tuple[RequesterJob, list[Action]]:
    seen: list[Action] = []
    if job is None:
        job, actions = fresh()
        seen += actions
    for event, now in steps:
        job, actions = requester_step(job, event, now)
        seen += actions
    return job, seen


AWARDED_AT = NOW + 12
ACCEPT_DEADLINE = AWARDED_AT + ACCEPT_WINDOW
ACCEPTED_AT = NOW + 20
PROOF_DEADLINE = ACCEPTED_AT + PROOF_WINDOW
TO_AWARDED: list[tuple[Event, int]] = [
    (ChainJobCreated(7), NOW),
    (Announced(), NOW),
    (AwardChosen(BID), NOW + 10),
    (ChainJobAwarded(BOB, 50, ACCEPT_DEADLINE), AWARDED_AT),
]
TO_ACCEPTED = [
    *TO_AWARDED,
    (InputAcked(), NOW + 13),
    (ChainJobAccepted(BOB, PROOF_DEADLINE), NOW + 20),
]


def awarded() -> RequesterJob:
    return walk(TO_AWARDED)[0]


def accepted() -> RequesterJob:
    return walk(TO_ACCEPTED)[0]


def lapsed() -> RequesterJob:
    job, _ = walk([(Tick(), ACCEPT_DEADLINE + 1)], awarded())
    assert job.state is S.LAPSED
    return job


def slashed() -> RequesterJob:
    return walk(
        [(Tick(), PROOF_DEADLINE + 1), (ChainProverSlashed(), PROOF_DEADLINE + 9)], accepted()
    )[0]


# -- the paths -------------------------------------------------------------------------


def test_happy_path() -> None:
    job, actions = walk([*TO_ACCEPTED, (ChainProofAccepted(), NOW + 200)])
    assert job.state is S.PROVEN
    assert (job.job_id, job.prover, job.fee) == (7, BOB, 50)
    assert (job.accept_deadline, job.proof_deadline) == (ACCEPT_DEADLINE, PROOF_DEADLINE)
    assert (job.round, job.awards, job.slashes) == (0, 1, 0)
    assert actions == [CreateJob(), Announce(), AwardJob(BID), DeliverInput(BOB), Withdraw()]


def test_unawarded_job_is_cancelled_at_the_first_tick_after_the_bid_deadline() -> None:
    job, _ = walk([(ChainJobCreated(7), NOW), (Announced(), NOW), (Tick(), BID_DEADLINE)])
    assert job.state is S.ANNOUNCED  # the bid deadline is the last second for bids
    job, more = requester_step(job, Tick(), BID_DEADLINE + 1)
    assert (job.state, more) == (S.CANCELLING, (CancelJob(),))
    job, more = requester_step(job, ChainJobCancelled(), BID_DEADLINE + 20)
    assert (job.state, more) == (S.CANCELLED, (Withdraw(), ProposeResubmit()))
    job, _ = requester_step(job, Resubmitted(8), BID_DEADLINE + 30)
    assert (job.state, job.replaced_by) == (S.RESUBMITTED, 8)


def test_an_award_lapses_after_its_accept_deadline_not_at_it() -> None:
    for state in (S.AWARDED, S.INPUT_DELIVERED):
        job = dataclasses.replace(awarded(), state=state)
        assert requester_step(job, Tick(), ACCEPT_DEADLINE) == (job, ())  # the prover's second
        job, actions = requester_step(job, Tick(), ACCEPT_DEADLINE + 1)
        assert (job.state, actions) == (S.LAPSED, ())
        assert job.prover == BOB  # the lapsed prover stays on record until the next award


def test_a_lapsed_award_goes_to_a_standing_bid_after_the_bid_deadline() -> None:
    now = ACCEPT_DEADLINE + 5
    assert now > BID_DEADLINE
    job, actions = walk([(AwardChosen(STANDING), now)], lapsed())
    assert (job.state, actions, job.resume) == (S.AWARDING, [AwardJob(STANDING)], S.LAPSED)
    job, actions = walk([(ChainJobAwarded(CAROL, 60, now + 1 + ACCEPT_WINDOW), now + 1)], job)
    assert (job.state, actions) == (S.AWARDED, [DeliverInput(CAROL)])  # the input: carol only
    assert (job.prover, job.fee, job.accept_deadline, job.awards) == (
        CAROL,
        60,
        now + 1 + ACCEPT_WINDOW,
        2,
    )


def test_a_refused_re_award_returns_to_where_it_was_sent_from() -> None:
    """Not to the first auction: its bid deadline is long past and a tick would cancel."""
    for before in (lapsed(), slashed()):
        now = max(ACCEPT_DEADLINE, PROOF_DEADLINE) + 50
        job, _ = walk(
            [(AwardChosen(STANDING), now), (TxFailed("AcceptWindowOpen"), now + 1)], before
        )
        assert job.state is before.state
        assert requester_step(job, Tick(), now + 2) == (job, ())  # nothing cancels it
        job, actions = requester_step(job, AwardChosen(STANDING), now + 3)  # the engine retries
        assert (job.state, actions) == (S.AWARDING, (AwardJob(STANDING),))


def test_a_refused_cancel_returns_and_the_next_tick_re_issues_a_due_one() -> None:
    job, _ = walk([(ChainJobCreated(7), NOW), (Announced(), NOW), (Tick(), BID_DEADLINE + 1)])
    job, actions = requester_step(job, TxFailed("nonce too low"), BID_DEADLINE + 2)
    assert (job.state, actions) == (S.ANNOUNCED, ())
    job, actions = requester_step(job, Tick(), BID_DEADLINE + 3)
    assert (job.state, actions) == (S.CANCELLING, (CancelJob(),))
    # A give-up from a lapse returns to the lapse, where nothing is due by the clock.
    job, _ = walk([(GiveUp("three awards lapsed"), ACCEPT_DEADLINE + 2)], lapsed())
    job, _ = requester_step(job, TxFailed("AcceptWindowOpen"), ACCEPT_DEADLINE + 3)
    assert job.state is S.LAPSED


def test_a_lapsed_or_slashed_job_is_announced_again_with_a_new_bid_deadline() -> None:
    for before in (lapsed(), slashed()):
        now = PROOF_DEADLINE + 20
        with pytest.raises(IllegalTransition, match="future"):
            requester_step(before, Reopen(now), now)
        job, actions = requester_step(before, Reopen(now + 60), now)
        assert (job.state, actions) == (S.REOPENED, (Announce(),))
        assert (job.round, job.bid_deadline) == (1, now + 60)
        job, actions = requester_step(job, Announced(), now + 1)
        assert (job.state, actions) == (S.REOPENED, ())
        assert requester_step(job, Tick(), now + 60) == (job, ())
        job, actions = requester_step(job, Tick(), now + 61)  # no award in the new round
        assert (job.state, actions) == (S.CANCELLING, (CancelJob(),))
        job, _ = requester_step(job, TxFailed("x"), now + 62)
        assert (job.state, job.round) == (S.REOPENED, 1)


def test_a_second_round_awards_and_settles() -> None:
    job, _ = walk([(Reopen(ACCEPT_DEADLINE + 100), ACCEPT_DEADLINE + 1)], lapsed())
    now = ACCEPT_DEADLINE + 90
    job, actions = walk(
        [
            (AwardChosen(STANDING), now),
            (ChainJobAwarded(CAROL, 60, now + 61), now + 1),
            (ChainJobAccepted(CAROL, now + 700), now + 5),
            (ChainProofAccepted(), now + 300),
        ],
        job,
    )
    assert job.state is S.PROVEN
    assert (job.round, job.awards, job.prover, job.fee) == (1, 2, CAROL, 60)
    assert actions == [AwardJob(STANDING), DeliverInput(CAROL), Withdraw()]


def test_a_missed_proof_deadline_is_slashed_and_the_job_awarded_again() -> None:
    job = accepted()
    assert requester_step(job, Tick(), PROOF_DEADLINE) == (job, ())  # the prover's last second
    job, actions = requester_step(job, Tick(), PROOF_DEADLINE + 1)
    assert (job.state, actions) == (S.SLASHING, (Slash(),))
    job, actions = requester_step(job, TxFailed("ProofDeadlineNotPassed"), PROOF_DEADLINE + 2)
    assert (job.state, actions) == (S.ACCEPTED, ())
    job, actions = requester_step(job, Tick(), PROOF_DEADLINE + 3)
    assert (job.state, actions) == (S.SLASHING, (Slash(),))  # the next tick re-issues it
    job, actions = requester_step(job, ChainProverSlashed(), PROOF_DEADLINE + 9)
    assert (job.state, actions, job.slashes) == (S.SLASHED, (), 1)  # burned: nothing to withdraw
    now = PROOF_DEADLINE + 10
    job, seen = walk(
        [(AwardChosen(STANDING), now), (ChainJobAwarded(CAROL, 60, now + 61), now + 1)], job
    )
    assert (job.state, seen) == (S.AWARDED, [AwardJob(STANDING), DeliverInput(CAROL)])
    assert (job.awards, job.proof_deadline) == (2, None)  # the slashed acceptance is over
    assert requester_step(job, Tick(), now + 5000)[0].state is S.LAPSED  # no stale slash


def test_someone_elses_slash_is_learnt_from_its_event() -> None:
    job, actions = requester_step(accepted(), ChainProverSlashed(), PROOF_DEADLINE + 1)
    assert (job.state, actions, job.slashes) == (S.SLASHED, (), 1)


@pytest.mark.parametrize(
    "setup",
    [
        lambda: lapsed(),
        lambda: walk([(AwardChosen(STANDING), ACCEPT_DEADLINE + 2)], lapsed())[0],
        lambda: walk([(GiveUp("x"), ACCEPT_DEADLINE + 2)], lapsed())[0],
        lambda: walk([(Reopen(ACCEPT_DEADLINE + 99), ACCEPT_DEADLINE + 2)], lapsed())[0],
        lambda: awarded(),
        lambda: walk([(InputAcked(), NOW + 13)], awarded())[0],
    ],
    ids=["lapsed", "re-awarding", "cancelling", "re-opened", "awarded", "input delivered"],
)
def test_a_late_acceptance_wins_over_our_clock(setup: object) -> None:
    """JobAccepted landed by the accept deadline; our clock had already moved on (and a
    re-award or cancel we sent will revert)."""
    job = setup()  # type: ignore[operator]
    job, actions = requester_step(
        job, ChainJobAccepted(BOB, ACCEPT_DEADLINE + PROOF_WINDOW), ACCEPT_DEADLINE + 3
    )
    assert (job.state, actions) == (S.ACCEPTED, ())
    assert (job.prover, job.proof_deadline) == (BOB, ACCEPT_DEADLINE + PROOF_WINDOW)
    assert requester_step(job, ChainProofAccepted(), ACCEPT_DEADLINE + 9)[0].state is S.PROVEN


def test_a_late_proof_wins_over_our_slash() -> None:
    job, _ = walk([(Tick(), PROOF_DEADLINE + 1)], accepted())
    assert job.state is S.SLASHING
    job, actions = requester_step(job, ChainProofAccepted(), PROOF_DEADLINE + 2)
    assert (job.state, actions) == (S.PROVEN, (Withdraw(),))


def test_a_lost_cancel_answer_is_learnt_from_its_event() -> None:
    for before in (walk(TO_AWARDED[:2])[0], lapsed(), slashed()):
        job, actions = requester_step(before, ChainJobCancelled(), PROOF_DEADLINE + 99)
        assert (job.state, actions) == (S.CANCELLED, (Withdraw(), ProposeResubmit()))


def test_a_failed_delivery_retries_and_a_failed_create_escrowed_nothing() -> None:
    job, actions = requester_step(awarded(), DeliveryFailed("stream reset"), NOW + 14)
    assert (job.state, actions) == (S.AWARDED, (DeliverInput(BOB),))
    job, actions = requester_step(fresh()[0], TxFailed("ModelDeprecated"), NOW)
    assert (job.state, actions) == (S.ABANDONED, ())


@pytest.mark.parametrize(
    ("bid", "now"),
    [
        (BID, BID.expiry + 1),  # expired
        (signed(job_id=8), NOW),  # another job
        (signed(fee=101), NOW),  # above the max fee
    ],
    ids=["expired", "other job", "above max"],
)
def test_awarding_a_bid_that_cannot_land_is_our_bug(bid: Bid, now: int) -> None:
    for job in (walk([(ChainJobCreated(7), NOW)])[0], lapsed()):
        with pytest.raises(IllegalTransition):
            requester_step(job, AwardChosen(bid), now)


def test_a_bid_is_awardable_through_its_expiry() -> None:
    job, _ = walk([(ChainJobCreated(7), NOW)])
    assert requester_step(job, AwardChosen(BID), BID.expiry)[0].state is S.AWARDING
    # The bid deadline is our own word to bidders, not a limit on awards.
    assert requester_step(lapsed(), AwardChosen(STANDING), STANDING.expiry)[0].state is S.AWARDING


@pytest.mark.parametrize(
    "event", [BidDeadlinePassed(), AcceptDeadlinePassed(), ProofDeadlinePassed()]
)
def test_time_events_only_come_from_ticks(event: Event) -> None:
    for job in (walk([(ChainJobCreated(7), NOW)])[0], awarded(), accepted()):
        with pytest.raises(IllegalTransition, match="Tick"):
            requester_step(job, event, PROOF_DEADLINE + 1)


@pytest.mark.parametrize(
    "terms",
    [
        {"max_fee": 0, "collateral": 0, "accept_window": 1, "proof_window": 1},
        {"max_fee": 1, "collateral": -1, "accept_window": 1, "proof_window": 1},
        {"max_fee": 1, "collateral": 0, "accept_window": 0, "proof_window": 1},
        {"max_fee": 1, "collateral": 0, "accept_window": 1, "proof_window": 0},
    ],
)
def test_bad_job_terms_are_refused(terms: dict[str, int]) -> None:
    with pytest.raises(IllegalTransition):
        new_requester_job(bid_deadline=NOW, **terms)


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


# -- the table, rule by rule -----------------------------------------------------------

# One event of each kind the table knows; ChainJobAwarded names a new prover (carol).
EVENTS: dict[type[Event], Event] = {
    type(e): e
    for e in (
        ChainJobCreated(7),
        Announced(),
        Reopen(NOW + 500),
        AwardChosen(BID),
        GiveUp("the user cancelled"),
        ChainJobAwarded(CAROL, 40, NOW + 100),
        InputAcked(),
        DeliveryFailed("x"),
        ChainJobAccepted(BOB, NOW + 700),
        ChainProofAccepted(),
        ChainProverSlashed(),
        ChainJobCancelled(),
        TxFailed("x"),
        Resubmitted(9),
    )
}
TIME_EVENTS = (BidDeadlinePassed, AcceptDeadlinePassed, ProofDeadlinePassed)
RESUME = S.SLASHED  # where the fixture's pending award or cancel was sent from
CANCEL = (Withdraw(), ProposeResubmit())

# The whole table, written out from the lifecycle's description (not from TABLE).
EXPECTED: dict[tuple[S, type[Event]], tuple[S, tuple[Action, ...]]] = {
    (S.CREATING, ChainJobCreated): (S.CREATED, (Announce(),)),
    (S.CREATING, TxFailed): (S.ABANDONED, ()),
    (S.CREATED, Announced): (S.ANNOUNCED, ()),
    (S.REOPENED, Announced): (S.REOPENED, ()),
    (S.LAPSED, Reopen): (S.REOPENED, (Announce(),)),
    (S.SLASHED, Reopen): (S.REOPENED, (Announce(),)),
    (S.CREATED, BidDeadlinePassed): (S.CANCELLING, (CancelJob(),)),
    (S.ANNOUNCED, BidDeadlinePassed): (S.CANCELLING, (CancelJob(),)),
    (S.REOPENED, BidDeadlinePassed): (S.CANCELLING, (CancelJob(),)),
    (S.AWARDING, ChainJobAwarded): (S.AWARDED, (DeliverInput(CAROL),)),
    (S.AWARDING, TxFailed): (RESUME, ()),
    (S.AWARDING, ChainJobAccepted): (S.ACCEPTED, ()),
    (S.AWARDED, InputAcked): (S.INPUT_DELIVERED, ()),
    (S.AWARDED, DeliveryFailed): (S.AWARDED, (DeliverInput(BOB),)),
    (S.AWARDED, AcceptDeadlinePassed): (S.LAPSED, ()),
    (S.AWARDED, ChainJobAccepted): (S.ACCEPTED, ()),
    (S.INPUT_DELIVERED, AcceptDeadlinePassed): (S.LAPSED, ()),
    (S.INPUT_DELIVERED, ChainJobAccepted): (S.ACCEPTED, ()),
    (S.LAPSED, ChainJobAccepted): (S.ACCEPTED, ()),
    (S.REOPENED, ChainJobAccepted): (S.ACCEPTED, ()),
    (S.ACCEPTED, ProofDeadlinePassed): (S.SLASHING, (Slash(),)),
    (S.ACCEPTED, ChainProverSlashed): (S.SLASHED, ()),
    (S.ACCEPTED, ChainProofAccepted): (S.PROVEN, (Withdraw(),)),
    (S.SLASHING, TxFailed): (S.ACCEPTED, ()),
    (S.SLASHING, ChainProverSlashed): (S.SLASHED, ()),
    (S.SLASHING, ChainProofAccepted): (S.PROVEN, (Withdraw(),)),
    (S.CANCELLING, ChainJobCancelled): (S.CANCELLED, CANCEL),
    (S.CANCELLING, TxFailed): (RESUME, ()),
    (S.CANCELLING, ChainJobAccepted): (S.ACCEPTED, ()),
    (S.CANCELLED, Resubmitted): (S.RESUBMITTED, ()),
    **{(s, AwardChosen): (S.AWARDING, (AwardJob(BID),)) for s in AWARDABLE},
    **{(s, GiveUp): (S.CANCELLING, (CancelJob(),)) for s in AWARDABLE},
    **{(s, ChainJobCancelled): (S.CANCELLED, CANCEL) for s in AWARDABLE},
}


def job_in(state: S, due: type[Event] | None = None) -> RequesterJob:
    """A job in ``state`` whose deadlines lie ahead of NOW, except the one ``due`` names."""
    return RequesterJob(
        state,
        100,
        10,
        NOW - 1 if due is BidDeadlinePassed else NOW + 60,
        ACCEPT_WINDOW,
        PROOF_WINDOW,
        job_id=7,
        prover=BOB,
        fee=50,
        accept_deadline=NOW - 1 if due is AcceptDeadlinePassed else NOW + 30,
        proof_deadline=NOW - 1 if due is ProofDeadlinePassed else NOW + 600,
        awards=1,
        resume=RESUME if state in (S.AWARDING, S.CANCELLING) else None,
    )


def test_the_table_is_exactly_the_described_lifecycle() -> None:
    assert AWARDABLE == (S.CREATED, S.ANNOUNCED, S.LAPSED, S.SLASHED, S.REOPENED)
    assert set(TABLE) - set(EXPECTED) == set(), "rules nobody described"
    assert set(EXPECTED) - set(TABLE) == set(), "described rules missing"


def rule_id(rule: tuple[S, type[Event]]) -> str:
    return f"{rule[0].name}-{rule[1].__name__}"


RULES: list[tuple[S, type[Event]]] = sorted(EXPECTED.keys(), key=rule_id)


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_each_rule_goes_where_it_should_with_its_actions(rule: tuple[S, type[Event]]) -> None:
    state, kind = rule
    if kind in TIME_EVENTS:
        job, actions = requester_step(job_in(state, kind), Tick(), NOW)
    else:
        job, actions = requester_step(job_in(state), EVENTS[kind], NOW)
    assert (job.state, actions) == EXPECTED[rule]


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s, e in itertools.product(S, EVENTS.values()) if (s, type(e)) not in EXPECTED],
    ids=lambda v: getattr(v, "name", type(v).__name__),
)
def test_every_pair_outside_the_table_raises(state: RequesterState, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=state.name):
        requester_step(job_in(state), event, NOW)


@pytest.mark.parametrize(
    ("state", "due"),
    [(s, e) for s, e in itertools.product(S, TIME_EVENTS) if (s, e) not in EXPECTED],
    ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")),
)
def test_a_deadline_that_means_nothing_in_a_state_leaves_it_alone(
    state: RequesterState, due: type[Event]
) -> None:
    job = job_in(state, due)
    assert requester_step(job, Tick(), NOW) == (job, ())


def test_event_fields_are_recorded() -> None:
    job, _ = requester_step(job_in(S.AWARDING), ChainJobAwarded(CAROL, 40, NOW + 100), NOW)
    assert (job.prover, job.fee, job.accept_deadline, job.proof_deadline, job.awards) == (
        CAROL,
        40,
        NOW + 100,
        None,
        2,
    )
    job, _ = requester_step(job_in(S.AWARDED), ChainJobAccepted(BOB, NOW + 700), NOW)
    assert (job.proof_deadline, job.awards) == (NOW + 700, 1)
    job, _ = requester_step(job_in(S.ACCEPTED), ChainProverSlashed(), NOW)
    assert job.slashes == 1
    job, _ = requester_step(job_in(S.SLASHED), Reopen(NOW + 500), NOW)
    assert (job.bid_deadline, job.round) == (NOW + 500, 1)
    job, _ = requester_step(job_in(S.CANCELLED), Resubmitted(9), NOW)
    assert job.replaced_by == 9
    job, _ = requester_step(job_in(S.LAPSED), GiveUp("x"), NOW)
    assert job.resume is S.LAPSED


def test_terminal_states_take_nothing_but_a_resubmission() -> None:
    assert {S.PROVEN, S.CANCELLED, S.ABANDONED, S.RESUBMITTED} == TERMINAL
    for state in TERMINAL:
        rules = {kind for s, kind in TABLE if s is state}
        assert rules <= {Resubmitted}


# -- random walks ----------------------------------------------------------------------

PENDING_TX = {AwardJob: S.AWARDING, CancelJob: S.CANCELLING, Slash: S.SLASHING}
WALK_EVENTS = [
    *EVENTS.values(),
    AwardChosen(STANDING),
    ChainJobAwarded(BOB, 50, NOW + 100),
    ChainJobAwarded(CAROL, 60, NOW + 2000),
    ChainJobAccepted(CAROL, NOW + 3000),
    Reopen(NOW + 4000),
    Tick(),
]


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(WALK_EVENTS), st.integers(0, 5_000)), max_size=30))
def test_random_walks_keep_the_money_rules(steps: list[tuple[Event, int]]) -> None:
    job, _ = fresh()
    accepted_once = False
    for event, dt in sorted(steps, key=lambda s: s[1]):
        before = job
        try:
            job, actions = requester_step(job, event, NOW - 10 + dt)
        except IllegalTransition:
            continue
        if before.state in TERMINAL:
            assert actions == ()
        if isinstance(event, ChainJobAwarded):
            assert job.awards == before.awards + 1
        accepted_once = accepted_once or job.state is S.ACCEPTED
        assert job.state is not S.PROVEN or accepted_once  # paid only for an accepted job
        for action in actions:
            assert not isinstance(action, CreateJob)  # escrow is taken once, at creation
            if type(action) in PENDING_TX:  # a sent transaction is awaited in its own state
                assert job.state is PENDING_TX[type(action)]
            if isinstance(action, DeliverInput):  # the input goes to the assigned prover only
                assert action.prover == job.prover
