from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint, RPCResponse

from node.anvil import AnvilProcess, rpc_call
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.errors import (
    NonceConflict,
    ReceiptTimeout,
    TransactionFailed,
    TransactionRejected,
    TransactionUnsettled,
    revert_class,
)
from node.chain.rpc import RetryingHTTPProvider
from node.chain.sender import SenderConfig, TxRecord, TxSender, TxStatus
from node.keys import dev_account

from .conftest import FAST_RETRY, mine

BOB = dev_account(1).address
QUICK = SenderConfig(retry_pause_s=0.01, receipt_timeout_s=10)


class LossyProvider(RetryingHTTPProvider):
    """Fails sends on the wire in chosen ways: after delivering them, or instead of it."""

    def __init__(self, url: str) -> None:
        super().__init__(url, FAST_RETRY)
        self.deliver_then_fail = 0  # next N sends reach the chain, then the caller sees an error
        self.lose = 0  # next N sends never reach the chain
        self.before_loss: Any = None  # called when a send is lost
        self.sends = 0

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_sendRawTransaction":
            self.sends += 1
            if self.lose:
                self.lose -= 1
                if self.before_loss is not None:
                    self.before_loss()
                raise requests.ConnectionError("connection reset by peer")
            if self.deliver_then_fail:
                self.deliver_then_fail -= 1
                super().make_request(method, params)
                raise requests.ConnectionError("connection reset by peer")
        return super().make_request(method, params)


def lossy_sender(chain: AnvilProcess, index: int = 0) -> tuple[TxSender, LossyProvider]:
    provider = LossyProvider(chain.rpc_url)
    return TxSender(Web3(provider), dev_account(index), config=QUICK), provider


def mined_nonce(w3: Web3, address: str) -> int:
    return w3.eth.get_transaction_count(Web3.to_checksum_address(address), "latest")


def test_transfer_is_recorded_before_broadcast_and_mined(w3: Web3) -> None:
    seen: list[tuple[TxRecord, int]] = []
    sender = TxSender(w3, dev_account(0), config=QUICK)
    sender.on_signed = lambda record: seen.append((record, mined_nonce(w3, record.sender)))
    receipt = sender.transact(BOB, value=10**15, label="pay bob")
    [(record, nonce_when_signed)] = seen
    assert nonce_when_signed == record.nonce  # the hook ran before the chain had it
    assert receipt.succeeded
    assert receipt.tx_hash == record.tx_hash
    assert TxRecord.from_json(record.to_json()) == record
    assert sender.reconcile(record) is TxStatus.LANDED


def test_concurrent_sends_use_consecutive_nonces(w3: Web3) -> None:
    sender = TxSender(w3, dev_account(0), config=QUICK)
    start = mined_nonce(w3, sender.address)
    records: list[TxRecord] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            record = sender.send(BOB, value=1)
            with lock:
                records.append(record)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.nonce for r in records) == list(range(start, start + 24))
    assert all(sender.wait(r).succeeded for r in records)
    assert mined_nonce(w3, sender.address) == start + 24


def test_send_that_landed_but_raised_is_not_sent_again(chain: AnvilProcess, w3: Web3) -> None:
    sender, provider = lossy_sender(chain)
    provider.deliver_then_fail = 1
    start = mined_nonce(w3, sender.address)
    record = sender.send(BOB, value=7)
    assert provider.sends == 1  # reconciliation found it; nothing was resent
    assert sender.wait(record).succeeded
    follow_up = sender.send(BOB, value=8)
    assert follow_up.nonce == record.nonce + 1
    sender.wait(follow_up)
    assert mined_nonce(w3, sender.address) == start + 2


def test_lost_send_is_rebroadcast_with_the_same_bytes(chain: AnvilProcess, w3: Web3) -> None:
    sender, provider = lossy_sender(chain)
    provider.lose = 1
    start = mined_nonce(w3, sender.address)
    record = sender.send(BOB, value=7)
    assert provider.sends == 2
    assert sender.wait(record).succeeded
    assert mined_nonce(w3, sender.address) == start + 1


