"""The awarded prover is killed (SIGKILL) on a live anvil: rescued, slashed, or it carries on.

bob's proving worker is frozen (SIGSTOP) once his daemon is up, so the test decides
when he dies: after the award, before any proof can exist. Killing him kills his
workers too, as a crash of the machine would.

- carol runs with rescue on and bids dearer than bob, so bob wins and is killed; past
  the proof deadline carol offers the rescue, alice hands her the input, carol proves
  and submits, and JobMarket pays exactly as it says: carol the fee and half bob's
  collateral, alice the rest of her escrow and the other half, bob's stake shrinks by
  the collateral.
- with no rescuer, once JobMarket's rescue window has passed alice slashes bob: she is
  refunded her whole escrow and gets his whole collateral.
- bob is killed while proving (the input is in his store) and restarted: he proves
  the job again and is paid, with one submitProof transaction.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment, DeployParams, deploy_contracts
from node.chain.sender import TxSender
from node.chain.types import JobStatus
from node.keys import dev_account
from tests.node.daemon.harness import (
    Home,
    cli_json,
    market,
    submit_job,
    wait_for,
    wait_until_up,
)

pytestmark = pytest.mark.slow

ETH = 10**18
# submitProof(uint256,uint256[8],uint256[]): the first four bytes of its keccak256.
SUBMIT_PROOF = Web3.keccak(text="submitProof(uint256,uint256[8],uint256[])")[:4]
# Long enough for bob's admission: a 22 s bid window, 30 s to deliver the input and
# 30 s to submit (protocol.market.planning), and the tiny model's proof.
DEADLINE = "90s"
COLLATERAL = 2 * 10**16
# A deployment's rescue window for the slash test: JobMarket slashes only after it.
SHORT_WINDOW_S = 15


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a daemon's proving workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _freeze_workers(home: Home) -> list[int]:
    assert home.process is not None
    workers = _children(home.process.pid)
    assert workers, "the daemon has no proving worker"
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    return workers


def _kill(home: Home) -> None:
    """SIGKILL the daemon and its workers."""
    assert home.process is not None
    workers = _children(home.process.pid)
    home.process.kill()
    home.process.wait(10)
    home.process = None
    for pid in workers:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _submissions(w3: Web3, sender: str, market: str, first_block: int) -> int:
    """How many submitProof transactions ``sender`` sent to ``market`` from ``first_block``."""
    count = 0
    for number in range(first_block, w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in cast(list[Any], block["transactions"]):
            to, data = tx["to"], bytes(tx["input"])
            if tx["from"] == sender and to == market and data[:4] == SUBMIT_PROOF:
                count += 1
    return count


def _until(condition: Callable[[], Any], timeout_s: float, what: str, *homes: Home) -> None:
    """``wait_for``, showing the daemons' logs if it times out."""
    try:
        wait_for(condition, timeout_s, what)
    except AssertionError as exc:
        logs = "\n".join(f"--- {h.name}\n{h.log()[-6000:]}" for h in homes)
        raise AssertionError(f"{exc}\n{logs}") from None


def _withdrawn(chain: Web3Chain, first_block: int, account: str) -> int:
    events = chain.events_since(first_block).events
    return sum(int(e.args["amount"]) for e in events
               if e.name == "Withdrawn" and e.args["account"] == account)  # fmt: skip


