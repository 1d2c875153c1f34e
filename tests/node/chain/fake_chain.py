"""An in-memory ``Chain`` for unit tests of the node (never used by the node itself).

``FakeLedger`` is the world: models, stakes, jobs, market balances, events, a block
number and a clock the test moves with ``advance`` (or ``advance_to``). Each
``FakeChain`` is one account's view of it, so a test can have alice (requester) and
bob (prover) act on the same ledger. Transactions mine one block each, stamped with
the clock, and raise the same named ``ContractRevert`` classes, with the same
arguments and in the same order of checks, as the real contracts, checked before any
state changes. Proof verification is a callback (the fake has no Groth16); bid digests
and signatures are real EIP-712 (settlement v2: the bid covers the job's terms), so
signatures made for the fake also suit the chain.

JobMarket's settlement-v2 lifecycle, as in contracts/src/IJobMarket.sol: createJob
(Open) -> awardJob (Awarded; nothing locked; the accept deadline is now + acceptWindow)
-> acceptJob by the assigned prover (Accepted; collateral locked; the proof deadline is
now + proofWindow) -> submitProof by that prover (Fulfilled). A deadline is the last
second its holder may act: past the accept deadline the requester may award again or
cancel (the award lapsed, one count of ``lapsed``); past the proof deadline anyone may
slash (the collateral is burned, ``burned``, and the job re-opens with its escrow).

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
from node.chain.interface import Chain
from node.chain.sender import Receipt, TxRecord, TxStatus
from node.chain.types import (
    Bid,
    CeremonyContribution,
    CeremonyInfo,
    JobInfo,
    JobRequest,
    JobStatus,
    ModelInfo,
    ModelSpec,
    ProverStats,
    StakeInfo,
    TxResult,
)
from protocol.bn254.g2 import G2
from protocol.groth16.calldata import g2_words, words_to_bytes
from protocol.messages import Bid as SignedBid
from protocol.messages import JobTerms

ZERO = "0x" + "00" * 20
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"  # ProverStaking.BURN_ADDRESS
FIELD_P = 0x30644E72E131A029B85045B68181585D97816A916871CA8D3C208C16D87CFD47  # EIP-196
FIELD_R = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001  # EIP-196
HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0  # secp256k1 n/2
MAX_PUBLIC_SIGNALS = 375  # ModelRegistry.MAX_PUBLIC_SIGNALS
MAX_CONTRIBUTION_WINDOW = 30 * 24 * 3600  # ModelRegistry.MAX_CONTRIBUTION_WINDOW
MAX_NAME_BYTES = 64  # ModelRegistry.MAX_NAME_BYTES
ZERO32 = bytes(32)
MAX_WINDOW = 30 * 24 * 3600  # JobMarket.MAX_WINDOW
MAX_AMOUNT = (1 << 96) - 1  # the uint96 accounting fields
DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
BID_TYPEHASH = keccak(
    b"Bid(uint256 jobId,address prover,uint256 fee,uint64 expiry,address requester,"
    b"uint256 modelId,uint256 inputCommitment,uint256 collateral,uint32 acceptWindow,"
    b"uint32 proofWindow)"
)
BID_TYPES = [
    "bytes32", "uint256", "address", "uint256", "uint64", "address",
    "uint256", "uint256", "uint256", "uint32", "uint32",
]  # fmt: skip

ProofChecker = Callable[[JobInfo, Sequence[int], Sequence[int]], bool]
Emitted = tuple[str, str, dict[str, Any]]


def revert(name: str, **args: Any) -> Exception:
    """The named revert the real contract would raise."""
    return revert_class(name)(name, args, b"")


def checksum(address: str | bytes) -> str:
    """An address as the contracts' events and views return it."""
    return Web3.to_checksum_address(address)


