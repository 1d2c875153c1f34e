"""Admission, deadline-ordered planning, pricing and the requester's suggested deadlines."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError
from protocol.market import (
    QueuedJob,
    admit,
    next_to_prove,
    plan,
    price,
    proving_seconds,
    submit_gas_estimate,
    suggest_deadlines,
)
from protocol.market.planning import (
    INPUT_DELIVERY_S,
    LOCK_FACTOR,
    SUBMIT_MARGIN_S,
    TIMEOUT_FACTOR,
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
    job = announcement(constraint_count=60_000, bid_deadline=NOW + 60, proof_deadline=NOW + 300)
    admission = admit(job, 60_000, RATE, [], NOW, capacity=4)
    assert admission.admitted, admission.reason
    (planned,) = admission.plan
    assert planned.start == NOW + 60 + INPUT_DELIVERY_S  # awarded at the last moment
    assert planned.proved_at == planned.start + 72


@pytest.mark.parametrize(
    ("changes", "rate", "queue", "capacity", "reason"),
    [
        ({"constraint_count": 5}, RATE, [], 4, "announced 5 constraints"),
        ({}, RATE, [QueuedJob(1, 1, NOW + 999, NOW)], 1, "queue is full"),
        ({}, 0, [], 4, "no proving rate"),
        ({}, 200, [], 4, "misses the deadline"),
        ({}, RATE, [QueuedJob(9, 200_000, NOW + 1000, NOW)], 4, "misses the deadline"),
    ],
)
def test_admit_refusals_say_why(
    changes: dict[str, int], rate: int, queue: list[QueuedJob], capacity: int, reason: str
) -> None:
    fields = {"constraint_count": 60_000, "bid_deadline": NOW + 60, "proof_deadline": NOW + 300}
    job = announcement(**{**fields, **changes})
    admission = admit(job, 60_000, rate, queue, NOW, capacity)
    assert not admission.admitted
    assert reason in admission.reason


def test_admit_refuses_a_job_that_would_push_a_queued_job_late() -> None:
    queued = QueuedJob(9, 100_000, deadline=NOW + 260, ready_at=NOW + 80)
    urgent = announcement(constraint_count=60_000, bid_deadline=NOW + 10, proof_deadline=NOW + 200)
    assert all(p.on_time for p in plan([queued], RATE, NOW))
    admission = admit(urgent, 60_000, RATE, [queued], NOW, capacity=4)
    assert not admission.admitted
    assert "job 9 miss its deadline" in admission.reason


def test_admit_after_the_bid_deadline_is_refused() -> None:
    job = announcement(bid_deadline=NOW, proof_deadline=NOW + 999)
    assert "bid deadline" in admit(job, job.constraint_count, RATE, [], NOW + 1, 4).reason


@settings(max_examples=150)
@given(queues, st.integers(1, 5_000), st.integers(0, 100_000), st.integers(0, 1_500))
def test_admitted_jobs_keep_every_deadline_that_was_kept(
    queue: list[QueuedJob], rate: int, constraints: int, window: int
) -> None:
    job = announcement(
        job_id=10**7,
        constraint_count=constraints,
        bid_deadline=NOW + 30,
        proof_deadline=NOW + 31 + window,
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
    assert 300_000 < submit_gas_estimate(3) < 400_000  # the contracts measure ~0.3M


@settings(max_examples=200)
@given(st.integers(1, 10**8), st.integers(1, 10**6))
def test_suggested_deadlines_follow_the_guidance_and_admit_a_typical_prover(
    constraints: int, typical_rate: int
) -> None:
    suggested = suggest_deadlines(constraints, typical_rate, NOW)
    proving = Fraction(constraints, typical_rate)
    window = suggested.proof_deadline - suggested.bid_deadline - INPUT_DELIVERY_S - SUBMIT_MARGIN_S
    assert window >= LOCK_FACTOR * proving
    assert suggested.resubmit_after - suggested.proof_deadline >= 0
    assert suggested.resubmit_after - suggested.bid_deadline >= TIMEOUT_FACTOR * proving
    job = announcement(
        constraint_count=constraints,
        bid_deadline=suggested.bid_deadline,
        proof_deadline=suggested.proof_deadline,
    )
    assert admit(job, constraints, typical_rate, [], NOW, capacity=1).admitted
