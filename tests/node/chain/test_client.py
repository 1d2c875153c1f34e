from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import trio
from eth_account import Account
from web3 import Web3

from node.anvil import DEV_PRIVATE_KEYS, AnvilProcess, rpc_call
from node.chain.client import Web3Chain, snake_case, struct_fields
from node.chain.contracts import load_artifacts
from node.chain.deploy import Deployment
from node.chain.sender import TxRecord
from node.chain.types import Bid, JobInfo, JobRequest, JobStatus, ModelInfo, ModelSpec, ProverStats
from node.keys import dev_account
from tests.trapdoor import TrapdoorKey

from .conftest import anvil_miner, mine
from .fake_chain import register_finalized


def test_struct_field_names_follow_the_abi() -> None:
    assert snake_case("onnxSha256") == "onnx_sha256"
    assert snake_case("nPublic") == "n_public"
    artifacts = load_artifacts()
    assert struct_fields(artifacts["JobMarket"].abi, "getJob") == list(JobInfo.__dataclass_fields__)
    assert struct_fields(artifacts["ModelRegistry"].abi, "getModel") == list(
        ModelInfo.__dataclass_fields__
    )


def _inputs(abi: Sequence[Mapping[str, Any]], function: str) -> list[dict[str, Any]]:
    (entry,) = [e for e in abi if e.get("type") == "function" and e.get("name") == function]
    inputs: list[dict[str, Any]] = entry["inputs"]
    return inputs


def test_the_bid_tuple_and_the_job_request_follow_the_abi() -> None:
    """awardJob takes Bid.as_tuple() positionally, createJob the request's fields in order."""
    abi = load_artifacts()["JobMarket"].abi
    (bid,) = [i for i in _inputs(abi, "awardJob") if i["name"] == "bid"]
    assert [snake_case(c["name"]) for c in bid["components"]] == list(Bid.__dataclass_fields__)
    sample = Bid(1, "0xa", 2, 3, "0xb", 4, 5, 6, 7, 8)
    assert sample.as_tuple() == (1, "0xa", 2, 3, "0xb", 4, 5, 6, 7, 8)
    created = [snake_case(i["name"]) for i in _inputs(abi, "createJob")]
    assert created == [
        f for f in JobRequest.__dataclass_fields__ if f != "max_fee"
    ]  # max fee: value
    (stats,) = [e for e in abi if e.get("name") == "proverStats"]
    assert [snake_case(o["name"]) for o in stats["outputs"]] == list(
        ProverStats.__dataclass_fields__
    )
    assert [s.value for s in JobStatus] == list(range(6))


def test_a_job_goes_through_the_client_from_award_to_acceptance(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    """Lower-case addresses in a bid are checksummed for the ABI; acceptJob and the v2 fields
    of getJob and proverStats read back."""
    alice, bob, carol = (
        Web3Chain(w3, deployment, dev_account(n), confirmations=0) for n in (1, 2, 3)
    )
    spec = ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 1, 10, TrapdoorKey(1).key_bytes)
    model_id = register_finalized(alice, spec, anvil_miner(chain))
    bob.deposit_stake(10**18)
    job_ids = [alice.create_job(JobRequest(model_id, 9, 10**17, 30, 300, 10**16))[0] for _ in "ab"]

    def awarded(job_id: int, prover: Web3Chain) -> int:
        bid = Bid(job_id, prover.address.lower(), 10**15, alice.timestamp() + 999,
                  alice.address.lower(), model_id, 9, 10**17, 30, 300)  # fmt: skip
        key = Account.from_key(DEV_PRIVATE_KEYS[{bob.address: 2, carol.address: 3}[prover.address]])
        signature = bytes(key.unsafe_sign_hash(alice.bid_digest(bid)).signature)
        return int(alice.award_job(bid, signature).event("JobAwarded").args["acceptDeadline"])

    deadline = awarded(job_ids[0], bob)
    job = alice.get_job(job_ids[0])
    assert (job.status, job.prover, job.deadline, job.accept_window, job.proof_window) == (
        JobStatus.AWARDED, bob.address, deadline, 30, 300
    )  # fmt: skip
    accepted = bob.accept_job(job_ids[0]).event("JobAccepted").args
    assert accepted["proofDeadline"] == alice.get_job(job_ids[0]).deadline
    assert alice.get_job(job_ids[0]).status is JobStatus.ACCEPTED
    assert bob.stake_of(bob.address).locked == 10**17
    awarded(job_ids[1], carol)
    rpc_call(chain.rpc_url, "evm_increaseTime", [31])  # past carol's accept deadline
    mine(chain)
    alice.cancel_job(job_ids[1])
    assert alice.prover_stats(carol.address) == ProverStats(0, 0, 1, 0)
    assert alice.balance_of(alice.address) == 10**16


async def test_the_daemon_can_call_the_client_from_worker_threads(
    w3: Web3, deployment: Deployment
) -> None:
    stored: list[TxRecord] = []
    prover = Web3Chain(w3, deployment, dev_account(4), on_signed=stored.append)
    async with trio.open_nursery() as nursery:
        for amount in range(1, 7):
            nursery.start_soon(trio.to_thread.run_sync, prover.deposit_stake, amount)
    stake = await trio.to_thread.run_sync(prover.stake_of, prover.address)
    assert stake.stake == sum(range(1, 7))
    assert sorted(r.nonce for r in stored) == list(range(6))
    assert {r.label for r in stored} == {"ProverStaking.deposit"}
