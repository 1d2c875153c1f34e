"""Signing and sending transactions from one account, exactly once per nonce.

Theory of operation. ``TxSender`` owns the account's nonce sequence. A send runs
under one lock: take the next nonce, estimate gas (a call that would revert raises
its named ``ContractRevert`` here and uses no nonce), sign, hand the ``TxRecord``
to the ``on_signed`` hook (the node stores it before anything leaves), broadcast.

Invariant: a nonce goes out in at most one transaction. It is signed anew only
when the RPC node refused the previous transaction outright (no funds, fee too
low), so that nothing carrying it ever reached the network. A broadcast that
fails in transport is never re-signed; the sender reconciles with the chain —
by hash, then by the account's mined nonce — and finds the transaction

- LANDED or PENDING: it got through; nothing is resent;
- DROPPED: unknown and its nonce still free; the same signed bytes are sent again
  (same hash, so this can never pay twice);
- REPLACED: unknown and its nonce used by another transaction of this account
  (sent elsewhere): ``NonceConflict``, and the nonce is read from the chain again.

If the chain cannot be reached to decide, the record stays "unsettled" and is
settled before the next send; no other transaction takes its nonce meanwhile.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import TxParams, TxReceipt

from node.chain.errors import (
    ContractRevert,
    NonceConflict,
    ReceiptTimeout,
    RevertDecoder,
    RpcUnreachable,
    TransactionFailed,
    TransactionRejected,
    TransactionUnsettled,
    revert_from_web3,
)
from node.chain.rpc import TRANSPORT_ERRORS

logger = logging.getLogger(__name__)

SEND_FAILURES: tuple[type[BaseException], ...] = (RpcUnreachable, *TRANSPORT_ERRORS)


class TxStatus(enum.Enum):
    """What the chain knows about a signed transaction."""

    LANDED = "landed"
    PENDING = "pending"
    DROPPED = "dropped"
    REPLACED = "replaced"


@dataclass(frozen=True)
class TxRecord:
    """A signed transaction, as the node stores it before broadcasting."""

    label: str
    sender: str
    to: str | None
    value: int
    data: str
    nonce: int
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    chain_id: int
    tx_hash: str
    raw: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (amounts stay exact integers)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TxRecord:
        """The record ``to_json`` wrote."""
        return cls(**data)


@dataclass(frozen=True)
class Receipt:
    """A mined transaction's outcome."""

    tx_hash: str
    block_number: int
    block_hash: str
    succeeded: bool
    gas_used: int
    contract_address: str | None
    raw: TxReceipt

    @classmethod
    def from_web3(cls, receipt: TxReceipt) -> Receipt:
        """Wrap web3's receipt."""
        address = receipt.get("contractAddress")
        return cls(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=int(receipt["blockNumber"]),
            block_hash="0x" + bytes(receipt["blockHash"]).hex(),
            succeeded=int(receipt["status"]) == 1,
            gas_used=int(receipt["gasUsed"]),
            contract_address=str(address) if address else None,
            raw=receipt,
        )


@dataclass(frozen=True)
class SenderConfig:
    """Tunables of the transaction sender."""

    # Headroom over eth_estimateGas: state may change between estimate and inclusion.
    gas_margin_percent: int = 20
    receipt_timeout_s: float = 120.0
    poll_interval_s: float = 0.05
    broadcast_attempts: int = 3
    retry_pause_s: float = 0.5


