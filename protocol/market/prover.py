"""The prover's view of one job, as a transition table.

Theory of operation. A prover SEES an announcement and either declines it
(DECLINED: ``admit`` or ``price`` said no) or bids (BID). A bid commits nothing:
JobAwarded naming us makes the job WON and starts the accept window, naming anyone
else makes it LOST (a LOST or LAPSED bid can still be awarded while it has not
expired, when the winner's award, or our own, lapses). Our collateral is put at risk
only by our own acceptJob: once the requester's input arrives, matches the on-chain
commitment, lies in the circuit's range and yields a satisfying witness, and our plan
still meets the proof window, we send acceptJob (ACCEPTING); JobAccepted locks the
collateral and starts the proof window (ACCEPTED). A won job whose input never comes,
or is refused, or no longer fits our plan, LAPSES at the accept deadline and costs us
nothing.

An accepted job is proved in deadline order; PROVING ends with a proof, which we
submit (SUBMITTED) and are paid for (PAID, then Withdraw). A failed proof or a
reverted submission is retried while attempts and time remain (MARKET_NOTES 3: retry
or fail loudly); otherwise, or once the proof deadline passes, the job is FAILED and
reported, and ends SLASHED when anyone slashes it. A job re-opened after a lapse or a
slash is announced again (``round`` + 1): from LOST, DECLINED or LAPSED it is SEEN
afresh (``Reannounced``). Leaving the pipeline (PAID, LAPSED, FAILED) forgets the input.
JobAccepted and ProofAccepted are ours whenever they come: a transaction we took for
failed may still have landed, so they are taken from the states a failure left us in.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

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
from protocol.market.errors import IllegalTransition
from protocol.messages.types import Bid, JobAnnouncement

# Proving (or accepting) attempts per job before giving up (a deterministic failure
# rarely heals).
MAX_ATTEMPTS = 3


class ProverState(enum.Enum):
    SEEN = "seen"
    BID = "bid"
    WON = "won"
    ACCEPTING = "accepting"
    ACCEPTED = "accepted"
    PROVING = "proving"
    SUBMITTED = "submitted"
    PAID = "paid"
    DECLINED = "declined"
    LOST = "lost"
    LAPSED = "lapsed"
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
class InputChecked(Event):
    """The input matches the commitment, fits the circuit and has a satisfying witness, and
    our plan meets the proof window: we accept."""


@dataclass(frozen=True)
class AcceptRefused(Event):
    """We will not accept the won job (our plan no longer meets its windows, or our free
    stake no longer covers it); the award lapses."""

    reason: str


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
class Reannounced(Event):
    """The job re-opened (a lapse or a slash) and was announced again."""

    job: JobAnnouncement


@dataclass(frozen=True)
class ProverJob:
    """One job from a prover's side: the announcement we bid on, and the chain's deadlines."""

    state: ProverState
    job: JobAnnouncement
    me: bytes
    attempts: int = 0
    bid: Bid | None = None
    accept_deadline: int | None = None
    proof_deadline: int | None = None
    reason: str | None = None

    @property
    def work_deadline(self) -> int:
        """The last second our proof is taken: the proof deadline once accepted, else the
        latest it could be (accepting at the end of the accept window)."""
        if self.proof_deadline is not None:
            return self.proof_deadline
        return self.latest_accept + self.job.proof_window

    @property
    def latest_accept(self) -> int:
        """The last second we could accept: the accept deadline once awarded, else an award
        at the bid's expiry (or the bid deadline) plus the accept window."""
        if self.accept_deadline is not None:
            return self.accept_deadline
        last_award = self.bid.expiry if self.bid is not None else self.job.bid_deadline
        return last_award + self.job.accept_window


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
    return S.FAILED if job.attempts >= MAX_ATTEMPTS or late else S.ACCEPTED


def _after_retry(job: ProverJob, event: Event) -> Actions:
    if job.state is S.FAILED:
        reason = getattr(event, "reason", "unknown")
        return (
            ReportFailure(
                f"gave up after {job.attempts} attempts: {reason}; our collateral will be slashed"
            ),
            ForgetInput(),
        )
    return (Prove(),)