def test_nonce_taken_by_another_program_raises_nonce_conflict(
    chain: AnvilProcess, w3: Web3
) -> None:
    sender, provider = lossy_sender(chain)
    other = TxSender(w3, dev_account(0), config=QUICK)
    provider.lose = 1
    provider.before_loss = lambda: other.transact(BOB, value=1, label="elsewhere")
    with pytest.raises(NonceConflict):
        sender.send(BOB, value=7)
    record = sender.send(BOB, value=9)  # the nonce is read again from the chain
    assert sender.wait(record).succeeded


def test_unsettled_send_is_settled_before_the_next_one(chain: AnvilProcess, w3: Web3) -> None:
    sender, provider = lossy_sender(chain)
    provider.lose = QUICK.broadcast_attempts  # every attempt is lost
    start = mined_nonce(w3, sender.address)
    with pytest.raises(TransactionUnsettled) as caught:
        sender.send(BOB, value=7, label="pay bob")
    lost = caught.value.record
    assert sender.reconcile(lost) is TxStatus.DROPPED
    record = sender.send(BOB, value=8)  # rebroadcasts the kept record first
    assert record.nonce == lost.nonce + 1
    assert sender.wait(lost).succeeded
    assert sender.wait(record).succeeded
    assert mined_nonce(w3, sender.address) == start + 2
    assert sender.settle(lost) is TxStatus.LANDED


def test_settle_rebroadcasts_a_dropped_record_after_restart(chain: AnvilProcess, w3: Web3) -> None:
    stored: list[TxRecord] = []
    sender, provider = lossy_sender(chain)
    sender.on_signed = stored.append
    provider.lose = QUICK.broadcast_attempts
    with pytest.raises(TransactionUnsettled):
        sender.send(BOB, value=7)
    restarted = TxSender(w3, dev_account(0), config=QUICK)
    assert restarted.settle(stored[0]) in (TxStatus.PENDING, TxStatus.LANDED)
    assert restarted.wait(stored[0]).succeeded


def test_a_mined_revert_is_named_by_replaying_it(w3: Web3, deployment: Deployment) -> None:
    staking = Web3Chain(w3, deployment, dev_account(1)).contracts["ProverStaking"]
    sender = TxSender(w3, dev_account(1), decoder=staking.decoder, config=QUICK)
    # An explicit gas limit skips estimation, so the reverting call is mined.
    record = sender.send(staking.address, staking.encode("deposit"), gas=100_000)
    with pytest.raises(TransactionFailed, match="reverted in block") as caught:
        sender.wait(record)
    assert isinstance(caught.value.revert, revert_class("ZeroAmount"))
    assert sender.reconcile(record) is TxStatus.LANDED


def test_an_unmined_send_is_pending_until_a_block_includes_it(
    chain: AnvilProcess, w3: Web3
) -> None:
    sender = TxSender(w3, dev_account(0), config=QUICK)
    rpc_call(chain.rpc_url, "evm_setAutomine", [False])
    try:
        record = sender.send(BOB, value=1)
        with pytest.raises(ReceiptTimeout, match="may still land"):
            sender.wait(record, timeout_s=0.2)
        assert sender.reconcile(record) is TxStatus.PENDING
        assert sender.settle(record) is TxStatus.PENDING  # known to the node: not resent
        follow_up = sender.send(BOB, value=2)
        assert follow_up.nonce == record.nonce + 1
    finally:
        rpc_call(chain.rpc_url, "evm_setAutomine", [True])
    mine(chain)
    assert sender.wait(record).block_number == sender.wait(follow_up).block_number


def test_refused_sends_use_no_nonce(w3: Web3) -> None:
    poor = Account.create()
    sender = TxSender(w3, poor, config=QUICK)
    with pytest.raises(TransactionRejected, match="refused"):
        sender.send(BOB, value=10**18, gas=21_000)
    assert w3.eth.get_transaction_count(poor.address, "pending") == 0
