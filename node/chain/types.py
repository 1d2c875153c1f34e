"""Values the chain client hands to the node: models, jobs, stakes, bids, sent transactions.

Field names mirror the Solidity structs in snake case; amounts are wei, deadlines
unix timestamps (block time).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from node.chain.events import ChainEvent
from node.chain.sender import Receipt, TxRecord


class JobStatus(enum.IntEnum):
    """IJobMarket.JobStatus, in declaration order."""

    NONE = 0
    OPEN = 1
    AWARDED = 2
    ACCEPTED = 3
    FULFILLED = 4
    CANCELLED = 5


@dataclass(frozen=True)
class ModelSpec:
    """What ModelRegistry.registerModel takes."""

    onnx_sha256: bytes
    circuit_hash: bytes
    manifest_hash: bytes
    n_public: int
    constraint_count: int
    verifying_key: bytes

    def __post_init__(self) -> None:
        for name in ("onnx_sha256", "circuit_hash", "manifest_hash"):
            if len(getattr(self, name)) != 32:
                raise ValueError(f"{name} must be 32 bytes, not {len(getattr(self, name))}")


@dataclass(frozen=True)
class ModelInfo:
    """IModelRegistry.Model."""

    owner: str
    constraint_count: int
    n_public: int
    deprecated: bool
    verifying_key: str
    onnx_sha256: bytes
    circuit_hash: bytes
    manifest_hash: bytes
    ceremony_id: int = 0
    beacon: bytes = bytes(32)
    final_key_sha256: bytes = bytes(32)


@dataclass(frozen=True)
class CeremonyInfo:
    """IModelRegistry.Ceremony: a phase-2 ceremony's on-chain record."""

    coordinator: str
    contribution_deadline: int
    beacon_block: int
    contributions: int
    included: int
    circuit_hash: bytes
    phase1_sha256: bytes
    initial_key_sha256: bytes
    latest_key_sha256: bytes
    transcript: bytes
    model_id: int


@dataclass(frozen=True)
class CeremonyContribution:
    """One IModelRegistry.ContributionRecorded event."""

    index: int
    contributor: str
    predecessor_sha256: bytes
    key_sha256: bytes
    contribution_hash: bytes


@dataclass(frozen=True)
class JobRequest:
    """What JobMarket.createJob takes; ``max_fee`` is the escrowed payment."""

    model_id: int
    input_commitment: int
    collateral: int
    accept_window: int
    proof_window: int
    max_fee: int


@dataclass(frozen=True)
class JobInfo:
    """IJobMarket.Job; ``deadline`` is the accept deadline while AWARDED, the proof deadline
    while ACCEPTED, zero otherwise."""

    requester: str
    status: JobStatus
    deadline: int
    accept_window: int
    prover: str
    fee: int
    verifying_key: str
    max_fee: int
    collateral: int
    model_id: int
    proof_window: int
    input_commitment: int


@dataclass(frozen=True)
class Bid:
    """IJobMarket.Bid: a prover's signed offer for one job, with the job terms it covers."""

    job_id: int
    prover: str
    fee: int
    expiry: int
    requester: str
    model_id: int
    input_commitment: int
    collateral: int
    accept_window: int
    proof_window: int

    def as_tuple(self) -> tuple[int | str, ...]:
        """The ABI tuple in IJobMarket.Bid's field order."""
        return (
            self.job_id,
            self.prover,
            self.fee,
            self.expiry,
            self.requester,
            self.model_id,
            self.input_commitment,
            self.collateral,
            self.accept_window,
            self.proof_window,
        )


@dataclass(frozen=True)
class StakeInfo:
    """A prover's stake in ProverStaking."""

    stake: int
    locked: int
    pending_withdrawal: int
    available_at: int

    @property
    def free(self) -> int:
        """Stake that can back new collateral."""
        return self.stake - self.locked


@dataclass(frozen=True)
class ProverStats:
    """JobMarket.proverStats: a prover's settled record on this market."""

    fulfilled: int
    slashed: int
    lapsed: int
    fees_earned: int


@dataclass(frozen=True)
class TxResult:
    """A mined transaction with the provernet events it emitted."""

    record: TxRecord
    receipt: Receipt
    events: tuple[ChainEvent, ...]

    def event(self, name: str) -> ChainEvent:
        """The first event called ``name``."""
        for event in self.events:
            if event.name == name:
                return event
        raise LookupError(f"{self.record.label} emitted no {name} event")
