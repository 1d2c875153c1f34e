from __future__ import annotations

from typing import Any, cast

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint, RPCResponse

from node.anvil import DEV_PRIVATE_KEYS, AnvilProcess, rpc_call
from node.chain.client import Web3Chain
from node.chain.contracts import load_artifacts
from node.chain.deploy import Deployment
from node.chain.errors import ChainError, ChainReorg
from node.chain.events import ChainEvent, EventWatcher
from node.chain.rpc import RetryingHTTPProvider
from node.chain.types import Bid, JobRequest, ModelSpec
from node.keys import dev_account
from tests.trapdoor import TrapdoorKey

from .conftest import FAST_RETRY, anvil_miner, mine
from .fake_chain import register_finalized

DEPOSITS = 18


class LimitedLogsProvider(RetryingHTTPProvider):
    """Refuses getLogs queries wider than ``limit`` blocks, like hosted RPC providers."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__(url, FAST_RETRY)
        self.limit = limit
        self.ranges: list[tuple[int, int]] = []

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_getLogs":
            start, stop = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
            self.ranges.append((start, stop))
            if stop - start + 1 > self.limit:
                error = {"code": -32005, "message": f"block range too large (max {self.limit})"}
                return cast(RPCResponse, {"jsonrpc": "2.0", "id": 1, "error": error})
        return super().make_request(method, params)


def watched(deployment: Deployment) -> dict[str, tuple[str, Any]]:
    artifacts = load_artifacts()
    return {name: (addr, artifacts[name].abi) for name, addr in deployment.contracts.items()}


def deposit_many(w3: Web3, deployment: Deployment, count: int = DEPOSITS) -> None:
    """``count`` stake deposits, one block each, from provers 1 to 3 in turn."""
    provers = [Web3Chain(w3, deployment, dev_account(i)) for i in (1, 2, 3)]
    for n in range(count):
        provers[n % 3].deposit_stake(n + 1)


def deposits(events: tuple[ChainEvent, ...]) -> list[int]:
    return [int(e.args["amount"]) for e in events if e.name == "StakeDeposited"]


def test_events_come_in_chain_order_across_many_small_ranges(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    deposit_many(w3, deployment)
    provider = LimitedLogsProvider(chain.rpc_url, limit=1000)
    watcher = EventWatcher(Web3(provider), watched(deployment), confirmations=0, max_range=3)
    batch = watcher.fetch_events(deployment.block)
    assert deposits(batch.events) == list(range(1, DEPOSITS + 1))
    assert [e.position for e in batch.events] == sorted(e.position for e in batch.events)
    assert batch.events[0].name == "MarketSet"  # the deployment's wiring comes first
    assert batch.next_block == w3.eth.block_number + 1
    assert all(stop - start < 3 for start, stop in provider.ranges)
    first = next(e for e in batch.events if e.name == "StakeDeposited")
    assert first.args["prover"] == dev_account(1).address
    assert first.contract == "ProverStaking"


def test_range_too_large_errors_halve_the_span(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    deposit_many(w3, deployment)
    provider = LimitedLogsProvider(chain.rpc_url, limit=2)
    watcher = EventWatcher(Web3(provider), watched(deployment), confirmations=0, max_range=16)
    batch = watcher.fetch_events(deployment.block)
    assert deposits(batch.events) == list(range(1, DEPOSITS + 1))
    assert provider.ranges[0][1] - provider.ranges[0][0] == 15  # refused, then halved
    assert watcher.span <= 4


def test_a_one_block_refusal_is_an_error_not_a_loop(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    provider = LimitedLogsProvider(chain.rpc_url, limit=0)
    watcher = EventWatcher(Web3(provider), watched(deployment), confirmations=0, max_range=4)
    with pytest.raises(ChainError, match="eth_getLogs"):
        watcher.fetch_events(deployment.block)


def test_restart_from_the_stored_block_neither_skips_nor_repeats(
    w3: Web3, deployment: Deployment
) -> None:
    deposit_many(w3, deployment)
    middle = deployment.block + DEPOSITS // 2
    first = EventWatcher(w3, watched(deployment), confirmations=0, max_range=4)
    before = first.fetch_events(deployment.block, to_block=middle)
    assert before.next_block == middle + 1
    restarted = EventWatcher(w3, watched(deployment), confirmations=0, max_range=5)
    assert before.anchor is not None
    assert before.anchor[0] == middle
    restarted.resume_after(before.anchor)  # the chain did not change: no reorg reported
    after = restarted.fetch_events(before.next_block)
    assert deposits(before.events) + deposits(after.events) == list(range(1, DEPOSITS + 1))
    assert deposits(before.events)
    assert deposits(after.events)


def test_confirmations_hold_back_the_unconfirmed_tail(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    watcher = EventWatcher(w3, watched(deployment), confirmations=3, max_range=10)
    mine(chain, 3)
    start = watcher.fetch_events(deployment.block).next_block
    deposit_block = Web3Chain(w3, deployment, dev_account(1)).deposit_stake(5).receipt.block_number
    held = watcher.fetch_events(start, include_unconfirmed=True)
    assert deposits(held.events) == [5]
    assert not held.events[-1].confirmed
    assert held.next_block <= deposit_block  # the tail will be read again
    assert watcher.fetch_events(held.next_block).events == ()
    mine(chain, 2)
    assert watcher.fetch_events(held.next_block).events == ()  # two blocks deep: not yet
    mine(chain, 1)
    confirmed = watcher.fetch_events(held.next_block)
    assert deposits(confirmed.events) == [5]
    assert confirmed.events[-1].confirmed


def test_a_reorg_below_the_resume_point_is_detected(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    watcher = EventWatcher(w3, watched(deployment), confirmations=0, max_range=10)
    fork_point = rpc_call(chain.rpc_url, "evm_snapshot")
    mine(chain, 2)
    batch = watcher.fetch_events(deployment.block)
    rpc_call(chain.rpc_url, "evm_revert", [fork_point])
    Web3Chain(w3, deployment, dev_account(1)).deposit_stake(1)  # a different block
    mine(chain, 1)
    assert batch.anchor is not None
    restarted = EventWatcher(w3, watched(deployment), confirmations=0, max_range=10)
    restarted.resume_after(batch.anchor)
    with pytest.raises(ChainReorg):
        restarted.fetch_events(batch.next_block)
    with pytest.raises(ChainReorg):
        watcher.fetch_events(batch.next_block)


def test_the_settlement_events_come_decoded_in_chain_order(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    """A job awarded, lapsed, re-awarded, accepted, slashed and cancelled: every JobMarket
    event the node acts on, with the ABI's argument names."""
    alice, bob, carol, dave = (
        Web3Chain(w3, deployment, dev_account(n), confirmations=0) for n in (1, 2, 3, 4)
    )
    spec = ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 1, 10, TrapdoorKey(1).key_bytes)
    model_id = register_finalized(alice, spec, anvil_miner(chain))
    bob.deposit_stake(10**18)
    job_id, _ = alice.create_job(JobRequest(model_id, 9, 10**17, 30, 60, 10**16))

    def award(prover: Web3Chain, account: int) -> None:
        bid = Bid(job_id, prover.address, 10**15, alice.timestamp() + 999, alice.address,
                  model_id, 9, 10**17, 30, 60)  # fmt: skip
        key = Account.from_key(DEV_PRIVATE_KEYS[account])
        alice.award_job(bid, bytes(key.unsafe_sign_hash(alice.bid_digest(bid)).signature))

    def later(seconds: int) -> None:
        rpc_call(chain.rpc_url, "evm_increaseTime", [seconds])
        mine(chain)

    start = w3.eth.block_number + 1
    award(carol, 3)
    later(31)
    award(bob, 2)
    bob.accept_job(job_id)
    later(61)
    dave.slash(job_id)
    alice.cancel_job(job_id)
    watcher = EventWatcher(w3, watched(deployment), confirmations=0, max_range=4)
    market = [e for e in watcher.fetch_events(start).events if e.contract == "JobMarket"]
    assert [(e.name, sorted(e.args)) for e in market] == [
        ("JobAwarded", ["acceptDeadline", "fee", "jobId", "prover"]),
        ("AwardLapsed", ["jobId", "prover"]),
        ("JobAwarded", ["acceptDeadline", "fee", "jobId", "prover"]),
        ("JobAccepted", ["jobId", "proofDeadline", "prover"]),
        ("ProverSlashed", ["collateral", "jobId", "prover"]),
        ("JobCancelled", ["jobId"]),
    ]
    assert [e.args["prover"] for e in market[:5]] == [carol.address, carol.address] + [
        bob.address
    ] * 3
    assert (
        market[3].args["proofDeadline"]
        == w3.eth.get_block(market[3].block_number)["timestamp"] + 60
    )
    assert (
        market[0].args["acceptDeadline"]
        == w3.eth.get_block(market[0].block_number)["timestamp"] + 30
    )
    assert market[4].args["collateral"] == 10**17
    assert [e.position for e in market] == sorted(e.position for e in market)
