"""Money-moving actions through the intent journal, and their reconciliation with the chain.

Theory of operation. ``IntentExecutor.execute`` runs one chain transaction for the
engine: it journals the intent (``Store.record_intent``) BEFORE anything is signed,
then runs the ``Chain`` call in a worker thread. The chain client's ``on_signed``
hook (``IntentExecutor.on_signed``, called in that thread before the broadcast)
marks the intent sent with its hash, nonce and signed bytes, so a crash after
signing leaves a "sent" intent that holds the transaction itself. After the call:

- mined: ``mark_mined`` with the receipt (reverted ones end "reverted");
- refused before signing (a revert at gas estimation, the RPC refusing it):
  ``mark_failed``; nothing reached the chain;
- fate unknown (a transport failure, a receipt timeout): the intent stays open and
  ``IntentPendingError`` is raised; ``reconcile_open`` settles it later.

Sends are serialised (one at a time), so the hook always knows which intent a
signed transaction belongs to. ``reconcile_open`` runs at start-up, before the
engine does anything else, and again on every tick while intents are open:

- recorded, not in flight: the node stopped before signing, so nothing was sent
  (the hook runs before the broadcast): failed;
- sent: its receipt decides (mined or reverted); without one the chain client
  settles the stored signed transaction (``Chain.settle``): unknown to the node
  and its nonce still free, the SAME bytes are broadcast again (same hash: it can
  land once at most), and the intent stays open; pending stays open; its nonce
  used by another transaction (replaced) ends "dropped", as does a rebroadcast the
  RPC node refuses. An intent is never signed twice: a new transaction for the same
  action needs a new intent, which the journal allows only once this one ended.
  An intent sent without its bytes (an older store) is only looked up, never resent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import trio

from node.chain.errors import (
    ChainError,
    ContractRevert,
    NonceConflict,
    TransactionFailed,
    TransactionRejected,
    TransactionUnsettled,
)
from node.chain.interface import Chain
from node.chain.rpc import TRANSPORT_ERRORS
from node.chain.sender import TxRecord, TxStatus
from node.chain.types import TxResult
from node.store import Intent, IntentStatus, Store
from node.store.records import ReceiptLike

logger = logging.getLogger(__name__)

T = TypeVar("T")
# What asking the chain may fail with when it cannot answer (the RPC away, a rebroadcast
# whose fate is unknown): the intent is left open, never guessed.
UNREACHABLE: tuple[type[BaseException], ...] = (ChainError, *TRANSPORT_ERRORS)


class TxLookup(Protocol):
    """What reconciliation asks the chain about a transaction it knows only by hash."""

    def receipt_of(self, tx_hash: str) -> ReceiptLike | None:
        """The transaction's receipt, or None while it is not mined."""
        ...

    def status_of(self, sender: str, tx_hash: str, nonce: int) -> TxStatus:
        """Where the transaction stands (reads only; sends nothing)."""
        ...


class IntentPendingError(Exception):
    """A transaction was (maybe) sent but its outcome is unknown; it will be reconciled."""

    def __init__(self, intent_id: int, cause: BaseException) -> None:
        super().__init__(
            f"the transaction of intent {intent_id} may have been sent but its outcome is "
            f"unknown ({cause}); the node checks it with the chain and will not send it twice"
        )
        self.intent_id = intent_id


@dataclass(frozen=True)
class Reconciled:
    """What reconciliation concluded about one open intent."""

    intent_id: int
    kind: str
    status: IntentStatus


def _transaction_of(outcome: object) -> TxResult:
    """The ``TxResult`` in a chain call's answer (some calls return ``(id, result)``)."""
    if isinstance(outcome, TxResult):
        return outcome
    if isinstance(outcome, tuple):
        for item in outcome:
            if isinstance(item, TxResult):
                return item
    raise TypeError(f"a money-moving chain call returned {type(outcome).__name__}, no TxResult")


def _signed(record: TxRecord) -> dict[str, Any] | None:
    """The record to keep for a rebroadcast (None when it carries no signed bytes)."""
    return record.to_json() if record.raw not in ("", "0x") else None


