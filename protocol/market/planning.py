"""Prover admission, deadline-ordered scheduling, pricing, and requester guidance.

A prover proves one job at a time, always the ready job with the earliest
deadline (MARKET_NOTES 4: newer jobs before older locked ones missed deadlines).
``plan`` simulates exactly that rule from ``now``; ``admit`` accepts a job only if
the plan with it keeps it and every queued job on time, from the job's size and
the node's measured proving rate with a safety factor (MARKET_NOTES 7). A job not
yet awarded may be awarded as late as its bid deadline, so admission assumes its
input arrives ``INPUT_DELIVERY_S`` after that. Amounts are ints in wei; times are unix seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from protocol.errors import LocalProtocolError
from protocol.messages.types import JobAnnouncement

# Proving time is estimated as constraints / measured rate x this factor. It stays
# below the requester guidance's 1.25 so a prover at the typical rate can take a
# job whose deadlines follow ``suggest_deadlines``.
DEFAULT_SAFETY = Fraction(6, 5)
# Seconds to land submitProof once a proof exists: two 12 s Ethereum slots, rounded up.
SUBMIT_MARGIN_S = 30
# Seconds for the requester to notice the award and stream the input to the prover.
INPUT_DELIVERY_S = 30
# Requester guidance (MARKET_NOTES, Boundless): lock timeout ~1.25x proving time,
# overall timeout ~3x.
LOCK_FACTOR = Fraction(5, 4)
TIMEOUT_FACTOR = 3
DEFAULT_BID_WINDOW_S = 60
MIN_PROOF_WINDOW_S = 60
# submitProof gas: the pairing check costs 45,000 + 4 x 34,000 (EIP-1108); each public
# signal an ecMul (6,000) and an ecAdd (150); the rest (calldata, storage, transfers,
# the collateral release) stays under 130,000 on our contracts (3 signals: ~0.3M).
PAIRING_GAS = 45_000 + 4 * 34_000
GAS_PER_PUBLIC_SIGNAL = 6_000 + 150
SUBMIT_BASE_GAS = 130_000
BPS = 10_000  # basis points in one


@dataclass(frozen=True)
class QueuedJob:
    """A job in a prover's pipeline: its size, its last useful second, its earliest start."""

    job_id: int
    constraints: int
    deadline: int
    ready_at: int


@dataclass(frozen=True)
class PlannedJob:
    """Where ``plan`` puts a job: proving from ``start`` to ``proved_at``."""

    job: QueuedJob
    start: int
    proved_at: int

    @property
    def on_time(self) -> bool:
        """The proof can land on-chain by the job's deadline."""
        return self.proved_at + SUBMIT_MARGIN_S <= self.job.deadline


@dataclass(frozen=True)
class Admission:
    """Whether to bid on a job, why, and the plan that decided it."""

    admitted: bool
    reason: str
    plan: tuple[PlannedJob, ...] = ()


