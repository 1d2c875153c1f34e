from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.contracts import CONTRACT_NAMES, load_artifacts
from node.chain.deploy import Deployment
from node.chain.errors import (
    DeploymentFileError,
    NoContractCode,
    RpcUnreachable,
    WrongChain,
)
from node.chain.rpc import RetryPolicy, connect
from node.keys import dev_account


def test_deployment_is_live_wired_and_round_trips(
    tmp_path: Path, w3: Web3, deployment: Deployment
) -> None:
    artifacts = load_artifacts()
    for name in CONTRACT_NAMES:  # same length: immutables are filled in, not appended
        code = w3.eth.get_code(deployment.address(name))
        assert len(code) == len(artifacts[name].deployed_bytecode)
    assert deployment.chain_id == w3.eth.chain_id
    first = w3.eth.get_block(deployment.block)
    assert first["transactions"]  # the first contract was created in that block
    assert w3.eth.get_code(deployment.address("ModelRegistry"), deployment.block - 1) == b""
    chain = Web3Chain(w3, deployment, dev_account(1))
    staking = chain.contracts["ProverStaking"]
    assert staking.call("market") == deployment.address("JobMarket")
    assert staking.call("withdrawalDelay") == 60
    assert chain.contracts["JobMarket"].call("rescueWindow") == deployment.params["rescue_window_s"]
    path = tmp_path / "deployment.json"
    deployment.save(path)
    assert Deployment.load(path) == deployment
    assert json.loads(path.read_text())["contracts"]["JobMarket"] == deployment.address("JobMarket")


def test_open_refuses_another_chain(chain: AnvilProcess, deployment: Deployment) -> None:
    elsewhere = Deployment(5, deployment.block, deployment.contracts)
    with pytest.raises(WrongChain, match="serves chain id 31337, but chain id 5"):
        Web3Chain.open(chain.rpc_url, elsewhere, dev_account(1))


def test_open_refuses_addresses_without_code(chain: AnvilProcess, deployment: Deployment) -> None:
    empty = "0x" + "42" * 20
    broken = Deployment(
        deployment.chain_id, deployment.block, {**deployment.contracts, "JobMarket": empty}
    )
    with pytest.raises(NoContractCode, match="no contract code for JobMarket") as caught:
        Web3Chain.open(chain.rpc_url, broken, dev_account(1))
    assert caught.value.address == Web3.to_checksum_address(empty)
    assert Web3Chain.open(chain.rpc_url, deployment, dev_account(1)).job_count() == 0


def test_unreachable_rpc_fails_fast_with_a_named_error(deployment: Deployment) -> None:
    started = time.monotonic()
    retry = RetryPolicy(attempts=3, backoff_s=0.01)
    with pytest.raises(RpcUnreachable, match="failed 3 time") as caught:
        Web3Chain.open("http://127.0.0.1:9", deployment, dev_account(1), retry=retry)
    assert "Connection refused" in str(caught.value)
    assert time.monotonic() - started < 2


def test_an_rpc_that_dies_mid_session_is_reported_after_retries(
    chain: AnvilProcess,
) -> None:
    w3 = connect(chain.rpc_url, retry=RetryPolicy(attempts=2, backoff_s=0.01))
    w3.provider.endpoint_uri = "http://127.0.0.1:9"  # type: ignore[attr-defined]
    with pytest.raises(RpcUnreachable, match="eth_blockNumber failed 2 time"):
        _ = w3.eth.block_number


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"format": "other"}', "malformed"),
        (
            '{"format": "provernet-deployment", "version": 1, "chain_id": 1, "block": 0,'
            ' "contracts": {"JobMarket": "0x' + "11" * 20 + '"}}',
            "missing contracts: ModelRegistry, ProverStaking",
        ),
    ],
)
def test_bad_deployment_files_are_named(tmp_path: Path, content: str, complaint: str) -> None:
    path = tmp_path / "deployment.json"
    path.write_text(content)
    with pytest.raises(DeploymentFileError, match=complaint):
        Deployment.load(path)


def test_missing_deployment_file(tmp_path: Path) -> None:
    with pytest.raises(DeploymentFileError, match="cannot read"):
        Deployment.load(tmp_path / "absent.json")
