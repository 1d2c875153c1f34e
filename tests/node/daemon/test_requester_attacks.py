"""Hostile requesters and provers against real daemons: nobody takes an input or stake.

The input goes only to the prover awarded on-chain: dave, staked, who bid and lost,
keeps asking alice for the input as a prover that lost it would, and never gets it.

mallory (a libp2p node in this process with her own account, not a daemon) creates two
jobs on the digits MLP that alice registered (with its calibration), announces them,
and awards both to bob (a staked prover daemon) with the bids he sent her:

- job W: she never delivers the input ("withheld input");
- job P: its commitment is to an input y whose values are in range but overflow the
  first ReLU's calibrated range, and she delivers, in turn, an out-of-range alias of y
  (``y0 + 2^B, y1 - 1, ...``: the packed commitment cannot tell them apart) and y
  itself ("poisoned input").

bob refuses both deliveries before accepting (his metrics count two unprovable inputs),
never sends acceptJob, and both awards lapse. mallory cannot slash anything (the jobs
were never accepted) and cancels them: she ends with her ether less exactly her own gas,
bob with exactly his ether and stake, and nothing goes to the burn address.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from libp2p.peer.id import ID
from prometheus_client.parser import text_string_to_metric_families
from web3 import Web3

from node.anvil import AnvilProcess
from node.api.client import ApiClient
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.errors import ContractRevert
from node.chain.types import Bid as ChainBid
from node.chain.types import JobRequest, JobStatus, TxResult
from node.engine.requester.inputs import load_model
from node.home import HomeLayout
from node.keys import dev_account
from node.p2p import JOBS_TOPIC, DirectRules, envelope_delivery, market_topics
from protocol import zkml
from protocol.messages import (
    Bid,
    InputDelivery,
    JobAnnouncement,
    JobTerms,
    ReplayGuard,
    decode_as,
    encode,
    seal,
    sign_bid,
)
from tests.node.daemon.harness import Home, cli_json, market, register, submit_job, wait_for
from tests.node.p2p.nodes import open_node

pytestmark = pytest.mark.slow

MALLORY = 9  # anvil dev account of the attacker (no daemon runs it)
MODELS = Path(__file__).resolve().parents[3] / "devnet" / "models"
BURN = "0x000000000000000000000000000000000000dEaD"
MAX_FEE = 10**16
COLLATERAL = 2 * 10**16
ACCEPT_WINDOW = 20  # bob's planner takes no shorter one (planning.MIN_ACCEPT_WINDOW_S)
PROOF_WINDOW = 300
BID_WINDOW = 8  # seconds from the announcement to mallory's award


@dataclass(frozen=True)
class Job:
    """One of mallory's jobs: its id and the input she committed to."""

    job_id: int
    values: tuple[int, ...]
    salt: int
    commitment: int


def overflowing_input(model: zkml.CompiledModel) -> tuple[int, ...]:
    """An input in the circuit's range that overflows a later layer's range check."""
    half = 1 << (model.report.input_bits - 1)
    rng = np.random.default_rng(7)
    for _ in range(1000):
        x = rng.choice([half - 1, -half], size=model.program.n_inputs).astype(np.int64)
        try:
            model.generate_witness(x, 1)
        except zkml.InputError:
            return tuple(int(v) for v in x)
    raise AssertionError("no overflowing input found")


def alias(values: Sequence[int], bits: int) -> tuple[int, ...]:
    """``values`` with the first two changed so that the packed commitment is the same."""
    return (values[0] + (1 << bits), values[1] - 1, *values[2:])


def gas_of(results: Sequence[TxResult]) -> int:
    """Wei paid for the transactions ``results``."""
    return sum(r.receipt.gas_used * int(r.receipt.raw["effectiveGasPrice"]) for r in results)


def bob_intents(home: Home) -> list[str]:
    """The kinds of every transaction ``home`` journaled, in order."""
    uri = f"file:{HomeLayout(home.root).database}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return [str(row[0]) for row in db.execute("SELECT kind FROM intents ORDER BY id")]


