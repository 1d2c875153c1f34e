"""The prover's transition table: bidding, winning, accepting, proving, lapses, failures."""

from __future__ import annotations

import dataclasses
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
    prover_step,
)
from protocol.market.actions import (
    AcceptDeadlinePassed,
    AcceptJob,
    Action,
    BidExpired,
    ChainJobAccepted,
    ChainJobAwarded,
    ChainJobCancelled,
    ChainProofAccepted,
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
    SETTLED,
    TABLE,
    AcceptRefused,
    AwardedToOther,
    BidPlaced,
    Declined,
    InputChecked,
    ProofReady,
    ProvingFailed,
    ProvingStarted,
    Reannounced,
)
from protocol.messages import Bid, sign_bid

from ..messages.samples import ALICE, BOB, BOB_KEY, CHAIN_ID, MARKET, NOW, PEER_B, announcement

S = ProverState
ACCEPT_WINDOW, PROOF_WINDOW = 60, 600
JOB = announcement(
    max_fee=100, bid_deadline=NOW + 60, accept_window=ACCEPT_WINDOW, proof_window=PROOF_WINDOW
)
EXPIRY = NOW + 130  # the bid outlives the bid deadline: a lapsed winner's job may come to us


def signed(*, job_id: int = JOB.job_id, fee: int = 50, expiry: int = EXPIRY) -> Bid:
    return sign_bid(BOB_KEY, CHAIN_ID, MARKET, JOB.terms, job_id=job_id, fee=fee, expiry=expiry,
                    peer_id=PEER_B)  # fmt: skip


BID = signed()
AWARDED_AT = NOW + 61
ACCEPT_DEADLINE = AWARDED_AT + ACCEPT_WINDOW
ACCEPTED_AT = NOW + 70
PROOF_DEADLINE = ACCEPTED_AT + PROOF_WINDOW


def walk(job: ProverJob, steps: list[tuple[Event, int]]) -> tuple[ProverJob, list[Action]]:
    seen: list[Action] = []
    for event, now in steps:
        job, actions = prover_step(job, event, now)
        seen += actions
    return job, seen


def bid_on() -> ProverJob:
    return walk(new_prover_job(JOB, BOB), [(BidPlaced(BID), NOW)])[0]


def won() -> ProverJob:
    job = bid_on()
    return prover_step(job, award_event(job, BOB, 50, ACCEPT_DEADLINE), AWARDED_AT)[0]


def accepted() -> ProverJob:
    steps: list[tuple[Event, int]] = [
        (InputChecked(), ACCEPTED_AT - 2),
        (ChainJobAccepted(BOB, PROOF_DEADLINE), ACCEPTED_AT),
    ]
    return walk(won(), steps)[0]


# -- the paths -------------------------------------------------------------------------


def test_happy_path() -> None:
    job, actions = walk(
        bid_on(),
        [
            (ChainJobAwarded(BOB, 50, ACCEPT_DEADLINE), AWARDED_AT),
            (InputChecked(), ACCEPTED_AT - 2),
            (ChainJobAccepted(BOB, PROOF_DEADLINE), ACCEPTED_AT),
            (ProvingStarted(), ACCEPTED_AT + 1),
            (ProofReady(), ACCEPTED_AT + 200),
            (ChainProofAccepted(), ACCEPTED_AT + 220),
        ],
    )
    assert job.state is S.PAID
    assert actions == [AcceptJob(), Prove(), SubmitProof(), Withdraw(), ForgetInput()]
    assert (job.bid, job.accept_deadline, job.proof_deadline) == (
        BID,
        ACCEPT_DEADLINE,
        PROOF_DEADLINE,
    )


def test_a_bid_commits_nothing_an_acceptance_does() -> None:
    job, actions = prover_step(new_prover_job(JOB, BOB), BidPlaced(BID), NOW)
    assert (job.state, actions, job.bid) == (S.BID, (SendBid(BID),), BID)
    assert not SendBid.MOVES_MONEY  # JobMarket locks nothing at award time
    assert all(a.MOVES_MONEY for a in (AcceptJob(), SubmitProof(), Withdraw()))


