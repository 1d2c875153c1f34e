"""The chain as the market engine sees it: a small synchronous interface.

``Web3Chain`` (node/chain/client.py) implements it on a real RPC endpoint; unit
tests use an in-memory fake. Every method may block on the network: the daemon
calls them through ``trio.to_thread.run_sync``. Transactions wait until mined and
raise the contract's named ``ContractRevert`` (or ``TransactionFailed``) on failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from node.chain.events import EventBatch
from node.chain.sender import TxRecord, TxStatus
from node.chain.types import (
    Bid,
    CeremonyContribution,
    CeremonyInfo,
    JobInfo,
    JobRequest,
    ModelInfo,
    ModelSpec,
    ProverStats,
    StakeInfo,
    TxResult,
)


@runtime_checkable
class Chain(Protocol):
    """Everything the node does on-chain, for one account."""

    @property
    def chain_id(self) -> int: ...

    @property
    def address(self) -> str:
        """The account this chain client signs for."""
        ...

    def block_number(self) -> int: ...

    def timestamp(self) -> int:
        """The latest block's timestamp (the contracts' clock)."""
        ...

    # ModelRegistry
    def register_model(self, spec: ModelSpec) -> tuple[int, TxResult]: ...
    def deprecate_model(self, model_id: int) -> TxResult: ...
    def get_model(self, model_id: int) -> ModelInfo: ...
    def verifying_key_of(self, model_id: int) -> bytes: ...
    def model_count(self) -> int: ...
    def open_ceremony(
        self,
        circuit_hash: bytes,
        phase1_sha256: bytes,
        initial_key_sha256: bytes,
        window: int,
        name: str,
    ) -> tuple[int, TxResult]: ...
    def contribute(
        self, ceremony_id: int, predecessor: bytes, key_sha256: bytes, contribution_hash: bytes
    ) -> TxResult: ...
    def close_ceremony(self, ceremony_id: int) -> TxResult: ...
    def finalize_ceremony(
        self, ceremony_id: int, included: int, final_key_sha256: bytes, spec: ModelSpec
    ) -> tuple[int, TxResult]:
        """Register ``spec`` (its circuit hash must be the ceremony's) from the final key,
        built on the first ``included`` recorded contributions."""
        ...

    def get_ceremony(self, ceremony_id: int) -> CeremonyInfo: ...
    def beacon_of(self, ceremony_id: int) -> bytes: ...
    def ceremony_count(self) -> int: ...
    def ceremony_contributions(self, ceremony_id: int) -> list[CeremonyContribution]:
        """The ceremony's recorded contributions, in order."""
        ...

    # ProverStaking
    def deposit_stake(self, amount: int) -> TxResult: ...
    def request_withdrawal(self, amount: int) -> TxResult: ...
    def withdraw_stake(self) -> TxResult: ...
    def stake_of(self, prover: str) -> StakeInfo: ...

    # JobMarket
    def create_job(self, request: JobRequest) -> tuple[int, TxResult]: ...
    def award_job(self, bid: Bid, signature: bytes) -> TxResult: ...
    def accept_job(self, job_id: int) -> TxResult:
        """Accept a job awarded to this account: locks its collateral."""
        ...

    def submit_proof(
        self, job_id: int, proof: Sequence[int], outputs: Sequence[int]
    ) -> TxResult: ...
    def slash(self, job_id: int) -> TxResult: ...
    def cancel_job(self, job_id: int) -> TxResult: ...
    def withdraw(self) -> TxResult:
        """Pull this account's market balance (fees, refunds)."""
        ...

    def get_job(self, job_id: int) -> JobInfo: ...
    def balance_of(self, account: str) -> int: ...
    def job_count(self) -> int: ...
    def prover_stats(self, prover: str) -> ProverStats:
        """Proofs accepted from ``prover``, its slashes, lapsed awards and fees earned."""
        ...

    def bid_digest(self, bid: Bid) -> bytes:
        """The EIP-712 digest a prover signs for ``bid``."""
        ...

    # Events and reconciliation
    def events_since(
        self,
        from_block: int,
        to_block: int | None = None,
        *,
        anchor: tuple[int, str] | None = None,
    ) -> EventBatch:
        """Confirmed events from ``from_block``; resume from the batch's ``next_block``.

        After a restart, pass the stored ``anchor`` of the last batch: a reorg that
        replaced its block raises ``ChainReorg`` instead of skipping events.
        """
        ...

    def settle(self, record: TxRecord) -> TxStatus:
        """Where a stored transaction stands; rebroadcasts it if it was dropped."""
        ...