def proving_seconds(constraints: int, proving_rate: int, safety: Fraction = DEFAULT_SAFETY) -> int:
    """Estimated seconds to prove ``constraints`` at ``proving_rate`` constraints/s, rounded up."""
    if proving_rate <= 0 or constraints < 0:
        raise LocalProtocolError("proving rate must be positive and constraints non-negative")
    estimate = Fraction(constraints) * safety / proving_rate
    return -(-estimate.numerator // estimate.denominator)


def next_to_prove(queue: Sequence[QueuedJob], now: int) -> QueuedJob | None:
    """The ready job with the earliest deadline (ties: lower job id), or None."""
    ready = [job for job in queue if job.ready_at <= now]
    return min(ready, key=lambda job: (job.deadline, job.job_id), default=None)


def plan(
    queue: Sequence[QueuedJob], proving_rate: int, now: int, safety: Fraction = DEFAULT_SAFETY
) -> tuple[PlannedJob, ...]:
    """Simulate proving ``queue`` one job at a time by ``next_to_prove`` from ``now``."""
    pending, planned, t = list(queue), [], now
    while pending:
        job = next_to_prove(pending, t)
        if job is None:
            t = min(j.ready_at for j in pending)
            continue
        pending.remove(job)
        proved_at = t + proving_seconds(job.constraints, proving_rate, safety)
        planned.append(PlannedJob(job, t, proved_at))
        t = proved_at
    return tuple(planned)


def admit(
    job: JobAnnouncement,
    constraints: int,
    proving_rate: int,
    queue: Sequence[QueuedJob],
    now: int,
    capacity: int,
    safety: Fraction = DEFAULT_SAFETY,
) -> Admission:
    """Whether a prover with ``queue`` can take ``job`` and meet every deadline.

    ``constraints`` is the registered model's constraint count (the announcement's
    claim must agree); ``capacity`` bounds the number of jobs held at once.
    """
    if constraints != job.constraint_count:
        claimed = job.constraint_count
        return Admission(False, f"announced {claimed} constraints, the model has {constraints}")
    if now > job.bid_deadline:
        return Admission(False, "the bid deadline has passed")
    if len(queue) >= capacity:
        return Admission(False, f"the queue is full ({len(queue)} of {capacity} jobs)")
    if proving_rate <= 0:
        return Admission(False, "no proving rate measured yet")
    ready_at = job.bid_deadline + INPUT_DELIVERY_S  # awarded at the last moment
    candidate = QueuedJob(job.job_id, constraints, job.proof_deadline, ready_at)
    before = {p.job.job_id for p in plan(queue, proving_rate, now, safety) if not p.on_time}
    after = plan([*queue, candidate], proving_rate, now, safety)
    for planned in after:
        if planned.job is candidate and not planned.on_time:
            return Admission(False, _too_late(planned), after)
        if not planned.on_time and planned.job.job_id not in before:
            why = f"it would make job {planned.job.job_id} miss its deadline"
            return Admission(False, why, after)
    return Admission(True, "every queued job stays on time", after)


def _too_late(planned: PlannedJob) -> str:
    seconds = planned.proved_at - planned.start
    return (
        f"proving takes ~{seconds} s and would end at {planned.proved_at}; with "
        f"{SUBMIT_MARGIN_S} s to submit that misses the deadline {planned.job.deadline}"
    )


@dataclass(frozen=True)
class Quote:
    """A fee and its parts; ``refusal`` says why not to bid (fee above the max fee)."""

    fee: int
    work: int
    gas: int
    margin: int
    refusal: str | None = None


def price(
    constraints: int,
    price_per_1k: int,
    gas_estimate: int,
    gas_price: int,
    margin_bps: int,
    max_fee: int | None = None,
) -> Quote:
    """work (constraints x price per 1,000, rounded up) + gas + margin (basis points of both)."""
    if min(constraints, price_per_1k, gas_estimate, gas_price, margin_bps) < 0:
        raise LocalProtocolError("pricing inputs must be non-negative")
    work = -(-constraints * price_per_1k // 1000)
    gas = gas_estimate * gas_price
    margin = -(-(work + gas) * margin_bps // BPS)
    fee = work + gas + margin
    refusal = None
    if max_fee is not None and fee > max_fee:
        refusal = f"our price {fee} (work {work} + gas {gas} + margin {margin}) exceeds {max_fee}"
    return Quote(fee, work, gas, margin, refusal)


def submit_gas_estimate(n_public: int) -> int:
    """Gas for submitProof on a circuit with ``n_public`` public signals."""
    return SUBMIT_BASE_GAS + PAIRING_GAS + GAS_PER_PUBLIC_SIGNAL * n_public


@dataclass(frozen=True)
class SuggestedDeadlines:
    """Deadlines for createJob, and when to give up waiting and resubmit."""

    bid_deadline: int
    proof_deadline: int
    resubmit_after: int


def suggest_deadlines(
    constraints: int, typical_rate: int, now: int, bid_window_s: int = DEFAULT_BID_WINDOW_S
) -> SuggestedDeadlines:
    """Deadlines from the job's size and a typical prover's rate (MARKET_NOTES guidance)."""
    proving = proving_seconds(constraints, typical_rate, Fraction(1))
    lock = max(MIN_PROOF_WINDOW_S, _ceil(LOCK_FACTOR * proving))
    overhead = INPUT_DELIVERY_S + SUBMIT_MARGIN_S
    bid_deadline = now + bid_window_s
    return SuggestedDeadlines(
        bid_deadline,
        bid_deadline + overhead + lock,
        bid_deadline + overhead + max(lock, TIMEOUT_FACTOR * proving),
    )


def _ceil(value: Fraction) -> int:
    return -(-value.numerator // value.denominator)