def refused_inputs(home: Home) -> dict[str, int]:
    """``provernet_inputs_refused_total`` by reason, from the daemon's /metrics."""
    text = ApiClient.for_home(home.root).get_text("/metrics")
    found: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "provernet_inputs_refused_total":
                found[sample.labels["reason"]] = int(sample.value)
    return found


async def bob_bids(inbox: Any, bob: bytes, job_ids: set[int]) -> dict[int, Bid]:
    """The first bid of bob for each of ``job_ids`` arriving in mallory's inbox."""
    found: dict[int, Bid] = {}
    while set(found) != job_ids:
        item = await inbox.receive()
        bid = getattr(item.message, "message", item.message)
        if isinstance(bid, Bid) and bid.prover == bob and bid.job_id in job_ids:
            found.setdefault(bid.job_id, bid)
    return found


async def attack(
    chain: Web3Chain,
    model_id: int,
    circuit_id: bytes,
    model: zkml.CompiledModel,
    alice: Home,
    bob: Home,
    txs: list[TxResult],
) -> dict[str, Job]:
    """Create, announce and award the two jobs, then poison job P; the jobs by name."""
    key = bytes(dev_account(MALLORY).key)
    chain_id = chain.chain_id
    honest = model.quantize_input(np.zeros(model.input_shape))
    inputs = {"W": tuple(int(v) for v in honest), "P": overflowing_input(model)}
    jobs: dict[str, Job] = {}
    for name, values in inputs.items():
        salt = 1000 + len(jobs)
        commitment = model.input_commitment(np.asarray(values, dtype=np.int64), salt)
        request = JobRequest(model_id, commitment, COLLATERAL, ACCEPT_WINDOW, PROOF_WINDOW,
                             MAX_FEE)  # fmt: skip
        job_id, result = await trio.to_thread.run_sync(chain.create_job, request)
        txs.append(result)
        jobs[name] = Job(job_id, values, salt, commitment)
    topics = market_topics(chain_id, time.time)
    bids = envelope_delivery(Bid, chain_id, ReplayGuard(), time.time)
    async with open_node("mallory", topics=topics, bootstrap=[alice.multiaddr, bob.multiaddr],
                         eth_key=key, bids=bids) as node:  # fmt: skip
        bob_peer = ID.from_base58(bob.peer_id)
        with trio.fail_after(30):
            await node.service.wait_until(lambda: bob_peer in node.service.connected_peers())
            await node.service.wait_for_mesh(bob_peer, JOBS_TOPIC, timeout_s=20)
        deadline = int(time.time()) + BID_WINDOW
        for job in jobs.values():
            announcement = JobAnnouncement(
                chain_id, bytes.fromhex(chain.deployment.address("JobMarket")[2:]), job.job_id,
                model_id, circuit_id, model.r1cs.n_constraints, MAX_FEE, COLLATERAL, deadline,
                ACCEPT_WINDOW, PROOF_WINDOW, job.commitment, bytes.fromhex(chain.address[2:]),
                node.peer_id.to_bytes(), 0,
            )  # fmt: skip
            envelope = seal(key, chain_id, announcement, timestamp=int(time.time()),
                            lifetime_s=120, nonce=job.job_id)  # fmt: skip
            await node.service.publish(JOBS_TOPIC, encode(envelope))
        with trio.fail_after(60):
            received = await bob_bids(node.inbox, bytes.fromhex(bob.address[2:]),
                                      {j.job_id for j in jobs.values()})  # fmt: skip
        for job in jobs.values():
            bid = received[job.job_id]
            chain_bid = ChainBid(bid.job_id, Web3.to_checksum_address(bid.prover), bid.fee,
                                 bid.expiry, chain.address, model_id, job.commitment,
                                 COLLATERAL, ACCEPT_WINDOW, PROOF_WINDOW)  # fmt: skip
            txs.append(await trio.to_thread.run_sync(chain.award_job, chain_bid, bid.signature))
        poisoned = jobs["P"]
        bits = model.report.input_bits
        for values in (alias(poisoned.values, bits), poisoned.values):
            delivery = InputDelivery(poisoned.job_id, values, poisoned.salt)
            await node.service.send_input(bob_peer, encode(delivery),
                                          account=bytes.fromhex(bob.address[2:]))  # fmt: skip
        with trio.fail_after(30):
            while sum(refused_inputs(bob).values()) < 2:  # noqa: ASYNC110 (HTTP polling)
                await trio.sleep(0.2)
    return jobs


