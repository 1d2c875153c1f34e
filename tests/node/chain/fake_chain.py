"""An in-memory ``Chain`` for unit tests of the node (never used by the node itself).

``FakeLedger`` is the world: models, stakes, jobs, market balances, events, a block
number and a clock the test moves with ``advance``. Each ``FakeChain`` is one
account's view of it, so a test can have alice (requester) and bob (prover) act on
the same ledger. Transactions mine one block each and raise the same named
``ContractRevert`` classes as the real contracts, checked before any state
changes. Proof verification is a callback (the fake has no Groth16); bid digests
and signatures are real EIP-712, so signatures made for the fake also suit the chain.
``FakeChain.sign_only`` makes a "signed, never broadcast" transaction (a node killed
between signing and sending); ``settle`` broadcasts it, once, as the real sender does.
test_fake_chain.py runs one scenario on both and compares them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, cast

from eth_abi.abi import encode
from eth_keys.datatypes import Signature
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from node.chain.errors import revert_class
from node.chain.events import ChainEvent, EventBatch
from node.chain.sender import Receipt, TxRecord, TxStatus
from node.chain.types import (
    Bid,
    JobInfo,
    JobRequest,
    JobStatus,
    ModelInfo,
    ModelSpec,
    ProverStats,
    StakeInfo,
    TxResult,
)

ZERO = "0x" + "00" * 20
FIELD_P = 0x30644E72E131A029B85045B68181585D97816A916871CA8D3C208C16D87CFD47  # EIP-196
FIELD_R = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001  # EIP-196
HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0  # secp256k1 n/2
MAX_PUBLIC_SIGNALS = 375  # ModelRegistry.MAX_PUBLIC_SIGNALS
DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
BID_TYPEHASH = keccak(b"Bid(uint256 jobId,address prover,uint256 fee,uint64 expiry)")

ProofChecker = Callable[[JobInfo, Sequence[int], Sequence[int]], bool]


def revert(name: str, **args: Any) -> Exception:
    """The named revert the real contract would raise."""
    return revert_class(name)(name, args, b"")


class FakeLedger:
    """The shared world state of the fake chain."""

    def __init__(
        self,
        *,
        chain_id: int = 31337,
        market_address: str = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
        withdrawal_delay: int = 60,
        rescue_window: int = 3600,
        start_time: int = 1_700_000_000,
        proof_checker: ProofChecker | None = None,
    ) -> None:
        self.chain_id, self.market_address = chain_id, Web3.to_checksum_address(market_address)
        self.withdrawal_delay, self.rescue_window = withdrawal_delay, rescue_window
        self.block, self.time = 0, start_time
        self.proof_checker = proof_checker or (lambda job, proof, outputs: True)
        self.models: dict[int, ModelInfo] = {}
        self.keys: dict[int, bytes] = {}
        self.stakes: dict[str, tuple[int, int]] = {}
        self.withdrawals: dict[str, tuple[int, int]] = {}
        self.jobs: dict[int, JobInfo] = {}
        self.balances: dict[str, int] = {}
        self.stats: dict[str, ProverStats] = {}
        self.events: list[ChainEvent] = []
        self.txs: dict[str, TxRecord] = {}
        self.receipts: dict[str, Receipt] = {}
        # Signed transactions not yet broadcast, and how often each hash was broadcast.
        self.held: dict[str, Callable[[], object]] = {}
        self.broadcasts: Counter[str] = Counter()
        self._hash_of_next: str | None = None

    def advance(self, seconds: int) -> None:
        """Move the clock (the next block's timestamp)."""
        self.time += seconds

    def chain(self, address: str) -> FakeChain:
        """The ``Chain`` of one account on this ledger."""
        return FakeChain(self, address)

    def mine(
        self, sender: str, label: str, emitted: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> TxResult:
        """Record a successful transaction and its events in a new block."""
        self.block += 1
        digest = hashlib.sha256(f"{self.block}:{sender}:{label}".encode()).hexdigest()
        tx_hash, block_hash = self._hash_of_next or "0x" + digest, "0x" + digest[::-1]
        self._hash_of_next = None
        events = tuple(
            ChainEvent(contract, name, args, self.block, i, tx_hash, block_hash)
            for i, (contract, name, args) in enumerate(emitted)
        )
        self.events.extend(events)
        nonce = sum(1 for tx in self.txs.values() if tx.sender == sender)
        record = TxRecord(
            label, sender, None, 0, "0x", nonce, 0, 0, 0, self.chain_id, tx_hash, "0x"
        )
        self.txs[tx_hash] = record
        receipt = Receipt(tx_hash, self.block, block_hash, True, 0, None, cast(TxReceipt, {}))
        self.receipts[tx_hash] = receipt
        return TxResult(record, receipt, events)

    def job(self, job_id: int) -> JobInfo:
        if job_id not in self.jobs:
            raise revert("UnknownJob", jobId=job_id)
        return self.jobs[job_id]

    def credit(self, account: str, amount: int) -> None:
        self.balances[account] = self.balances.get(account, 0) + amount

    def count(self, prover: str, *, fulfilled: int = 0, slashed: int = 0, fees: int = 0) -> None:
        """Add to a prover's JobMarket.proverStats counters."""
        old = self.stats.get(prover, ProverStats(0, 0, 0))
        self.stats[prover] = ProverStats(
            old.fulfilled + fulfilled, old.slashed + slashed, old.fees_earned + fees
        )

    def move_stake(self, prover: str, *, stake: int = 0, locked: int = 0) -> None:
        old_stake, old_locked = self.stakes.get(prover, (0, 0))
        self.stakes[prover] = (old_stake + stake, old_locked + locked)

    def bid_digest(self, bid: Bid) -> bytes:
        """JobMarket._bidDigest: EIP-712 over the Bid struct and the market's domain."""
        domain = keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    DOMAIN_TYPEHASH,
                    keccak(b"provernet JobMarket"),
                    keccak(b"1"),
                    self.chain_id,
                    self.market_address,
                ],
            )
        )
        struct = keccak(
            encode(
                ["bytes32", "uint256", "address", "uint256", "uint64"],
                [BID_TYPEHASH, bid.job_id, bid.prover, bid.fee, bid.expiry],
            )
        )
        return keccak(b"\x19\x01" + domain + struct)


