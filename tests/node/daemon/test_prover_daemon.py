"""Two real daemons settle a real job on the session anvil: alice requests, bob proves.

alice registers the tiny Gemm model (compile, setup, registry); bob stakes, hears the
job, fetches the model from alice, bids, wins, receives the input, proves it in his
worker pool and submits; JobMarket verifies the proof and pays him.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.types import JobStatus
from node.config import load_config
from node.exit_codes import OK
from node.keys import dev_account
from tests.node.daemon.harness import Home, cli_json, market, register, submit_job, wait_for

pytestmark = pytest.mark.slow


def test_bob_proves_alices_job_and_is_paid(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    with market(tmp_path, anvil, path, capsys, ["alice", "bob"], first_account=5) as homes:
        alice, bob = homes["alice"], homes["bob"]
        model = register(alice, capsys, str(gemm_onnx), "gemm", ptau)
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        code, job = submit_job(alice, capsys, model["id"], gemm_input,
                               "--max-fee", "0.01eth", "--deadline", "150s")  # fmt: skip
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(6))
        wait_for(lambda: chain.balance_of(bob.address) == 0, 30, "bob's fee withdrawn")
        # bob's heartbeat: his configured price, the model he fetched, his slot free again.
        price = str(load_config(bob.root, {}, {}).prover.price_per_1k_constraints)
        wait_for(
            lambda: _offer(alice, capsys, bob.address) == (price, [model["id"]], True),
            30, "alice to hear bob's heartbeat",
        )  # fmt: skip
        status = cli_json(alice, capsys, "node", "status")
    assert status["node"]["provers"] >= 1
    assert code == OK, f"{alice.log()}\n{bob.log()}"
    assert (job["state"], job["prover"]) == ("proven", bob.address)
    assert len(job["output"]) == len(job["output_q"]) > 0
    assert all(job["tx"][k] for k in ("create", "award", "proof"))
    on_chain = chain.get_job(job["job_id"])
    assert (on_chain.status, on_chain.prover) == (JobStatus.FULFILLED, bob.address)
    assert isinstance(job["warnings"], list)  # advice from the heartbeats, never a refusal


def _offer(
    home: Home, capsys: pytest.CaptureFixture[str], account: str
) -> tuple[str, list[int], bool] | None:
    """``account``'s price, models and whether it has a free slot, as ``home`` heard them."""
    for prover in cli_json(home, capsys, "node", "provers"):
        if prover["account"] == account:
            return prover["price_per_1k_constraints"], prover["models"], prover["free_capacity"] > 0
    return None