@pytest.mark.parametrize(
    ("event", "now"),
    [(AwardedToOther(), NOW + 5), (ChainJobCancelled(), NOW + 61), (Tick(), EXPIRY + 1)],
    ids=["awarded to another", "cancelled", "expired"],
)
def test_losing_is_quiet(event: Event, now: int) -> None:
    job, actions = prover_step(bid_on(), event, now)
    assert (job.state, actions) == (S.LOST, ())


def test_a_bid_stands_through_its_expiry_second() -> None:
    job = bid_on()
    assert prover_step(job, Tick(), EXPIRY) == (job, ())
    assert prover_step(job, Tick(), EXPIRY + 1)[0].state is S.LOST


def test_a_re_award_to_our_standing_bid_is_won_after_losing() -> None:
    """The first winner's award lapsed and the requester took our bid (still unexpired)."""
    job, _ = prover_step(bid_on(), AwardedToOther(), NOW + 61)
    later = ACCEPT_DEADLINE + 5
    job, actions = prover_step(job, ChainJobAwarded(BOB, 50, later + ACCEPT_WINDOW), later)
    assert (job.state, actions, job.accept_deadline) == (S.WON, (), later + ACCEPT_WINDOW)


def test_an_award_without_our_bid_or_to_another_is_refused() -> None:
    seen = new_prover_job(JOB, BOB)
    with pytest.raises(IllegalTransition, match="never bid"):
        prover_step(seen, ChainJobAwarded(BOB, 50, ACCEPT_DEADLINE), AWARDED_AT)
    lost, _ = prover_step(seen, AwardedToOther(), AWARDED_AT)
    with pytest.raises(IllegalTransition, match="never bid"):
        prover_step(lost, ChainJobAwarded(BOB, 50, ACCEPT_DEADLINE), AWARDED_AT)
    with pytest.raises(IllegalTransition, match="award_event"):
        prover_step(bid_on(), ChainJobAwarded(ALICE, 5, ACCEPT_DEADLINE), AWARDED_AT)
    with pytest.raises(IllegalTransition, match="award_event"):
        prover_step(won(), ChainJobAccepted(ALICE, PROOF_DEADLINE), ACCEPTED_AT)


def test_award_event_tells_ours_from_theirs() -> None:
    job = new_prover_job(JOB, BOB)
    assert award_event(job, BOB, 5, 99) == ChainJobAwarded(BOB, 5, 99)
    assert award_event(job, ALICE, 5, 99) == AwardedToOther()


def test_a_won_job_lapses_after_its_accept_deadline_at_no_cost() -> None:
    job = won()
    assert prover_step(job, Tick(), ACCEPT_DEADLINE) == (job, ())  # our last second to accept
    job, actions = prover_step(job, Tick(), ACCEPT_DEADLINE + 1)
    assert (job.state, actions) == (S.LAPSED, (ForgetInput(),))  # no failure to report


@pytest.mark.parametrize(
    "event",
    [AcceptRefused("the plan no longer fits"), AwardedToOther(), ChainJobCancelled()],
    ids=["refused", "re-awarded", "cancelled"],
)
def test_a_won_job_we_do_not_accept_lapses(event: Event) -> None:
    job, actions = prover_step(won(), event, ACCEPT_DEADLINE + 1)
    assert (job.state, actions) == (S.LAPSED, (ForgetInput(),))
    if isinstance(event, AcceptRefused):
        assert job.reason == "the plan no longer fits"


def test_a_lapsed_award_may_come_back_to_us() -> None:
    job, _ = prover_step(won(), Tick(), ACCEPT_DEADLINE + 1)
    again = ACCEPT_DEADLINE + 10
    job, actions = prover_step(job, ChainJobAwarded(BOB, 50, again + ACCEPT_WINDOW), again)
    assert (job.state, actions) == (S.WON, ())
    assert (job.accept_deadline, job.attempts) == (again + ACCEPT_WINDOW, 0)
    assert prover_step(job, InputChecked(), again + 5)[1] == (AcceptJob(),)


def test_a_refused_accept_is_retried_then_lapses() -> None:
    job, _ = prover_step(won(), InputChecked(), ACCEPTED_AT)
    for attempt in range(1, MAX_ATTEMPTS):
        job, actions = prover_step(job, TxFailed("nonce too low"), ACCEPTED_AT + 1)
        assert (job.state, job.attempts, actions) == (S.WON, attempt, ())
        job, actions = prover_step(job, InputChecked(), ACCEPTED_AT + 2)
        assert (job.state, actions) == (S.ACCEPTING, (AcceptJob(),))
    job, actions = prover_step(job, TxFailed("nonce too low"), ACCEPTED_AT + 3)
    assert (job.state, job.attempts, actions) == (S.LAPSED, MAX_ATTEMPTS, (ForgetInput(),))


