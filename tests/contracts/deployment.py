"""The contracts deployed on a test chain, named actors, and shortcuts for the job lifecycle.

alice requests proofs; bob and carol are staked provers; dave is an outsider with
no stake; the deployer owns nothing but deploys everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from node.anvil import DEV_PRIVATE_KEYS
from tests.contracts.chain import (
    Signer,
    Terms,
    bid_signature,
    bid_tuple,
    deploy,
    events,
    now,
    rpc,
    send,
    transact_at,
)
from tests.contracts.circuits import ProvedCircuit, Statement

WITHDRAWAL_DELAY = 7 * 24 * 3600  # seconds: a week, as a devnet would use
STAKE = Web3.to_wei(10, "ether")
MAX_FEE = Web3.to_wei(1, "ether")
FEE = Web3.to_wei(6, "ether") // 10
COLLATERAL = Web3.to_wei(2, "ether")
ACCEPT_WINDOW = 600  # seconds from an award to its accept deadline in the shortcuts
PROOF_WINDOW = 1800  # seconds from acceptance to the proof deadline
BID_LIFETIME = 3600  # seconds a shortcut bid stays valid
BURN_ADDRESS = "0x000000000000000000000000000000000000dEaD"
JOB_FIELDS = (
    "requester",
    "status",
    "deadline",
    "acceptWindow",
    "prover",
    "fee",
    "verifyingKey",
    "maxFee",
    "collateral",
    "modelId",
    "proofWindow",
    "inputCommitment",
)
OPEN, AWARDED, ACCEPTED, FULFILLED, CANCELLED = range(1, 6)


def vk_bytes(words: Sequence[int]) -> bytes:
    """Key words as the registry's byte encoding."""
    return b"".join(w.to_bytes(32, "big") for w in words)


def _signer(w3: Web3, index: int) -> Signer:
    key = DEV_PRIVATE_KEYS[index]
    return Signer(w3.eth.account.from_key(key).address, key)


