"""``job submit --wait --json`` against a real daemon on the session anvil.

Nobody bids (alice's own prover role never bids on her own job), so the job she
submits is cancelled after its bid deadline and its escrow comes back: the whole
requester path (CLI, API, engine, intent journal, JobMarket, chain sync, event log)
with real processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.types import JobStatus, ModelSpec
from node.cli import main
from node.exit_codes import FAILED
from node.keys import dev_account
from tests.node.chain.conftest import anvil_miner
from tests.node.chain.fake_chain import register_finalized
from tests.node.daemon.harness import Home, market, submit_job, wait_for
from tests.trapdoor import TrapdoorKey

pytestmark = pytest.mark.slow


def _register_model(anvil: AnvilProcess, deployed: Deployment, n_public: int) -> int:
    owner = Web3Chain.open(anvil.rpc_url, deployed, dev_account(0))
    key = TrapdoorKey(n_public).key_bytes  # a well-formed key: nothing is proved here
    spec = ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, n_public, 350, key)
    return register_finalized(owner, spec, anvil_miner(anvil))


def test_a_job_nobody_bids_on_is_cancelled_and_refunded(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment
    model_id = _register_model(anvil, deployed, 4)

    def prepare(home: Home) -> None:
        # One job, not its resubmissions: keep the test short.
        home.set_config("auto_resubmit = true", "auto_resubmit = false")
        circuit = home.root / "models" / str(model_id)
        assert main(["circuit", "compile", str(gemm_onnx), "--out", str(circuit)]) == 0

    with market(tmp_path, anvil, path, capsys, ["alice"], configure=prepare) as homes:
        alice = homes["alice"]
        # alice holds the circuit but not the ceremony's transcript: she trusts the setup.
        code, job = submit_job(alice, capsys, model_id, gemm_input, "--trust-setup",
                               "--max-fee", "0.001eth", "--deadline", "40s")  # fmt: skip
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(1))
        # The escrow is credited at the cancel, then withdrawn by the daemon.
        wait_for(lambda: chain.balance_of(alice.address) == 0, 20, "the refund withdrawn")
    assert code == FAILED, alice.log()  # ended unproven
    assert (job["state"], job["bids"], job["output"]) == ("cancelled", [], None)
    assert job["tx"]["create"]
    assert job["tx"]["cancel"]
    on_chain = chain.get_job(job["job_id"])
    assert (on_chain.status, on_chain.max_fee) == (JobStatus.CANCELLED, 10**15)
