"""The awarded prover fails on a live anvil: slashed, lapsed, or it carries on.

bob's proving worker is frozen (SIGSTOP) once his daemon is up, so the test decides
when he dies. carol bids dearer than bob, so bob wins; her bid stands for a re-award.

- bob accepts (his collateral is locked) and is killed before any proof can exist:
  past the proof deadline alice slashes him, which burns his collateral and re-opens
  the job; she awards carol's standing bid, carol accepts and proves, and JobMarket
  pays exactly as it says: carol her fee, alice back the rest of her escrow and not a
  wei more, bob's stake shrinks by the collateral, the burn address grows by it.
- bob's whole daemon is stopped before the award: he never accepts, the award lapses,
  alice awards carol, who proves; bob loses nothing but one count of ``lapsed``.
- bob is killed while proving (the input is in his store) and restarted: he proves
  the job again and is paid, with one submitProof transaction.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.types import JobStatus
from node.home import HomeLayout
from node.keys import dev_account
from tests.node.daemon.harness import (
    Home,
    cli_json,
    market,
    register,
    submit_job,
    wait_for,
    wait_until_up,
)
from tests.node.daemon.test_market_settlement import gas_paid

pytestmark = pytest.mark.slow

ETH = 10**18
BURN = "0x000000000000000000000000000000000000dEaD"
# submitProof(uint256,uint256[8],uint256[]): the first four bytes of its keccak256.
SUBMIT_PROOF = Web3.keccak(text="submitProof(uint256,uint256[8],uint256[])")[:4]
# Long enough for bob's admission: a 22 s bid window, a 22 s accept window and 46 s to
# prove, of which the planner keeps 30 s to submit (protocol.market.planning).
DEADLINE = "90s"
COLLATERAL = 2 * 10**16


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


@contextmanager
def _market_with_gemm(
    names: list[str],
    tmp_path: Path,
    anvil: AnvilProcess,
    deployment: Path,
    gemm_onnx: Path,
    ptau: Path,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[tuple[dict[str, Home], int]]:
    """The named daemons up, alice's gemm registered, the provers staked, bob frozen.

    carol bids dearer than bob; alice does not resubmit an unproven job.
    """
    dearer = {"PROVERNET_MARGIN_BPS": "9000"}

    def configure(home: Home) -> None:
        home.set_config("auto_resubmit = true", "auto_resubmit = false")

    with market(tmp_path, anvil, deployment, capsys, names, first_account=5,
                env={"carol": dearer}, configure=configure) as homes:  # fmt: skip
        model = register(homes["alice"], capsys, str(gemm_onnx), "gemm", ptau)  # fmt: skip
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


def _ledger(w3: Web3, homes: dict[str, Home]) -> dict[str, int]:
    """Every account's ether, and the burn address's."""
    found = {name: w3.eth.get_balance(h.address) for name, h in homes.items()}
    return found | {"burn": w3.eth.get_balance(BURN)}


def _reaward_to_carol(
    w3: Web3,
    chain: Web3Chain,
    deployed: Deployment,
    homes: dict[str, Home],
    kill_bob: Callable[[int], None],
    model: int,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, Any]]:
    """Submit a job, let ``kill_bob`` fail bob on it, wait until carol is paid; the ledger
    before and after, the gas each account paid meanwhile, and alice's final job."""
    alice, carol = homes["alice"], homes["carol"]
    first, before = w3.eth.block_number, _ledger(w3, homes)
    _, job = submit_job(alice, capsys, model, gemm_input, "--max-fee", "0.01eth",
                        "--collateral", "0.02eth", "--deadline", DEADLINE, wait=False)  # fmt: skip
    job_id = _chain_job_id(alice, capsys, job["id"])
    kill_bob(job_id)
    _until(lambda: chain.get_job(job_id).status is JobStatus.FULFILLED, 150,
           "carol's proof of the re-awarded job", alice, carol)  # fmt: skip
    market_address = deployed.address("JobMarket")
    _until(lambda: w3.eth.get_balance(market_address) == 0, 30, "every credit withdrawn",
           alice, carol)  # fmt: skip

    def final() -> dict[str, Any] | None:
        answer: dict[str, Any] = cli_json(alice, capsys, "job", "status", str(job["id"]))
        return answer if answer["state"] == "proven" else None

    answer = wait_for(final, 30, "alice to see carol's proof")
    last = w3.eth.block_number
    gas = gas_paid(w3, first + 1, last)
    paid = {name: gas.get(h.address, 0) for name, h in homes.items()}
    return before, _ledger(w3, homes), paid, answer