def test_an_accept_refused_after_the_accept_deadline_lapses_at_once() -> None:
    job, _ = prover_step(won(), InputChecked(), ACCEPT_DEADLINE)
    job, actions = prover_step(job, TxFailed("AcceptDeadlinePassed"), ACCEPT_DEADLINE + 1)
    assert (job.state, job.attempts, actions) == (S.LAPSED, 1, (ForgetInput(),))
    # While the acceptJob is in flight the clock alone decides nothing: the chain will.
    job, _ = prover_step(won(), InputChecked(), ACCEPT_DEADLINE)
    assert prover_step(job, Tick(), ACCEPT_DEADLINE + 50) == (job, ())


@pytest.mark.parametrize("state", [S.WON, S.LAPSED])
def test_an_acceptance_we_took_for_failed_is_ours_when_it_lands(state: ProverState) -> None:
    job = dataclasses.replace(won(), state=state)
    job, actions = prover_step(job, ChainJobAccepted(BOB, PROOF_DEADLINE), ACCEPT_DEADLINE + 2)
    assert (job.state, actions, job.proof_deadline) == (S.ACCEPTED, (Prove(),), PROOF_DEADLINE)


def test_the_deadline_moves_from_estimates_to_the_chain() -> None:
    seen = new_prover_job(JOB, BOB)
    assert seen.latest_accept == JOB.bid_deadline + ACCEPT_WINDOW  # awarded at the bid deadline
    assert seen.work_deadline == JOB.bid_deadline + ACCEPT_WINDOW + PROOF_WINDOW
    assert bid_on().latest_accept == EXPIRY + ACCEPT_WINDOW  # awarded as late as the bid allows
    assert bid_on().work_deadline == EXPIRY + ACCEPT_WINDOW + PROOF_WINDOW
    assert (won().latest_accept, won().work_deadline) == (
        ACCEPT_DEADLINE,
        ACCEPT_DEADLINE + PROOF_WINDOW,
    )
    assert accepted().work_deadline == PROOF_DEADLINE


def test_proving_failures_retry_then_fail_loudly() -> None:
    job = accepted()
    for attempt in range(1, MAX_ATTEMPTS):
        job, _ = prover_step(job, ProvingStarted(), ACCEPTED_AT + 10)
        job, actions = prover_step(job, ProvingFailed("worker died"), ACCEPTED_AT + 20)
        assert (job.state, job.attempts, actions) == (S.ACCEPTED, attempt, (Prove(),))
    job, _ = prover_step(job, ProvingStarted(), ACCEPTED_AT + 10)
    job, actions = prover_step(job, ProvingFailed("worker died"), ACCEPTED_AT + 20)
    assert job.state is S.FAILED
    assert isinstance(actions[0], ReportFailure)
    assert "worker died" in actions[0].reason
    assert actions[1:] == (ForgetInput(),)
    job, actions = prover_step(job, ChainProverSlashed(), PROOF_DEADLINE + 5000)
    assert (job.state, actions) == (S.SLASHED, ())


def test_a_failure_after_the_deadline_is_final_even_with_attempts_left() -> None:
    job = walk(accepted(), [(ProvingStarted(), ACCEPTED_AT + 1), (ProofReady(), PROOF_DEADLINE)])[0]
    job, actions = prover_step(job, TxFailed("ProofDeadlinePassed"), PROOF_DEADLINE + 1)
    assert (job.state, job.attempts) == (S.FAILED, 1)
    assert actions[-1] == ForgetInput()
    job = walk(accepted(), [(ProvingStarted(), ACCEPTED_AT + 1)])[0]
    job, _ = prover_step(job, ProvingFailed("oom"), PROOF_DEADLINE + 1)
    assert job.state is S.FAILED


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [(ProvingStarted(), ACCEPTED_AT + 1)],
        [(ProvingStarted(), ACCEPTED_AT + 1), (ProofReady(), ACCEPTED_AT + 9)],
    ],
    ids=["accepted", "proving", "submitted"],
)
def test_the_first_tick_after_the_proof_deadline_fails_the_job(
    steps: list[tuple[Event, int]],
) -> None:
    job = walk(accepted(), steps)[0]
    assert prover_step(job, Tick(), PROOF_DEADLINE) == (job, ())  # our last second
    job, actions = prover_step(job, Tick(), PROOF_DEADLINE + 1)
    assert job.state is S.FAILED
    assert actions == (
        ReportFailure("the proof deadline passed; our collateral will be slashed"),
        ForgetInput(),
    )


