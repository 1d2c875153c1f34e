"""The requester's view of one job, as a transition table.

Theory of operation. The requester escrows the max fee with createJob (CREATING),
learns the job id from JobCreated (CREATED) and gossips the announcement
(ANNOUNCED). Bids are collected off the state machine (``select_winner``); when the
requester picks one it records AWARDING and sends awardJob. JobAwarded makes it
AWARDED and the private input goes to the prover over a direct stream; the
prover's ack makes it INPUT_DELIVERED. The assigned prover's ProofAccepted ends the
job PROVEN. Past the proof deadline the job is OVERDUE: a rescuer may still prove
it (RESCUED; the requester may hand the input to a rescuer it trusts); past the
rescue window the requester slashes (SLASHING, then SLASHED). An unawarded job
past its bid deadline is cancelled (CANCELLING, then CANCELLED). CANCELLED and
SLASHED propose a resubmission; RESUBMITTED records that a new job replaced it.

Chain events may be seen after our own clock passed a deadline (block time and
our clock differ), so late chain events are accepted from the states the clock
may have moved us to. Every money-moving action is an ``Action`` with
MOVES_MONEY; a failed transaction (TxFailed) returns to the state before it, and
the next Tick re-issues what is still due.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

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
    ProofDeadlinePassed,
    ProposeResubmit,
    RescueWindowClosed,
    Slash,
    Tick,
    TxFailed,
    Withdraw,
)
from protocol.market.errors import IllegalTransition
from protocol.messages.types import Bid


class RequesterState(enum.Enum):
    CREATING = "creating"
    CREATED = "created"
    ANNOUNCED = "announced"
    AWARDING = "awarding"
    AWARDED = "awarded"
    INPUT_DELIVERED = "input delivered"
    OVERDUE = "overdue"
    SLASHING = "slashing"
    CANCELLING = "cancelling"
    PROVEN = "proven"
    RESCUED = "rescued"
    SLASHED = "slashed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # createJob failed: nothing was escrowed
    RESUBMITTED = "resubmitted"


@dataclass(frozen=True)
class Announced(Event):
    """The announcement was gossiped."""


@dataclass(frozen=True)
class AwardChosen(Event):
    """The requester picked this bid (see select_winner) and will send awardJob."""

    bid: Bid


@dataclass(frozen=True)
class InputAcked(Event):
    """The prover acknowledged the input with the job's commitment."""


@dataclass(frozen=True)
class DeliveryFailed(Event):
    """The input could not be delivered (no stream, refused, timed out)."""

    reason: str


@dataclass(frozen=True)
class RescuerChosen(Event):
    """The requester will hand the input to this rescuer."""

    rescuer: bytes


@dataclass(frozen=True)
class Resubmitted(Event):
    """A new job replaced this one."""

    new_job_id: int


@dataclass(frozen=True)
class RequesterJob:
    """One job from the requester's side: its terms and where it stands."""

    state: RequesterState
    max_fee: int
    collateral: int
    bid_deadline: int
    proof_deadline: int
    rescue_window: int
    job_id: int | None = None
    prover: bytes | None = None
    fee: int | None = None
    replaced_by: int | None = None


S = RequesterState
Actions = tuple[Action, ...]
Rule = tuple[S, Callable[[RequesterJob, Event], Actions]]


def _none(job: RequesterJob, event: Event) -> Actions:
    return ()


def _deliver(job: RequesterJob, event: Event) -> Actions:
    assert job.prover is not None
    return (DeliverInput(job.prover),)


def _deliver_to_rescuer(job: RequesterJob, event: Event) -> Actions:
    assert isinstance(event, RescuerChosen)
    return (DeliverInput(event.rescuer),)


def _award(job: RequesterJob, event: Event) -> Actions:
    assert isinstance(event, AwardChosen)
    return (AwardJob(event.bid),)


def _const(*actions: Action) -> Callable[[RequesterJob, Event], Actions]:
    return lambda job, event: actions


