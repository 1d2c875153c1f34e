"""The prover's view of one job, as a transition table.

Theory of operation. A prover SEES an announcement and either declines it
(DECLINED: ``admit`` or ``price`` said no) or bids (BID; the signed bid authorises
the requester to lock our collateral, so it is a money action). JobAwarded to us
makes the job WON, to anyone else LOST; so does the bid deadline passing or a
cancel. Once the input arrives and matches the commitment (INPUT_RECEIVED) it is
queued for proving in deadline order; PROVING ends with a proof, which we submit
(SUBMITTED) and are paid for (PAID, then Withdraw). A failed proof or a reverted
submission is retried while attempts and time remain (MARKET_NOTES 3: retry or
fail loudly); otherwise, or once the proof deadline passes without a submission,
the job is FAILED and reported. JobMarket has no way to hand back an assigned
prover's collateral without a proof, so a FAILED job ends SLASHED, by ``slash``
or by a rescuer's proof.

A prover may also RESCUE someone else's overdue job: it starts in RESCUE, takes
the input from the requester and follows the same proving states against the end
of the rescue window, and is PAID when ProofAccepted names it as the rescuer;
a rescue lost to another prover, a slash or the window's end is LOST. Chain logs
that may be ours or someone else's become events through ``award_event`` and
``rescue_event``. Leaving the pipeline (PAID, LOST after input, FAILED) forgets the input.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

from protocol.market.actions import (
    AckInput,
    Action,
    BidDeadlinePassed,
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
    RescueWindowClosed,
    SendBid,
    SubmitProof,
    Tick,
    TxFailed,
    Withdraw,
)
from protocol.market.errors import IllegalTransition
from protocol.messages.types import Bid, JobAnnouncement

# Proving attempts per job before giving up (a deterministic failure rarely heals).
MAX_ATTEMPTS = 3


class ProverState(enum.Enum):
    SEEN = "seen"
    BID = "bid"
    WON = "won"
    RESCUE = "rescue"
    INPUT_RECEIVED = "input received"
    PROVING = "proving"
    SUBMITTED = "submitted"
    PAID = "paid"
    DECLINED = "declined"
    LOST = "lost"
    FAILED = "failed"
    SLASHED = "slashed"


@dataclass(frozen=True)
class Declined(Event):
    """We will not bid (the reason from admission or pricing)."""

    reason: str


@dataclass(frozen=True)
class BidPlaced(Event):
    """We signed this bid and will publish it."""

    bid: Bid


@dataclass(frozen=True)
class AwardedToOther(Event):
    """JobAwarded named another prover."""


@dataclass(frozen=True)
class RescueAccepted(Event):
    """ProofAccepted with rescued = True naming us: our rescue was paid."""


@dataclass(frozen=True)
class InputReceived(Event):
    """The requester's input arrived and its commitment matches the job's."""


@dataclass(frozen=True)
class ProvingStarted(Event):
    """A worker started proving the job."""


@dataclass(frozen=True)
class ProofReady(Event):
    """The worker produced a proof (checked locally before submitting)."""


@dataclass(frozen=True)
class ProvingFailed(Event):
    """The worker failed."""

    reason: str


@dataclass(frozen=True)
class ProverJob:
    """One job from a prover's side."""

    state: ProverState
    job: JobAnnouncement
    me: bytes
    rescue_window: int
    rescue: bool = False
    attempts: int = 0
    bid: Bid | None = None

    @property
    def work_deadline(self) -> int:
        """The last second our proof is accepted: the proof deadline, or the rescue window's end."""
        end = self.job.proof_deadline
        return end + self.rescue_window if self.rescue else end


S = ProverState
Actions = tuple[Action, ...]
Target = S | Callable[[ProverJob, Event, int], S]
Rule = tuple[Target, Callable[[ProverJob, Event], Actions]]


def _none(job: ProverJob, event: Event) -> Actions:
    return ()


