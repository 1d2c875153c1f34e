"""``job submit --wait --json`` against a real daemon on the session anvil.

Nobody bids (alice's own prover role never bids on her own job), so the job she
submits is cancelled after its bid deadline and its escrow comes back: the whole
requester path (CLI, API, engine, intent journal, JobMarket, chain sync, event log)
with real processes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from web3 import Web3

from node.anvil import AnvilProcess, rpc_call
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.types import JobStatus, ModelSpec
from node.cli import main
from node.exit_codes import FAILED
from node.keys import dev_account
from tests.node.daemon.conftest import deployment, w3  # noqa: F401 (fixtures)
from tests.node.daemon.harness import init_home, running, wait_for
from tests.protocol.zkml.models import gemm

pytestmark = pytest.mark.slow


def _register_model(anvil: AnvilProcess, deployed: Deployment, n_public: int) -> int:
    owner = Web3Chain.open(anvil.rpc_url, deployed, dev_account(0))
    key = bytes(448 + 64 * (n_public + 1))  # a well-formed key: nothing is proved here
    model_id, _ = owner.register_model(
        ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, n_public, 350, key)
    )
    return model_id


@contextmanager
def blocks_every_second(anvil: AnvilProcess) -> Iterator[None]:
    """Mine a block a second, as a live chain does (an automining anvil idles between
    transactions, and JobMarket judges deadlines by the latest block's time)."""
    stop = threading.Event()

    def mine() -> None:
        while not stop.wait(1.0):
            rpc_call(anvil.rpc_url, "evm_mine")

    miner = threading.Thread(target=mine, daemon=True)
    miner.start()
    try:
        yield
    finally:
        stop.set()
        miner.join()


def test_a_job_nobody_bids_on_is_cancelled_and_refunded(
    anvil: AnvilProcess,
    w3: Web3,  # noqa: F811
    deployment: tuple[Deployment, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment

    def out() -> str:
        return capsys.readouterr().out

    alice = init_home(tmp_path, "alice", path, anvil.rpc_url, 1, out)
    config = alice.root / "config.toml"  # one job, not its resubmissions: keep the test short
    config.write_text(config.read_text().replace("auto_resubmit = true", "auto_resubmit = false"))
    (tmp_path / "gemm.onnx").write_bytes(gemm()[0])
    model_id = _register_model(anvil, deployed, 4)
    circuit = alice.root / "models" / str(model_id)
    assert main(["circuit", "compile", str(tmp_path / "gemm.onnx"), "--out", str(circuit)]) == 0
    (tmp_path / "input.json").write_text(json.dumps({"input": [0.5, -0.25, 0.0, 0.75]}))
    out()
    with running(alice), blocks_every_second(anvil):
        wait_for(lambda: alice.cli("node", "status", "--json") == 0, 45, alice.log())
        out()
        code = alice.cli("job", "submit", "--model", str(model_id), "--input",
                         str(tmp_path / "input.json"), "--max-fee", "0.001eth",
                         "--deadline", "40s", "--wait", "--json")  # fmt: skip
        job = json.loads(out())
        market = Web3Chain.open(anvil.rpc_url, deployed, dev_account(1))
        # The escrow is credited at the cancel, then withdrawn by the daemon.
        wait_for(lambda: market.balance_of(alice.address) == 0, 20, "the refund withdrawn")
    assert code == FAILED, alice.log()  # ended unproven
    assert (job["state"], job["bids"], job["output"]) == ("cancelled", [], None)
    assert job["tx"]["create"]
    assert job["tx"]["cancel"]
    on_chain = market.get_job(job["job_id"])
    assert (on_chain.status, on_chain.max_fee) == (JobStatus.CANCELLED, 10**15)