def test_a_proof_that_landed_by_the_deadline_pays_even_after_our_clock_failed_the_job() -> None:
    job = walk(accepted(), [(ProvingStarted(), ACCEPTED_AT + 1), (ProofReady(), PROOF_DEADLINE)])[0]
    job, _ = prover_step(job, Tick(), PROOF_DEADLINE + 1)
    assert job.state is S.FAILED
    job, actions = prover_step(job, ChainProofAccepted(), PROOF_DEADLINE + 2)
    assert (job.state, actions) == (S.PAID, (Withdraw(),))  # the input is already gone


@pytest.mark.parametrize(
    "steps", [[], [(ProvingStarted(), ACCEPTED_AT + 5)]], ids=["accepted", "proving"]
)
def test_a_submission_we_took_for_failed_pays_when_it_lands(steps: list[tuple[Event, int]]) -> None:
    job = walk(accepted(), [(ProvingStarted(), ACCEPTED_AT + 1), (ProofReady(), ACCEPTED_AT + 2)])[
        0
    ]
    job, actions = prover_step(job, TxFailed("timeout"), ACCEPTED_AT + 3)
    assert (job.state, actions) == (S.ACCEPTED, (Prove(),))  # proving again ...
    job = walk(job, steps)[0]
    job, actions = prover_step(job, ChainProofAccepted(), ACCEPTED_AT + 6)  # ... but it landed
    assert (job.state, actions) == (S.PAID, (Withdraw(), ForgetInput()))


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [(ProvingStarted(), ACCEPTED_AT + 1)],
        [(ProvingStarted(), ACCEPTED_AT + 1), (ProofReady(), ACCEPTED_AT + 9)],
    ],
    ids=["accepted", "proving", "submitted"],
)
def test_a_slash_while_we_hold_the_job_is_reported(steps: list[tuple[Event, int]]) -> None:
    job = walk(accepted(), steps)[0]
    job, actions = prover_step(job, ChainProverSlashed(), PROOF_DEADLINE + 1)
    assert job.state is S.SLASHED
    assert actions == (
        ReportFailure("our collateral was slashed: no proof by the deadline"),
        ForgetInput(),
    )


@pytest.mark.parametrize(
    "before",
    [
        lambda: prover_step(bid_on(), AwardedToOther(), NOW + 61)[0],
        lambda: prover_step(new_prover_job(JOB, BOB), Declined("busy"), NOW)[0],
        lambda: prover_step(won(), Tick(), ACCEPT_DEADLINE + 1)[0],
    ],
    ids=["lost", "declined", "lapsed"],
)
def test_a_re_announced_job_is_seen_afresh(before: object) -> None:
    job = before()  # type: ignore[operator]
    again = dataclasses.replace(JOB, round=1, bid_deadline=ACCEPT_DEADLINE + 100)
    fresh, actions = prover_step(job, Reannounced(again), ACCEPT_DEADLINE + 2)
    assert (fresh, actions) == (new_prover_job(again, BOB), ())
    for stale in (JOB, dataclasses.replace(again, job_id=JOB.job_id + 1)):
        with pytest.raises(IllegalTransition, match="later announcement"):
            prover_step(job, Reannounced(stale), ACCEPT_DEADLINE + 2)


@pytest.mark.parametrize(
    ("bid", "me", "now"),
    [
        (signed(job_id=8), BOB, NOW),  # another job
        (signed(fee=101), BOB, NOW),  # above the max fee
        (signed(expiry=NOW - 1), BOB, NOW),  # already expired
        (BID, ALICE, NOW),  # not our bid
        (BID, BOB, EXPIRY + 1),
    ],
    ids=["other job", "above max", "expired", "not ours", "late"],
)
def test_placing_a_bid_that_cannot_win_is_our_bug(bid: Bid, me: bytes, now: int) -> None:
    with pytest.raises(IllegalTransition):
        prover_step(new_prover_job(JOB, me), BidPlaced(bid), now)


