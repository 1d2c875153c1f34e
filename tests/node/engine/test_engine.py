"""The engine core and its intent journal on the fake chain (tests/node/chain/fake_chain.py).

bob is a prover staking on a ``FakeLedger``. ``HookedChain`` plays the part of
``Web3Chain``'s transaction sender around the fake: it calls the ``on_signed``
hook with each transaction and can fail after the transaction has landed, as a
broadcast cut off on the wire does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import trio.testing

from node.api.errors import Conflict
from node.chain.errors import ReceiptTimeout, RpcUnreachable, TransactionUnsettled, revert_class
from node.chain.interface import Chain
from node.chain.sender import Receipt, TxRecord, TxStatus
from node.chain.types import TxResult
from node.engine import (
    ChainBatch,
    Engine,
    EngineContext,
    IntentExecutor,
    IntentPendingError,
    StakeCommands,
)
from node.engine.sync import ChainSync
from node.store import ChainCursor, DuplicateIntentError, IntentStatus, Role, Store
from protocol.market import new_requester_job
from tests.node.chain.fake_chain import FakeLedger

BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
CONTRACTS = {
    "ModelRegistry": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "ProverStaking": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "JobMarket": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
}
ETH = 10**18


class HookedChain:
    """bob's fake chain with a signing hook and failures after landing."""

    def __init__(self, ledger: FakeLedger, *, hooked: bool = True) -> None:
        self.inner = ledger.chain(BOB)
        self.ledger = ledger
        self.hooked = hooked
        self.on_signed: Callable[[TxRecord], None] | None = None
        self.fail_after_landing: Callable[[TxRecord], Exception] | None = None
        self.receipts: dict[str, Receipt] = {}
        self.pending: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _sent(self, result: TxResult) -> TxResult:
        self.receipts[result.record.tx_hash] = result.receipt
        if self.hooked and self.on_signed is not None:
            self.on_signed(result.record)
        if self.fail_after_landing is not None:
            failure, self.fail_after_landing = self.fail_after_landing, None
            raise failure(result.record)
        return result

    def deposit_stake(self, amount: int) -> TxResult:
        return self._sent(self.inner.deposit_stake(amount))

    def withdraw_stake(self) -> TxResult:
        return self._sent(self.inner.withdraw_stake())

    # node.engine.TxLookup

    def receipt_of(self, tx_hash: str) -> Receipt | None:
        if tx_hash in self.pending:
            return None
        return self.receipts.get(tx_hash) or self.ledger.receipts.get(tx_hash)

    def status_of(self, sender: str, tx_hash: str, nonce: int) -> TxStatus:
        if tx_hash in self.pending:
            return TxStatus.PENDING
        return TxStatus.LANDED if tx_hash in self.ledger.txs else TxStatus.DROPPED


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger(withdrawal_delay=60)


@pytest.fixture
def chain(ledger: FakeLedger) -> HookedChain:
    return HookedChain(ledger)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "node.db", chain_id=31337, contracts=CONTRACTS)


def make_engine(store: Store, chain: HookedChain) -> Engine:
    executor = IntentExecutor(store, cast(Chain, chain), chain)
    chain.on_signed = executor.on_signed
    engine = Engine(store, executor, tick_s=1.0)
    StakeCommands(cast(Chain, chain)).register(engine)
    return engine


async def open_engine(engine: Engine, nursery: trio.Nursery) -> Engine:
    await nursery.start(engine.run)
    return engine


def deposits(ledger: FakeLedger) -> int:
    return sum(1 for tx in ledger.txs.values() if tx.label == "ProverStaking.deposit")


