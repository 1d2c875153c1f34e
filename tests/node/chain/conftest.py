"""Fixtures for the chain client tests: a web3 client on the session's anvil, isolated per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from web3 import Web3

from node.anvil import AnvilProcess, rpc_call
from node.chain.deploy import Deployment, DeployParams, deploy_contracts
from node.chain.rpc import RetryPolicy, connect
from node.chain.sender import TxSender
from node.keys import dev_account

FAST_RETRY = RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=5.0)


@pytest.fixture
def chain(anvil: AnvilProcess) -> Iterator[AnvilProcess]:
    """The session's anvil, rolled back to its state before the test afterwards."""
    snapshot = rpc_call(anvil.rpc_url, "evm_snapshot")
    try:
        yield anvil
    finally:
        rpc_call(anvil.rpc_url, "evm_revert", [snapshot])


@pytest.fixture
def w3(chain: AnvilProcess) -> Web3:
    """A web3 client on the isolated chain."""
    return connect(chain.rpc_url, expected_chain_id=chain.chain_id, retry=FAST_RETRY)


@pytest.fixture
def deployment(w3: Web3) -> Deployment:
    """provernet's contracts, freshly deployed by dev account 0 on the isolated chain."""
    return deploy_contracts(TxSender(w3, dev_account(0)), DeployParams(withdrawal_delay_s=60))


def mine(chain: AnvilProcess, blocks: int = 1) -> None:
    """Mine empty blocks."""
    rpc_call(chain.rpc_url, "anvil_mine", [hex(blocks)])


def anvil_miner(chain: AnvilProcess) -> Callable[[int], None]:
    """``register_finalized``'s ``mine`` for anvil: the clock moves, then a block."""

    def advance(seconds: int) -> None:
        if seconds:
            rpc_call(chain.rpc_url, "evm_increaseTime", [seconds])
        mine(chain)

    return advance
