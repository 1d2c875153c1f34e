"""What the lifecycles ask the node to do, and the events they consume.

An action is a value: the node stores it, then performs it, then feeds the result
back as an event (ARCHITECTURE invariant 4). Actions with ``MOVES_MONEY`` send a
transaction that moves or commits ether (escrow, collateral, fees, withdrawals);
the node must record them before acting and reconcile them with the chain after.

Events come from the chain watcher (``Chain*``), from the network, from local work
(proving) and from the clock (``Tick``: the node sends it periodically; deadlines
are compared with ``now`` inside the lifecycles, never read from a clock).
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
    """Gossip the JobAnnouncement."""


@dataclass(frozen=True)
class AwardJob(Action):
    """Send awardJob with this bid (locks the prover's collateral)."""

    MOVES_MONEY: ClassVar[bool] = True
    bid: Bid


@dataclass(frozen=True)
class DeliverInput(Action):
    """Send the private input to this prover over a direct stream."""

    prover: bytes


@dataclass(frozen=True)
class CancelJob(Action):
    """Send cancelJob: the escrow is credited back."""

    MOVES_MONEY: ClassVar[bool] = True


@dataclass(frozen=True)
class Slash(Action):
    """Send slash: escrow and collateral are credited to the requester."""

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
    """Publish this signed bid; it authorises the requester to lock our collateral."""

    MOVES_MONEY: ClassVar[bool] = True
    bid: Bid


@dataclass(frozen=True)
class AckInput(Action):
    """Acknowledge the input (its commitment matched the job's)."""


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
    """JobAwarded: the job's prover and fee."""

    prover: bytes
    fee: int


@dataclass(frozen=True)
class ChainProofAccepted(Event):
    """ProofAccepted with rescued = False: the assigned prover delivered on time."""


@dataclass(frozen=True)
class ChainProofRescued(Event):
    """ProofAccepted with rescued = True: ``rescuer`` delivered after the deadline."""

    rescuer: bytes


@dataclass(frozen=True)
class ChainProverSlashed(Event):
    """ProverSlashed by ``slash`` (after the rescue window)."""


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
    """now > bid deadline."""


@dataclass(frozen=True)
class ProofDeadlinePassed(Event):
    """now > proof deadline."""


@dataclass(frozen=True)
class RescueWindowClosed(Event):
    """now > proof deadline + rescue window."""


TIME_EVENTS = (BidDeadlinePassed, ProofDeadlinePassed, RescueWindowClosed)