def test_a_requester_withholding_or_poisoning_inputs_gains_nothing(
    anvil: AnvilProcess,
    w3: Web3,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    calibration = tmp_path / "calibration.npy"
    calibration.write_bytes((MODELS / "digits_mlp_calibration.npy").read_bytes())
    with market(tmp_path, anvil, path, capsys, ["alice", "bob"], first_account=1) as homes:
        alice, bob = homes["alice"], homes["bob"]
        onnx = str(MODELS / "digits_mlp.onnx")
        registered = register(alice, capsys, onnx, "digits_mlp", ptau,
                              "--calibration", str(calibration))  # fmt: skip
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        # bob verifies the model's ceremony before his first bid on it (seconds for the
        # digits MLP): done now, so his bids are not late for mallory's short window.
        ApiClient.for_home(bob.root, timeout_s=120).post(f"/models/{registered['id']}/fetch", {})
        model = load_model(Path(registered["dir"]))
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(MALLORY), confirmations=0)
        before = {
            "mallory": w3.eth.get_balance(chain.address),
            "bob": w3.eth.get_balance(bob.address),
            "burn": w3.eth.get_balance(BURN),
        }
        stake_before = chain.stake_of(bob.address)
        txs: list[TxResult] = []
        circuit_id = bytes.fromhex(registered["circuit_hash"])
        jobs = trio.run(attack, chain, registered["id"], circuit_id, model, alice, bob, txs)

        def lapsed() -> bool:
            return all(bob.job_state("prover", j.job_id) == "lapsed" for j in jobs.values())

        wait_for(lapsed, 60, f"both awards to lapse at bob's\n{bob.log()[-4000:]}")
        for job in jobs.values():
            info = chain.get_job(job.job_id)
            assert (info.status, info.prover) == (JobStatus.AWARDED, bob.address)
            with pytest.raises(ContractRevert, match="WrongStatus"):
                chain.slash(job.job_id)  # never accepted: nothing to slash
        last = max(chain.get_job(j.job_id).deadline for j in jobs.values())
        wait_for(lambda: chain.timestamp() > last, 30, "the lapse on-chain")
        txs += [chain.cancel_job(job.job_id) for job in jobs.values()]
        txs.append(chain.withdraw())
        after = {
            "mallory": w3.eth.get_balance(chain.address),
            "bob": w3.eth.get_balance(bob.address),
            "burn": w3.eth.get_balance(BURN),
        }
        refused = refused_inputs(bob)
        log = bob.log()

    # mallory paid her gas and nothing else; bob and the burn address are untouched.
    assert after["mallory"] - before["mallory"] == -gas_of(txs)
    assert after["bob"] == before["bob"]
    assert after["burn"] == before["burn"]
    assert chain.stake_of(bob.address) == stake_before
    stats = chain.prover_stats(bob.address)
    assert (stats.fulfilled, stats.slashed, stats.lapsed) == (0, 0, 2)
    # bob refused both poisoned deliveries, saying why, and never journaled an acceptJob.
    assert refused == {"unprovable": 2}
    assert "input refused (unprovable)" in log, log[-4000:]
    assert "10 bits" in log or "10-bit" in log, log[-4000:]  # the alias
    assert "leaves its calibrated" in log, log[-4000:]  # the overflow
    assert bob_intents(bob) == ["stake_deposit"]