def test_a_bid_may_be_placed_up_to_its_expiry() -> None:
    assert prover_step(new_prover_job(JOB, BOB), BidPlaced(BID), EXPIRY)[0].state is S.BID


@pytest.mark.parametrize("event", [BidExpired(), AcceptDeadlinePassed(), ProofDeadlinePassed()])
def test_time_events_only_come_from_ticks(event: Event) -> None:
    for job in (bid_on(), won(), accepted()):
        with pytest.raises(IllegalTransition, match="Tick"):
            prover_step(job, event, PROOF_DEADLINE + 1)


# -- the table, rule by rule -----------------------------------------------------------

AGAIN = dataclasses.replace(JOB, round=1)
EVENTS: dict[type[Event], Event] = {
    type(e): e
    for e in (
        Declined("busy"),
        BidPlaced(BID),
        ChainJobAwarded(BOB, 50, NOW + 100),
        AwardedToOther(),
        ChainJobCancelled(),
        InputChecked(),
        AcceptRefused("busy"),
        ChainJobAccepted(BOB, NOW + 700),
        ProvingStarted(),
        ProofReady(),
        ProvingFailed("x"),
        TxFailed("x"),
        ChainProofAccepted(),
        ChainProverSlashed(),
        Reannounced(AGAIN),
    )
}
TIME_EVENTS = (BidExpired, AcceptDeadlinePassed, ProofDeadlinePassed)
HELD = (S.ACCEPTED, S.PROVING, S.SUBMITTED)
DEADLINE_FAILURE = (
    ReportFailure("the proof deadline passed; our collateral will be slashed"),
    ForgetInput(),
)
SLASH_FAILURE = (
    ReportFailure("our collateral was slashed: no proof by the deadline"),
    ForgetInput(),
)

# The whole table, written out from the lifecycle's description (not from TABLE).
EXPECTED: dict[tuple[S, type[Event]], tuple[S, tuple[Action, ...]]] = {
    (S.SEEN, Declined): (S.DECLINED, ()),
    (S.SEEN, BidPlaced): (S.BID, (SendBid(BID),)),
    (S.SEEN, AwardedToOther): (S.LOST, ()),
    (S.SEEN, ChainJobCancelled): (S.LOST, ()),
    (S.BID, ChainJobAwarded): (S.WON, ()),
    (S.BID, AwardedToOther): (S.LOST, ()),
    (S.BID, ChainJobCancelled): (S.LOST, ()),
    (S.BID, BidExpired): (S.LOST, ()),
    (S.LOST, ChainJobAwarded): (S.WON, ()),
    (S.LAPSED, ChainJobAwarded): (S.WON, ()),
    (S.WON, InputChecked): (S.ACCEPTING, (AcceptJob(),)),
    (S.WON, AcceptRefused): (S.LAPSED, (ForgetInput(),)),
    (S.WON, AcceptDeadlinePassed): (S.LAPSED, (ForgetInput(),)),
    (S.WON, AwardedToOther): (S.LAPSED, (ForgetInput(),)),
    (S.WON, ChainJobCancelled): (S.LAPSED, (ForgetInput(),)),
    (S.WON, ChainJobAccepted): (S.ACCEPTED, (Prove(),)),
    (S.ACCEPTING, ChainJobAccepted): (S.ACCEPTED, (Prove(),)),
    (S.ACCEPTING, TxFailed): (S.WON, ()),  # attempts and time left
    (S.LAPSED, ChainJobAccepted): (S.ACCEPTED, (Prove(),)),
    (S.ACCEPTED, ProvingStarted): (S.PROVING, ()),
    (S.ACCEPTED, ChainProofAccepted): (S.PAID, (Withdraw(), ForgetInput())),
    (S.PROVING, ProofReady): (S.SUBMITTED, (SubmitProof(),)),
    (S.PROVING, ProvingFailed): (S.ACCEPTED, (Prove(),)),  # attempts and time left
    (S.PROVING, ChainProofAccepted): (S.PAID, (Withdraw(), ForgetInput())),
    (S.SUBMITTED, TxFailed): (S.ACCEPTED, (Prove(),)),
    (S.SUBMITTED, ChainProofAccepted): (S.PAID, (Withdraw(), ForgetInput())),
    (S.FAILED, ChainProofAccepted): (S.PAID, (Withdraw(),)),
    (S.FAILED, ChainProverSlashed): (S.SLASHED, ()),
    **{(s, ProofDeadlinePassed): (S.FAILED, DEADLINE_FAILURE) for s in HELD},
    **{(s, ChainProverSlashed): (S.SLASHED, SLASH_FAILURE) for s in HELD},
    **{(s, Reannounced): (S.SEEN, ()) for s in (S.LOST, S.DECLINED, S.LAPSED)},
}


