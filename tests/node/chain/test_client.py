from __future__ import annotations

import trio
from web3 import Web3

from node.chain.client import Web3Chain, snake_case, struct_fields
from node.chain.contracts import load_artifacts
from node.chain.deploy import Deployment
from node.chain.sender import TxRecord
from node.chain.types import JobInfo, ModelInfo
from node.keys import dev_account


def test_struct_field_names_follow_the_abi() -> None:
    assert snake_case("onnxSha256") == "onnx_sha256"
    assert snake_case("nPublic") == "n_public"
    artifacts = load_artifacts()
    assert struct_fields(artifacts["JobMarket"].abi, "getJob") == list(JobInfo.__dataclass_fields__)
    assert struct_fields(artifacts["ModelRegistry"].abi, "getModel") == list(
        ModelInfo.__dataclass_fields__
    )


async def test_the_daemon_can_call_the_client_from_worker_threads(
    w3: Web3, deployment: Deployment
) -> None:
    stored: list[TxRecord] = []
    prover = Web3Chain(w3, deployment, dev_account(4), on_signed=stored.append)
    async with trio.open_nursery() as nursery:
        for amount in range(1, 7):
            nursery.start_soon(trio.to_thread.run_sync, prover.deposit_stake, amount)
    stake = await trio.to_thread.run_sync(prover.stake_of, prover.address)
    assert stake.stake == sum(range(1, 7))
    assert sorted(r.nonce for r in stored) == list(range(6))
    assert {r.label for r in stored} == {"ProverStaking.deposit"}