def _const(*actions: Action) -> Callable[[ProverJob, Event], Actions]:
    return lambda job, event: actions


def _send_bid(job: ProverJob, event: Event) -> Actions:
    assert isinstance(event, BidPlaced)
    return (SendBid(event.bid),)


def _retry_or_fail(job: ProverJob, event: Event, now: int) -> S:
    late = now > job.work_deadline
    return S.FAILED if job.attempts >= MAX_ATTEMPTS or late else S.INPUT_RECEIVED


def _after_retry(job: ProverJob, event: Event) -> Actions:
    if job.state is S.FAILED:
        reason = getattr(event, "reason", "unknown")
        return (ReportFailure(f"gave up after {job.attempts} attempts: {reason}"), ForgetInput())
    return (Prove(),)


def _penalised_or_lost(job: ProverJob, event: Event, now: int) -> S:
    # A slash or another's rescue costs the assigned prover its collateral; a rescuer just lost.
    return S.LOST if job.rescue else S.SLASHED


def _after_penalty(job: ProverJob, event: Event) -> Actions:
    if job.state is S.SLASHED:
        return (
            ReportFailure("our collateral was slashed: no proof by the deadline"),
            ForgetInput(),
        )
    return (ForgetInput(),)


def _fail(reason: str) -> Callable[[ProverJob, Event], Actions]:
    return _const(ReportFailure(reason), ForgetInput())


_PROVING_STATES = (S.INPUT_RECEIVED, S.PROVING)
TABLE: dict[tuple[S, type[Event]], Rule] = {
    (S.SEEN, Declined): (S.DECLINED, _none),
    (S.SEEN, BidPlaced): (S.BID, _send_bid),
    (S.SEEN, AwardedToOther): (S.LOST, _none),
    (S.SEEN, ChainJobCancelled): (S.LOST, _none),
    (S.SEEN, BidDeadlinePassed): (S.LOST, _none),
    (S.BID, ChainJobAwarded): (S.WON, _none),
    (S.BID, AwardedToOther): (S.LOST, _none),
    (S.BID, ChainJobCancelled): (S.LOST, _none),
    (S.BID, BidDeadlinePassed): (S.LOST, _none),
    (S.WON, InputReceived): (S.INPUT_RECEIVED, _const(AckInput(), Prove())),
    (S.WON, ProofDeadlinePassed): (S.FAILED, _fail("no input arrived before the deadline")),
    (S.RESCUE, InputReceived): (S.INPUT_RECEIVED, _const(AckInput(), Prove())),
    (S.RESCUE, RescueWindowClosed): (S.LOST, _none),
    (S.INPUT_RECEIVED, ProvingStarted): (S.PROVING, _none),
    (S.PROVING, ProofReady): (S.SUBMITTED, _const(SubmitProof())),
    (S.PROVING, ProvingFailed): (_retry_or_fail, _after_retry),
    (S.SUBMITTED, TxFailed): (_retry_or_fail, _after_retry),
    (S.SUBMITTED, ChainProofAccepted): (S.PAID, _const(Withdraw(), ForgetInput())),
    (S.SUBMITTED, RescueAccepted): (S.PAID, _const(Withdraw(), ForgetInput())),
    (S.FAILED, ChainProverSlashed): (S.SLASHED, _none),
    (S.FAILED, ChainProofRescued): (S.SLASHED, _none),
}
for _state in (S.WON, S.RESCUE, *_PROVING_STATES, S.SUBMITTED):
    TABLE[(_state, ChainProverSlashed)] = (_penalised_or_lost, _after_penalty)
    TABLE[(_state, ChainProofRescued)] = (_penalised_or_lost, _after_penalty)
