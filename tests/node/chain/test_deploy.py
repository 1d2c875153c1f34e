from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.contracts import CONTRACT_NAMES, load_artifacts
from node.chain.deploy import FORMAT_VERSION, Deployment
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
    assert chain.contracts["JobMarket"].call("MAX_WINDOW") == 30 * 24 * 3600
    assert chain.contracts["JobMarket"].call("eip712Domain")[2] == "2"  # settlement v2
    assert deployment.params == {"withdrawal_delay_s": 60}  # no rescue window any more
    path = tmp_path / "deployment.json"
    deployment.save(path)
    assert Deployment.load(path) == deployment
    saved = json.loads(path.read_text())
    assert saved["contracts"]["JobMarket"] == deployment.address("JobMarket")
    assert (saved["format"], saved["version"]) == ("provernet-deployment", FORMAT_VERSION)
    assert FORMAT_VERSION == 2


def test_a_version_1_deployment_file_is_refused_with_what_to_do(
    tmp_path: Path, deployment: Deployment
) -> None:
    """Version 1 names contracts of settlement v1 (award-time locks, rescues): this node
    cannot speak to them, and the file must say so rather than fail on the first call."""
    path = tmp_path / "deployment.json"
    deployment.save(path)
    old = json.loads(path.read_text())
    old["version"] = 1
    old["params"] = {"withdrawal_delay_s": 60, "rescue_window_s": 3600}
    path.write_text(json.dumps(old))
    with pytest.raises(DeploymentFileError) as caught:
        Deployment.load(path)
    message = str(caught.value)
    assert "version 1 names contracts of another settlement protocol" in message
    assert "this node speaks version 2" in message
    assert "provernet chain deploy" in message


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
            '{"format": "provernet-deployment", "version": 2, "chain_id": 1, "block": 0,'
            ' "contracts": {"JobMarket": "0x' + "11" * 20 + '"}}',
            "missing contracts: ModelRegistry, ProverStaking",
        ),
        ('{"format": "provernet-deployment", "chain_id": 1}', "version None names contracts"),
        ('{"format": "provernet-deployment", "version": 3}', "version 3 names contracts"),
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