async def test_the_intent_is_journaled_before_the_transaction_is_sent(
    store: Store, chain: HookedChain, ledger: FakeLedger
) -> None:
    executor = IntentExecutor(store, cast(Chain, chain), chain)
    chain.on_signed = executor.on_signed
    seen_before_sending = []

    def deposit(c: Chain) -> TxResult:
        seen_before_sending.extend(trio.from_thread.run_sync(store.open_intents))
        return c.deposit_stake(ETH)

    result = await executor.execute("stake_deposit", None, {"amount": str(ETH)}, deposit)
    [before] = seen_before_sending
    assert (before.kind, before.status, before.tx_hash) == (
        "stake_deposit",
        IntentStatus.RECORDED,
        None,
    )
    after = store.get_intent(before.id)
    assert after.status is IntentStatus.MINED
    assert after.tx_hash == result.record.tx_hash.lower()
    assert after.receipt is not None
    assert after.receipt["block_number"] == ledger.block
    assert chain.stake_of(BOB).stake == ETH


async def test_a_send_that_fails_after_landing_is_reconciled_and_not_repeated(
    store: Store, chain: HookedChain, ledger: FakeLedger, autojump_clock: trio.testing.MockClock
) -> None:
    engine = make_engine(store, chain)
    chain.fail_after_landing = lambda record: ReceiptTimeout(f"{record.tx_hash} not mined yet")
    async with trio.open_nursery() as nursery:
        await open_engine(engine, nursery)
        with pytest.raises(IntentPendingError):
            await engine.executor.execute(
                "stake_deposit", None, {"amount": "1"}, lambda c: c.deposit_stake(ETH)
            )
        [intent] = store.open_intents()
        assert intent.status is IntentStatus.SENT
        await trio.sleep(engine.tick_s * 2)  # a tick settles it with the chain
        nursery.cancel_scope.cancel()
    assert store.get_intent(intent.id).status is IntentStatus.MINED
    assert (deposits(ledger), chain.stake_of(BOB).stake) == (1, ETH)


async def test_an_unsettled_send_without_the_hook_is_recorded_from_the_error(
    store: Store, ledger: FakeLedger
) -> None:
    chain = HookedChain(ledger, hooked=False)
    executor = IntentExecutor(store, cast(Chain, chain), chain)
    chain.fail_after_landing = lambda record: TransactionUnsettled(record, ConnectionError("cut"))
    with pytest.raises(IntentPendingError):
        await executor.execute("stake_deposit", None, {}, lambda c: c.deposit_stake(ETH))
    [intent] = store.open_intents()
    assert intent.status is IntentStatus.SENT
    assert intent.tx_hash is not None
    [outcome] = await executor.reconcile_open()
    assert outcome.status is IntentStatus.MINED
    assert deposits(ledger) == 1


async def test_a_refused_send_fails_its_intent_and_says_why(
    store: Store, chain: HookedChain, ledger: FakeLedger
) -> None:
    engine = make_engine(store, chain)
    with pytest.raises(revert_class("ZeroAmount")):
        await engine.executor.execute("stake_deposit", None, {}, lambda c: c.deposit_stake(0))
    intent = store.get_intent(1)
    assert intent.status is IntentStatus.FAILED
    assert "ZeroAmount" in (intent.reason or "")
    assert ledger.txs == {}


