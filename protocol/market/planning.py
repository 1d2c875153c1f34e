"""Prover admission, deadline-ordered scheduling, pricing, and requester guidance.

A prover proves one job at a time, always the ready job with the earliest
deadline (MARKET_NOTES 4: newer jobs before older locked ones missed deadlines).
``plan`` simulates exactly that rule from ``now``; ``admit`` accepts a job only if
the plan with it keeps it and every queued job on time, from the job's size and
the node's measured proving rate with a safety factor (MARKET_NOTES 7). A job not
yet awarded may be awarded as late as its bid deadline, so admission assumes its
input arrives ``INPUT_DELIVERY_S`` after that and that we accept it at once: its
proof deadline is then that moment plus the job's proof window. Before accepting a
won job the prover asks ``fits`` again with the real moment (``now``), so it never
locks collateral for a job its plan cannot finish. Amounts are ints in wei; times
are unix seconds.
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
# Requester guidance (MARKET_NOTES, Boundless): lock timeout ~1.25x proving time.
LOCK_FACTOR = Fraction(5, 4)
DEFAULT_BID_WINDOW_S = 60
MIN_PROOF_WINDOW_S = 60
# An accept window must leave time to stream the input, witness it and land acceptJob:
# seconds on a devnet, one or two 12 s slots on Ethereum; the requester's default is 60 s.
MIN_ACCEPT_WINDOW_S = 20
DEFAULT_ACCEPT_WINDOW_S = 60
# A prover bids only on jobs awarded within this horizon: a bid holds a slot of its
# capacity until it expires, and a bid deadline a month away would hold it for a month.
MAX_BID_HORIZON_S = 3600
# A bid stays valid this long after the bid deadline, so that the requester can award it
# when the winner's award lapses (one accept window of the default length, plus a slot).
BID_SLACK_S = DEFAULT_ACCEPT_WINDOW_S + 12
# submitProof gas: the pairing check costs 45,000 + 4 x 34,000 (EIP-1108); each public
# signal an ecMul (6,000) and an ecAdd (150); the rest (calldata, storage, transfers,
# the collateral release) stays under 130,000 on our contracts (3 signals: ~0.27M,
# bench/results/gas.md). acceptJob costs ~47,000 (same file); a bid prices both.
PAIRING_GAS = 45_000 + 4 * 34_000
GAS_PER_PUBLIC_SIGNAL = 6_000 + 150
SUBMIT_BASE_GAS = 130_000
ACCEPT_GAS = 50_000
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
    """Whether a prover with ``queue`` can bid on ``job`` and meet every deadline.

    ``constraints`` is the registered model's constraint count (the announcement's
    claim must agree); ``capacity`` bounds the number of jobs held at once.
    """
    if constraints != job.constraint_count:
        claimed = job.constraint_count
        return Admission(False, f"announced {claimed} constraints, the model has {constraints}")
    if now > job.bid_deadline:
        return Admission(False, "the bid deadline has passed")
    if job.bid_deadline - now > MAX_BID_HORIZON_S:
        return Admission(
            False,
            f"the bid deadline is {job.bid_deadline - now} s away; we bid only on jobs "
            f"awarded within {MAX_BID_HORIZON_S} s",
        )
    if job.accept_window < MIN_ACCEPT_WINDOW_S:
        return Admission(
            False,
            f"the accept window of {job.accept_window} s is too short to receive, check and "
            f"accept the input (we need {MIN_ACCEPT_WINDOW_S} s)",
        )
    if len(queue) >= capacity:
        return Admission(False, f"the queue is full ({len(queue)} of {capacity} jobs)")
    ready_at = job.bid_deadline + INPUT_DELIVERY_S  # awarded at the last moment
    candidate = QueuedJob(job.job_id, constraints, ready_at + job.proof_window, ready_at)
    return fits(candidate, queue, proving_rate, now, safety)


def fits(
    candidate: QueuedJob,
    queue: Sequence[QueuedJob],
    proving_rate: int,
    now: int,
    safety: Fraction = DEFAULT_SAFETY,
) -> Admission:
    """Whether ``candidate`` can join ``queue`` with it and every queued job on time."""
    if proving_rate <= 0:
        return Admission(False, "no proving rate measured yet")
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
    """Gas a prover spends on a job with ``n_public`` public signals: acceptJob, then
    submitProof."""
    return ACCEPT_GAS + SUBMIT_BASE_GAS + PAIRING_GAS + GAS_PER_PUBLIC_SIGNAL * n_public


@dataclass(frozen=True)
class SuggestedTerms:
    """When to award by, and the windows to ask for in createJob."""

    bid_deadline: int
    accept_window: int
    proof_window: int


def suggest_terms(
    constraints: int, typical_rate: int, now: int, bid_window_s: int = DEFAULT_BID_WINDOW_S
) -> SuggestedTerms:
    """Terms from the job's size and a typical prover's rate (MARKET_NOTES guidance: a lock
    timeout of ~1.25x the proving time)."""
    proving = proving_seconds(constraints, typical_rate, Fraction(1))
    proof_window = max(MIN_PROOF_WINDOW_S, _ceil(LOCK_FACTOR * proving)) + SUBMIT_MARGIN_S
    return SuggestedTerms(now + bid_window_s, DEFAULT_ACCEPT_WINDOW_S, proof_window)


def _ceil(value: Fraction) -> int:
    return -(-value.numerator // value.denominator)