def test_bob_slashed_after_accepting_burns_his_collateral_and_carol_proves_the_job(
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
    with _market_with_gemm(names, tmp_path, anvil, path, gemm_onnx, ptau, capsys) as (homes, model):
        bob = homes["bob"]
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(5), confirmations=0)

        def accept_then_die(job_id: int) -> None:
            _until(lambda: chain.get_job(job_id).status is JobStatus.ACCEPTED, 60,
                   "bob's acceptance", *homes.values())  # fmt: skip
            _kill(bob)

        stake = chain.stake_of(bob.address)
        before, after, gas, job = _reaward_to_carol(w3, chain, deployed, homes, accept_then_die,
                                                    model, gemm_input, capsys)  # fmt: skip
    fee = int(job["fee"])
    assert (job["prover"], job["awards"], job["slashes"]) == (homes["carol"].address, 2, 1)
    assert sorted(b["status"] for b in job["bids"]) == ["won", "won"]
    # alice paid carol's fee and her gas, nothing else: the slash paid her nothing.
    assert after["alice"] - before["alice"] == -fee - gas["alice"]
    assert after["carol"] - before["carol"] == fee - gas["carol"]
    assert after["bob"] - before["bob"] == -gas["bob"]  # his accept; no proof, no fee
    assert after["burn"] - before["burn"] == COLLATERAL
    assert chain.stake_of(bob.address).stake == stake.stake - COLLATERAL
    assert chain.stake_of(bob.address).locked == 0
    assert chain.prover_stats(bob.address).slashed == 1
    assert chain.prover_stats(homes["carol"].address).fulfilled == 1


def test_bob_stopped_before_accepting_lets_the_award_lapse_at_no_cost_and_carol_proves(
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
    with _market_with_gemm(names, tmp_path, anvil, path, gemm_onnx, ptau, capsys) as (homes, model):
        alice, bob = homes["alice"], homes["bob"]
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(5), confirmations=0)

        def stop_after_bidding(job_id: int) -> None:
            def bob_bid() -> bool:
                bids = cli_json(alice, capsys, "job", "status", str(_key(alice, job_id)))["bids"]
                return any(b["prover"] == bob.address for b in bids)

            _until(bob_bid, 60, "bob's bid", alice, bob)
            assert bob.process is not None
            bob.process.send_signal(signal.SIGSTOP)  # alive to the network, but deaf

        stake = chain.stake_of(bob.address)
        try:
            before, after, gas, job = _reaward_to_carol(
                w3, chain, deployed, homes, stop_after_bidding, model, gemm_input, capsys
            )
        finally:
            _kill(bob)
    fee = int(job["fee"])
    assert (job["prover"], job["awards"], job["slashes"]) == (homes["carol"].address, 2, 0)
    assert after["alice"] - before["alice"] == -fee - gas["alice"]
    assert after["carol"] - before["carol"] == fee - gas["carol"]
    assert after["bob"] == before["bob"]  # not a wei: he never sent a transaction
    assert after["burn"] == before["burn"]
    assert chain.stake_of(bob.address) == stake
    stats = chain.prover_stats(bob.address)
    assert (stats.fulfilled, stats.slashed, stats.lapsed) == (0, 0, 1)


def _key(alice: Home, job_id: int) -> int:
    """alice's local id of chain job ``job_id``."""
    uri = f"file:{HomeLayout(alice.root).database}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        row = db.execute(
            "SELECT key FROM jobs WHERE role = 'requester' AND job_id = ?", (str(job_id),)
        ).fetchone()
    return int(row[0])


def test_bob_killed_while_proving_restarts_proves_and_is_paid_once(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    with _market_with_gemm(["alice", "bob"], tmp_path, anvil, path, gemm_onnx, ptau, capsys) as (
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