class TxSender:
    """Sends transactions from one local account; thread-safe."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        decoder: RevertDecoder | None = None,
        config: SenderConfig | None = None,
        on_signed: Callable[[TxRecord], None] | None = None,
    ) -> None:
        self.w3, self.account = w3, account
        self.decoder = decoder or RevertDecoder()
        self.config = config or SenderConfig()
        self.on_signed = on_signed
        self.chain_id = int(w3.eth.chain_id)
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self._unsettled: TxRecord | None = None

    @property
    def address(self) -> str:
        """The sending account."""
        return str(self.account.address)

    def send(
        self, to: str | None, data: bytes = b"", value: int = 0, *, label: str = "", gas: int = 0
    ) -> TxRecord:
        """Sign and broadcast one transaction; returns once the chain has it (not mined)."""
        with self._lock:
            if self._unsettled is not None:
                self._settle_unsettled()
            params = self._prepare(to, data, value, gas)
            nonce = self._take_nonce()
            record = self._sign({**params, "nonce": nonce}, label or "transaction")
            if self.on_signed is not None:
                self.on_signed(record)
            self._broadcast(record)
            self._next_nonce = nonce + 1
            return record

    def transact(
        self, to: str | None, data: bytes = b"", value: int = 0, *, label: str = "", gas: int = 0
    ) -> Receipt:
        """``send``, then wait until mined; raises TransactionFailed if it reverted."""
        return self.wait(self.send(to, data, value, label=label, gas=gas))

    def wait(self, record: TxRecord, timeout_s: float | None = None) -> Receipt:
        """The receipt of ``record`` once mined; raises ReceiptTimeout or TransactionFailed."""
        timeout = self.config.receipt_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while True:
            try:
                receipt = Receipt.from_web3(
                    self.w3.eth.get_transaction_receipt(HexStr(record.tx_hash))
                )
                break
            except TransactionNotFound:
                if time.monotonic() > deadline:
                    raise ReceiptTimeout(
                        f"{record.label}: {record.tx_hash} was not mined within {timeout:g} s; "
                        "it may still land: wait again or check it with settle()"
                    ) from None
                time.sleep(self.config.poll_interval_s)
        if not receipt.succeeded:
            revert = self._replay(record, receipt.block_number)
            reason = f": {revert}" if revert is not None else ""
            raise TransactionFailed(
                f"{record.label}: {record.tx_hash} reverted in block {receipt.block_number}"
                + reason,
                revert,
            )
        return receipt

    def reconcile(self, record: TxRecord) -> TxStatus:
        """Where ``record`` stands on the chain; sends nothing."""
        # Read the mined nonce first: a transaction mined between the two reads is
        # then found by hash rather than mistaken for a replacement.
        mined_nonce = self.w3.eth.get_transaction_count(
            Web3.to_checksum_address(record.sender), "latest"
        )
        try:
            found = self.w3.eth.get_transaction(HexStr(record.tx_hash))
        except TransactionNotFound:
            found = None
        if found is not None:
            return TxStatus.LANDED if found.get("blockNumber") is not None else TxStatus.PENDING
        return TxStatus.REPLACED if mined_nonce > record.nonce else TxStatus.DROPPED

    def settle(self, record: TxRecord) -> TxStatus:
        """Reconcile ``record`` and rebroadcast it if it was dropped (e.g. after a restart)."""
        with self._lock:
            status = self.reconcile(record)
            if status is TxStatus.DROPPED:
                logger.info(
                    "%s: %s left the mempool; sending it again", record.label, record.tx_hash
                )
                self._broadcast(record)
                status = self.reconcile(record)
            if status is not TxStatus.REPLACED and record.sender == self.address:
                self._next_nonce = max(self._next_nonce or 0, record.nonce + 1)
            return status

    def _settle_unsettled(self) -> None:
        record = self._unsettled
        assert record is not None
        status = self.reconcile(record)  # unreachable: stays unsettled, the send fails
        self._unsettled = None
        if status is TxStatus.REPLACED:
            self._next_nonce = None  # the record is dead; settle() will say so
            return
        if status is TxStatus.DROPPED:
            self._broadcast(record)
        self._next_nonce = max(self._next_nonce or 0, record.nonce + 1)

    def _take_nonce(self) -> int:
        pending = self.w3.eth.get_transaction_count(self.account.address, "pending")
        return max(self._next_nonce or 0, int(pending))

    def _prepare(self, to: str | None, data: bytes, value: int, gas: int) -> dict[str, Any]:
        params: dict[str, Any] = {"from": self.account.address, "value": value, "data": data}
        if to is not None:
            params["to"] = Web3.to_checksum_address(to)
        if gas <= 0:
            try:
                estimate = self.w3.eth.estimate_gas(cast(TxParams, params))
            except (ContractLogicError, Web3RPCError) as exc:
                raise revert_from_web3(exc, self.decoder) from exc
            gas = estimate * (100 + self.config.gas_margin_percent) // 100
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        tip = int(self.w3.eth.max_priority_fee)
        # Twice the base fee survives six full blocks of +12.5 % each (EIP-1559's cap).
        return {
            **params,
            "gas": gas,
            "maxFeePerGas": 2 * base_fee + tip,
            "maxPriorityFeePerGas": tip,
            "chainId": self.chain_id,
            "type": 2,
        }

    def _sign(self, tx: dict[str, Any], label: str) -> TxRecord:
        signed = self.account.sign_transaction(tx)
        to = tx.get("to")
        return TxRecord(
            label=label,
            sender=str(self.account.address),
            to=str(to) if to else None,
            value=int(tx.get("value", 0)),
            data="0x" + bytes(tx.get("data", b"")).hex(),
            nonce=int(tx["nonce"]),
            gas=int(tx["gas"]),
            max_fee_per_gas=int(tx["maxFeePerGas"]),
            max_priority_fee_per_gas=int(tx["maxPriorityFeePerGas"]),
            chain_id=self.chain_id,
            tx_hash="0x" + bytes(signed.hash).hex(),
            raw="0x" + bytes(signed.raw_transaction).hex(),
        )

    def _broadcast(self, record: TxRecord) -> None:
        attempts = self.config.broadcast_attempts
        for attempt in range(1, attempts + 1):
            try:
                self.w3.eth.send_raw_transaction(HexStr(record.raw))
                return
            except Web3RPCError as exc:
                if self._reconciled(record, exc) is not TxStatus.DROPPED:
                    return
                raise TransactionRejected(
                    f"{record.label}: the RPC node refused the transaction: {exc.message}"
                ) from exc
            except SEND_FAILURES as exc:
                if self._reconciled(record, exc) is not TxStatus.DROPPED:
                    return
                if attempt == attempts:
                    self._unsettled = record
                    raise TransactionUnsettled(record, exc) from exc
                time.sleep(self.config.retry_pause_s)

    def _reconciled(self, record: TxRecord, cause: BaseException) -> TxStatus:
        """Reconcile after a failed broadcast; only DROPPED lets the caller go on."""
        try:
            status = self.reconcile(record)
        except SEND_FAILURES as exc:
            self._unsettled = record
            raise TransactionUnsettled(record, cause) from exc
        if status is TxStatus.REPLACED:
            self._next_nonce = None
            raise NonceConflict(
                f"{record.label}: nonce {record.nonce} of {record.sender} was used by another "
                "transaction (is this key used by another program?); nothing was executed, "
                "the call may be retried"
            ) from cause
        return status

    def _replay(self, record: TxRecord, block: int) -> ContractRevert | None:
        """The named revert of a mined, failed transaction, by replaying it as a call."""
        call: dict[str, Any] = {"from": record.sender, "value": record.value, "data": record.data}
        if record.to is not None:
            call["to"] = Web3.to_checksum_address(record.to)
        try:
            self.w3.eth.call(cast(TxParams, call), block_identifier=max(0, block - 1))
        except (ContractLogicError, Web3RPCError) as exc:
            error = revert_from_web3(exc, self.decoder)
            return error if isinstance(error, ContractRevert) else None
        return None  # it succeeds now: the state it failed on has changed