def job_in(state: S, due: type[Event] | None = None) -> ProverJob:
    """A job in ``state`` whose deadlines lie ahead of NOW, except the one ``due`` names."""
    return ProverJob(
        state,
        JOB,
        BOB,
        bid=signed(expiry=NOW - 1) if due is BidExpired else BID,
        accept_deadline=NOW - 1 if due is AcceptDeadlinePassed else NOW + 60,
        proof_deadline=NOW - 1 if due is ProofDeadlinePassed else NOW + 600,
    )


def test_the_table_is_exactly_the_described_lifecycle() -> None:
    assert set(TABLE) - set(EXPECTED) == set(), "rules nobody described"
    assert set(EXPECTED) - set(TABLE) == set(), "described rules missing"


def rule_id(rule: tuple[S, type[Event]]) -> str:
    return f"{rule[0].name}-{rule[1].__name__}"


RULES: list[tuple[S, type[Event]]] = sorted(EXPECTED.keys(), key=rule_id)


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_each_rule_goes_where_it_should_with_its_actions(rule: tuple[S, type[Event]]) -> None:
    state, kind = rule
    if kind in TIME_EVENTS:
        job, actions = prover_step(job_in(state, kind), Tick(), NOW)
    else:
        job, actions = prover_step(job_in(state), EVENTS[kind], NOW)
    assert (job.state, actions) == EXPECTED[rule]


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s, e in itertools.product(S, EVENTS.values()) if (s, type(e)) not in EXPECTED],
    ids=lambda v: getattr(v, "name", type(v).__name__),
)
def test_every_pair_outside_the_table_raises(state: ProverState, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=state.name):
        prover_step(job_in(state), event, NOW)


@pytest.mark.parametrize(
    ("state", "due"),
    [(s, e) for s, e in itertools.product(S, TIME_EVENTS) if (s, e) not in EXPECTED],
    ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")),
)
def test_a_deadline_that_means_nothing_in_a_state_leaves_it_alone(
    state: ProverState, due: type[Event]
) -> None:
    job = job_in(state, due)
    assert prover_step(job, Tick(), NOW) == (job, ())


def test_settled_states_are_left_only_by_a_re_announcement_a_re_award_or_the_chain() -> None:
    assert {S.PAID, S.DECLINED, S.LOST, S.LAPSED, S.SLASHED} == SETTLED
    leaving = {kind for state, kind in TABLE if state in SETTLED}
    assert leaving == {Reannounced, ChainJobAwarded, ChainJobAccepted}
    assert not any(state in (S.PAID, S.SLASHED) for state, _ in TABLE)


# -- random walks ----------------------------------------------------------------------

WALK_EVENTS = [
    *EVENTS.values(),
    ChainJobAwarded(BOB, 50, NOW + 2000),
    ChainJobAccepted(BOB, NOW + 3000),
    Tick(),
]


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(WALK_EVENTS), st.integers(0, 5_000)), max_size=30))
def test_random_walks_end_cleanly(steps: list[tuple[Event, int]]) -> None:
    job = new_prover_job(JOB, BOB)
    proved = False
    for event, dt in sorted(steps, key=lambda s: s[1]):
        before = job
        try:
            job, actions = prover_step(job, event, NOW - 10 + dt)
        except IllegalTransition:
            continue
        if before.state in (S.PAID, S.SLASHED):
            assert actions == ()
        proved = proved or SubmitProof() in actions
        assert job.state is not S.PAID or proved or isinstance(event, ChainProofAccepted)
        assert job.attempts <= MAX_ATTEMPTS
        if AcceptJob() in actions:  # our collateral is committed by us alone, once won
            assert before.state is S.WON
        if SendBid(BID) in actions:
            assert before.state is S.SEEN
