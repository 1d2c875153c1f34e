"""The intent journal: every money-moving transaction, recorded before it is sent.

Lifecycle of an intent::

    recorded ──mark_sent──► sent ──mark_mined──► mined | reverted
        │                     ├──mark_dropped──► dropped
        └──────mark_failed────┴────────────────► failed

``recorded`` and ``sent`` are open: at start-up the daemon reconciles each open
intent with the chain (a "failed" send may have landed, a recorded one may have
been sent just before a crash) before doing anything new for its job. At most one
intent per (kind, job, attempt) may be open or mined (a partial unique index), so the
same job's createJob, awardJob (per award) or submitProof cannot be journaled, and
therefore sent, twice; reverted, failed and dropped intents let the action be
journaled again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from node.store.base import StoreBase
from node.store.errors import (
    DuplicateIntentError,
    IntentTransitionError,
    StoreError,
    UnknownRecordError,
)
from node.store.records import Intent, IntentStatus, ReceiptLike
from node.store.schema import INTENT_KINDS

S = IntentStatus
# Which statuses each mark may leave from. A re-signed replacement (same nonce,
# higher fee) is a second mark_sent. The chain has the last word: a send believed
# failed or dropped may still be found mined (MARKET_NOTES 1).
_LANDED_FROM = (S.RECORDED, S.SENT, S.FAILED, S.DROPPED)
_ALLOWED_FROM = {
    S.SENT: (S.RECORDED, S.SENT),
    S.MINED: _LANDED_FROM,
    S.REVERTED: _LANDED_FROM,
    S.FAILED: (S.RECORDED, S.SENT),
    S.DROPPED: (S.SENT,),
}
_COLUMNS = (
    "id, kind, job_key, params, status, tx_hash, nonce, receipt, reason, created_at, updated_at, "
    "signed, attempt"
)


def _intent(row: sqlite3.Row) -> Intent:
    receipt, signed = row["receipt"], row["signed"]
    return Intent(
        id=row["id"],
        kind=row["kind"],
        job_key=row["job_key"],
        params=json.loads(row["params"]),
        status=IntentStatus(row["status"]),
        tx_hash=row["tx_hash"],
        nonce=row["nonce"],
        receipt=None if receipt is None else json.loads(receipt),
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        signed=None if signed is None else json.loads(signed),
        attempt=row["attempt"],
    )


class JournalMixin(StoreBase):
    def record_intent(
        self, kind: str, job_key: int | None, params: Mapping[str, Any], *, attempt: int = 0
    ) -> int:
        """Journal an action before taking it; returns the intent id.

        ``job_key`` is the store's key of the job the action is for (None for
        actions that belong to no job: stake deposits, withdrawals, registrations);
        ``attempt`` tells apart a job's successive awards or slashes. Raises
        DuplicateIntentError if the same kind and attempt for the same job is open or mined.
        """
        if kind not in INTENT_KINDS:
            raise StoreError(f"unknown intent kind {kind!r}; one of {', '.join(INTENT_KINDS)}")
        encoded = json.dumps(dict(params), sort_keys=True)
        now = self._now()
        with self.transaction():
            try:
                cursor = self._conn.execute(
                    "INSERT INTO intents (kind, job_key, params, status, created_at, updated_at, "
                    "attempt) VALUES (?, ?, ?, 'recorded', ?, ?, ?)",
                    (kind, job_key, encoded, now, now, attempt),
                )
            except sqlite3.IntegrityError as exc:
                raise self._integrity_problem(kind, job_key, attempt, exc) from None
        intent_id = cursor.lastrowid
        assert intent_id is not None
        return intent_id

    def _integrity_problem(
        self, kind: str, job_key: int | None, attempt: int, exc: Exception
    ) -> StoreError:
        row = self._one(
            "SELECT id FROM intents WHERE kind = ? AND job_key = ? AND attempt = ? "
            "AND status IN ('recorded', 'sent', 'mined')",
            (kind, job_key, attempt),
        )
        if row is not None and job_key is not None:
            return DuplicateIntentError(kind, job_key, row[0])
        return StoreError(f"cannot journal {kind} for job {job_key}: {exc}")

    def mark_sent(
        self,
        intent_id: int,
        tx_hash: str,
        nonce: int,
        signed: Mapping[str, Any] | None = None,
    ) -> None:
        """The transaction is signed (hash and nonce known); mark before broadcasting.

        ``signed`` is the signed transaction itself (the chain client's TxRecord as
        JSON, raw bytes included): what a restarted node rebroadcasts if it was dropped.
        """
        encoded = None if signed is None else json.dumps(dict(signed), sort_keys=True)
        self._mark(
            intent_id,
            S.SENT,
            "tx_hash = ?, nonce = ?, signed = ?",
            (tx_hash.lower(), nonce, encoded),
        )

    def mark_mined(self, intent_id: int, receipt: ReceiptLike) -> None:
        """The transaction landed: mined if it succeeded, reverted if not."""
        summary = {
            "tx_hash": receipt.tx_hash.lower(),
            "block_number": receipt.block_number,
            "block_hash": receipt.block_hash.lower(),
            "succeeded": receipt.succeeded,
            "gas_used": receipt.gas_used,
        }
        status = S.MINED if receipt.succeeded else S.REVERTED
        self._mark(
            intent_id,
            status,
            "tx_hash = ?, receipt = ?",
            (summary["tx_hash"], json.dumps(summary, sort_keys=True)),
        )

    def mark_failed(self, intent_id: int, reason: str) -> None:
        """The transaction did not and will not land (refused, or never sent)."""
        self._mark(intent_id, S.FAILED, "reason = ?", (reason,))

    def mark_dropped(self, intent_id: int, reason: str) -> None:
        """The sent transaction left the mempool and its nonce was used by another."""
        self._mark(intent_id, S.DROPPED, "reason = ?", (reason,))

    def _mark(
        self, intent_id: int, status: IntentStatus, assignments: str, params: tuple[object, ...]
    ) -> None:
        with self.transaction():
            current = self.get_intent(intent_id).status
            if current not in _ALLOWED_FROM[status]:
                raise IntentTransitionError(
                    f"intent {intent_id} is {current.value}; it cannot become {status.value}"
                )
            try:
                self._conn.execute(
                    f"UPDATE intents SET status = ?, {assignments}, updated_at = ? WHERE id = ?",
                    (status.value, *params, self._now(), intent_id),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    f"intent {intent_id} cannot become {status.value}: {exc}"
                ) from None

    def get_intent(self, intent_id: int) -> Intent:
        """Intent ``intent_id``; raises UnknownRecordError."""
        row = self._one(f"SELECT {_COLUMNS} FROM intents WHERE id = ?", (intent_id,))
        if row is None:
            raise UnknownRecordError(f"no intent {intent_id}")
        return _intent(row)

    def open_intents(self) -> list[Intent]:
        """Intents not yet known to have landed or failed, oldest first: reconcile these."""
        return [
            _intent(row)
            for row in self._all(
                f"SELECT {_COLUMNS} FROM intents WHERE status IN ('recorded', 'sent') ORDER BY id"
            )
        ]

    def intents_for_job(self, job_key: int) -> list[Intent]:
        """Every intent journaled for job ``job_key``, oldest first."""
        return [
            _intent(row)
            for row in self._all(
                f"SELECT {_COLUMNS} FROM intents WHERE job_key = ? ORDER BY id", (job_key,)
            )
        ]
