"""Three real daemons trade on the session anvil over real libp2p on 127.0.0.1.

alice requests; bob and carol prove, bob at the default price and carol at a far
higher one. The cheaper bid wins, the job settles, and every account's ether moves
by exactly the fee and the gas of its own transactions. Then alice runs two jobs on
two models at once and both settle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.types import JobStatus, StakeInfo
from node.exit_codes import OK
from node.keys import dev_account
from tests.node.daemon.harness import Home, cli_json, market, register, submit_job, wait_for
from tests.protocol.zkml.models import matmul_add_relu

pytestmark = pytest.mark.slow

# carol asks 0.01 ETH per 1,000 constraints (bob the default 1 gwei): about 0.004 ETH
# for the 350-constraint Gemm, still under the max fee, ten times bob's price.
CAROL_PRICE = "0.01eth"
MAX_FEE = 10**16  # 0.01 ETH
# A bid window of 30 s (a quarter of it): time for both provers to fetch the model and bid.
DEADLINE = "120s"


@dataclass(frozen=True)
class Books:
    """What one account holds at one block: ether, and its stake in ProverStaking."""

    ether: int
    stake: StakeInfo


def books(w3: Web3, chain: Web3Chain, homes: Iterable[Home], block: int) -> dict[str, Books]:
    return {
        h.name: Books(w3.eth.get_balance(h.address, block), chain.stake_of(h.address))
        for h in homes
    }


def gas_paid(w3: Web3, first: int, last: int) -> dict[str, int]:
    """Wei paid for gas by each sender in blocks ``first``..``last`` (checksum addresses)."""
    paid: dict[str, int] = {}
    for number in range(first, last + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
            paid[tx["from"]] = paid.get(tx["from"], 0) + cost
    return paid


def test_the_cheaper_prover_wins_and_every_wei_is_accounted_for(
    anvil: AnvilProcess,
    w3: Web3,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    names = ["alice", "bob", "carol"]
    env = {"carol": {"PROVERNET_PRICE_PER_1K": CAROL_PRICE}}
    with market(tmp_path, anvil, path, capsys, names, env=env) as homes:
        alice, bob, carol = (homes[n] for n in names)
        model = register(alice, capsys, str(gemm_onnx), "gemm", ptau)
        for prover in (bob, carol):
            cli_json(prover, capsys, "stake", "deposit", "1eth")
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(0))
        start = w3.eth.block_number
        before = books(w3, chain, homes.values(), start)
        escrow_before = w3.eth.get_balance(deployed.address("JobMarket"), start)
        code, job = submit_job(alice, capsys, model["id"], gemm_input,
                               "--max-fee", "0.01eth", "--deadline", DEADLINE)  # fmt: skip
        assert code == OK, f"{alice.log()}\n{bob.log()}\n{carol.log()}"

        def withdrawn() -> bool:  # alice's change and bob's fee leave JobMarket
            return chain.balance_of(alice.address) == chain.balance_of(bob.address) == 0

        wait_for(withdrawn, 30, "alice and bob to withdraw from JobMarket")
        end = w3.eth.block_number
        after = books(w3, chain, homes.values(), end)
        escrow_after = w3.eth.get_balance(deployed.address("JobMarket"), end)

    # Both bids reached alice; the lower won at its own fee.
    bids = {b["prover"]: b for b in job["bids"]}
    assert sorted(bids) == sorted([bob.address, carol.address]), job["bids"]
    statuses = {p: (b["status"], b["reason"]) for p, b in bids.items()}
    assert statuses == {bob.address: ("won", None), carol.address: ("lost", None)}
    fee = int(bids[bob.address]["fee"])
    assert 0 < fee < int(bids[carol.address]["fee"]) <= MAX_FEE
    assert (job["state"], job["prover"], int(job["fee"])) == ("proven", bob.address, fee)
    assert all(job["tx"][k] for k in ("create", "award", "proof"))
    assert (job["awards"], job["slashes"], job["round"]) == (1, 0, 0)
    assert chain.get_job(job["job_id"]).status is JobStatus.FULFILLED

    # Ether: the fee moves from alice to bob; everyone else pays only their own gas.
    gas = gas_paid(w3, start + 1, end)
    assert gas.get(carol.address, 0) == 0  # a losing bid costs nothing on-chain
    moved = {n: after[n].ether - before[n].ether for n in names}
    assert moved == {
        "alice": -fee - gas[alice.address],
        "bob": fee - gas[bob.address],
        "carol": 0,
    }
    # Stakes: bob's collateral was locked when he accepted and released with the proof.
    assert {n: after[n].stake for n in names} == {n: before[n].stake for n in names}
    assert after["bob"].stake.locked == 0
    assert escrow_after == escrow_before  # JobMarket holds nothing for the job


def test_two_jobs_on_two_models_settle_at_once(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    relu_onnx = tmp_path / "relu.onnx"
    relu_onnx.write_bytes(matmul_add_relu()[0])
    with market(tmp_path, anvil, path, capsys, ["alice", "bob"], first_account=3) as homes:
        alice, bob = homes["alice"], homes["bob"]
        models = [
            register(alice, capsys, str(onnx), name, ptau)["id"]
            for onnx, name in ((gemm_onnx, "gemm"), (relu_onnx, "relu"))
        ]
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        terms = ("--max-fee", "0.01eth", "--deadline", DEADLINE)
        submitted = [submit_job(alice, capsys, m, gemm_input, *terms, wait=False) for m in models]
        assert [code for code, _ in submitted] == [OK, OK]
        ids = [str(job["id"]) for _, job in submitted]

        def settled() -> list[dict[str, Any]] | None:
            jobs = [cli_json(alice, capsys, "job", "status", i) for i in ids]
            return jobs if all(j["final"] for j in jobs) else None

        jobs = wait_for(settled, 90, f"both jobs to settle\n{alice.log()}\n{bob.log()}")
    chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(0))
    assert [(j["model_id"], j["state"], j["prover"]) for j in jobs] == [
        (model, "proven", bob.address) for model in models
    ]
    assert jobs[0]["job_id"] != jobs[1]["job_id"]
    # Open together: the second was created well inside the first one's 30 s bid window.
    assert abs(jobs[0]["bid_deadline"] - jobs[1]["bid_deadline"]) < 10
    for job in jobs:
        assert len(job["output"]) == len(job["output_q"]) == 3
        assert chain.get_job(job["job_id"]).status is JobStatus.FULFILLED
