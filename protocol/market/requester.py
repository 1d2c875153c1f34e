"""The requester's view of one job, as a transition table.

Theory of operation. The requester escrows the max fee with createJob (CREATING),
learns the job id from JobCreated (CREATED) and gossips the announcement
(ANNOUNCED). Bids are collected off the state machine (``select_winner``); when the
requester picks one it records AWARDING and sends awardJob. JobAwarded makes it
AWARDED, starts the accept window and sends the private input to that prover (and
to no other: the input goes only to an account awarded on-chain); the prover's
stream acknowledgement makes it INPUT_DELIVERED. The prover checks the input and
accepts on-chain, locking its collateral (ACCEPTED, the proof window starts); its
ProofAccepted ends the job PROVEN.

When things go wrong nobody loses: an award not accepted by its accept deadline
LAPSES (the prover loses nothing), and a job accepted but not proved by its proof
deadline is slashed (SLASHING, then SLASHED: the collateral is burned, not paid to
us, and the job re-opens on-chain with its escrow intact). From LAPSED or SLASHED the
requester awards the next standing bid at once (AwardChosen) or announces the job
again with a new bid deadline (REOPENED, ``Reopen``); after ``MAX_AWARDS`` awards,
or when a bid window closes with no award, it cancels (CANCELLING, then CANCELLED:
the whole escrow back). CANCELLED proposes a resubmission; RESUBMITTED records that a
new job replaced it.

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
from protocol.market.errors import IllegalTransition
from protocol.messages.types import Bid

# Awards per job before the requester gives up and cancels: each lapse or slash costs it
# an accept or proof window of waiting, and three failed provers in a row say the job's
# terms (fee, windows) do not suit the market; a resubmission re-prices it.
MAX_AWARDS = 3


class RequesterState(enum.Enum):
    CREATING = "creating"
    CREATED = "created"
    ANNOUNCED = "announced"
    AWARDING = "awarding"
    AWARDED = "awarded"
    INPUT_DELIVERED = "input delivered"
    ACCEPTED = "accepted"
    LAPSED = "lapsed"
    SLASHING = "slashing"
    SLASHED = "slashed"
    REOPENED = "re-opened"
    CANCELLING = "cancelling"
    PROVEN = "proven"
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
class Reopen(Event):
    """No standing bid to award: announce the job again, taking bids until ``bid_deadline``."""

    bid_deadline: int


@dataclass(frozen=True)
class GiveUp(Event):
    """The requester cancels: ``reason`` (a user's cancel, or too many failed awards)."""

    reason: str


@dataclass(frozen=True)
class InputAcked(Event):
    """The prover's node acknowledged the input stream."""


@dataclass(frozen=True)
class DeliveryFailed(Event):
    """The input could not be delivered (no stream, refused, timed out)."""

    reason: str


@dataclass(frozen=True)
class Resubmitted(Event):
    """A new job replaced this one."""

    new_job_id: int


@dataclass(frozen=True)
class RequesterJob:
    """One job from the requester's side: its terms and where it stands.

    ``bid_deadline`` is the current round's (our own word, announced); ``accept_deadline``
    and ``proof_deadline`` are the chain's, from JobAwarded and JobAccepted; ``round``
    counts re-announcements and ``awards`` the awards made.
    """

    state: RequesterState
    max_fee: int
    collateral: int
    bid_deadline: int
    accept_window: int
    proof_window: int
    job_id: int | None = None
    prover: bytes | None = None
    fee: int | None = None
    accept_deadline: int | None = None
    proof_deadline: int | None = None
    round: int = 0
    awards: int = 0
    slashes: int = 0
    replaced_by: int | None = None
    # Where a refused awardJob or cancelJob returns: the state the job was in before it.
    resume: RequesterState | None = None


S = RequesterState
Actions = tuple[Action, ...]
Target = S | Callable[[RequesterJob], S]
Rule = tuple[Target, Callable[[RequesterJob, Event], Actions]]


def _none(job: RequesterJob, event: Event) -> Actions:
    return ()


def _deliver(job: RequesterJob, event: Event) -> Actions:
    assert job.prover is not None
    return (DeliverInput(job.prover),)


def _award(job: RequesterJob, event: Event) -> Actions:
    assert isinstance(event, AwardChosen)
    return (AwardJob(event.bid),)


def _const(*actions: Action) -> Callable[[RequesterJob, Event], Actions]:
    return lambda job, event: actions


def _resume(job: RequesterJob) -> S:
    """Where a refused award or cancel returns: the state it was sent from."""
    return job.resume or (S.ANNOUNCED if job.round == 0 else S.REOPENED)


# States in which the job can be awarded (on-chain: Open, or an award that lapsed).
AWARDABLE = (S.CREATED, S.ANNOUNCED, S.LAPSED, S.SLASHED, S.REOPENED)
# States waiting for the assigned prover: to accept, then to prove.
_AWAITING_ACCEPT = (S.AWARDED, S.INPUT_DELIVERED)
TABLE: dict[tuple[S, type[Event]], Rule] = {
    (S.CREATING, ChainJobCreated): (S.CREATED, _const(Announce())),
    (S.CREATING, TxFailed): (S.ABANDONED, _none),
    (S.CREATED, Announced): (S.ANNOUNCED, _none),
    (S.REOPENED, Announced): (S.REOPENED, _none),
    (S.LAPSED, Reopen): (S.REOPENED, _const(Announce())),
    (S.SLASHED, Reopen): (S.REOPENED, _const(Announce())),
    (S.CREATED, BidDeadlinePassed): (S.CANCELLING, _const(CancelJob())),
    (S.ANNOUNCED, BidDeadlinePassed): (S.CANCELLING, _const(CancelJob())),
    (S.REOPENED, BidDeadlinePassed): (S.CANCELLING, _const(CancelJob())),
    (S.AWARDING, ChainJobAwarded): (S.AWARDED, _deliver),
    (S.AWARDING, TxFailed): (_resume, _none),
    (S.AWARDED, InputAcked): (S.INPUT_DELIVERED, _none),
    (S.AWARDED, DeliveryFailed): (S.AWARDED, _deliver),
    (S.ACCEPTED, ProofDeadlinePassed): (S.SLASHING, _const(Slash())),
    (S.SLASHING, TxFailed): (S.ACCEPTED, _none),
    (S.SLASHING, ChainProverSlashed): (S.SLASHED, _none),
    (S.ACCEPTED, ChainProverSlashed): (S.SLASHED, _none),
    (S.CANCELLING, TxFailed): (_resume, _none),
    (S.CANCELLED, Resubmitted): (S.RESUBMITTED, _none),
}
for _state in AWARDABLE:
    TABLE[(_state, AwardChosen)] = (S.AWARDING, _award)
    TABLE[(_state, GiveUp)] = (S.CANCELLING, _const(CancelJob()))
for _state in _AWAITING_ACCEPT:
    TABLE[(_state, AcceptDeadlinePassed)] = (S.LAPSED, _none)
# JobAccepted may land by the accept deadline yet be seen after our clock moved on, even
# after we sent a re-award or a cancel (which then revert).
for _state in (*_AWAITING_ACCEPT, S.LAPSED, S.AWARDING, S.REOPENED, S.CANCELLING):
    TABLE[(_state, ChainJobAccepted)] = (S.ACCEPTED, _none)
# A proof may land by the proof deadline and be seen after our slash went out.
for _state in (S.ACCEPTED, S.SLASHING):
    TABLE[(_state, ChainProofAccepted)] = (S.PROVEN, _const(Withdraw()))
# A cancel whose own answer was lost (a crash) is learnt from its event.
for _state in (*AWARDABLE, S.CANCELLING):
    TABLE[(_state, ChainJobCancelled)] = (S.CANCELLED, _const(Withdraw(), ProposeResubmit()))

# What the API shows as the job's final outcome; ``job submit --wait`` stops at these.
TERMINAL = frozenset({S.PROVEN, S.CANCELLED, S.ABANDONED, S.RESUBMITTED})


def new_requester_job(
    *, max_fee: int, collateral: int, bid_deadline: int, accept_window: int, proof_window: int
) -> tuple[RequesterJob, Actions]:
    """A job about to be created, and the createJob action to record and send."""
    if not (max_fee > 0 and collateral >= 0 and accept_window > 0 and proof_window > 0):
        raise IllegalTransition("a job needs a positive max fee and positive windows")
    job = RequesterJob(S.CREATING, max_fee, collateral, bid_deadline, accept_window, proof_window)
    return job, (CreateJob(),)


def _check_award(job: RequesterJob, bid: Bid, now: int) -> None:
    if bid.job_id != job.job_id:
        raise IllegalTransition(f"bid for job {bid.job_id}, this is job {job.job_id}")
    if now > bid.expiry:
        raise IllegalTransition("the bid's expiry has passed")
    if bid.fee > job.max_fee:
        raise IllegalTransition(f"fee {bid.fee} exceeds the max fee {job.max_fee}")


def _updated(job: RequesterJob, event: Event, state: S) -> RequesterJob:
    changes: dict[str, object] = {"state": state}
    if state in (S.AWARDING, S.CANCELLING) and job.state is not state:
        changes["resume"] = job.state
    if isinstance(event, ChainJobCreated):
        changes["job_id"] = event.job_id
    elif isinstance(event, ChainJobAwarded):
        changes.update(prover=event.prover, fee=event.fee, accept_deadline=event.accept_deadline)
        changes.update(proof_deadline=None, awards=job.awards + 1)
    elif isinstance(event, ChainJobAccepted):
        changes.update(prover=event.prover, proof_deadline=event.proof_deadline)
    elif isinstance(event, ChainProverSlashed):
        changes["slashes"] = job.slashes + 1
    elif isinstance(event, Reopen):
        changes.update(bid_deadline=event.bid_deadline, round=job.round + 1)
    elif isinstance(event, Resubmitted):
        changes["replaced_by"] = event.new_job_id
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def _time_events(job: RequesterJob, now: int) -> list[Event]:
    due: list[Event] = []
    if now > job.bid_deadline:
        due.append(BidDeadlinePassed())
    if job.accept_deadline is not None and now > job.accept_deadline:
        due.append(AcceptDeadlinePassed())
    if job.proof_deadline is not None and now > job.proof_deadline:
        due.append(ProofDeadlinePassed())
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
    if isinstance(event, BidDeadlinePassed | AcceptDeadlinePassed | ProofDeadlinePassed):
        raise IllegalTransition("time events come from Tick, not from the caller")
    if isinstance(event, AwardChosen):
        _check_award(job, event.bid, now)
    if isinstance(event, Reopen) and event.bid_deadline <= now:
        raise IllegalTransition("a re-opened job needs a bid deadline in the future")
    return _apply(job, event)


def _apply(job: RequesterJob, event: Event) -> tuple[RequesterJob, Actions]:
    rule = TABLE.get((job.state, type(event)))
    if rule is None:
        raise IllegalTransition(f"requester: {type(event).__name__} in state {job.state.name}")
    target, actions = rule
    state = target if isinstance(target, RequesterState) else target(job)
    updated = _updated(job, event, state)
    return updated, actions(updated, event)
