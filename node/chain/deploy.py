"""Deploying provernet's contracts and the deployment file that records them.

``deploy_contracts`` deploys ModelRegistry, ProverStaking(withdrawal delay) and
JobMarket(registry, staking) from one account, then wires the
staking contract to the market (``setMarket``, callable once by the deployer).
The resulting ``Deployment`` is what every node loads: chain id, the block the
contracts first existed in (event watchers start there), and each address.
``Deployment.check`` refuses a file used against another chain or a reset devnet.
Version 2 files name settlement-v2 contracts (prover-accepted locks, burned slashes);
a version 1 file names contracts this node cannot speak to, and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from node.chain.contracts import CONTRACT_NAMES, Artifact, BoundContract, load_artifacts
from node.chain.errors import DeploymentFileError, RevertDecoder, WrongChain
from node.chain.rpc import require_code
from node.chain.sender import Receipt, TxSender

FORMAT = "provernet-deployment"
FORMAT_VERSION = 2
DAY_S = 24 * 60 * 60


@dataclass(frozen=True)
class DeployParams:
    """The contracts' constructor parameters."""

    # Unbonding period: long enough for any accepted job's proof deadline to pass (JobMarket
    # caps accept and proof windows at 30 days each), so stake cannot leave ahead of a slash.
    withdrawal_delay_s: int = 7 * DAY_S

    def __post_init__(self) -> None:
        if self.withdrawal_delay_s < 0:
            raise ValueError("the withdrawal delay cannot be negative")


@dataclass(frozen=True)
class Deployment:
    """Where provernet's contracts live on one chain."""

    chain_id: int
    block: int
    contracts: Mapping[str, str]
    deployer: str = ""
    params: Mapping[str, int] = field(default_factory=dict)

    def address(self, name: str) -> ChecksumAddress:
        """The address of contract ``name``."""
        try:
            return Web3.to_checksum_address(self.contracts[name])
        except KeyError:
            raise DeploymentFileError(f"the deployment has no {name} contract") from None

    def to_json(self) -> dict[str, Any]:
        """The deployment file's content."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "chain_id": self.chain_id,
            "block": self.block,
            "deployer": self.deployer,
            "contracts": dict(self.contracts),
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deployment:
        """Parse a deployment file's content; raises DeploymentFileError."""
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(
                    f"version {data.get('version')} names contracts of another settlement "
                    f"protocol; this node speaks version {FORMAT_VERSION}: deploy the "
                    "contracts again (`provernet chain deploy`) and point the nodes at the new file"
                )
            contracts = {str(k): Web3.to_checksum_address(v) for k, v in data["contracts"].items()}
            missing = [name for name in CONTRACT_NAMES if name not in contracts]
            if missing:
                raise ValueError(f"missing contracts: {', '.join(missing)}")
            return cls(
                chain_id=int(data["chain_id"]),
                block=int(data["block"]),
                contracts=contracts,
                deployer=str(data.get("deployer", "")),
                params={str(k): int(v) for k, v in data.get("params", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DeploymentFileError(f"malformed deployment: {exc}") from exc

    def save(self, path: Path) -> None:
        """Write the deployment file (atomically)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a deployment file; raises DeploymentFileError."""
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise DeploymentFileError(f"cannot read the deployment file {path}: {exc}") from exc
        except ValueError as exc:
            raise DeploymentFileError(f"the deployment file {path} is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DeploymentFileError(f"the deployment file {path} is not a JSON object")
        return cls.from_json(data)

    def check(self, w3: Web3) -> None:
        """Raise WrongChain or NoContractCode unless this deployment is live on ``w3``."""
        actual = int(w3.eth.chain_id)
        if actual != self.chain_id:
            endpoint = str(getattr(w3.provider, "endpoint_uri", "the RPC"))
            raise WrongChain(endpoint, actual, self.chain_id)
        for name, address in self.contracts.items():
            require_code(w3, name, address)


def deploy_contract(sender: TxSender, artifact: Artifact, *args: Any) -> Receipt:
    """Deploy one contract; the receipt carries its address."""
    factory = sender.w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
    data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
    return sender.transact(None, data, label=f"deploy {artifact.name}")


def deploy_contracts(
    sender: TxSender,
    params: DeployParams | None = None,
    artifacts: Mapping[str, Artifact] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Deployment:
    """Deploy and wire all provernet contracts from ``sender``'s account."""
    params = params or DeployParams()
    artifacts = artifacts or load_artifacts()
    report = progress or (lambda _message: None)
    sender.decoder = RevertDecoder([a.abi for a in artifacts.values()])
    receipts: dict[str, Receipt] = {}

    def deploy(name: str, *args: Any) -> str:
        receipts[name] = deploy_contract(sender, artifacts[name], *args)
        address = receipts[name].contract_address
        assert address is not None, "a contract creation receipt names the new contract"
        report(f"deployed {name} at {address} (block {receipts[name].block_number})")
        return address

    registry = deploy("ModelRegistry")
    staking = deploy("ProverStaking", params.withdrawal_delay_s)
    market = deploy("JobMarket", registry, staking)
    bound = BoundContract(
        sender.w3, "ProverStaking", staking, artifacts["ProverStaking"].abi, sender.decoder
    )
    sender.transact(staking, bound.encode("setMarket", market), label="ProverStaking.setMarket")
    report(f"wired ProverStaking to JobMarket {market}")
    return Deployment(
        chain_id=sender.chain_id,
        block=min(r.block_number for r in receipts.values()),
        contracts={"ModelRegistry": registry, "ProverStaking": staking, "JobMarket": market},
        deployer=sender.address,
        params={"withdrawal_delay_s": params.withdrawal_delay_s},
    )