async def test_a_restarted_engine_reconciles_open_intents_before_anything_else(
    tmp_path: Path, chain: HookedChain, ledger: FakeLedger, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "node.db"
    with Store.open(path, chain_id=31337, contracts=CONTRACTS) as before_crash:
        landed = before_crash.record_intent("stake_deposit", None, {"amount": str(ETH)})
        result = chain.deposit_stake(ETH)  # it landed; the node died before marking it
        before_crash.mark_sent(landed, result.record.tx_hash, result.record.nonce)
        never_signed = before_crash.record_intent("stake_withdraw_request", None, {})
        lost = before_crash.record_intent("withdraw", None, {})
        before_crash.mark_sent(lost, "0x" + "ab" * 32, 7)
        waiting = before_crash.record_intent("withdraw", None, {"contract": "JobMarket"})
        before_crash.mark_sent(waiting, "0x" + "cd" * 32, 8)
    chain.pending.add("0x" + "cd" * 32)
    with Store.open(path, chain_id=31337, contracts=CONTRACTS) as store:
        engine = make_engine(store, chain)
        async with trio.open_nursery() as nursery:
            await open_engine(engine, nursery)  # ready only once reconciled
            status = {i: store.get_intent(i).status for i in (landed, never_signed, lost, waiting)}
            assert status == {
                landed: IntentStatus.MINED,
                never_signed: IntentStatus.FAILED,
                lost: IntentStatus.DROPPED,
                waiting: IntentStatus.SENT,  # still in the mempool: kept open
            }
            chain.pending.clear()
            chain.receipts["0x" + "cd" * 32] = result.receipt
            await trio.sleep(engine.tick_s * 2)
            nursery.cancel_scope.cancel()
        assert store.open_intents() == []
    assert deposits(ledger) == 1


async def test_a_transaction_signed_before_a_crash_is_sent_once_with_the_same_bytes(
    tmp_path: Path, chain: HookedChain, ledger: FakeLedger, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "node.db"
    with Store.open(path, chain_id=31337, contracts=CONTRACTS) as before_crash:
        intent = before_crash.record_intent("stake_deposit", None, {"amount": str(ETH)})
        record = chain.inner.sign_only("ProverStaking.deposit", lambda c: c.deposit_stake(ETH))
        before_crash.mark_sent(intent, record.tx_hash, record.nonce, record.to_json())
    assert deposits(ledger) == 0  # killed before the broadcast
    with Store.open(path, chain_id=31337, contracts=CONTRACTS) as store:
        engine = make_engine(store, chain)
        async with trio.open_nursery() as nursery:
            await open_engine(engine, nursery)  # the stored bytes go out again
            assert store.get_intent(intent).status is IntentStatus.SENT
            await trio.sleep(engine.tick_s * 3)  # ticks find the receipt
            nursery.cancel_scope.cancel()
        mined = store.get_intent(intent)
        assert (mined.status, mined.tx_hash) == (IntentStatus.MINED, record.tx_hash)
        assert await engine.executor.reconcile_open() == []
    assert deposits(ledger) == 1
    assert ledger.broadcasts == {record.tx_hash: 1}


async def test_an_intent_the_chain_cannot_answer_for_stays_open(
    store: Store, chain: HookedChain, ledger: FakeLedger
) -> None:
    intent = store.record_intent("stake_deposit", None, {"amount": str(ETH)})
    record = chain.inner.sign_only("ProverStaking.deposit", lambda c: c.deposit_stake(ETH))
    store.mark_sent(intent, record.tx_hash, record.nonce, record.to_json())
    executor = make_engine(store, chain).executor

    def unreachable(record: TxRecord) -> TxStatus:
        raise RpcUnreachable("http://127.0.0.1:1", "eth_getTransactionCount", 3, OSError())

    chain.settle = unreachable  # type: ignore[method-assign]
    [outcome] = await executor.reconcile_open()
    assert (outcome.status, deposits(ledger)) == (IntentStatus.SENT, 0)
    del chain.settle  # the RPC is back
    await executor.reconcile_open()
    [outcome] = await executor.reconcile_open()
    assert (outcome.status, deposits(ledger)) == (IntentStatus.MINED, 1)


async def test_stake_commands_explain_refusals(
    store: Store, chain: HookedChain, ledger: FakeLedger
) -> None:
    engine = make_engine(store, chain)
    async with trio.open_nursery() as nursery:
        await open_engine(engine, nursery)
        deposited = await engine.call("stake.deposit", {"amount": "2eth"})
        assert (deposited["stake"], deposited["free"]) == (str(2 * ETH), str(2 * ETH))
        requested = await engine.call("stake.withdraw", {"amount": "0.5eth"})
        assert requested["pending_withdrawal"] == str(ETH // 2)
        with pytest.raises(Conflict, match=r"delay has not passed.*unix time 1700000060"):
            await engine.call("stake.complete", {})
        with pytest.raises(Conflict, match="is free"):
            await engine.call("stake.withdraw", {"amount": "9eth"})
        ledger.advance(61)
        completed = await engine.call("stake.complete", {})
        assert (completed["paid"], completed["pending_withdrawal"]) == (str(ETH // 2), "0")
        nursery.cancel_scope.cancel()
    kinds = [store.get_intent(i).kind for i in range(1, 6)]
    assert kinds == ["stake_deposit", "stake_withdraw_request", "withdraw",
                     "stake_withdraw_request", "withdraw"]  # fmt: skip


async def test_chain_events_are_applied_once_with_the_cursor(
    store: Store, chain: HookedChain, ledger: FakeLedger
) -> None:
    engine = make_engine(store, chain)
    seen: list[tuple[str, int]] = []

    def on_deposit(ctx: EngineContext, event: Any) -> None:
        seen.append((event.name, int(event.args["amount"])))

    engine.on_event("ProverStaking", "StakeDeposited", on_deposit)
    chain.inner.deposit_stake(ETH)
    ledger.chain("0x" + "11" * 20).deposit_stake(2 * ETH)
    sync = ChainSync(cast(Chain, chain), engine.inputs.clone(), ChainCursor(0, None),
                     poll_interval_s=1.0)  # fmt: skip
    async with trio.open_nursery() as nursery:
        await open_engine(engine, nursery)
        await sync.sync_once()
        assert (sync.head, sync.processed) == (2, 2)
        replay = ChainBatch(chain.events_since(0))  # the same events again, as after a crash
        await engine.inputs.send(replay)
        await replay.applied.wait()
        nursery.cancel_scope.cancel()
    assert seen == [("StakeDeposited", ETH), ("StakeDeposited", 2 * ETH)]
    assert store.cursor() == ChainCursor(3, None)
    assert engine.applied_events == 2


async def test_a_sync_round_never_processes_past_the_head_it_shows(
    store: Store, chain: HookedChain, ledger: FakeLedger
) -> None:
    """A block mined between reading the head and reading the events waits for the next
    round: ``node status`` never shows a processed block above its head."""
    engine = make_engine(store, chain)
    chain.inner.deposit_stake(ETH)

    class MinesAfterHead:
        def __getattr__(self, name: str) -> Any:
            return getattr(chain, name)

        def block_number(self) -> int:
            head = chain.inner.block_number()
            ledger.chain("0x" + "22" * 20).deposit_stake(ETH)  # lands right after the read
            return head

    sync = ChainSync(cast(Chain, MinesAfterHead()), engine.inputs.clone(), ChainCursor(0, None),
                     poll_interval_s=1.0)  # fmt: skip
    async with trio.open_nursery() as nursery:
        await open_engine(engine, nursery)
        for head in (1, 2, 3):
            await sync.sync_once()
            assert (sync.head, sync.processed) == (head, head)
        nursery.cancel_scope.cancel()
    assert engine.applied_events == 3


async def test_a_job_action_in_doubt_is_never_sent_again(
    store: Store, chain: HookedChain, ledger: FakeLedger
) -> None:
    job, _ = new_requester_job(
        max_fee=10**16, collateral=10**17, bid_deadline=1_700_000_060, accept_window=60,
        proof_window=600,
    )  # fmt: skip
    job_key = store.add_job(Role.REQUESTER, job)
    executor = IntentExecutor(store, cast(Chain, chain), chain)
    chain.on_signed = executor.on_signed
    sends = []

    def send(c: Chain) -> TxResult:
        sends.append(1)
        return c.deposit_stake(ETH)  # any transaction: the journal is what is tested

    chain.fail_after_landing = lambda record: ReceiptTimeout("no receipt yet")
    with pytest.raises(IntentPendingError):
        await executor.execute("create_job", job_key, {}, send)
    with pytest.raises(DuplicateIntentError):
        await executor.execute("create_job", job_key, {}, send)
    [outcome] = await executor.reconcile_open()
    assert outcome.status is IntentStatus.MINED
    with pytest.raises(DuplicateIntentError):  # mined: done for good
        await executor.execute("create_job", job_key, {}, send)
    assert (len(sends), deposits(ledger)) == (1, 1)
    # A later award or slash of the same job is another attempt: journaled on its own.
    await executor.execute("award_job", job_key, {}, send, attempt=0)
    with pytest.raises(DuplicateIntentError):
        await executor.execute("award_job", job_key, {}, send, attempt=0)
    await executor.execute("award_job", job_key, {}, send, attempt=1)
    assert (len(sends), deposits(ledger)) == (3, 3)