def _accept_retry_or_lapse(job: ProverJob, event: Event, now: int) -> S:
    late = job.accept_deadline is not None and now > job.accept_deadline
    return S.LAPSED if job.attempts >= MAX_ATTEMPTS or late else S.WON


def _after_accept_retry(job: ProverJob, event: Event) -> Actions:
    return (ForgetInput(),) if job.state is S.LAPSED else ()


def _fail(reason: str) -> Callable[[ProverJob, Event], Actions]:
    return _const(ReportFailure(reason), ForgetInput())


_ACCEPTED_STATES = (S.ACCEPTED, S.PROVING, S.SUBMITTED)
TABLE: dict[tuple[S, type[Event]], Rule] = {
    (S.SEEN, Declined): (S.DECLINED, _none),
    (S.SEEN, BidPlaced): (S.BID, _send_bid),
    (S.SEEN, AwardedToOther): (S.LOST, _none),
    (S.SEEN, ChainJobCancelled): (S.LOST, _none),
    (S.BID, ChainJobAwarded): (S.WON, _none),
    # A re-award to our standing bid: after another prover's lapse, or after our own.
    (S.LOST, ChainJobAwarded): (S.WON, _none),
    (S.LAPSED, ChainJobAwarded): (S.WON, _none),
    (S.BID, AwardedToOther): (S.LOST, _none),
    (S.BID, ChainJobCancelled): (S.LOST, _none),
    (S.BID, BidExpired): (S.LOST, _none),
    (S.WON, InputChecked): (S.ACCEPTING, _const(AcceptJob())),
    (S.WON, AcceptRefused): (S.LAPSED, _const(ForgetInput())),
    (S.WON, AcceptDeadlinePassed): (S.LAPSED, _const(ForgetInput())),
    (S.WON, AwardedToOther): (S.LAPSED, _const(ForgetInput())),  # our award lapsed, re-awarded
    (S.WON, ChainJobCancelled): (S.LAPSED, _const(ForgetInput())),
    (S.ACCEPTING, ChainJobAccepted): (S.ACCEPTED, _const(Prove())),
    # The chain has the last word: an acceptJob we took for failed may still have landed, and
    # then our collateral is locked and only a proof gets it back.
    (S.WON, ChainJobAccepted): (S.ACCEPTED, _const(Prove())),
    (S.LAPSED, ChainJobAccepted): (S.ACCEPTED, _const(Prove())),
    (S.ACCEPTING, TxFailed): (_accept_retry_or_lapse, _after_accept_retry),
    (S.ACCEPTED, ProvingStarted): (S.PROVING, _none),
    (S.PROVING, ProofReady): (S.SUBMITTED, _const(SubmitProof())),
    (S.PROVING, ProvingFailed): (_retry_or_fail, _after_retry),
    (S.SUBMITTED, TxFailed): (_retry_or_fail, _after_retry),
    (S.SUBMITTED, ChainProofAccepted): (S.PAID, _const(Withdraw(), ForgetInput())),
    # Our proof landed by the deadline, but our clock saw the deadline pass first.
    (S.FAILED, ChainProofAccepted): (S.PAID, _const(Withdraw())),
    (S.FAILED, ChainProverSlashed): (S.SLASHED, _none),
}
# Likewise a submitProof we took for failed (and are proving again) may have landed.
for _state in (S.ACCEPTED, S.PROVING):
    TABLE[(_state, ChainProofAccepted)] = (S.PAID, _const(Withdraw(), ForgetInput()))
for _state in _ACCEPTED_STATES:
    TABLE[(_state, ProofDeadlinePassed)] = (
        S.FAILED,
        _fail("the proof deadline passed; our collateral will be slashed"),
    )
    TABLE[(_state, ChainProverSlashed)] = (
        S.SLASHED,
        _fail("our collateral was slashed: no proof by the deadline"),
    )
