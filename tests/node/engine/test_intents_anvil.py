"""The intent journal on the session anvil: a dropped transaction goes out again after a restart.

Mining is paused, so a deposit stays in the mempool; anvil then drops it (as a node
evicts a transaction under pressure or forgets it on restart), and the node is
"restarted": a new store connection, chain client and executor, nothing in memory.
Reconciliation finds the transaction unknown with its nonce free and broadcasts the
stored signed bytes: the same hash, landing once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import TransactionNotFound

from node.anvil import AnvilProcess, rpc_call
from node.chain.client import Web3Chain
from node.chain.contracts import CONTRACT_NAMES
from node.chain.deploy import Deployment
from node.chain.sender import SenderConfig
from node.daemon import Web3TxLookup
from node.engine import IntentExecutor, IntentPendingError
from node.keys import dev_account
from node.store import IntentStatus, Store
from tests.node.chain.conftest import chain, deployment, mine, w3  # noqa: F401 (fixtures)

ETH = 10**18
PROVER = 7  # a dev account no other test here stakes with
# A receipt wait that gives up at once: mining is paused, the outcome stays unknown.
IMPATIENT = SenderConfig(receipt_timeout_s=0.3, poll_interval_s=0.05)


def open_node(path: Path, web3: Web3, deployed: Deployment) -> tuple[Store, IntentExecutor]:
    """A fresh store connection, chain client and executor: a restarted node."""
    contracts = {name: deployed.address(name) for name in CONTRACT_NAMES}
    store = Store.open(path, chain_id=deployed.chain_id, contracts=contracts)
    client = Web3Chain(
        web3, deployed, dev_account(PROVER), sender_config=IMPATIENT, confirmations=0
    )
    executor = IntentExecutor(store, client, Web3TxLookup(client))
    client.sender.on_signed = executor.on_signed
    return store, executor


def in_mempool(web3: Web3, tx_hash: str) -> bool:
    try:
        return web3.eth.get_transaction(HexStr(tx_hash)).get("blockNumber") is None
    except TransactionNotFound:
        return False


async def test_a_dropped_transaction_is_rebroadcast_once_with_the_same_bytes(
    chain: AnvilProcess,  # noqa: F811
    w3: Web3,  # noqa: F811
    deployment: Deployment,  # noqa: F811
    tmp_path: Path,
) -> None:
    address = dev_account(PROVER).address
    nonce = w3.eth.get_transaction_count(address)
    staked = Web3Chain(w3, deployment, dev_account(PROVER)).stake_of(address).stake
    path = tmp_path / "node.db"
    store, executor = open_node(path, w3, deployment)
    rpc_call(chain.rpc_url, "evm_setAutomine", [False])
    try:
        with pytest.raises(IntentPendingError):
            await executor.execute("stake_deposit", None, {}, lambda c: c.deposit_stake(ETH))
        [sent] = store.open_intents()
        assert sent.signed is not None
        assert sent.tx_hash is not None
        assert (sent.status, sent.nonce, in_mempool(w3, sent.tx_hash)) == (
            IntentStatus.SENT, nonce, True
        )  # fmt: skip
        rpc_call(chain.rpc_url, "anvil_dropTransaction", [sent.tx_hash])
        assert not in_mempool(w3, sent.tx_hash)
        store.close()

        store, executor = open_node(path, w3, deployment)
        [outcome] = await executor.reconcile_open()
        assert outcome.status is IntentStatus.SENT  # sent again, not given up
        assert in_mempool(w3, sent.tx_hash)
        await executor.reconcile_open()  # known to the node now: nothing new goes out
        assert w3.eth.get_transaction_count(address, "pending") == nonce + 1
    finally:
        rpc_call(chain.rpc_url, "evm_setAutomine", [True])
    mine(chain)
    [outcome] = await executor.reconcile_open()
    assert outcome.status is IntentStatus.MINED
    mined = store.get_intent(sent.id)
    assert (mined.tx_hash, w3.eth.get_transaction_count(address)) == (sent.tx_hash, nonce + 1)
    assert executor.chain.stake_of(address).stake == staked + ETH  # one deposit, once
    store.close()
