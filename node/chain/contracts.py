"""The compiled contracts (``contracts/build/<Name>.json``) and calls into deployed ones.

An artifact holds the ABI and the creation and runtime bytecode that the contracts'
compile script wrote. ``BoundContract`` is one deployed contract: it encodes calls,
runs read-only calls, and turns their reverts into named exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import BlockIdentifier

from node.chain.errors import DeploymentFileError, RevertDecoder, revert_from_web3

# Deployment order: each contract's constructor takes the ones before it.
CONTRACT_NAMES = ("ModelRegistry", "ProverStaking", "JobMarket")
BUILD_DIR = Path(__file__).resolve().parents[2] / "contracts" / "build"

ABI = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: ABI
    bytecode: bytes
    deployed_bytecode: bytes


def load_artifact(name: str, build_dir: Path | None = None) -> Artifact:
    """The compiled contract ``name`` from the build folder."""
    path = (build_dir or BUILD_DIR) / f"{name}.json"
    try:
        data = json.loads(path.read_text())
        return Artifact(
            name=name,
            abi=tuple(data["abi"]),
            bytecode=bytes.fromhex(str(data["bytecode"]).removeprefix("0x")),
            deployed_bytecode=bytes.fromhex(str(data["deployedBytecode"]).removeprefix("0x")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeploymentFileError(
            f"cannot load the compiled contract {path}: {exc}; run 'make contracts'"
        ) from exc


def load_artifacts(build_dir: Path | None = None) -> dict[str, Artifact]:
    """Every provernet contract, by name."""
    return {name: load_artifact(name, build_dir) for name in CONTRACT_NAMES}


def decoder_for(abis: Sequence[ABI]) -> RevertDecoder:
    """A revert decoder that knows the errors of all ``abis``."""
    return RevertDecoder(abis)


class BoundContract:
    """A deployed contract: its name, address and ABI, on one web3 client."""

    def __init__(self, w3: Web3, name: str, address: str, abi: ABI, decoder: RevertDecoder) -> None:
        self.name = name
        self.address: ChecksumAddress = Web3.to_checksum_address(address)
        self.abi = abi
        self.decoder = decoder
        self.contract: Contract = w3.eth.contract(address=self.address, abi=list(abi))

    def encode(self, function: str, *args: Any) -> bytes:
        """Calldata for ``function(*args)``."""
        return bytes.fromhex(self.contract.encode_abi(function, list(args))[2:])

    def call(self, function: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
        """Run a view function; reverts raise their named ContractRevert."""
        try:
            return self.contract.functions[function](*args).call(block_identifier=block)
        except (ContractLogicError, Web3RPCError) as exc:
            raise revert_from_web3(exc, self.decoder) from exc