_WAITING_FOR_PROOF = (S.AWARDED, S.INPUT_DELIVERED, S.OVERDUE)
TABLE: dict[tuple[S, type[Event]], Rule] = {
    (S.CREATING, ChainJobCreated): (S.CREATED, _const(Announce())),
    (S.CREATING, TxFailed): (S.ABANDONED, _none),
    (S.CREATED, Announced): (S.ANNOUNCED, _none),
    (S.CREATED, AwardChosen): (S.AWARDING, _award),
    (S.ANNOUNCED, AwardChosen): (S.AWARDING, _award),
    (S.CREATED, BidDeadlinePassed): (S.CANCELLING, _const(CancelJob())),
    (S.ANNOUNCED, BidDeadlinePassed): (S.CANCELLING, _const(CancelJob())),
    (S.AWARDING, ChainJobAwarded): (S.AWARDED, _deliver),
    (S.AWARDING, TxFailed): (S.ANNOUNCED, _none),
    (S.CANCELLING, ChainJobCancelled): (S.CANCELLED, _const(Withdraw(), ProposeResubmit())),
    (S.CANCELLING, TxFailed): (S.ANNOUNCED, _none),
    (S.AWARDED, InputAcked): (S.INPUT_DELIVERED, _none),
    (S.AWARDED, DeliveryFailed): (S.AWARDED, _deliver),
    (S.AWARDED, ProofDeadlinePassed): (S.OVERDUE, _none),
    (S.INPUT_DELIVERED, ProofDeadlinePassed): (S.OVERDUE, _none),
    (S.OVERDUE, RescuerChosen): (S.OVERDUE, _deliver_to_rescuer),
    (S.OVERDUE, DeliveryFailed): (S.OVERDUE, _none),
    (S.OVERDUE, RescueWindowClosed): (S.SLASHING, _const(Slash())),
    (S.SLASHING, TxFailed): (S.OVERDUE, _none),
    (S.CANCELLED, Resubmitted): (S.RESUBMITTED, _none),
    (S.SLASHED, Resubmitted): (S.RESUBMITTED, _none),
}
for _state in _WAITING_FOR_PROOF:
    TABLE[(_state, ChainProofAccepted)] = (S.PROVEN, _const(Withdraw()))
for _state in (*_WAITING_FOR_PROOF, S.SLASHING):
    TABLE[(_state, ChainProofRescued)] = (S.RESCUED, _const(Withdraw()))
    TABLE[(_state, ChainProverSlashed)] = (S.SLASHED, _const(Withdraw(), ProposeResubmit()))


def new_requester_job(
    *, max_fee: int, collateral: int, bid_deadline: int, proof_deadline: int, rescue_window: int
) -> tuple[RequesterJob, Actions]:
    """A job about to be created, and the createJob action to record and send."""
    if not (max_fee > 0 and collateral >= 0 and bid_deadline < proof_deadline):
        raise IllegalTransition("a job needs a positive max fee and bid deadline < proof deadline")
    job = RequesterJob(S.CREATING, max_fee, collateral, bid_deadline, proof_deadline, rescue_window)
    return job, (CreateJob(),)


def _check_award(job: RequesterJob, bid: Bid, now: int) -> None:
    if bid.job_id != job.job_id:
        raise IllegalTransition(f"bid for job {bid.job_id}, this is job {job.job_id}")
    if now > job.bid_deadline or now > bid.expiry:
        raise IllegalTransition("the bid deadline or the bid's expiry has passed")
    if bid.fee > job.max_fee:
        raise IllegalTransition(f"fee {bid.fee} exceeds the max fee {job.max_fee}")


def _updated(job: RequesterJob, event: Event, state: S) -> RequesterJob:
    changes: dict[str, object] = {"state": state}
    if isinstance(event, ChainJobCreated):
        changes["job_id"] = event.job_id
    elif isinstance(event, ChainJobAwarded):
        changes.update(prover=event.prover, fee=event.fee)
    elif isinstance(event, Resubmitted):
        changes["replaced_by"] = event.new_job_id
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def _time_events(job: RequesterJob, now: int) -> list[Event]:
    due: list[Event] = []
    if now > job.bid_deadline:
        due.append(BidDeadlinePassed())
    if now > job.proof_deadline:
        due.append(ProofDeadlinePassed())
    if now > job.proof_deadline + job.rescue_window:
        due.append(RescueWindowClosed())
    return due


def requester_step(job: RequesterJob, event: Event, now: int) -> tuple[RequesterJob, Actions]:
    """The job after ``event`` at time ``now``, and the actions to record and take."""
    if isinstance(event, Tick):
        actions: Actions = ()
        for due in _time_events(job, now):
            if (job.state, type(due)) in TABLE:
                job, more = _apply(job, due)
                actions += more
        return job, actions
    if isinstance(event, BidDeadlinePassed | ProofDeadlinePassed | RescueWindowClosed):
        raise IllegalTransition("time events come from Tick, not from the caller")
    if isinstance(event, AwardChosen):
        _check_award(job, event.bid, now)
    return _apply(job, event)


def _apply(job: RequesterJob, event: Event) -> tuple[RequesterJob, Actions]:
    rule = TABLE.get((job.state, type(event)))
    if rule is None:
        raise IllegalTransition(f"requester: {type(event).__name__} in state {job.state.name}")
    target, actions = rule
    updated = _updated(job, event, target)
    return updated, actions(updated, event)
