"""A 3-node devnet as real processes: ``devnet up``, a job through the CLI, the money, ``down``.

One devnet serves the whole module (bringing it up takes most of the time): node0
requests, node1 and node2 prove at prices rising with their number. The checks
go to the chain through web3, not through the nodes: the winner's ETH grows by
exactly its fee less the gas it paid, the requester's falls by exactly the fee
plus its gas (the rest of the escrowed max fee comes back), and the output is
the integer reference of the compiled model on the same input.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_typing import ChecksumAddress
from web3 import Web3

from devnet.nodes import demo_model_files
from devnet.procs import stop_all
from devnet.state import ANVIL, is_running, load_pids
from node.chain.contracts import load_artifact
from node.chain.rpc import connect
from node.model_io import read_input
from protocol.zkml import compile_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# The manifest's sample input is the first test image of the digits data set: a 9.
SAMPLE_LABEL = 9


def provernet(*args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the ``provernet`` command line as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass
class Devnet:
    directory: Path
    info: dict[str, Any]
    w3: Web3

    def home(self, index: int) -> str:
        return str(self.info["nodes"][index]["home"])

    def address(self, index: int) -> ChecksumAddress:
        return Web3.to_checksum_address(self.info["nodes"][index]["address"])

    def owed(self, address: str) -> int:
        market = self.w3.eth.contract(
            address=self.info["contracts"]["JobMarket"], abi=list(load_artifact("JobMarket").abi)
        )
        return int(market.functions.balanceOf(Web3.to_checksum_address(address)).call())


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("devnet") / "net"
    try:
        up = provernet("devnet", "up", "--nodes", "3", "--dir", str(directory), "--json")
        assert up.returncode == 0, up.stdout + up.stderr
        info = json.loads(up.stdout)
        yield Devnet(directory, info, connect(info["rpc_url"], expected_chain_id=info["chain_id"]))
    finally:
        records = list(load_pids(directory).values()) if directory.exists() else []
        provernet("devnet", "down", "--dir", str(directory), "--clean")
        stop_all(records)  # whatever a failed `down` left behind
        assert not [r.name for r in records if is_running(r)]


def test_up_starts_every_process_and_records_the_network(devnet: Devnet) -> None:
    info = devnet.info
    assert [n["role"] for n in info["nodes"]] == ["requester", "prover", "prover"]
    assert len({n["address"] for n in info["nodes"]}) == 3
    assert (
        info["nodes"][1]["price_per_1k_constraints"] < info["nodes"][2]["price_per_1k_constraints"]
    )
    assert set(info["contracts"]) == {"ModelRegistry", "ProverStaking", "JobMarket"}
    assert info["model"]["name"] == "digits_mlp"
    ceremony = info["model"]["ceremony"]  # registrant, then both provers, then the beacon
    assert ceremony["verified"] is True
    assert ceremony["contributors"] == [devnet.address(i) for i in range(3)]
    records = load_pids(devnet.directory)
    assert set(records) == {ANVIL, "node0", "node1", "node2"}
    assert all(is_running(r) for r in records.values())
    status = json.loads(
        provernet("devnet", "status", "--dir", str(devnet.directory), "--json").stdout
    )
    assert [n["ready"] for n in status["nodes"]] == [True, True, True]
    assert status["nodes"][0]["peers"] == 2
    logs = provernet("devnet", "logs", "node1", "--dir", str(devnet.directory))
    assert "running; API on port" in logs.stdout


def _gas_paid(w3: Web3, first: int, last: int, address: str) -> int:
    """Wei ``address`` paid for gas in blocks first..last (from the receipts)."""
    paid = 0
    for number in range(first, last + 1):
        transactions: list[Any] = list(w3.eth.get_block(number, True)["transactions"])
        for tx in transactions:
            if Web3.to_checksum_address(tx["from"]) == address:
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                paid += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    return paid


def _reference_output_q() -> list[int]:
    files = demo_model_files()
    model = compile_model(files.onnx.read_bytes(), np.load(files.calibration))
    values, _ = read_input(files.input)
    return model.infer_quantized(model.quantize_input(values))


def test_a_job_through_the_cli_settles_and_the_money_adds_up(devnet: Devnet) -> None:
    w3, requester, winner, loser = (
        devnet.w3,
        devnet.address(0),
        devnet.address(1),
        devnet.address(2),
    )
    first = int(w3.eth.block_number)
    before = {a: int(w3.eth.get_balance(a, first)) for a in (requester, winner, loser)}
    submit = provernet("--home", devnet.home(0), "job", "submit", "--model", "digits_mlp",
                       "--input", str(demo_model_files().input), "--max-fee", "0.02eth",
                       "--deadline", "90s", "--wait", "--json")  # fmt: skip
    assert submit.returncode == 0, submit.stdout + submit.stderr
    job = json.loads(submit.stdout)
    assert (job["state"], job["prover"]) == ("proven", winner)  # the cheaper prover
    fee = int(job["fee"])
    assert sorted(int(b["fee"]) for b in job["bids"])[0] == fee
    assert {b["prover"] for b in job["bids"]} == {winner, loser}
    assert all(job["tx"][k] for k in ("create", "award", "proof"))
    deadline = time.monotonic() + 60
    while devnet.owed(winner) or devnet.owed(requester):  # both withdraw what they are owed
        assert time.monotonic() < deadline, "the fee and the refund were not withdrawn"
        time.sleep(0.5)
    last = int(w3.eth.block_number)
    after = {a: int(w3.eth.get_balance(a, last)) for a in before}
    gas = {a: _gas_paid(w3, first + 1, last, a) for a in before}
    assert after[winner] - before[winner] == fee - gas[winner]
    assert after[requester] - before[requester] == -(fee + gas[requester])
    assert (after[loser], gas[loser]) == (before[loser], 0)
    reference = _reference_output_q()
    assert job["output_q"] == reference
    assert int(np.argmax(reference)) == SAMPLE_LABEL


def test_demo_shows_bids_winner_output_and_balances(devnet: Devnet) -> None:
    demo = provernet("devnet", "demo", "--dir", str(devnet.directory), "--json")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    summary = json.loads(demo.stdout)
    assert summary["settled"] is True
    assert summary["ceremony"]["contributors"][0] == devnet.address(0)  # required by the demo
    assert summary["winner"] == devnet.address(1)
    assert summary["predicted"] == summary["label"] == SAMPLE_LABEL
    assert len(summary["bids"]) == 2
    assert summary["proving_s"] is not None
    rows = {row["name"]: row for row in summary["balances"]}
    node1 = rows["node1"]
    assert int(node1["eth_delta"]) == int(summary["fee"]) - int(node1["gas_paid"])
    assert int(rows["node0"]["eth_delta"]) == -int(summary["fee"]) - int(rows["node0"]["gas_paid"])


def test_demo_revealing_only_the_class_registers_that_model_and_shows_the_digit(
    devnet: Devnet,
) -> None:
    demo = provernet("devnet", "demo", "--dir", str(devnet.directory), "--reveal", "argmax",
                     "--json")  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    summary = json.loads(demo.stdout)
    assert summary["settled"] is True
    assert (summary["model"], summary["reveal"]) == ("digits_mlp-argmax", "argmax")
    assert summary["revealed"] == summary["predicted"] == SAMPLE_LABEL
    assert summary["job"]["output_q"] == [SAMPLE_LABEL]  # the logits are not public
    assert summary["ceremony"]["contributors"][0] == devnet.address(0)
    recorded = json.loads((devnet.directory / "devnet.json").read_text())["model"]
    assert recorded["variants"]["argmax"]["name"] == "digits_mlp-argmax"
    assert recorded["name"] == "digits_mlp"  # the logits model stays the default
    bad = provernet("devnet", "demo", "--dir", str(devnet.directory), "--reveal", "argmin")
    assert bad.returncode == 2
    assert "reveal 'argmin' is not understood" in bad.stderr


def test_a_crashed_node_is_restarted_by_up(devnet: Devnet) -> None:
    directory = str(devnet.directory)
    crashed = load_pids(devnet.directory)["node2"]
    os.kill(crashed.pid, signal.SIGKILL)
    up = provernet("devnet", "up", "--dir", directory, "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    assert json.loads(up.stdout)["started"] == ["node2"]  # only the dead one
    records = load_pids(devnet.directory)
    assert records["node2"].pid != crashed.pid
    assert all(is_running(r) for r in records.values())


def test_down_stops_every_process_and_up_resumes_the_same_chain(devnet: Devnet) -> None:
    directory = str(devnet.directory)
    records = load_pids(devnet.directory)
    height = int(devnet.w3.eth.block_number)
    down = provernet("devnet", "down", "--dir", directory)
    assert down.returncode == 0, down.stderr
    assert not [r.name for r in records.values() if is_running(r)]
    up = provernet("devnet", "up", "--dir", directory, "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    resumed = json.loads(up.stdout)
    assert resumed["resumed"] is True
    assert sorted(resumed["started"]) == sorted([ANVIL, "node0", "node1", "node2"])
    assert resumed["contracts"] == devnet.info["contracts"]  # the same chain, not a new one
    assert int(devnet.w3.eth.block_number) >= height
    jobs = provernet("--home", devnet.home(0), "job", "list", "--json")
    # the CLI's job, the demo's and the revealing demo's
    assert [j["state"] for j in json.loads(jobs.stdout)] == ["proven", "proven", "proven"]
    again = provernet("devnet", "up", "--dir", directory, "--json")
    assert json.loads(again.stdout)["started"] == []  # everything runs: nothing restarted
