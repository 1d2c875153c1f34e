"""A requester killed mid-job (SIGKILL) and restarted still gets the result, once.

alice submits a job to bob (two real daemons on the session anvil, a block a
second) and is killed twice. First the moment her awardJob is mined: she may not have
marked it in her journal nor sent her input; the restarted daemon reconciles the
award and delivers the stored input. Then the moment her store says the input was
delivered. Blocks are mined by hand between the two (the award, then none), so bob's
acceptance and proof cannot land before she is down; she stays down until bob's proof
is accepted on-chain, so she learns the result only by replaying the chain from her
stored cursor. ``job result`` shows the outputs and the create, award and proof
transactions; the chain shows one job, one award and one payment to bob.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from node.anvil import AnvilProcess, rpc_call
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.types import JobStatus
from node.keys import dev_account
from tests.node.daemon.harness import (
    Home,
    blocks_every_second,
    cli_json,
    market,
    register,
    submit_job,
    wait_for,
    wait_until_up,
)

pytestmark = pytest.mark.slow

ALICE = 8  # anvil dev account (bob has the next)


def poll_store(home: Home, states: tuple[str, ...], timeout_s: float) -> str:
    """Wait, reading the store every few milliseconds, until the job is in one of ``states``."""
    deadline = time.monotonic() + timeout_s
    while (state := home.job_state("requester")) not in states:
        assert time.monotonic() < deadline, f"the job stayed {state}\n{home.log()}"
        time.sleep(0.01)
    return state


def pool_size(anvil: AnvilProcess) -> int:
    """How many transactions wait in anvil's pool."""
    return int(rpc_call(anvil.rpc_url, "txpool_status")["pending"], 16)


@contextmanager
def manual_mining(anvil: AnvilProcess) -> Iterator[None]:
    """Transactions wait in the pool meanwhile (mined by ``evm_mine``); mined after."""
    rpc_call(anvil.rpc_url, "evm_setAutomine", [False])
    try:
        yield
    finally:
        rpc_call(anvil.rpc_url, "evm_setAutomine", [True])
        rpc_call(anvil.rpc_url, "evm_mine")


def test_a_requester_killed_at_the_award_and_while_proving_still_gets_the_result(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(0))
    start = chain.block_number() + 1
    with (
        market(
            tmp_path, anvil, path, capsys, ["alice", "bob"], first_account=ALICE, live_chain=False
        ) as homes,
        blocks_every_second(anvil) as miner,
    ):
        alice, bob = homes["alice"], homes["bob"]
        logs = lambda: f"{alice.log()}\n{bob.log()}"  # noqa: E731
        model = register(alice, capsys, str(gemm_onnx), "gemm", ptau)
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        terms = ("--max-fee", "0.01eth", "--deadline", "120s")
        _, submitted = submit_job(alice, capsys, model["id"], gemm_input, *terms, wait=False)
        status = lambda: cli_json(alice, capsys, "job", "status", str(submitted["id"]))  # noqa: E731
        job_id = wait_for(lambda: status()["job_id"], 30, "the job created")
        on_chain = lambda: chain.get_job(job_id).status  # noqa: E731
        # Blocks are mined by hand from here: alice's awardJob waits in the pool, and once
        # it is mined nothing more lands until she is down (bob cannot accept nor prove).
        with miner.paused(), manual_mining(anvil):
            wait_for(lambda: pool_size(anvil) > 0, 60, f"alice's awardJob\n{logs()}")
            rpc_call(anvil.rpc_url, "evm_mine")
            assert on_chain() is JobStatus.AWARDED
            # 1. The moment awardJob is mined: alice may not have marked it nor sent the input.
            alice.stop(signal.SIGKILL)
            killed_at_award = alice.job_state("requester")
            alice.start()
            # 2. The input is with bob: alice is away while his proof lands, and replays it.
            poll_store(alice, ("input delivered",), 60)
            alice.stop(signal.SIGKILL)
            delivered = alice.job_state("requester")
        wait_for(lambda: on_chain() is JobStatus.FULFILLED, 60, f"bob's proof\n{bob.log()}")
        alice.start()
        wait_until_up(alice, capsys)
        wait_for(lambda: status()["final"], 60, f"the result\n{logs()}")
        result = cli_json(alice, capsys, "job", "result", str(submitted["id"]))
        wait_for(lambda: chain.balance_of(alice.address) == 0, 30, "alice's change withdrawn")
    assert killed_at_award in ("awarding", "awarded", "input delivered"), killed_at_award
    assert delivered == "input delivered"  # killed before the proof was seen
    assert (result["state"], result["prover"]) == ("proven", bob.address), alice.log()
    assert len(result["output"]) == len(result["output_q"]) == 3
    assert all(result["tx"][k] for k in ("create", "award", "proof")), result["tx"]
    assert chain.get_job(job_id).prover == bob.address
    names = [e.name for e in chain.events_since(start).events]
    assert (names.count("JobCreated"), names.count("JobAwarded")) == (1, 1)
    stats = chain.prover_stats(bob.address)  # bob paid once
    assert (stats.fulfilled, stats.slashed, stats.fees_earned) == (1, 0, int(result["fee"]))