for _state in _PROVING_STATES:
    # ProofDeadlinePassed is due only for assigned provers (see _time_events); a rescuer's
    # pipeline ends with the rescue window, when an assigned prover's job has long FAILED.
    TABLE[(_state, ProofDeadlinePassed)] = (S.FAILED, _fail("the proof deadline passed"))
    TABLE[(_state, RescueWindowClosed)] = (S.LOST, _const(ForgetInput()))


def new_prover_job(job: JobAnnouncement, me: bytes, rescue_window: int) -> ProverJob:
    """A job we have just seen announced."""
    return ProverJob(S.SEEN, job, me, rescue_window)


def new_rescue_job(job: JobAnnouncement, me: bytes, rescue_window: int) -> ProverJob:
    """Someone else's overdue job we offer to rescue."""
    return ProverJob(S.RESCUE, job, me, rescue_window, rescue=True)


def award_event(job: ProverJob, prover: bytes, fee: int) -> Event:
    """The event for a JobAwarded log: ours or someone else's."""
    return ChainJobAwarded(prover, fee) if prover == job.me else AwardedToOther()


def rescue_event(job: ProverJob, rescuer: bytes) -> Event:
    """The event for a ProofAccepted log with rescued = True: ours or someone else's."""
    return RescueAccepted() if rescuer == job.me else ChainProofRescued(rescuer)


def _check(job: ProverJob, event: Event, now: int) -> None:
    if isinstance(event, BidPlaced):
        bid = event.bid
        if bid.job_id != job.job.job_id or bid.prover != job.me:
            raise IllegalTransition("the bid is for another job or by another prover")
        if now > job.job.bid_deadline or now > bid.expiry or bid.fee > job.job.max_fee:
            raise IllegalTransition("the bid is late, expired or above the max fee")
    if isinstance(event, ChainJobAwarded) and event.prover != job.me:
        raise IllegalTransition("JobAwarded for another prover: use award_event")
    if isinstance(event, ChainProofAccepted) and job.rescue:
        raise IllegalTransition("a rescue is paid by RescueAccepted (see rescue_event)")
    if isinstance(event, ChainProofRescued) and event.rescuer == job.me:
        raise IllegalTransition("our own rescue is RescueAccepted: use rescue_event")
    if isinstance(event, RescueAccepted) and not job.rescue:
        raise IllegalTransition("the assigned prover cannot rescue its own job")


def prover_step(job: ProverJob, event: Event, now: int) -> tuple[ProverJob, Actions]:
    """The job after ``event`` at time ``now``, and the actions to record and take."""
    if isinstance(event, Tick):
        actions: Actions = ()
        for due in _time_events(job, now):
            if (job.state, type(due)) in TABLE:
                job, more = _apply(job, due, now)
                actions += more
        return job, actions
    if isinstance(event, BidDeadlinePassed | ProofDeadlinePassed | RescueWindowClosed):
        raise IllegalTransition("time events come from Tick, not from the caller")
    _check(job, event, now)
    return _apply(job, event, now)


def _time_events(job: ProverJob, now: int) -> list[Event]:
    due: list[Event] = []
    if now > job.job.bid_deadline:
        due.append(BidDeadlinePassed())
    if now > job.job.proof_deadline and not job.rescue:
        due.append(ProofDeadlinePassed())
    if now > job.job.proof_deadline + job.rescue_window:
        due.append(RescueWindowClosed())
    return due


def _apply(job: ProverJob, event: Event, now: int) -> tuple[ProverJob, Actions]:
    rule = TABLE.get((job.state, type(event)))
    if rule is None:
        raise IllegalTransition(f"prover: {type(event).__name__} in state {job.state.name}")
    target, actions = rule
    attempts = job.attempts + (1 if isinstance(event, ProvingFailed | TxFailed) else 0)
    job = dataclasses.replace(job, attempts=attempts)
    state = target if isinstance(target, ProverState) else target(job, event, now)
    bid = event.bid if isinstance(event, BidPlaced) else job.bid
    updated = dataclasses.replace(job, state=state, bid=bid)
    return updated, actions(updated, event)