class IntentExecutor:
    """Journals, sends and reconciles the node's money-moving transactions."""

    def __init__(self, store: Store, chain: Chain, lookup: TxLookup) -> None:
        self.store, self.chain, self.lookup = store, chain, lookup
        self._lock = trio.Lock()
        self._in_flight: int | None = None

    @property
    def busy(self) -> bool:
        """Whether a send or a reconciliation is under way."""
        return self._lock.locked()

    def on_signed(self, record: TxRecord) -> None:
        """The chain client's hook: a transaction is signed and about to be broadcast.

        Called in the sending worker thread; the store is written in the trio thread.
        """
        trio.from_thread.run_sync(self._mark_signed, record)

    def _mark_signed(self, record: TxRecord) -> None:
        if self._in_flight is None:
            logger.warning("transaction %s signed outside the intent journal", record.tx_hash)
            return
        self.store.mark_sent(self._in_flight, record.tx_hash, record.nonce, _signed(record))

    async def execute(
        self,
        kind: str,
        job_key: int | None,
        params: Mapping[str, Any],
        action: Callable[[Chain], T],
        *,
        attempt: int = 0,
    ) -> T:
        """Journal ``kind`` (the ``attempt``-th of its job), run ``action(chain)`` in a thread,
        record the outcome; its answer."""
        async with self._lock:
            intent_id = self.store.record_intent(kind, job_key, params, attempt=attempt)
            self._in_flight = intent_id
            try:
                outcome = await trio.to_thread.run_sync(action, self.chain)
            except BaseException as exc:
                await self._record_failure(intent_id, exc)
                raise
            finally:
                self._in_flight = None
            self._record_success(intent_id, _transaction_of(outcome))
            return outcome

    def _record_success(self, intent_id: int, result: TxResult) -> None:
        if self.store.get_intent(intent_id).status is IntentStatus.RECORDED:
            # A chain client without the signing hook: the hash is known only now.
            record = result.record
            self.store.mark_sent(intent_id, record.tx_hash, record.nonce, _signed(record))
        self.store.mark_mined(intent_id, result.receipt)

    async def _record_failure(self, intent_id: int, exc: BaseException) -> None:
        intent = self.store.get_intent(intent_id)
        if isinstance(exc, TransactionUnsettled) and intent.status is IntentStatus.RECORDED:
            record = exc.record
            self.store.mark_sent(intent_id, record.tx_hash, record.nonce, _signed(record))
        if isinstance(exc, ContractRevert | TransactionRejected):
            # Refused at gas estimation or by the RPC node: nothing reached the chain.
            self.store.mark_failed(intent_id, str(exc))
            return
        if isinstance(exc, TransactionFailed) and intent.tx_hash:
            receipt = await trio.to_thread.run_sync(self.lookup.receipt_of, intent.tx_hash)
            if receipt is not None:
                self.store.mark_mined(intent_id, receipt)
                return
        if isinstance(exc, Exception):
            logger.warning("intent %d (%s) left open: %s", intent_id, intent.kind, exc)
            raise IntentPendingError(intent_id, exc) from exc

    async def reconcile_open(self) -> list[Reconciled]:
        """Settle every open intent that is not being sent now; what each became."""
        results = []
        async with self._lock:
            for intent in self.store.open_intents():
                try:
                    status = await self._reconcile(intent)
                except UNREACHABLE as exc:  # decided on a later tick; it stays open meanwhile
                    logger.warning("intent %d (%s) not reconciled: %s", intent.id, intent.kind, exc)
                    status = intent.status
                if status is not intent.status:
                    logger.info("intent %d (%s) reconciled: %s", intent.id, intent.kind, status)
                results.append(Reconciled(intent.id, intent.kind, status))
        return results

    async def _reconcile(self, intent: Intent) -> IntentStatus:
        if intent.status is IntentStatus.RECORDED or intent.tx_hash is None:
            # Not in flight, so never signed: the signing hook marks an intent sent first.
            self.store.mark_failed(intent.id, "it was never signed; nothing was sent")
            return IntentStatus.FAILED
        receipt = await trio.to_thread.run_sync(self.lookup.receipt_of, intent.tx_hash)
        if receipt is not None:
            self.store.mark_mined(intent.id, receipt)
            return IntentStatus.MINED if receipt.succeeded else IntentStatus.REVERTED
        assert intent.nonce is not None, "a sent intent has its nonce"
        if intent.signed is not None:
            where, refused = await self._settle(TxRecord.from_json(intent.signed))
        else:
            where, refused = (
                await trio.to_thread.run_sync(
                    self.lookup.status_of, self.chain.address, intent.tx_hash, intent.nonce
                ),
                None,
            )
        if where in (TxStatus.PENDING, TxStatus.LANDED):
            return intent.status  # LANDED without a receipt: mined a moment ago; next tick
        if refused is not None:
            reason = f"it left the mempool and its rebroadcast was refused: {refused}"
        elif where is TxStatus.REPLACED:
            reason = "its nonce was used by another transaction"
        else:
            reason = "it left the mempool unmined; the action may be taken again"
        self.store.mark_dropped(intent.id, reason)
        return IntentStatus.DROPPED

    async def _settle(self, record: TxRecord) -> tuple[TxStatus, str | None]:
        """Where ``record`` stands once rebroadcast if it was dropped; why a resend was refused."""
        try:
            where = await trio.to_thread.run_sync(self.chain.settle, record)
        except NonceConflict as exc:
            return TxStatus.REPLACED, str(exc)
        except TransactionRejected as exc:
            return TxStatus.DROPPED, str(exc)
        return where, None
