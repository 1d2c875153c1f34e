"""Two real daemons settle a real job on the session anvil: alice requests, bob proves.

alice registers the tiny Gemm model (compile, setup, registry); bob stakes, hears the
job, fetches the model from alice, bids, wins, receives the input, proves it in his
worker pool and submits; JobMarket verifies the proof and pays him.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.types import JobStatus
from node.exit_codes import OK
from node.keys import dev_account
from tests.node.daemon.conftest import deployment, w3  # noqa: F401 (fixtures)
from tests.node.daemon.harness import init_home, running, wait_for
from tests.node.daemon.test_daemon import cli_json, is_up
from tests.node.engine.test_requester_daemon import blocks_every_second
from tests.protocol.zkml.models import gemm

pytestmark = pytest.mark.slow


def test_bob_proves_alices_job_and_is_paid(
    anvil: AnvilProcess,
    w3: Web3,  # noqa: F811
    deployment: tuple[Deployment, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment

    def out() -> str:
        return capsys.readouterr().out

    alice = init_home(tmp_path, "alice", path, anvil.rpc_url, 5, out)
    bob = init_home(tmp_path, "bob", path, anvil.rpc_url, 6, out, [alice.multiaddr])
    (tmp_path / "gemm.onnx").write_bytes(gemm()[0])
    (tmp_path / "input.json").write_text(json.dumps({"input": [0.5, -0.25, 0.0, 0.75]}))
    with running(alice, bob), blocks_every_second(anvil):
        for home in (alice, bob):
            wait_for(functools.partial(is_up, home, capsys), 45, home.log())
        model = cli_json(alice, capsys, "model", "register", str(tmp_path / "gemm.onnx"),
                         "--name", "gemm")  # fmt: skip
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        out()
        code = alice.cli("job", "submit", "--model", str(model["id"]), "--input",
                         str(tmp_path / "input.json"), "--max-fee", "0.01eth",
                         "--deadline", "150s", "--wait", "--json")  # fmt: skip
        job = json.loads(out())
        market = Web3Chain.open(anvil.rpc_url, deployed, dev_account(6))
        wait_for(lambda: market.balance_of(bob.address) == 0, 30, "bob's fee withdrawn")
    assert code == OK, f"{alice.log()}\n{bob.log()}"
    assert (job["state"], job["prover"]) == ("proven", bob.address)
    assert len(job["output"]) == len(job["output_q"]) > 0
    assert all(job["tx"][k] for k in ("create", "award", "proof"))
    on_chain = market.get_job(job["job_id"])
    assert (on_chain.status, on_chain.prover) == (JobStatus.FULFILLED, bob.address)