@dataclass
class Deployment:
    """Registry, staking, market and a verifier harness with one model per toy circuit."""

    w3: Web3
    registry: Contract
    staking: Contract
    market: Contract
    harness: Contract
    circuits: dict[int, ProvedCircuit]
    models: dict[int, int] = field(default_factory=dict)

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def deployer(self) -> Signer:
        return _signer(self.w3, 0)

    @property
    def alice(self) -> Signer:
        return _signer(self.w3, 1)

    @property
    def bob(self) -> Signer:
        return _signer(self.w3, 2)

    @property
    def carol(self) -> Signer:
        return _signer(self.w3, 3)

    @property
    def dave(self) -> Signer:
        return _signer(self.w3, 4)

    def register(self, circuit: ProvedCircuit, owner: Signer) -> int:
        """Register ``circuit`` as a model owned by ``owner``, from a ceremony; returns its id."""
        return self.register_from_ceremony(
            owner,
            b"\x01" * 32,
            b"\x02" * 32,
            b"\x03" * 32,
            circuit.n_public,
            circuit.r1cs.n_constraints,
            vk_bytes(circuit.vk_words),
        )

    def register_from_ceremony(
        self,
        owner: Signer,
        onnx_sha256: bytes,
        circuit_hash: bytes,
        manifest_hash: bytes,
        n_public: int,
        constraints: int,
        key: bytes,
    ) -> int:
        """A model finalized from a ceremony with no contributions (open with a zero window,
        close the next second, mine the beacon block, finalize); returns its id. The key is
        whatever the caller says: the registry records a ceremony, nodes check its transcript."""
        reg, w3, who = self.registry, self.w3, owner.address
        opened = send(w3, reg.functions.openCeremony(circuit_hash, b"\x04" * 32,
                                                     b"\x05" * 32, 0, "a model"), who)  # fmt: skip
        (event,) = events(reg, "CeremonyOpened", opened)
        ceremony_id, deadline = int(event["ceremonyId"]), int(event["contributionDeadline"])
        transact_at(w3, deadline + 1, reg.functions.closeCeremony(ceremony_id), who)
        rpc(w3, "anvil_mine", [hex(2)])
        call = reg.functions.finalizeCeremony(
            ceremony_id, 0, b"\x06" * 32, onnx_sha256, manifest_hash, n_public, constraints, key
        )
        model_id = int(call.call({"from": who}))
        send(w3, call, who)
        return model_id

    def create_job(
        self,
        n_public: int = 3,
        statement: int = 0,
        *,
        requester: Signer | None = None,
        max_fee: int = MAX_FEE,
        collateral: int = COLLATERAL,
        commitment: int | None = None,
        accept_window: int = ACCEPT_WINDOW,
        proof_window: int = PROOF_WINDOW,
    ) -> int:
        """Create a job for a toy model with the commitment of one of its proved statements."""
        requester = requester or self.alice
        if commitment is None:
            commitment = self.circuits[n_public].statements[statement].commitment
        call = self.market.functions.createJob(
            self.models[n_public], commitment, collateral, accept_window, proof_window
        )
        job_id = int(call.call({"from": requester.address, "value": max_fee}))
        send(self.w3, call, requester.address, max_fee)
        return job_id

    def terms(self, job_id: int) -> Terms:
        """The on-chain terms of ``job_id``, as a bid must cover them."""
        j = self.job(job_id)
        return Terms(
            j["requester"],
            j["modelId"],
            j["inputCommitment"],
            j["collateral"],
            j["acceptWindow"],
            j["proofWindow"],
        )

    def bid(
        self,
        job_id: int,
        prover: Signer,
        fee: int = FEE,
        expiry: int | None = None,
        terms: Terms | None = None,
    ) -> tuple[tuple[Any, ...], bytes]:
        """A signed bid over the job's terms, as the (bid tuple, signature) awardJob takes."""
        expiry = now(self.w3) + BID_LIFETIME if expiry is None else expiry
        bid = bid_tuple(job_id, prover.address, fee, expiry, terms or self.terms(job_id))
        return bid, bid_signature(prover, self.market.address, self.chain_id, bid)

    def award(self, job_id: int, prover: Signer, fee: int = FEE) -> TxReceipt:
        """Award ``job_id`` to ``prover``'s bid as its requester."""
        requester = self.job(job_id)["requester"]
        bid, signature = self.bid(job_id, prover, fee)
        return send(self.w3, self.market.functions.awardJob(job_id, bid, signature), requester)

    def accept(self, job_id: int, prover: Signer) -> TxReceipt:
        """Accept ``job_id`` as ``prover`` (its collateral is locked)."""
        return send(self.w3, self.market.functions.acceptJob(job_id), prover.address)

    def accepted(self, job_id: int, prover: Signer, fee: int = FEE) -> None:
        """Award ``job_id`` to ``prover`` and accept it."""
        self.award(job_id, prover, fee)
        self.accept(job_id, prover)

    def submit(self, job_id: int, statement: Statement, sender: Signer) -> TxReceipt:
        """Submit ``statement``'s proof and outputs for ``job_id``."""
        return send(self.w3, self.submit_call(job_id, statement), sender.address)

    def submit_call(self, job_id: int, statement: Statement) -> Any:
        """The submitProof call for ``statement`` (to transact or estimate)."""
        return self.market.functions.submitProof(job_id, list(statement.proof), statement.outputs)

    def award_call(
        self, job_id: int, prover: Signer, fee: int = FEE, expiry: int | None = None
    ) -> Any:
        """The awardJob call for a fresh bid of ``prover``'s (to transact from the requester)."""
        bid, signature = self.bid(job_id, prover, fee, expiry)
        return self.market.functions.awardJob(job_id, bid, signature)

    def deadline(self, job_id: int) -> int:
        """The job's current deadline: accept deadline while Awarded, proof deadline while
        Accepted."""
        return int(self.job(job_id)["deadline"])

    def stats(self, prover: Signer | str) -> tuple[int, int, int, int]:
        """proverStats: (fulfilled, slashed, lapsed, feesEarned)."""
        address = prover.address if isinstance(prover, Signer) else prover
        fulfilled, slashed, lapsed, fees = self.market.functions.proverStats(address).call()
        return fulfilled, slashed, lapsed, fees

    def stake_of(self, prover: Signer | str) -> tuple[int, int]:
        """stakeOf: (stake, locked)."""
        address = prover.address if isinstance(prover, Signer) else prover
        stake, locked = self.staking.functions.stakeOf(address).call()
        return stake, locked

    def balance(self, account: Signer | str) -> int:
        """The account's JobMarket balance."""
        address = account.address if isinstance(account, Signer) else account
        return int(self.market.functions.balanceOf(address).call())

    def job(self, job_id: int) -> dict[str, Any]:
        """getJob as a dict keyed by the struct's field names."""
        return dict(zip(JOB_FIELDS, self.market.functions.getJob(job_id).call(), strict=True))


def deploy_all(w3: Web3, circuits: dict[int, ProvedCircuit]) -> Deployment:
    """Deploy every contract, register one model per circuit, and stake bob and carol."""
    deployer = _signer(w3, 0).address
    registry = deploy(w3, "ModelRegistry", sender=deployer)
    staking = deploy(w3, "ProverStaking", WITHDRAWAL_DELAY, sender=deployer)
    market = deploy(w3, "JobMarket", registry.address, staking.address, sender=deployer)
    send(w3, staking.functions.setMarket(market.address), deployer)
    harness = deploy(w3, "VerifierHarness", sender=deployer)
    d = Deployment(w3, registry, staking, market, harness, circuits)
    for n, circuit in circuits.items():
        d.models[n] = d.register(circuit, d.deployer)
    for prover in (d.bob, d.carol):
        send(w3, staking.functions.deposit(), prover.address, STAKE)
    return d