@contextmanager
def _market_with_gemm(
    names: list[str],
    tmp_path: Path,
    anvil: AnvilProcess,
    deployment: Path,
    gemm_onnx: Path,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[tuple[dict[str, Home], int]]:
    """The named daemons up, alice's gemm registered, the provers staked, bob frozen.

    carol rescues and bids dearer than bob; alice does not resubmit an unproven job.
    """
    rescuer = {"PROVERNET_RESCUE": "true", "PROVERNET_MARGIN_BPS": "9000"}

    def configure(home: Home) -> None:
        home.set_config("auto_resubmit = true", "auto_resubmit = false")

    with market(tmp_path, anvil, deployment, capsys, names, first_account=5,
                env={"carol": rescuer}, configure=configure) as homes:  # fmt: skip
        model = cli_json(homes["alice"], capsys, "model", "register", str(gemm_onnx),
                         "--name", "gemm")  # fmt: skip
        for name in names[1:]:
            cli_json(homes[name], capsys, "stake", "deposit", "1eth")
        frozen = _freeze_workers(homes["bob"])
        try:
            yield homes, int(model["id"])
        finally:  # a stopped worker cannot notice that its node is gone
            for pid in frozen:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _chain_job_id(alice: Home, capsys: pytest.CaptureFixture[str], key: int) -> int:
    def created() -> int | None:
        answer: int | None = cli_json(alice, capsys, "job", "status", str(key))["job_id"]
        return answer

    found: int = wait_for(created, 30, "the job on-chain")
    return found


def test_carol_rescues_the_job_of_bob_killed_after_the_award(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment
    names = ["alice", "bob", "carol"]
    with _market_with_gemm(names, tmp_path, anvil, path, gemm_onnx, capsys) as (homes, model):
        alice, bob, carol = homes["alice"], homes["bob"], homes["carol"]
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(5), confirmations=0)
        _, job = submit_job(alice, capsys, model, gemm_input, "--max-fee", "0.01eth",
                            "--collateral", "0.02eth", "--deadline", DEADLINE,
                            wait=False)  # fmt: skip
        job_id = _chain_job_id(alice, capsys, job["id"])
        _until(lambda: chain.get_job(job_id).status is JobStatus.AWARDED, 60, "the award",
               alice, bob, carol)  # fmt: skip
        _kill(bob)
        awarded = chain.get_job(job_id)
        assert awarded.prover == bob.address, f"{alice.log()}"
        _until(lambda: chain.get_job(job_id).status is JobStatus.RESCUED, 150,
               "carol's rescue", alice, carol)  # fmt: skip
        market_address = deployed.address("JobMarket")
        wait_for(
            lambda: chain.w3.eth.get_balance(market_address) == 0, 30, "every credit withdrawn"
        )
        half = COLLATERAL // 2
        assert awarded.collateral == COLLATERAL
        assert _withdrawn(chain, deployed.block, carol.address) == awarded.fee + half
        alices = awarded.max_fee - awarded.fee + COLLATERAL - half
        assert _withdrawn(chain, deployed.block, alice.address) == alices
        stake = chain.stake_of(bob.address)
        assert (stake.stake, stake.locked) == (ETH - COLLATERAL, 0)
        assert chain.prover_stats(bob.address).slashed == 1
        assert chain.prover_stats(carol.address).fulfilled == 1
        answer = cli_json(alice, capsys, "job", "status", str(job["id"]))
        assert answer["state"] == "rescued"


def test_bob_killed_while_proving_restarts_proves_and_is_paid_once(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment
    with _market_with_gemm(["alice", "bob"], tmp_path, anvil, path, gemm_onnx, capsys) as (
        homes,
        model,
    ):
        alice, bob = homes["alice"], homes["bob"]
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(5), confirmations=0)
        first_block = chain.block_number()
        _, job = submit_job(alice, capsys, model, gemm_input, "--max-fee", "0.01eth",
                            "--deadline", DEADLINE, wait=False)  # fmt: skip
        job_id = _chain_job_id(alice, capsys, job["id"])
        _until(lambda: bob.job_state("prover", job_id) == "proving", 60, "bob proving", alice, bob)
        _kill(bob)
        bob.start()
        wait_until_up(bob, capsys)
        _until(lambda: chain.get_job(job_id).status is JobStatus.FULFILLED, 90, "bob's proof",
               alice, bob)  # fmt: skip
        wait_for(lambda: chain.balance_of(bob.address) == 0, 30, "bob's fee withdrawn")
        assert chain.get_job(job_id).prover == bob.address
        assert _submissions(chain.w3, bob.address, deployed.address("JobMarket"), first_block) == 1
        assert bob.job_state("prover", job_id) == "paid"
        assert f"job {job_id}: the node stopped while proving it; queued again" in bob.log()

        # alice learns of the proof from her own chain sync, which may trail ours.
        def proven() -> dict[str, Any] | None:
            answer: dict[str, Any] = cli_json(alice, capsys, "job", "status", str(job["id"]))
            return answer if answer["state"] == "proven" else None

        answer = wait_for(proven, 30, "alice to see the proof")
        assert answer["prover"] == bob.address


@pytest.fixture
def short_window(w3: Web3, tmp_path: Path) -> tuple[Deployment, Path]:
    """The contracts with a rescue window short enough to wait out."""
    params = DeployParams(withdrawal_delay_s=3600, rescue_window_s=SHORT_WINDOW_S)
    deployed = deploy_contracts(TxSender(w3, dev_account(0)), params)
    path = tmp_path / "deployment.json"
    deployed.save(path)
    return deployed, path


def test_alice_slashes_bob_killed_after_the_award_and_gets_escrow_and_collateral(
    anvil: AnvilProcess,
    short_window: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = short_window
    with _market_with_gemm(["alice", "bob"], tmp_path, anvil, path, gemm_onnx, capsys) as (
        homes,
        model,
    ):
        alice, bob = homes["alice"], homes["bob"]
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(5), confirmations=0)
        _, job = submit_job(alice, capsys, model, gemm_input, "--max-fee", "0.01eth",
                            "--collateral", "0.02eth", "--deadline", DEADLINE,
                            wait=False)  # fmt: skip
        job_id = _chain_job_id(alice, capsys, job["id"])
        _until(lambda: chain.get_job(job_id).status is JobStatus.AWARDED, 60, "the award",
               alice, bob)  # fmt: skip
        _kill(bob)
        awarded = chain.get_job(job_id)
        assert awarded.prover == bob.address
        _until(lambda: chain.get_job(job_id).status is JobStatus.SLASHED, 150,
               "alice's slash", alice)  # fmt: skip
        market_address = deployed.address("JobMarket")
        _until(lambda: chain.w3.eth.get_balance(market_address) == 0, 30, "alice's withdrawal",
               alice)  # fmt: skip
        # slash credits the requester the whole escrow and the whole collateral
        assert _withdrawn(chain, deployed.block, alice.address) == awarded.max_fee + COLLATERAL
        stake = chain.stake_of(bob.address)
        assert (stake.stake, stake.locked) == (ETH - COLLATERAL, 0)
        assert chain.prover_stats(bob.address).slashed == 1
        assert cli_json(alice, capsys, "job", "status", str(job["id"]))["state"] == "slashed"