class FakeLedger:
    """The shared world state of the fake chain."""

    def __init__(
        self,
        *,
        chain_id: int = 31337,
        market_address: str = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
        withdrawal_delay: int = 60,
        start_time: int = 1_700_000_000,
        proof_checker: ProofChecker | None = None,
    ) -> None:
        self.chain_id, self.market_address = chain_id, checksum(market_address)
        self.withdrawal_delay = withdrawal_delay
        self.block, self.time = 0, start_time
        self.proof_checker = proof_checker or (lambda job, proof, outputs: True)
        self.models: dict[int, ModelInfo] = {}
        self.ceremonies: dict[int, CeremonyInfo] = {}
        self.block_hashes: dict[int, bytes] = {}
        self.keys: dict[int, bytes] = {}
        self.stakes: dict[str, tuple[int, int]] = {}  # prover: (stake, locked)
        self.withdrawals: dict[str, tuple[int, int]] = {}  # prover: (amount, available at)
        self.jobs: dict[int, JobInfo] = {}
        self.balances: dict[str, int] = {}
        self.stats: dict[str, ProverStats] = {}
        self.burned = 0  # slashed collateral sent to BURN_ADDRESS
        self.events: list[ChainEvent] = []
        self.txs: dict[str, TxRecord] = {}
        self.receipts: dict[str, Receipt] = {}
        # Signed transactions not yet broadcast, and how often each hash was broadcast.
        self.held: dict[str, Callable[[], object]] = {}
        self.broadcasts: Counter[str] = Counter()
        self._hash_of_next: str | None = None

    # The clock

    def advance(self, seconds: int) -> None:
        """Move the clock (the next block's timestamp)."""
        self.time += seconds

    def mine_block(self) -> None:
        """An empty block, as anvil's evm_mine makes one."""
        self.block += 1
        self.block_hashes[self.block] = hashlib.sha256(f"{self.block}:empty".encode()).digest()

    def advance_to(self, timestamp: int) -> None:
        """Set the clock to ``timestamp`` (never backwards)."""
        if timestamp < self.time:
            raise ValueError(f"the clock is at {self.time}; it cannot go back to {timestamp}")
        self.time = timestamp

    def pass_deadline(self, job_id: int) -> None:
        """Move the clock one second past job ``job_id``'s current deadline (the accept
        deadline while Awarded, the proof deadline while Accepted): a lapse, or a slash."""
        job = self.job(job_id)
        if job.status not in (JobStatus.AWARDED, JobStatus.ACCEPTED):
            raise ValueError(f"job {job_id} is {job.status.name}: it has no deadline")
        self.advance_to(max(self.time, job.deadline + 1))

    # Accounts

    def chain(self, address: str) -> FakeChain:
        """The ``Chain`` of one account on this ledger."""
        return FakeChain(self, address)

    # Helpers for tests: the terms of a job, and a signed bid as awardJob takes it

    def terms(self, job_id: int) -> JobTerms:
        """The terms a bid on job ``job_id`` signs (protocol.messages.JobTerms)."""
        job = self.job(job_id)
        return JobTerms(
            bytes.fromhex(job.requester[2:]),
            job.model_id,
            job.input_commitment,
            job.collateral,
            job.accept_window,
            job.proof_window,
        )

    def chain_bid(self, bid: SignedBid) -> Bid:
        """The IJobMarket.Bid of a signed protocol bid, with its job's terms from the ledger."""
        terms = self.terms(bid.job_id)
        return Bid(
            bid.job_id,
            checksum(bid.prover),
            bid.fee,
            bid.expiry,
            checksum(terms.requester),
            terms.model_id,
            terms.input_commitment,
            terms.collateral,
            terms.accept_window,
            terms.proof_window,
        )

    # Bookkeeping (also for tests that set a scene directly)

    def mine(self, sender: str, label: str, emitted: Sequence[Emitted]) -> TxResult:
        """Record a successful transaction and its events in a new block."""
        self.block += 1
        digest = hashlib.sha256(f"{self.block}:{sender}:{label}".encode()).hexdigest()
        tx_hash, block_hash = self._hash_of_next or "0x" + digest, "0x" + digest[::-1]
        self._hash_of_next = None
        self.block_hashes[self.block] = bytes.fromhex(block_hash[2:])
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
        balance = self.balances.get(account, 0) + amount
        if balance > MAX_AMOUNT:
            raise revert("AmountTooLarge", amount=balance)
        self.balances[account] = balance

    def count(
        self, prover: str, *, fulfilled: int = 0, slashed: int = 0, lapsed: int = 0, fees: int = 0
    ) -> None:
        """Add to a prover's JobMarket.proverStats counters (fees wrap at 2^96, as on-chain)."""
        old = self.stats.get(prover, ProverStats(0, 0, 0, 0))
        self.stats[prover] = ProverStats(
            old.fulfilled + fulfilled,
            old.slashed + slashed,
            old.lapsed + lapsed,
            (old.fees_earned + fees) % (1 << 96),
        )

    def move_stake(self, prover: str, *, stake: int = 0, locked: int = 0) -> None:
        old_stake, old_locked = self.stakes.get(prover, (0, 0))
        self.stakes[prover] = (old_stake + stake, old_locked + locked)

    def escrowed(self) -> int:
        """Wei JobMarket holds for unsettled jobs (Open, Awarded, Accepted)."""
        unsettled = (JobStatus.OPEN, JobStatus.AWARDED, JobStatus.ACCEPTED)
        return sum(job.max_fee for job in self.jobs.values() if job.status in unsettled)

    def bid_digest(self, bid: Bid) -> bytes:
        """JobMarket._bidDigest: EIP-712 over the Bid struct and the market's domain."""
        domain = keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    DOMAIN_TYPEHASH,
                    keccak(b"provernet JobMarket"),
                    keccak(b"2"),
                    self.chain_id,
                    self.market_address,
                ],
            )
        )
        fields = list(bid.as_tuple())
        fields[1], fields[4] = checksum(bid.prover), checksum(bid.requester)
        struct = keccak(encode(BID_TYPES, [BID_TYPEHASH, *fields]))
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
        self.ledger, self._address = ledger, checksum(address)

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

    def _mine(self, label: str, *events: Emitted) -> TxResult:
        return self.ledger.mine(self._address, label, events)

    # ModelRegistry

    def register_model(self, spec: ModelSpec) -> tuple[int, TxResult]:
        model_id, events = self._register(spec)
        return model_id, self._mine("ModelRegistry.registerModel", *events)

    def _register(self, spec: ModelSpec, **extra: Any) -> tuple[int, list[Emitted]]:
        n = spec.n_public
        if n == 0 or n > MAX_PUBLIC_SIGNALS:
            raise revert("BadPublicSignalCount", nPublic=n)
        expected = 448 + 64 * (n + 1)
        if len(spec.verifying_key) != expected:
            raise revert("BadKeyLength", expected=expected, actual=len(spec.verifying_key))
        for i in range(expected // 32):
            if int.from_bytes(spec.verifying_key[32 * i : 32 * i + 32], "big") >= FIELD_P:
                raise revert("KeyCoordinateOutOfField", wordIndex=i)
        _refuse_degenerate(spec.verifying_key, n)
        model_id = len(self.ledger.models) + 1
        key_address = checksum(keccak(spec.verifying_key)[:20])
        self.ledger.models[model_id] = ModelInfo(
            self._address,
            spec.constraint_count,
            n,
            False,
            key_address,
            spec.onnx_sha256,
            spec.circuit_hash,
            spec.manifest_hash,
            **extra,
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
        return model_id, [("ModelRegistry", "ModelRegistered", args)]

    def open_ceremony(
        self,
        circuit_hash: bytes,
        phase1_sha256: bytes,
        initial_key_sha256: bytes,
        window: int,
        name: str,
    ) -> tuple[int, TxResult]:
        if not 0 < len(name.encode()) <= MAX_NAME_BYTES:
            raise revert("BadName", length=len(name.encode()))
        if window > MAX_CONTRIBUTION_WINDOW:
            raise revert("BadContributionWindow", window=window)
        if initial_key_sha256 == ZERO32:
            raise revert("BadKeyHash")
        ceremony_id, deadline = len(self.ledger.ceremonies) + 1, self.ledger.time + window
        self.ledger.ceremonies[ceremony_id] = CeremonyInfo(
            self._address, deadline, 0, 0, 0, circuit_hash, phase1_sha256, initial_key_sha256,
            initial_key_sha256, initial_key_sha256, 0,
        )  # fmt: skip
        args = {
            "ceremonyId": ceremony_id,
            "coordinator": self._address,
            "circuitHash": circuit_hash,
            "phase1Sha256": phase1_sha256,
            "initialKeySha256": initial_key_sha256,
            "contributionDeadline": deadline,
            "name": name,
        }
        return ceremony_id, self._mine(
            "ModelRegistry.openCeremony", ("ModelRegistry", "CeremonyOpened", args)
        )

    def contribute(
        self, ceremony_id: int, predecessor: bytes, key_sha256: bytes, contribution_hash: bytes
    ) -> TxResult:
        c = self.get_ceremony(ceremony_id)
        if c.beacon_block != 0 or self.ledger.time > c.contribution_deadline:
            raise revert("ContributionsClosed", ceremonyId=ceremony_id)
        if predecessor != c.latest_key_sha256:
            raise revert("StalePredecessor", latestKeySha256=c.latest_key_sha256)
        if key_sha256 in (ZERO32, predecessor):
            raise revert("BadKeyHash")
        if len(contribution_hash) != 64:
            raise revert("BadContributionHash", length=len(contribution_hash))
        fields = [c.transcript, self._address, key_sha256, contribution_hash]
        transcript = keccak(encode(["bytes32", "address", "bytes32", "bytes"], fields))
        self.ledger.ceremonies[ceremony_id] = dataclasses.replace(
            c, contributions=c.contributions + 1, latest_key_sha256=key_sha256,
            transcript=transcript,
        )  # fmt: skip
        args = {"ceremonyId": ceremony_id, "index": c.contributions + 1,
                "contributor": self._address, "predecessorSha256": predecessor,
                "keySha256": key_sha256, "contributionHash": contribution_hash}  # fmt: skip
        return self._mine(
            "ModelRegistry.contribute", ("ModelRegistry", "ContributionRecorded", args)
        )

    def close_ceremony(self, ceremony_id: int) -> TxResult:
        c = self.get_ceremony(ceremony_id)
        if self.ledger.time <= c.contribution_deadline:
            raise revert("ContributionsOpen", contributionDeadline=c.contribution_deadline)
        executing = self.ledger.block + 1
        if c.beacon_block != 0 and executing <= c.beacon_block + 256:
            raise revert("AlreadyClosed", beaconBlock=c.beacon_block)
        beacon_block = executing + 1
        self.ledger.ceremonies[ceremony_id] = dataclasses.replace(c, beacon_block=beacon_block)
        args = {"ceremonyId": ceremony_id, "beaconBlock": beacon_block}
        return self._mine("ModelRegistry.closeCeremony", ("ModelRegistry", "CeremonyClosed", args))

    def finalize_ceremony(
        self, ceremony_id: int, included: int, final_key_sha256: bytes, spec: ModelSpec
    ) -> tuple[int, TxResult]:
        c = self.get_ceremony(ceremony_id)
        if c.coordinator != self._address:
            raise revert("NotCoordinator", ceremonyId=ceremony_id, caller=self._address)
        if c.model_id != 0:
            raise revert("AlreadyFinalized", ceremonyId=ceremony_id, modelId=c.model_id)
        if included > c.contributions:
            raise revert("UnrecordedContributions", included=included, recorded=c.contributions)
        if final_key_sha256 in (ZERO32, c.latest_key_sha256):
            raise revert("BadKeyHash")
        # Web3Chain estimates gas at the latest block, which cannot read its own hash: the
        # beacon must already be readable there (beacon_of), one block after the beacon block.
        beacon = self._beacon(c, self.ledger.block)
        spec = dataclasses.replace(spec, circuit_hash=c.circuit_hash)
        model_id, events = self._register(
            spec, ceremony_id=ceremony_id, beacon=beacon, final_key_sha256=final_key_sha256
        )
        self.ledger.ceremonies[ceremony_id] = dataclasses.replace(
            c, model_id=model_id, included=included
        )
        args = {"ceremonyId": ceremony_id, "modelId": model_id, "included": included,
                "beacon": beacon,
                "finalKeySha256": final_key_sha256}  # fmt: skip
        events.append(("ModelRegistry", "CeremonyFinalized", args))
        return model_id, self._mine("ModelRegistry.finalizeCeremony", *events)

    def _beacon(self, c: CeremonyInfo, executing: int) -> bytes:
        at = c.beacon_block
        if at == 0 or not executing - 256 <= at < executing:
            raise revert("BeaconUnavailable", beaconBlock=at)
        return self.ledger.block_hashes[at]

    def get_ceremony(self, ceremony_id: int) -> CeremonyInfo:
        if ceremony_id not in self.ledger.ceremonies:
            raise revert("UnknownCeremony", ceremonyId=ceremony_id)
        return self.ledger.ceremonies[ceremony_id]

    def beacon_of(self, ceremony_id: int) -> bytes:
        return self._beacon(self.get_ceremony(ceremony_id), self.ledger.block)

    def ceremony_count(self) -> int:
        return len(self.ledger.ceremonies)

    def ceremony_contributions(self, ceremony_id: int) -> list[CeremonyContribution]:
        return [
            CeremonyContribution(
                e.args["index"],
                e.args["contributor"],
                e.args["predecessorSha256"],
                e.args["keySha256"],
                e.args["contributionHash"],
            )
            for e in self.ledger.events
            if e.name == "ContributionRecorded" and e.args["ceremonyId"] == ceremony_id
        ]

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
        total = self.stake_of(self._address).stake + amount
        if total > MAX_AMOUNT:
            raise revert("AmountTooLarge", amount=total)
        self.ledger.move_stake(self._address, stake=amount)
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
        pending = info.pending_withdrawal + amount
        if pending > MAX_AMOUNT:
            raise revert("AmountTooLarge", amount=pending)
        available_at = self.ledger.time + self.ledger.withdrawal_delay
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
        prover = checksum(prover)
        stake, locked = self.ledger.stakes.get(prover, (0, 0))
        pending, available_at = self.ledger.withdrawals.get(prover, (0, 0))
        return StakeInfo(stake, locked, pending, available_at)

    # JobMarket

    def create_job(self, request: JobRequest) -> tuple[int, TxResult]:
        r = request
        model = self.get_model(r.model_id)
        if model.deprecated:
            raise revert("ModelDeprecated", modelId=r.model_id)
        if model.ceremony_id == 0:
            raise revert("ModelNotFromCeremony", modelId=r.model_id)
        if r.input_commitment >= FIELD_R:
            raise revert("InputCommitmentOutOfField", inputCommitment=r.input_commitment)
        if r.max_fee == 0:
            raise revert("ZeroMaxFee")
        for amount in (r.max_fee, r.collateral):
            if amount > MAX_AMOUNT:
                raise revert("AmountTooLarge", amount=amount)
        if not (0 < r.accept_window <= MAX_WINDOW and 0 < r.proof_window <= MAX_WINDOW):
            raise revert("BadWindows", acceptWindow=r.accept_window, proofWindow=r.proof_window)
        job_id = len(self.ledger.jobs) + 1
        self.ledger.jobs[job_id] = JobInfo(
            requester=self._address,
            status=JobStatus.OPEN,
            deadline=0,
            accept_window=r.accept_window,
            prover=ZERO,
            fee=0,
            verifying_key=self.ledger.models[r.model_id].verifying_key,
            max_fee=r.max_fee,
            collateral=r.collateral,
            model_id=r.model_id,
            proof_window=r.proof_window,
            input_commitment=r.input_commitment,
        )
        args = {
            "jobId": job_id,
            "requester": self._address,
            "modelId": r.model_id,
            "inputCommitment": r.input_commitment,
            "maxFee": r.max_fee,
            "collateral": r.collateral,
            "acceptWindow": r.accept_window,
            "proofWindow": r.proof_window,
        }
        return job_id, self._mine("JobMarket.createJob", ("JobMarket", "JobCreated", args))

    def award_job(self, bid: Bid, signature: bytes) -> TxResult:
        job_id, now = bid.job_id, self.ledger.time  # the client sends bid.job_id as the jobId
        job = self.ledger.job(job_id)
        if job.requester != self._address:
            raise revert("NotRequester", jobId=job_id, caller=self._address)
        lapse = self._unawarded_or_lapsed(job_id, job)
        if bid.job_id != job_id:
            raise revert("BidForOtherJob", jobId=job_id, bidJobId=bid.job_id)
        if now > bid.expiry:
            raise revert("BidExpired", expiry=bid.expiry)
        if bid.fee > job.max_fee:
            raise revert("FeeAboveMax", fee=bid.fee, maxFee=job.max_fee)
        terms = (
            checksum(bid.requester),
            bid.model_id,
            bid.input_commitment,
            bid.collateral,
            bid.accept_window,
            bid.proof_window,
        )
        held = (
            self._address,
            job.model_id,
            job.input_commitment,
            job.collateral,
            job.accept_window,
            job.proof_window,
        )
        if terms != held:
            raise revert("BidTermsMismatch", jobId=job_id)
        signer = recover(self.ledger.bid_digest(bid), signature)
        prover = checksum(bid.prover)
        if signer == ZERO or signer != prover:
            raise revert("InvalidBidSignature")
        accept_deadline = now + job.accept_window
        self._record_lapse(job)
        self.ledger.jobs[job_id] = dataclasses.replace(
            job, status=JobStatus.AWARDED, deadline=accept_deadline, prover=prover, fee=bid.fee
        )
        awarded = {
            "jobId": job_id,
            "prover": prover,
            "fee": bid.fee,
            "acceptDeadline": accept_deadline,
        }
        return self._mine("JobMarket.awardJob", *lapse, ("JobMarket", "JobAwarded", awarded))

    def _unawarded_or_lapsed(self, job_id: int, job: JobInfo) -> tuple[Emitted, ...]:
        """JobMarket._endUnawardedOrLapsed's checks: the AwardLapsed event, if any, to emit."""
        if job.status is JobStatus.OPEN:
            return ()
        if job.status is not JobStatus.AWARDED:
            raise revert("WrongStatus", jobId=job_id, status=int(job.status))
        if self.ledger.time <= job.deadline:
            raise revert("AcceptWindowOpen", jobId=job_id, acceptDeadline=job.deadline)
        return (("JobMarket", "AwardLapsed", {"jobId": job_id, "prover": job.prover}),)

    def _record_lapse(self, job: JobInfo) -> None:
        if job.status is JobStatus.AWARDED:
            self.ledger.count(job.prover, lapsed=1)

    def accept_job(self, job_id: int) -> TxResult:
        job, now = self.ledger.job(job_id), self.ledger.time
        if job.status is not JobStatus.AWARDED:
            raise revert("WrongStatus", jobId=job_id, status=int(job.status))
        if self._address != job.prover:
            raise revert("NotAssignedProver", jobId=job_id, caller=self._address)
        if now > job.deadline:
            raise revert("AcceptDeadlinePassed", jobId=job_id, acceptDeadline=job.deadline)
        free = self.stake_of(self._address).free  # ProverStaking.lockCollateral
        if job.collateral > free:
            raise revert(
                "InsufficientFreeStake", prover=self._address, free=free, needed=job.collateral
            )
        proof_deadline = now + job.proof_window
        self.ledger.jobs[job_id] = dataclasses.replace(
            job, status=JobStatus.ACCEPTED, deadline=proof_deadline
        )
        self.ledger.move_stake(self._address, locked=job.collateral)
        accepted = {"jobId": job_id, "prover": self._address, "proofDeadline": proof_deadline}
        locked = {"prover": self._address, "amount": job.collateral}
        return self._mine(
            "JobMarket.acceptJob",
            ("JobMarket", "JobAccepted", accepted),
            ("ProverStaking", "CollateralLocked", locked),
        )

    def submit_proof(self, job_id: int, proof: Sequence[int], outputs: Sequence[int]) -> TxResult:
        job, now = self.ledger.job(job_id), self.ledger.time
        if job.status is not JobStatus.ACCEPTED:
            raise revert("WrongStatus", jobId=job_id, status=int(job.status))
        if self._address != job.prover:
            raise revert("NotAssignedProver", jobId=job_id, caller=self._address)
        if now > job.deadline:
            raise revert("ProofDeadlinePassed", jobId=job_id, proofDeadline=job.deadline)
        if not self.ledger.proof_checker(job, proof, outputs):
            raise revert("InvalidProof", jobId=job_id)
        for account, amount in ((job.prover, job.fee), (job.requester, job.max_fee - job.fee)):
            total = self.ledger.balances.get(account, 0) + amount
            if total > MAX_AMOUNT:
                raise revert("AmountTooLarge", amount=total)
        self.ledger.jobs[job_id] = dataclasses.replace(job, status=JobStatus.FULFILLED, deadline=0)
        self.ledger.credit(job.prover, job.fee)
        self.ledger.count(job.prover, fulfilled=1, fees=job.fee)
        self.ledger.credit(job.requester, job.max_fee - job.fee)
        self.ledger.move_stake(job.prover, locked=-job.collateral)
        accepted = {"jobId": job_id, "prover": job.prover, "outputs": tuple(outputs)}  # as decoded
        released = {"prover": job.prover, "amount": job.collateral}
        return self._mine(
            "JobMarket.submitProof",
            ("JobMarket", "ProofAccepted", accepted),
            ("ProverStaking", "CollateralReleased", released),
        )

    def slash(self, job_id: int) -> TxResult:
        job = self.ledger.job(job_id)
        if job.status is not JobStatus.ACCEPTED:
            raise revert("WrongStatus", jobId=job_id, status=int(job.status))
        if self.ledger.time <= job.deadline:
            raise revert("ProofDeadlineNotPassed", jobId=job_id, proofDeadline=job.deadline)
        self.ledger.jobs[job_id] = dataclasses.replace(
            job, status=JobStatus.OPEN, deadline=0, prover=ZERO, fee=0
        )
        self.ledger.count(job.prover, slashed=1)
        self.ledger.move_stake(job.prover, stake=-job.collateral, locked=-job.collateral)
        self.ledger.burned += job.collateral
        slashed = {"jobId": job_id, "prover": job.prover, "collateral": job.collateral}
        burned = {"prover": job.prover, "amount": job.collateral}
        return self._mine(
            "JobMarket.slash",
            ("JobMarket", "ProverSlashed", slashed),
            ("ProverStaking", "CollateralSlashed", burned),
        )

    def cancel_job(self, job_id: int) -> TxResult:
        job = self.ledger.job(job_id)
        if job.requester != self._address:
            raise revert("NotRequester", jobId=job_id, caller=self._address)
        lapse = self._unawarded_or_lapsed(job_id, job)
        refund = self.ledger.balances.get(self._address, 0) + job.max_fee
        if refund > MAX_AMOUNT:
            raise revert("AmountTooLarge", amount=refund)
        self._record_lapse(job)
        self.ledger.jobs[job_id] = dataclasses.replace(
            job, status=JobStatus.CANCELLED, deadline=0, prover=ZERO, fee=0
        )
        self.ledger.credit(self._address, job.max_fee)
        return self._mine(
            "JobMarket.cancelJob", *lapse, ("JobMarket", "JobCancelled", {"jobId": job_id})
        )

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
        return self.ledger.balances.get(checksum(account), 0)

    def job_count(self) -> int:
        return len(self.ledger.jobs)

    def prover_stats(self, prover: str) -> ProverStats:
        return self.ledger.stats.get(checksum(prover), ProverStats(0, 0, 0, 0))

    def bid_digest(self, bid: Bid) -> bytes:
        return self.ledger.bid_digest(bid)

    # Conveniences for tests (not part of the Chain interface)

    def award(self, bid: SignedBid) -> TxResult:
        """awardJob with a signed protocol bid, on its job's terms as the ledger holds them."""
        return self.award_job(self.ledger.chain_bid(bid), bid.signature)

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


_G2_GENERATOR_WORDS = words_to_bytes(g2_words(G2))


def _refuse_degenerate(key: bytes, n_public: int) -> None:
    """ModelRegistry's degenerate-key checks, in its order."""
    for i in range(5 + n_public):
        first = 0 if i == 0 else 4 * i - 2 if i < 4 else 2 * i + 6
        end = first + (2 if i == 0 or i >= 4 else 4)
        if not any(key[32 * first : 32 * end]):
            raise revert("KeyPointAtInfinity", pointIndex=i)
    if key[6 * 32 : 10 * 32] == key[10 * 32 : 14 * 32]:
        raise revert("GammaEqualsDelta")
    if key[10 * 32 : 14 * 32] == _G2_GENERATOR_WORDS:
        raise revert("DeltaIsGenerator")


def register_finalized(chain: Chain, spec: ModelSpec, mine: Callable[[int], None]) -> int:
    """Register ``spec`` from a ceremony of no contributions (the only models the job market
    takes jobs for): open it with a zero window, close it once ``mine(1)`` moved past the
    window, mine the beacon block and one after it (a call cannot read the latest block's
    hash) with ``mine(0)``, finalize. Returns the model id; the key is
    whatever ``spec`` holds (nodes, not the registry, check a transcript)."""
    ceremony_id, _ = chain.open_ceremony(spec.circuit_hash, b"\x04" * 32, b"\x05" * 32, 0, "m")
    mine(1)
    chain.close_ceremony(ceremony_id)
    mine(0)
    mine(0)
    model_id, _ = chain.finalize_ceremony(ceremony_id, 0, b"\x06" * 32, spec)
    return model_id


def fake_miner(ledger: FakeLedger) -> Callable[[int], None]:
    """``register_finalized``'s ``mine`` for a fake ledger."""

    def mine(seconds: int) -> None:
        ledger.advance(seconds)
        ledger.mine_block()

    return mine