async def squat(
    alice: Home, dave_key: bytes, job: dict[str, Any], terms: JobTerms, chain_id: int,
    market: bytes, stop: trio.Event,
) -> list[InputDelivery]:  # fmt: skip
    """dave, staked, bids the max fee before the award, then keeps asking for the input as a
    prover whose input went missing would, until ``stop``; the inputs he received."""
    inputs = DirectRules(InputDelivery.MAX_SIZE, lambda data: decode_as(data, InputDelivery))
    received: list[InputDelivery] = []
    async with open_node("dave", bootstrap=[alice.multiaddr], eth_key=dave_key,
                         inputs=inputs) as node:  # fmt: skip
        alice_peer = ID.from_base58(alice.peer_id)
        with trio.fail_after(30):
            await node.service.wait_until(lambda: alice_peer in node.service.connected_peers())
        expiry, peer = job["bid_deadline"] + 600, node.peer_id.to_bytes()
        bid = sign_bid(dave_key, chain_id, market, terms, job_id=job["job_id"], fee=MAX_FEE,
                       expiry=expiry, peer_id=peer)  # fmt: skip
        nonce = 0
        while not stop.is_set():
            nonce += 1
            envelope = seal(dave_key, chain_id, bid, timestamp=int(time.time()), lifetime_s=60,
                            nonce=nonce)  # fmt: skip
            with contextlib.suppress(Exception):  # alice may refuse a replayed bid: fine
                await node.service.send_bid(alice_peer, encode(envelope))
            with trio.move_on_after(1.0):
                item = await node.inbox.receive()
                if isinstance(item.message, InputDelivery):
                    received.append(item.message)
    return received


def test_the_input_goes_only_to_the_prover_awarded_on_chain(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    dave = dev_account(8)
    with market(tmp_path, anvil, path, capsys, ["alice", "bob"], first_account=3) as homes:
        alice, bob = homes["alice"], homes["bob"]
        model = register(alice, capsys, str(gemm_onnx), "gemm", ptau)
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        chain = Web3Chain.open(anvil.rpc_url, deployed, dave, confirmations=0)
        chain.deposit_stake(10**18)  # dave is staked: JobMarket would take him as a prover
        _, submitted = submit_job(alice, capsys, model["id"], gemm_input, "--max-fee",
                                  "0.01eth", "--deadline", "120s", wait=False)  # fmt: skip
        key = str(submitted["id"])

        def created() -> dict[str, Any] | None:
            job: dict[str, Any] = cli_json(alice, capsys, "job", "status", key)
            return job if job["job_id"] is not None else None

        job = wait_for(created, 30, "the job on-chain")
        info = chain.get_job(job["job_id"])
        terms = JobTerms(bytes.fromhex(alice.address[2:]), info.model_id, info.input_commitment,
                         info.collateral, info.accept_window, info.proof_window)  # fmt: skip
        market_address = bytes.fromhex(deployed.address("JobMarket")[2:])

        async def run() -> list[InputDelivery]:
            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                result: list[list[InputDelivery]] = []

                async def squatter() -> None:
                    result.append(await squat(alice, bytes(dave.key), job, terms,
                                              chain.chain_id, market_address, stop))  # fmt: skip

                nursery.start_soon(squatter)
                while True:
                    answer = await trio.to_thread.run_sync(cli_json, alice, capsys, "job",
                                                           "status", key)  # fmt: skip
                    if answer["final"]:
                        break
                    await trio.sleep(1)
                stop.set()
            return result[0]

        received = trio.run(run)
        final = cli_json(alice, capsys, "job", "status", key)
    assert (final["state"], final["prover"]) == ("proven", bob.address)
    bids = {b["prover"]: b["status"] for b in final["bids"]}
    assert bids == {bob.address: "won", dave.address: "lost"}
    assert received == []  # dave asked every second and never got the input
