"""The rows the store hands back, as frozen dataclasses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from protocol.market import ProverJob, RequesterJob
from protocol.messages import Bid

Job = RequesterJob | ProverJob


class Role(enum.Enum):
    REQUESTER = "requester"
    PROVER = "prover"


class IntentStatus(enum.Enum):
    RECORDED = "recorded"  # journaled, not yet signed and sent (or sent and not yet marked)
    SENT = "sent"  # signed with this nonce and tx hash; may or may not have landed
    MINED = "mined"  # landed and succeeded
    REVERTED = "reverted"  # landed and reverted: may be journaled again
    FAILED = "failed"  # refused before landing (or never sent): may be journaled again
    DROPPED = "dropped"  # left the mempool, its nonce used by another tx: may be journaled again


OPEN_STATUSES = (IntentStatus.RECORDED, IntentStatus.SENT)


@dataclass(frozen=True)
class ChainCursor:
    """Where the event watcher resumes: the next block and the last block read (number, hash)."""

    next_block: int
    anchor: tuple[int, str] | None


@dataclass(frozen=True)
class ModelRecord:
    """A registered model as the registry describes it, and where its circuit is kept here."""

    model_id: int
    name: str
    onnx_sha256: bytes
    circuit_id: bytes
    manifest_hash: bytes
    constraint_count: int
    n_public: int
    owner: str
    deprecated: bool = False
    circuit_dir: str | None = None
    registered_tx: str | None = None
    ceremony_id: int = 0
    # The ceremony's contributors (addresses, in order) once this node verified the final
    # key's transcript against the registry's record; None while unverified.
    transcript: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CeremonyRecord:
    """A phase-2 ceremony as its opening event described it."""

    ceremony_id: int
    name: str  # the coordinator's label, not unique
    coordinator: str
    contribution_deadline: int  # unix seconds, chain time


@dataclass(frozen=True)
class JobRecord:
    """One job from one side (requester or prover) and what it produced."""

    key: int
    role: Role
    job: Job
    model_id: int | None
    output_q: tuple[int, ...] | None
    output: tuple[float, ...] | None
    proof: tuple[int, ...] | None
    created_at: int
    updated_at: int
    # The transaction whose ProofAccepted settled the job.
    proof_tx: str | None = None

    @property
    def job_id(self) -> int | None:
        """The chain's job id (None until a requester's createJob has landed)."""
        return self.job.job.job_id if isinstance(self.job, ProverJob) else self.job.job_id

    @property
    def state(self) -> str:
        """The lifecycle state's value."""
        value: str = self.job.state.value
        return value


@dataclass(frozen=True)
class JobInput:
    """A job's private input (quantized) and the salt of its commitment."""

    input_q: tuple[int, ...]
    salt: int


class BidDirection(enum.Enum):
    RECEIVED = "received"
    SENT = "sent"


class BidSource(enum.Enum):
    GOSSIP = "gossip"
    DIRECT = "direct"
    LOCAL = "local"


class BidStatus(enum.Enum):
    PENDING = "pending"
    VALID = "valid"
    INVALID = "invalid"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class BidRecord:
    key: int
    bid: Bid
    direction: BidDirection
    source: BidSource
    status: BidStatus
    reason: str | None
    received_at: int


@dataclass(frozen=True)
class Intent:
    """One journaled money-moving action and what became of it."""

    id: int
    kind: str
    job_key: int | None
    params: dict[str, Any]
    status: IntentStatus
    tx_hash: str | None
    nonce: int | None
    receipt: dict[str, Any] | None
    reason: str | None
    created_at: int
    updated_at: int
    # The signed transaction as sent (TxRecord JSON), if the sender handed it over.
    signed: dict[str, Any] | None = None
    # Which award (or slash) of its job this is: "never twice" holds per attempt.
    attempt: int = 0

    @property
    def is_open(self) -> bool:
        """Not yet known to have landed or failed: reconcile it with the chain."""
        return self.status in OPEN_STATUSES


class ReceiptLike(Protocol):
    """What ``mark_mined`` keeps of a receipt (node.chain.sender.Receipt has it)."""

    @property
    def tx_hash(self) -> str: ...
    @property
    def block_number(self) -> int: ...
    @property
    def block_hash(self) -> str: ...
    @property
    def succeeded(self) -> bool: ...
    @property
    def gas_used(self) -> int: ...


@dataclass(frozen=True)
class PeerInfo:
    peer_id: str
    address: str | None
    addrs: tuple[str, ...]
    last_seen: int
    score: float