def recover(digest: bytes, signature: bytes) -> str:
    """JobMarket._recover: the signer, or the zero address for a malformed or high-s signature."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return ZERO
    if int.from_bytes(signature[32:64], "big") > HALF_ORDER:
        return ZERO
    sig = Signature(signature[:64] + bytes([signature[64] - 27]))
    return str(sig.recover_public_key_from_msg_hash(digest).to_checksum_address())


class FakeChain:
    """One account's ``Chain`` on a ``FakeLedger``."""

    def __init__(self, ledger: FakeLedger, address: str) -> None:
        self.ledger, self._address = ledger, Web3.to_checksum_address(address)

    @property
    def chain_id(self) -> int:
        return self.ledger.chain_id

    @property
    def address(self) -> str:
        return self._address

    def block_number(self) -> int:
        return self.ledger.block

    def timestamp(self) -> int:
        return self.ledger.time

    def _mine(self, label: str, *events: tuple[str, str, dict[str, Any]]) -> TxResult:
        return self.ledger.mine(self._address, label, events)

    # ModelRegistry

    def register_model(self, spec: ModelSpec) -> tuple[int, TxResult]:
        n = spec.n_public
        if n == 0 or n > MAX_PUBLIC_SIGNALS:
            raise revert("BadPublicSignalCount", nPublic=n)
        expected = 448 + 64 * (n + 1)
        if len(spec.verifying_key) != expected:
            raise revert("BadKeyLength", expected=expected, actual=len(spec.verifying_key))
        for i in range(expected // 32):
            if int.from_bytes(spec.verifying_key[32 * i : 32 * i + 32], "big") >= FIELD_P:
                raise revert("KeyCoordinateOutOfField", wordIndex=i)
        model_id = len(self.ledger.models) + 1
        key_address = Web3.to_checksum_address(keccak(spec.verifying_key)[:20])
        self.ledger.models[model_id] = ModelInfo(
            self._address,
            spec.constraint_count,
            n,
            False,
            key_address,
            spec.onnx_sha256,
            spec.circuit_hash,
            spec.manifest_hash,
        )
        self.ledger.keys[model_id] = spec.verifying_key
        args = {
            "modelId": model_id,
            "owner": self._address,
            "onnxSha256": spec.onnx_sha256,
            "circuitHash": spec.circuit_hash,
            "manifestHash": spec.manifest_hash,
            "verifyingKey": key_address,
            "nPublic": n,
            "constraintCount": spec.constraint_count,
        }
        return model_id, self._mine(
            "ModelRegistry.registerModel", ("ModelRegistry", "ModelRegistered", args)
        )

    def deprecate_model(self, model_id: int) -> TxResult:
        model = self.get_model(model_id)
        if model.owner != self._address:
            raise revert("NotModelOwner", modelId=model_id, caller=self._address)
        if model.deprecated:
            raise revert("ModelAlreadyDeprecated", modelId=model_id)
        self.ledger.models[model_id] = dataclasses.replace(model, deprecated=True)
        return self._mine(
            "ModelRegistry.deprecateModel",
            ("ModelRegistry", "ModelDeprecated", {"modelId": model_id}),
        )

    def get_model(self, model_id: int) -> ModelInfo:
        if model_id not in self.ledger.models:
            raise revert("UnknownModel", modelId=model_id)
        return self.ledger.models[model_id]

    def verifying_key_of(self, model_id: int) -> bytes:
        self.get_model(model_id)
        return self.ledger.keys[model_id]

    def model_count(self) -> int:
        return len(self.ledger.models)

    # ProverStaking

    def deposit_stake(self, amount: int) -> TxResult:
        if amount == 0:
            raise revert("ZeroAmount")
        self.ledger.move_stake(self._address, stake=amount)
        total = self.ledger.stakes[self._address][0]
        args = {"prover": self._address, "amount": amount, "stake": total}
        return self._mine("ProverStaking.deposit", ("ProverStaking", "StakeDeposited", args))

    def request_withdrawal(self, amount: int) -> TxResult:
        if amount == 0:
            raise revert("ZeroAmount")
        info = self.stake_of(self._address)
        if amount > info.free:
            raise revert(
                "InsufficientFreeStake", prover=self._address, free=info.free, needed=amount
            )
        available_at = self.ledger.time + self.ledger.withdrawal_delay
        pending = info.pending_withdrawal + amount
        self.ledger.move_stake(self._address, stake=-amount)
        self.ledger.withdrawals[self._address] = (pending, available_at)
        args = {
            "prover": self._address,
            "amount": amount,
            "pending": pending,
            "availableAt": available_at,
        }
        return self._mine(
            "ProverStaking.requestWithdrawal", ("ProverStaking", "WithdrawalRequested", args)
        )

    def withdraw_stake(self) -> TxResult:
        amount, available_at = self.ledger.withdrawals.get(self._address, (0, 0))
        if amount == 0:
            raise revert("NoPendingWithdrawal", prover=self._address)
        if self.ledger.time < available_at:
            raise revert("WithdrawalNotReady", availableAt=available_at)
        del self.ledger.withdrawals[self._address]
        args = {"prover": self._address, "amount": amount}
        return self._mine("ProverStaking.withdraw", ("ProverStaking", "StakeWithdrawn", args))

    def stake_of(self, prover: str) -> StakeInfo:
        prover = Web3.to_checksum_address(prover)
        stake, locked = self.ledger.stakes.get(prover, (0, 0))
        pending, available_at = self.ledger.withdrawals.get(prover, (0, 0))
        return StakeInfo(stake, locked, pending, available_at)

    # JobMarket

    def create_job(self, request: JobRequest) -> tuple[int, TxResult]:
        r = request
        if self.get_model(r.model_id).deprecated:
            raise revert("ModelDeprecated", modelId=r.model_id)
        if r.input_commitment >= FIELD_R:
            raise revert("InputCommitmentOutOfField", inputCommitment=r.input_commitment)
        if r.max_fee == 0:
            raise revert("ZeroMaxFee")
        if r.bid_deadline < self.ledger.time or r.proof_deadline <= r.bid_deadline:
            raise revert("BadDeadlines", bidDeadline=r.bid_deadline, proofDeadline=r.proof_deadline)
        job_id = len(self.ledger.jobs) + 1
        self.ledger.jobs[job_id] = JobInfo(
            self._address,
            r.bid_deadline,
            r.proof_deadline,
            JobStatus.OPEN,
            ZERO,
            0,
            self.ledger.models[r.model_id].verifying_key,
            r.max_fee,
            r.collateral,
            r.model_id,
            r.input_commitment,
        )
        args = {
            "jobId": job_id,
            "requester": self._address,
            "modelId": r.model_id,
            "inputCommitment": r.input_commitment,
            "maxFee": r.max_fee,
            "collateral": r.collateral,
            "bidDeadline": r.bid_deadline,
            "proofDeadline": r.proof_deadline,
        }
        return job_id, self._mine("JobMarket.createJob", ("JobMarket", "JobCreated", args))

    def award_job(self, bid: Bid, signature: bytes) -> TxResult:
        job, now = self.ledger.job(bid.job_id), self.ledger.time
        self._check_award(job, bid, now)
        if recover(self.ledger.bid_digest(bid), signature) != Web3.to_checksum_address(bid.prover):
            raise revert("InvalidBidSignature")
        prover = Web3.to_checksum_address(bid.prover)
        free = self.stake_of(prover).free
        if job.collateral > free:
            raise revert("InsufficientFreeStake", prover=prover, free=free, needed=job.collateral)
        self.ledger.jobs[bid.job_id] = dataclasses.replace(
            job, status=JobStatus.AWARDED, prover=prover, fee=bid.fee
        )
        self.ledger.move_stake(prover, locked=job.collateral)
        return self._mine(
            "JobMarket.awardJob",
            ("JobMarket", "JobAwarded", {"jobId": bid.job_id, "prover": prover, "fee": bid.fee}),
            ("ProverStaking", "CollateralLocked", {"prover": prover, "amount": job.collateral}),
        )

    def _check_award(self, job: JobInfo, bid: Bid, now: int) -> None:
        if job.requester != self._address:
            raise revert("NotRequester", jobId=bid.job_id, caller=self._address)
        if job.status is not JobStatus.OPEN:
            raise revert("WrongStatus", jobId=bid.job_id, status=int(job.status))
        if now > job.bid_deadline:
            raise revert("BidDeadlinePassed", jobId=bid.job_id, bidDeadline=job.bid_deadline)
        if now > bid.expiry:
            raise revert("BidExpired", expiry=bid.expiry)
        if bid.fee > job.max_fee:
            raise revert("FeeAboveMax", fee=bid.fee, maxFee=job.max_fee)

    def submit_proof(self, job_id: int, proof: Sequence[int], outputs: Sequence[int]) -> TxResult:
        job, now = self.ledger.job(job_id), self.ledger.time
        if job.status is not JobStatus.AWARDED:
            raise revert("WrongStatus", jobId=job_id, status=int(job.status))
        rescued = now > job.proof_deadline
        if not rescued and self._address != job.prover:
            raise revert("NotAssignedProver", jobId=job_id, caller=self._address)
        if rescued:
            if self._address == job.prover:
                raise revert("ProofDeadlinePassed", jobId=job_id, proofDeadline=job.proof_deadline)
            if now > job.proof_deadline + self.ledger.rescue_window:
                raise revert("RescueWindowClosed", jobId=job_id)
            if self.stake_of(self._address).stake == 0:
                raise revert("NotStaked", caller=self._address)
        if not self.ledger.proof_checker(job, proof, outputs):
            raise revert("InvalidProof", jobId=job_id)
        return self._settle_proof(job_id, job, rescued, list(outputs))

    def _settle_proof(
        self, job_id: int, job: JobInfo, rescued: bool, outputs: list[int]
    ) -> TxResult:
        status = JobStatus.RESCUED if rescued else JobStatus.FULFILLED
        self.ledger.jobs[job_id] = dataclasses.replace(job, status=status)
        self.ledger.count(self._address, fulfilled=1, fees=job.fee)
        if rescued:
            self.ledger.count(job.prover, slashed=1)
        accepted = {
            "jobId": job_id,
            "prover": self._address,
            "rescued": rescued,
            "outputs": outputs,
        }
        if not rescued:
            self.ledger.credit(self._address, job.fee)
            self.ledger.credit(job.requester, job.max_fee - job.fee)
            self.ledger.move_stake(job.prover, locked=-job.collateral)
            released = {"prover": job.prover, "amount": job.collateral}
            return self._mine(
                "JobMarket.submitProof",
                ("JobMarket", "ProofAccepted", accepted),
                ("ProverStaking", "CollateralReleased", released),
            )
        half = job.collateral // 2
        self.ledger.credit(self._address, job.fee + half)
        self.ledger.credit(job.requester, job.max_fee - job.fee + job.collateral - half)
        self.ledger.move_stake(job.prover, stake=-job.collateral, locked=-job.collateral)
        slashed = {"jobId": job_id, "prover": job.prover, "collateral": job.collateral}
        return self._mine(
            "JobMarket.submitProof",
            ("JobMarket", "ProofAccepted", accepted),
            ("JobMarket", "ProverSlashed", slashed),
            (
                "ProverStaking",
                "CollateralSlashed",
                {"prover": job.prover, "amount": job.collateral},
            ),
        )

    def slash(self, job_id: int) -> TxResult:
        job = self.ledger.job(job_id)
        if job.status is not JobStatus.AWARDED:
            raise revert("WrongStatus", jobId=job_id, status=int(job.status))
        slashable_after = job.proof_deadline + self.ledger.rescue_window
        if self.ledger.time <= slashable_after:
            raise revert("RescueWindowOpen", jobId=job_id, slashableAfter=slashable_after)
        self.ledger.jobs[job_id] = dataclasses.replace(job, status=JobStatus.SLASHED)
        self.ledger.count(job.prover, slashed=1)
        self.ledger.credit(job.requester, job.max_fee + job.collateral)
        self.ledger.move_stake(job.prover, stake=-job.collateral, locked=-job.collateral)
        slashed = {"jobId": job_id, "prover": job.prover, "collateral": job.collateral}
        return self._mine(
            "JobMarket.slash",
            ("JobMarket", "ProverSlashed", slashed),
            (
                "ProverStaking",
                "CollateralSlashed",
                {"prover": job.prover, "amount": job.collateral},
            ),
        )

    def cancel_job(self, job_id: int) -> TxResult:
        job = self.ledger.job(job_id)
        if job.requester != self._address:
            raise revert("NotRequester", jobId=job_id, caller=self._address)
        if job.status is not JobStatus.OPEN:
            raise revert("WrongStatus", jobId=job_id, status=int(job.status))
        if self.ledger.time <= job.bid_deadline:
            raise revert("BidDeadlineNotPassed", jobId=job_id, bidDeadline=job.bid_deadline)
        self.ledger.jobs[job_id] = dataclasses.replace(job, status=JobStatus.CANCELLED)
        self.ledger.credit(self._address, job.max_fee)
        return self._mine("JobMarket.cancelJob", ("JobMarket", "JobCancelled", {"jobId": job_id}))

    def withdraw(self) -> TxResult:
        amount = self.ledger.balances.get(self._address, 0)
        if amount == 0:
            raise revert("NothingToWithdraw", account=self._address)
        self.ledger.balances[self._address] = 0
        args = {"account": self._address, "amount": amount}
        return self._mine("JobMarket.withdraw", ("JobMarket", "Withdrawn", args))

    def get_job(self, job_id: int) -> JobInfo:
        return self.ledger.job(job_id)

    def balance_of(self, account: str) -> int:
        return self.ledger.balances.get(Web3.to_checksum_address(account), 0)

    def job_count(self) -> int:
        return len(self.ledger.jobs)

    def prover_stats(self, prover: str) -> ProverStats:
        return self.ledger.stats.get(Web3.to_checksum_address(prover), ProverStats(0, 0, 0))

    def bid_digest(self, bid: Bid) -> bytes:
        return self.ledger.bid_digest(bid)

    # Events and reconciliation

    def events_since(
        self,
        from_block: int,
        to_block: int | None = None,
        *,
        anchor: tuple[int, str] | None = None,  # the fake never reorganises
    ) -> EventBatch:
        end = self.ledger.block if to_block is None else min(to_block, self.ledger.block)
        events = tuple(e for e in self.ledger.events if from_block <= e.block_number <= end)
        return EventBatch(events, max(from_block, end + 1), self.ledger.block)

    def sign_only(self, label: str, send: Callable[[FakeChain], object]) -> TxRecord:
        """A transaction ``send(self)`` signed but not broadcast; ``settle`` sends it."""
        nonce = sum(1 for tx in self.ledger.txs.values() if tx.sender == self._address)
        digest = hashlib.sha256(f"held:{len(self.ledger.held)}:{label}".encode()).hexdigest()
        tx_hash = "0x" + digest

        def broadcast() -> object:
            self.ledger._hash_of_next = tx_hash
            try:
                return send(self)
            finally:
                self.ledger._hash_of_next = None  # a revert mines nothing

        self.ledger.held[tx_hash] = broadcast
        return TxRecord(label, self._address, None, 0, "0x", nonce, 0, 0, 0,
                        self.chain_id, tx_hash, "0x02" + digest)  # fmt: skip

    def settle(self, record: TxRecord) -> TxStatus:
        if record.tx_hash in self.ledger.held:  # dropped (never sent): the same bytes again
            self.ledger.broadcasts[record.tx_hash] += 1
            self.ledger.held.pop(record.tx_hash)()
        return TxStatus.LANDED if record.tx_hash in self.ledger.txs else TxStatus.DROPPED
