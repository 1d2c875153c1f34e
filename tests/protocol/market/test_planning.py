"""Admission, deadline-ordered planning, pricing and the requester's suggested terms."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError
from protocol.market import (
    QueuedJob,
    SuggestedTerms,
    admit,
    fits,
    next_to_prove,
    plan,
    price,
    proving_seconds,
    submit_gas_estimate,
    suggest_terms,
)
from protocol.market.planning import (
    ACCEPT_GAS,
    DEFAULT_ACCEPT_WINDOW_S,
    DEFAULT_BID_WINDOW_S,
    INPUT_DELIVERY_S,
    LOCK_FACTOR,
    MAX_BID_HORIZON_S,
    MIN_ACCEPT_WINDOW_S,
    MIN_PROOF_WINDOW_S,
    PAIRING_GAS,
    SUBMIT_BASE_GAS,
    SUBMIT_MARGIN_S,
)

from ..messages.samples import NOW, announcement

RATE = 1_000  # constraints per second


def test_proving_seconds_round_up_with_the_safety_factor() -> None:
    assert proving_seconds(1000, RATE, Fraction(1)) == 1
    assert proving_seconds(1001, RATE, Fraction(1)) == 2
    assert proving_seconds(10_000, RATE) == 12  # default safety 6/5
    with pytest.raises(LocalProtocolError):
        proving_seconds(1, 0)


def test_next_to_prove_takes_the_earliest_deadline_among_ready_jobs() -> None:
    old_late = QueuedJob(1, 100, deadline=NOW + 900, ready_at=NOW - 50)
    new_urgent = QueuedJob(2, 100, deadline=NOW + 100, ready_at=NOW - 1)
    not_ready = QueuedJob(3, 100, deadline=NOW + 10, ready_at=NOW + 5)
    assert next_to_prove([old_late, new_urgent, not_ready], NOW) == new_urgent
    assert next_to_prove([not_ready], NOW) is None


queues = st.lists(
    st.builds(
        QueuedJob,
        job_id=st.integers(1, 10**6),
        constraints=st.integers(0, 200_000),
        deadline=st.integers(NOW, NOW + 2_000),
        ready_at=st.integers(NOW - 100, NOW + 500),
    ),
    max_size=8,
    unique_by=lambda job: job.job_id,
)


@settings(max_examples=200)
@given(queues, st.integers(1, 5_000))
def test_plan_proves_one_ready_job_at_a_time_in_deadline_order(
    queue: list[QueuedJob], rate: int
) -> None:
    planned = plan(queue, rate, NOW)
    assert sorted(p.job.job_id for p in planned) == sorted(j.job_id for j in queue)
    t = NOW
    for index, step in enumerate(planned):
        assert step.start >= max(t, step.job.ready_at)
        assert step.proved_at - step.start == proving_seconds(step.job.constraints, rate)
        later = [p.job for p in planned[index + 1 :]]
        # nothing left was ready with an earlier deadline when this job started
        assert all(
            j.ready_at > step.start or (j.deadline, j.job_id) > (step.job.deadline, step.job.job_id)
            for j in later
        )
        t = step.proved_at


def test_admit_an_idle_prover_with_time_to_spare() -> None:
    job = announcement(constraint_count=60_000, bid_deadline=NOW + 60, proof_window=210)
    admission = admit(job, 60_000, RATE, [], NOW, capacity=4)
    assert admission.admitted, admission.reason
    (planned,) = admission.plan
    # Awarded at the bid deadline, the input comes INPUT_DELIVERY_S later and we accept at once:
    # the proof window runs from there.
    assert planned.start == planned.job.ready_at == NOW + 60 + INPUT_DELIVERY_S
    assert planned.job.deadline == planned.start + 210
    assert planned.proved_at == planned.start + 72
    assert planned.proved_at + SUBMIT_MARGIN_S <= planned.job.deadline


ADMISSIBLE = {"constraint_count": 60_000, "bid_deadline": NOW + 60, "proof_window": 210}


@pytest.mark.parametrize(
    ("changes", "rate", "queue", "capacity", "reason"),
    [
        ({"constraint_count": 5}, RATE, [], 4, "announced 5 constraints"),
        ({}, RATE, [QueuedJob(1, 1, NOW + 999, NOW)], 1, "queue is full (1 of 1 jobs)"),
        ({}, 0, [], 4, "no proving rate"),
        ({}, 200, [], 4, "misses the deadline"),
        ({"proof_window": 101}, RATE, [], 4, "misses the deadline"),  # 72 s + 30 s margin
        ({}, RATE, [QueuedJob(9, 200_000, NOW + 1000, NOW)], 4, "misses the deadline"),
        ({"bid_deadline": NOW - 1}, RATE, [], 4, "the bid deadline has passed"),
        (
            {"bid_deadline": NOW + MAX_BID_HORIZON_S + 1},
            RATE,
            [],
            4,
            f"we bid only on jobs awarded within {MAX_BID_HORIZON_S} s",
        ),
        (
            {"accept_window": MIN_ACCEPT_WINDOW_S - 1},
            RATE,
            [],
            4,
            f"accept window of {MIN_ACCEPT_WINDOW_S - 1} s is too short",
        ),
    ],
)
def test_admit_refusals_say_why(
    changes: dict[str, int], rate: int, queue: list[QueuedJob], capacity: int, reason: str
) -> None:
    job = announcement(**{**ADMISSIBLE, **changes})
    admission = admit(job, 60_000, rate, queue, NOW, capacity)
    assert not admission.admitted
    assert reason in admission.reason


@pytest.mark.parametrize(
    "changes",
    [
        {"bid_deadline": NOW},  # bids are taken through the bid deadline
        {"bid_deadline": NOW + MAX_BID_HORIZON_S, "proof_window": 200},
        {"accept_window": MIN_ACCEPT_WINDOW_S},
        {"proof_window": 102},  # 72 s of proving + the 30 s submit margin, exactly
    ],
)
def test_admit_limits_are_inclusive(changes: dict[str, int]) -> None:
    job = announcement(**{**ADMISSIBLE, **changes})
    admission = admit(job, 60_000, RATE, [], NOW, capacity=1)
    assert admission.admitted, admission.reason


def test_admit_refuses_a_job_that_would_push_a_queued_job_late() -> None:
    queued = QueuedJob(9, 100_000, deadline=NOW + 260, ready_at=NOW + 80)
    urgent = announcement(constraint_count=60_000, bid_deadline=NOW + 10, proof_window=160)
    assert all(p.on_time for p in plan([queued], RATE, NOW))
    admission = admit(urgent, 60_000, RATE, [queued], NOW, capacity=4)
    assert not admission.admitted
    assert "job 9 miss its deadline" in admission.reason


def test_fits_takes_the_real_moment_of_an_accept() -> None:
    """Before accepting a won job the prover asks again with the input in hand (ready now)."""
    candidate = QueuedJob(5, 60_000, deadline=NOW + 102, ready_at=NOW)
    assert fits(candidate, [], RATE, NOW).admitted
    late = QueuedJob(5, 60_000, deadline=NOW + 101, ready_at=NOW)
    refused = fits(late, [], RATE, NOW)
    assert not refused.admitted
    assert "proving takes ~72 s" in refused.reason
    assert "no proving rate" in fits(candidate, [], 0, NOW).reason
    # A queued job that was already late does not block the candidate; one made late does.
    hopeless = QueuedJob(1, 500_000, deadline=NOW + 10, ready_at=NOW)
    assert fits(QueuedJob(5, 1000, NOW + 1000, NOW), [hopeless], RATE, NOW).admitted
    tight = QueuedJob(2, 60_000, deadline=NOW + 102, ready_at=NOW)
    pushed = fits(QueuedJob(5, 1000, NOW + 50, NOW), [tight], RATE, NOW)
    assert not pushed.admitted
    assert "job 2 miss its deadline" in pushed.reason
    assert [p.job.job_id for p in pushed.plan] == [5, 2]


def test_admit_after_the_bid_deadline_is_refused() -> None:
    job = announcement(bid_deadline=NOW, proof_window=999)
    assert "bid deadline" in admit(job, job.constraint_count, RATE, [], NOW + 1, 4).reason


@settings(max_examples=150)
@given(queues, st.integers(1, 5_000), st.integers(0, 100_000), st.integers(1, 1_500))
def test_admitted_jobs_keep_every_deadline_that_was_kept(
    queue: list[QueuedJob], rate: int, constraints: int, window: int
) -> None:
    job = announcement(
        job_id=10**7,
        constraint_count=constraints,
        bid_deadline=NOW + 30,
        proof_window=window,
    )
    admission = admit(job, constraints, rate, queue, NOW, capacity=100)
    late_before = {p.job.job_id for p in plan(queue, rate, NOW) if not p.on_time}
    late_after = {p.job.job_id for p in admission.plan if not p.on_time}
    if admission.admitted:
        assert late_after <= late_before
    else:
        assert job.job_id in late_after or late_after - late_before


def test_price_is_work_plus_gas_plus_margin() -> None:
    quote = price(
        constraints=120_000,
        price_per_1k=10**9,
        gas_estimate=300_000,
        gas_price=2 * 10**9,
        margin_bps=1_000,
    )
    assert (quote.work, quote.gas) == (120 * 10**9, 6 * 10**14)
    assert quote.margin == (quote.work + quote.gas) // 10
    assert quote.fee == quote.work + quote.gas + quote.margin
    assert quote.refusal is None
    assert price(1, 1, 0, 0, 1).fee == 2  # each part rounds up: 1 wei of work, 1 of margin


def test_price_refuses_above_the_max_fee_and_says_why() -> None:
    quote = price(1_000, 1_000, 100, 10, 0, max_fee=1_999)
    assert quote.fee == 2_000
    assert quote.refusal is not None
    assert "work 1000 + gas 1000" in quote.refusal
    assert price(1_000, 1_000, 100, 10, 0, max_fee=2_000).refusal is None
    with pytest.raises(LocalProtocolError):
        price(-1, 1, 1, 1, 1)


def test_submit_gas_estimate_grows_per_public_signal() -> None:
    assert submit_gas_estimate(11) - submit_gas_estimate(1) == 10 * 6_150
    # A bid prices both of the prover's transactions: acceptJob (~47k) and submitProof (~0.27M).
    assert submit_gas_estimate(3) == ACCEPT_GAS + SUBMIT_BASE_GAS + PAIRING_GAS + 3 * 6_150
    assert 300_000 < submit_gas_estimate(3) < 400_000


@settings(max_examples=200)
@given(st.integers(1, 10**8), st.integers(100, 10**6), st.integers(10, 3600))
def test_suggested_terms_follow_the_guidance_and_admit_a_typical_prover(
    constraints: int, typical_rate: int, bid_window: int
) -> None:
    suggested = suggest_terms(constraints, typical_rate, NOW, bid_window)
    proving = Fraction(constraints, typical_rate)
    assert suggested.bid_deadline == NOW + bid_window
    assert suggested.accept_window == DEFAULT_ACCEPT_WINDOW_S >= MIN_ACCEPT_WINDOW_S
    assert suggested.proof_window - SUBMIT_MARGIN_S >= max(
        LOCK_FACTOR * proving, Fraction(MIN_PROOF_WINDOW_S)
    )
    # ... and not much more: the proving time rounds up to a second before the factor applies.
    locked = suggested.proof_window - SUBMIT_MARGIN_S
    assert locked <= max(LOCK_FACTOR * (proving + 1), Fraction(MIN_PROOF_WINDOW_S)) + 1
    job = announcement(  # raises if the windows are outside JobMarket's limits
        constraint_count=constraints,
        bid_deadline=suggested.bid_deadline,
        accept_window=suggested.accept_window,
        proof_window=suggested.proof_window,
    )
    assert admit(job, constraints, typical_rate, [], NOW, capacity=1).admitted
    # Awarded at any moment up to the bid deadline, the input in hand, it still fits.
    for accepted_at in (NOW, suggested.bid_deadline + INPUT_DELIVERY_S):
        won = QueuedJob(job.job_id, constraints, accepted_at + job.proof_window, accepted_at)
        assert fits(won, [], typical_rate, accepted_at).admitted


def test_suggested_terms_for_a_small_job_use_the_minimum_windows() -> None:
    assert suggest_terms(10, 10**6, NOW) == SuggestedTerms(
        NOW + DEFAULT_BID_WINDOW_S, DEFAULT_ACCEPT_WINDOW_S, MIN_PROOF_WINDOW_S + SUBMIT_MARGIN_S
    )
    big = suggest_terms(1_000_000, 1_000, NOW)  # 1000 s of proving: 1250 s locked, + margin
    assert big.proof_window == 1250 + SUBMIT_MARGIN_S
