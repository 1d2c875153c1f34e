"""Fixtures for the daemon tests: the contracts on the session anvil, rolled back after,
and the tiny models the jobs run on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from node.anvil import AnvilProcess, rpc_call
from node.chain.deploy import Deployment, DeployParams, deploy_contracts
from node.chain.rpc import connect
from node.chain.sender import TxSender
from node.keys import dev_account
from protocol.groth16.ptau import Phase1Secret, new_powers_of_tau
from tests.node.daemon.harness import catch_up_clock
from tests.protocol.zkml.models import gemm

# Long enough that no test sees it pass; the engine tests cover completing one.
WITHDRAWAL_DELAY_S = 3600


@pytest.fixture
def w3(anvil: AnvilProcess) -> Iterator[Web3]:
    """A web3 client on the session's anvil, its clock on time, rolled back afterwards."""
    catch_up_clock(anvil)
    snapshot = rpc_call(anvil.rpc_url, "evm_snapshot")
    try:
        yield connect(anvil.rpc_url, expected_chain_id=anvil.chain_id)
    finally:
        rpc_call(anvil.rpc_url, "evm_revert", [snapshot])


@pytest.fixture
def deployment(w3: Web3, tmp_path: Path) -> tuple[Deployment, Path]:
    deployed = deploy_contracts(
        TxSender(w3, dev_account(0)), DeployParams(withdrawal_delay_s=WITHDRAWAL_DELAY_S)
    )
    path = tmp_path / "deployment.json"
    deployed.save(path)
    return deployed, path


@pytest.fixture
def gemm_onnx(tmp_path: Path) -> Path:
    """The one-op Gemm model (4 inputs, 3 outputs) of tests/protocol/zkml/models.py."""
    path = tmp_path / "gemm.onnx"
    path.write_bytes(gemm()[0])
    return path


@pytest.fixture
def gemm_input(tmp_path: Path) -> Path:
    """An input for ``gemm_onnx`` as ``job submit --input`` reads it."""
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"input": [0.5, -0.25, 0.0, 0.75]}))
    return path


@pytest.fixture(scope="session")
def ptau(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phase 1 of power 12, enough for every daemon test's model (the digits MLP needs
    2^12); made once, from a fixed secret (tests only)."""
    path = tmp_path_factory.mktemp("phase1") / "pot12.ptau"
    path.write_bytes(new_powers_of_tau(12, Phase1Secret.from_entropy(b"daemon tests".ljust(32))))
    return path
