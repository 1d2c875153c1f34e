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
from node.exit_codes import OK
from node.keys import dev_account
from tests.node.daemon.harness import cli_json, market, submit_job, wait_for

pytestmark = pytest.mark.slow


def test_bob_proves_alices_job_and_is_paid(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment
    with market(tmp_path, anvil, path, capsys, ["alice", "bob"], first_account=5) as homes:
        alice, bob = homes["alice"], homes["bob"]
        model = cli_json(alice, capsys, "model", "register", str(gemm_onnx), "--name", "gemm")
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        code, job = submit_job(alice, capsys, model["id"], gemm_input,
                               "--max-fee", "0.01eth", "--deadline", "150s")  # fmt: skip
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(6))
        wait_for(lambda: chain.balance_of(bob.address) == 0, 30, "bob's fee withdrawn")
    assert code == OK, f"{alice.log()}\n{bob.log()}"
    assert (job["state"], job["prover"]) == ("proven", bob.address)
    assert len(job["output"]) == len(job["output_q"]) > 0
    assert all(job["tx"][k] for k in ("create", "award", "proof"))
    on_chain = chain.get_job(job["job_id"])
    assert (on_chain.status, on_chain.prover) == (JobStatus.FULFILLED, bob.address)
