"""What the lifecycles ask the node to do, and the events they consume.

An action is a value: the node stores it, then performs it, then feeds the result
back as an event (ARCHITECTURE invariant 4). Actions with ``MOVES_MONEY`` send a
transaction that moves or commits ether (escrow, collateral, fees, withdrawals);
the node must record them before acting and reconcile them with the chain after.
A signed bid commits nothing: JobMarket locks a prover's collateral only when that
prover itself sends acceptJob.

Events come from the chain watcher (``Chain*``), from the network, from local work
(input checks, proving) and from the clock (``Tick``: the node sends it periodically;
deadlines are compared with ``now`` inside the lifecycles, never read from a clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocol.messages.types import Bid


class Action:
    """Something the node must do for a job."""

    MOVES_MONEY: ClassVar[bool] = False


@dataclass(frozen=True)
class CreateJob(Action):
    """Send createJob, escrowing the max fee."""

    MOVES_MONEY: ClassVar[bool] = True


@dataclass(frozen=True)
class Announce(Action):
    """Gossip the JobAnnouncement (again, after a lapse or a slash, with a new bid deadline)."""


@dataclass(frozen=True)
class AwardJob(Action):
    """Send awardJob with this bid (nothing is locked: the prover accepts, or the award lapses)."""

    MOVES_MONEY: ClassVar[bool] = True
    bid: Bid


@dataclass(frozen=True)
class DeliverInput(Action):
    """Send the private input to this prover (awarded on-chain) over a direct stream."""

    prover: bytes


@dataclass(frozen=True)
class CancelJob(Action):
    """Send cancelJob: the escrow is credited back."""

    MOVES_MONEY: ClassVar[bool] = True


@dataclass(frozen=True)
class Slash(Action):
    """Send slash: the prover's collateral is burned and the job re-opens."""

    MOVES_MONEY: ClassVar[bool] = True


@dataclass(frozen=True)
class Withdraw(Action):
    """Send withdraw to pull the market balance (refunds, fees)."""

    MOVES_MONEY: ClassVar[bool] = True


@dataclass(frozen=True)
class ProposeResubmit(Action):
    """Tell the requester the job ended unproven; it may create it again (re-priced)."""


@dataclass(frozen=True)
class SendBid(Action):
    """Publish this signed bid (it commits nothing until we accept an award)."""

    bid: Bid


@dataclass(frozen=True)
class AcceptJob(Action):
    """Send acceptJob: our collateral is locked and the proof window starts."""

    MOVES_MONEY: ClassVar[bool] = True


@dataclass(frozen=True)
class Prove(Action):
    """Queue the job for proving (deadline order)."""


@dataclass(frozen=True)
class SubmitProof(Action):
    """Send submitProof with the proof: the fee is paid and the collateral released."""

    MOVES_MONEY: ClassVar[bool] = True


@dataclass(frozen=True)
class ReportFailure(Action):
    """Tell the operator loudly that the job failed and what it will cost."""

    reason: str


@dataclass(frozen=True)
class ForgetInput(Action):
    """Delete the private input and free the job's queue slot."""


class Event:
    """Something that happened to a job."""


@dataclass(frozen=True)
class Tick(Event):
    """Time passed: deadlines are checked against ``now``."""


@dataclass(frozen=True)
class ChainJobCreated(Event):
    """JobCreated for our createJob transaction."""

    job_id: int


@dataclass(frozen=True)
class ChainJobAwarded(Event):
    """JobAwarded: the job's prover, fee and accept deadline."""

    prover: bytes
    fee: int
    accept_deadline: int


@dataclass(frozen=True)
class ChainJobAccepted(Event):
    """JobAccepted: the assigned prover locked its collateral; its proof deadline."""

    prover: bytes
    proof_deadline: int


@dataclass(frozen=True)
class ChainProofAccepted(Event):
    """ProofAccepted: the assigned prover delivered on time and was paid."""


@dataclass(frozen=True)
class ChainProverSlashed(Event):
    """ProverSlashed: the accepted prover missed its proof deadline; the job re-opened."""


@dataclass(frozen=True)
class ChainJobCancelled(Event):
    """JobCancelled."""


@dataclass(frozen=True)
class TxFailed(Event):
    """Our last money-moving transaction for this job reverted or was refused."""

    reason: str


# Time events: derived from Tick inside the lifecycles, never sent by the node.
@dataclass(frozen=True)
class BidDeadlinePassed(Event):
    """now > the (current round's) bid deadline."""


@dataclass(frozen=True)
class BidExpired(Event):
    """now > our bid's expiry: no award can use it any more."""


@dataclass(frozen=True)
class AcceptDeadlinePassed(Event):
    """now > the award's accept deadline."""


@dataclass(frozen=True)
class ProofDeadlinePassed(Event):
    """now > the accepted job's proof deadline."""


TIME_EVENTS = (BidDeadlinePassed, BidExpired, AcceptDeadlinePassed, ProofDeadlinePassed)
