"""``Web3Chain``: the ``Chain`` interface on a real Ethereum RPC endpoint.

One instance serves one account on one deployment. Construction checks the chain
id and that every contract has code (``open``); transactions go through one
``TxSender`` (one nonce sequence, reconciliation, the ``on_signed`` hook), reads
through ``BoundContract`` calls, and events through one ``EventWatcher``, which
belongs to a single caller (the daemon's chain-event task).

``confirmations`` counts blocks: an automining devnet (anvil without
``--block-time``) makes blocks only for transactions, so use 0 there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.types import FilterParams

from node.chain.contracts import CONTRACT_NAMES, Artifact, BoundContract, load_artifacts
from node.chain.deploy import Deployment
from node.chain.errors import RevertDecoder
from node.chain.events import EventBatch, EventDecoder, EventWatcher
from node.chain.interface import Chain
from node.chain.rpc import RetryPolicy, connect
from node.chain.sender import SenderConfig, TxRecord, TxSender, TxStatus
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

T = TypeVar("T")


def snake_case(name: str) -> str:
    """``constraintCount`` -> ``constraint_count`` (Solidity field names to Python)."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def struct_fields(abi: Sequence[Mapping[str, Any]], function: str) -> list[str]:
    """Snake-case names of the struct that ``function`` returns."""
    for entry in abi:
        if entry.get("type") == "function" and entry.get("name") == function:
            return [snake_case(c["name"]) for c in entry["outputs"][0]["components"]]
    raise LookupError(f"the ABI has no function {function}")