for _state in (S.LOST, S.DECLINED, S.LAPSED):
    TABLE[(_state, Reannounced)] = (S.SEEN, _none)

# States that only a re-announcement, a re-award (LOST, LAPSED) or a late chain event leaves.
SETTLED = frozenset({S.PAID, S.DECLINED, S.LOST, S.LAPSED, S.SLASHED})


def new_prover_job(job: JobAnnouncement, me: bytes) -> ProverJob:
    """A job we have just seen announced."""
    return ProverJob(S.SEEN, job, me)


def award_event(job: ProverJob, prover: bytes, fee: int, accept_deadline: int) -> Event:
    """The event for a JobAwarded log: ours or someone else's."""
    if prover == job.me:
        return ChainJobAwarded(prover, fee, accept_deadline)
    return AwardedToOther()


def _check(job: ProverJob, event: Event, now: int) -> None:
    if isinstance(event, BidPlaced):
        bid = event.bid
        if bid.job_id != job.job.job_id or bid.prover != job.me:
            raise IllegalTransition("the bid is for another job or by another prover")
        if now > bid.expiry or bid.fee > job.job.max_fee:
            raise IllegalTransition("the bid is expired or above the max fee")
    if isinstance(event, ChainJobAwarded | ChainJobAccepted) and event.prover != job.me:
        raise IllegalTransition("an award or acceptance of another prover: use award_event")
    if isinstance(event, ChainJobAwarded) and job.bid is None:
        raise IllegalTransition("awarded a job we never bid on")
    if isinstance(event, Reannounced):
        new = event.job
        if new.job_id != job.job.job_id or new.round <= job.job.round:
            raise IllegalTransition("not a later announcement of this job")


def prover_step(job: ProverJob, event: Event, now: int) -> tuple[ProverJob, Actions]:
    """The job after ``event`` at time ``now``, and the actions to record and take."""
    if isinstance(event, Tick):
        actions: Actions = ()
        for due in _time_events(job, now):
            if (job.state, type(due)) in TABLE:
                job, more = _apply(job, due, now)
                actions += more
        return job, actions
    if isinstance(event, BidExpired | AcceptDeadlinePassed | ProofDeadlinePassed):
        raise IllegalTransition("time events come from Tick, not from the caller")
    _check(job, event, now)
    return _apply(job, event, now)


def _time_events(job: ProverJob, now: int) -> list[Event]:
    due: list[Event] = []
    if job.bid is not None and now > job.bid.expiry:
        due.append(BidExpired())
    if job.accept_deadline is not None and now > job.accept_deadline:
        due.append(AcceptDeadlinePassed())
    if job.proof_deadline is not None and now > job.proof_deadline:
        due.append(ProofDeadlinePassed())
    return due


def _updated(job: ProverJob, event: Event, state: S) -> ProverJob:
    changes: dict[str, object] = {"state": state}
    if isinstance(event, BidPlaced):
        changes["bid"] = event.bid
    elif isinstance(event, ChainJobAwarded):
        changes.update(accept_deadline=event.accept_deadline, proof_deadline=None, attempts=0)
    elif isinstance(event, ChainJobAccepted):
        changes.update(proof_deadline=event.proof_deadline, attempts=0)
    elif isinstance(event, Declined | AcceptRefused):
        changes["reason"] = event.reason
    elif isinstance(event, Reannounced):
        return ProverJob(S.SEEN, event.job, job.me)
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def _apply(job: ProverJob, event: Event, now: int) -> tuple[ProverJob, Actions]:
    rule = TABLE.get((job.state, type(event)))
    if rule is None:
        raise IllegalTransition(f"prover: {type(event).__name__} in state {job.state.name}")
    target, actions = rule
    attempts = job.attempts + (1 if isinstance(event, ProvingFailed | TxFailed) else 0)
    job = dataclasses.replace(job, attempts=attempts)
    state = target if isinstance(target, ProverState) else target(job, event, now)
    updated = _updated(job, event, state)
    return updated, actions(updated, event)