class Web3Chain:
    """The node's chain client for one account and one deployment."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        account: LocalAccount,
        *,
        artifacts: Mapping[str, Artifact] | None = None,
        sender_config: SenderConfig | None = None,
        on_signed: Callable[[TxRecord], None] | None = None,
        confirmations: int = 2,
        max_log_range: int = 2000,
    ) -> None:
        artifacts = artifacts or load_artifacts()
        self.w3, self.deployment = w3, deployment
        self.decoder = RevertDecoder([artifacts[name].abi for name in CONTRACT_NAMES])
        self.contracts = {
            name: BoundContract(
                w3, name, deployment.address(name), artifacts[name].abi, self.decoder
            )
            for name in CONTRACT_NAMES
        }
        watched = {name: (c.address, c.abi) for name, c in self.contracts.items()}
        self.events = EventDecoder(watched)
        self.watcher = EventWatcher(
            w3, watched, confirmations=confirmations, max_range=max_log_range
        )
        self.sender = TxSender(
            w3, account, decoder=self.decoder, config=sender_config, on_signed=on_signed
        )

    @classmethod
    def open(
        cls,
        rpc_url: str,
        deployment: Deployment,
        account: LocalAccount,
        *,
        retry: RetryPolicy | None = None,
        **options: Any,
    ) -> Web3Chain:
        """Connect, check the chain id and the contracts' code, and build the client."""
        w3 = connect(rpc_url, expected_chain_id=deployment.chain_id, retry=retry)
        deployment.check(w3)
        return cls(w3, deployment, account, **options)

    @property
    def chain_id(self) -> int:
        return self.sender.chain_id

    @property
    def address(self) -> str:
        return self.sender.address

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # ModelRegistry

    def register_model(self, spec: ModelSpec) -> tuple[int, TxResult]:
        result = self._transact(
            "ModelRegistry",
            "registerModel",
            spec.onnx_sha256,
            spec.circuit_hash,
            spec.manifest_hash,
            spec.n_public,
            spec.constraint_count,
            spec.verifying_key,
        )
        return int(result.event("ModelRegistered").args["modelId"]), result

    def deprecate_model(self, model_id: int) -> TxResult:
        return self._transact("ModelRegistry", "deprecateModel", model_id)

    def get_model(self, model_id: int) -> ModelInfo:
        return self._struct(ModelInfo, "ModelRegistry", "getModel", model_id)

    def verifying_key_of(self, model_id: int) -> bytes:
        return bytes(self._call("ModelRegistry", "verifyingKeyOf", model_id))

    def model_count(self) -> int:
        return int(self._call("ModelRegistry", "modelCount"))

    def open_ceremony(
        self,
        circuit_hash: bytes,
        phase1_sha256: bytes,
        initial_key_sha256: bytes,
        window: int,
        name: str,
    ) -> tuple[int, TxResult]:
        result = self._transact(
            "ModelRegistry", "openCeremony", circuit_hash, phase1_sha256, initial_key_sha256,
            window, name,
        )  # fmt: skip
        return int(result.event("CeremonyOpened").args["ceremonyId"]), result

    def contribute(
        self, ceremony_id: int, predecessor: bytes, key_sha256: bytes, contribution_hash: bytes
    ) -> TxResult:
        return self._transact(
            "ModelRegistry", "contribute", ceremony_id, predecessor, key_sha256, contribution_hash
        )

    def close_ceremony(self, ceremony_id: int) -> TxResult:
        return self._transact("ModelRegistry", "closeCeremony", ceremony_id)

    def finalize_ceremony(
        self, ceremony_id: int, included: int, final_key_sha256: bytes, spec: ModelSpec
    ) -> tuple[int, TxResult]:
        result = self._transact(
            "ModelRegistry", "finalizeCeremony", ceremony_id, included, final_key_sha256,
            spec.onnx_sha256, spec.manifest_hash, spec.n_public, spec.constraint_count,
            spec.verifying_key,
        )  # fmt: skip
        return int(result.event("ModelRegistered").args["modelId"]), result

    def get_ceremony(self, ceremony_id: int) -> CeremonyInfo:
        return self._struct(CeremonyInfo, "ModelRegistry", "getCeremony", ceremony_id)

    def beacon_of(self, ceremony_id: int) -> bytes:
        return bytes(self._call("ModelRegistry", "beaconOf", ceremony_id))

    def ceremony_count(self) -> int:
        return int(self._call("ModelRegistry", "ceremonyCount"))

    def ceremony_contributions(self, ceremony_id: int) -> list[CeremonyContribution]:
        registry = self.contracts["ModelRegistry"]
        entry = next(e for e in registry.abi if e.get("name") == "ContributionRecorded")
        topic = event_abi_to_log_topic(dict(entry))  # type: ignore[arg-type]
        latest, found = int(self.w3.eth.block_number), []
        for start in range(self.deployment.block, latest + 1, self.watcher.max_range):
            params = {
                "fromBlock": start,
                "toBlock": min(latest, start + self.watcher.max_range - 1),
                "address": registry.address,
                "topics": ["0x" + bytes(topic).hex(), "0x" + f"{ceremony_id:064x}"],
            }
            for log in self.w3.eth.get_logs(cast(FilterParams, params)):
                event = self.events.decode(log)
                if event is not None:
                    found.append(event)
        found.sort(key=lambda e: (e.block_number, e.log_index))
        return [
            CeremonyContribution(
                int(e.args["index"]),
                to_checksum_address(e.args["contributor"]),
                bytes(e.args["predecessorSha256"]),
                bytes(e.args["keySha256"]),
                bytes(e.args["contributionHash"]),
            )
            for e in found
        ]

    # ProverStaking

    def deposit_stake(self, amount: int) -> TxResult:
        return self._transact("ProverStaking", "deposit", value=amount)

    def request_withdrawal(self, amount: int) -> TxResult:
        return self._transact("ProverStaking", "requestWithdrawal", amount)

    def withdraw_stake(self) -> TxResult:
        return self._transact("ProverStaking", "withdraw")

    def stake_of(self, prover: str) -> StakeInfo:
        prover = Web3.to_checksum_address(prover)
        stake, locked = self._call("ProverStaking", "stakeOf", prover)
        pending, available_at = self._call("ProverStaking", "pendingWithdrawalOf", prover)
        return StakeInfo(int(stake), int(locked), int(pending), int(available_at))

    # JobMarket

    def create_job(self, request: JobRequest) -> tuple[int, TxResult]:
        result = self._transact(
            "JobMarket",
            "createJob",
            request.model_id,
            request.input_commitment,
            request.collateral,
            request.accept_window,
            request.proof_window,
            value=request.max_fee,
        )
        return int(result.event("JobCreated").args["jobId"]), result

    def award_job(self, bid: Bid, signature: bytes) -> TxResult:
        return self._transact("JobMarket", "awardJob", bid.job_id, self._bid(bid), signature)

    def accept_job(self, job_id: int) -> TxResult:
        return self._transact("JobMarket", "acceptJob", job_id)

    def submit_proof(self, job_id: int, proof: Sequence[int], outputs: Sequence[int]) -> TxResult:
        return self._transact("JobMarket", "submitProof", job_id, list(proof), list(outputs))

    def slash(self, job_id: int) -> TxResult:
        return self._transact("JobMarket", "slash", job_id)

    def cancel_job(self, job_id: int) -> TxResult:
        return self._transact("JobMarket", "cancelJob", job_id)

    def withdraw(self) -> TxResult:
        return self._transact("JobMarket", "withdraw")

    def get_job(self, job_id: int) -> JobInfo:
        job = self._struct(JobInfo, "JobMarket", "getJob", job_id)
        return JobInfo(**{**job.__dict__, "status": JobStatus(job.status)})

    def balance_of(self, account: str) -> int:
        return int(self._call("JobMarket", "balanceOf", Web3.to_checksum_address(account)))

    def job_count(self) -> int:
        return int(self._call("JobMarket", "jobCount"))

    def prover_stats(self, prover: str) -> ProverStats:
        fulfilled, slashed, lapsed, fees = self._call(
            "JobMarket", "proverStats", Web3.to_checksum_address(prover)
        )
        return ProverStats(int(fulfilled), int(slashed), int(lapsed), int(fees))

    def bid_digest(self, bid: Bid) -> bytes:
        return bytes(self._call("JobMarket", "bidDigest", self._bid(bid)))

    # Events and reconciliation

    def events_since(
        self,
        from_block: int,
        to_block: int | None = None,
        *,
        anchor: tuple[int, str] | None = None,
    ) -> EventBatch:
        if anchor is not None:
            self.watcher.resume_after(anchor)
        return self.watcher.fetch_events(from_block, to_block)

    def settle(self, record: TxRecord) -> TxStatus:
        return self.sender.settle(record)

    # Plumbing

    @staticmethod
    def _bid(bid: Bid) -> tuple[int | str, ...]:
        fields = list(bid.as_tuple())
        fields[1] = Web3.to_checksum_address(bid.prover)
        fields[4] = Web3.to_checksum_address(bid.requester)
        return tuple(fields)

    def _call(self, contract: str, function: str, *args: Any) -> Any:
        return self.contracts[contract].call(function, *args)

    def _struct(self, cls: Callable[..., T], contract: str, function: str, *args: Any) -> T:
        names = struct_fields(self.contracts[contract].abi, function)
        return cls(**dict(zip(names, self._call(contract, function, *args), strict=True)))

    def _transact(self, contract: str, function: str, *args: Any, value: int = 0) -> TxResult:
        target = self.contracts[contract]
        record = self.sender.send(
            target.address, target.encode(function, *args), value, label=f"{contract}.{function}"
        )
        receipt = self.sender.wait(record)
        decoded = (self.events.decode(log) for log in receipt.raw["logs"])
        return TxResult(record, receipt, tuple(e for e in decoded if e is not None))


def as_chain(chain: Web3Chain) -> Chain:
    """``chain`` typed as the interface (mypy checks here that Web3Chain implements it)."""
    return chain
