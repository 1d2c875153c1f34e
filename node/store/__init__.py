"""The node's durable state: one SQLite file (``node.db`` in the home).

What it owns. The chain this node belongs to (chain id and contract addresses,
recorded on first open; another chain's or deployment's store is refused), the
event watcher's resume point, the models, the ceremonies' openings (their names), the
jobs from each side (requester, prover: the protocol.market lifecycle objects as
versioned blobs, with
state, deadlines, counterparty and fee copied into indexed columns), the private
inputs of jobs we hold, every bid received or sent, the intent journal, and the
peers we have met.

Invariants.
- Every change is one transaction (``Store.transaction`` groups several): after a
  crash at any instant each change is there entirely or not at all.
- Every money-moving action is journaled (``record_intent``) before its
  transaction is signed, and marked with its outcome after; one intent per
  (kind, job) may be open or mined (see node.store.journal).
- Chain events are applied exactly once: the daemon applies a batch's events,
  ``record_event`` for each (a replayed event returns False and is skipped) and
  ``set_cursor`` for the batch in ONE transaction. Either alone would do after a
  clean stop; both together make a replay after a crash between two batches, or
  an overlapping re-read of the unconfirmed tail, harmless.
- Private inputs leave with ``forget_input`` once a job settles, unless the
  configuration keeps them. The file is mode 0600.

How to call it. Calls are short local transactions (a WAL commit with one fsync,
well under a millisecond to a few milliseconds on an SSD), so the daemon calls the
store directly from its trio thread, from the one task that owns it; it must not
be shared across threads (sqlite3's same-thread check is on). Bulk work, such as
a replay of thousands of events at start-up, should be batched into a few
transactions rather than moved to a worker thread.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from node.store.chain_state import ChainStateMixin
from node.store.errors import (
    CorruptRecordError,
    DuplicateIntentError,
    IntentTransitionError,
    SchemaTooNewError,
    StoreError,
    UnknownRecordError,
    WrongChainError,
)
from node.store.jobs import JobsMixin
from node.store.journal import JournalMixin
from node.store.market import MarketMixin
from node.store.records import (
    BidDirection,
    BidRecord,
    BidSource,
    BidStatus,
    CeremonyRecord,
    ChainCursor,
    Intent,
    IntentStatus,
    JobInput,
    JobRecord,
    ModelRecord,
    PeerInfo,
    Role,
)
from node.store.schema import INTENT_KINDS, MIGRATIONS, migrate

DB_MODE = 0o600
# Milliseconds a writer waits for another connection's lock (a CLI reading while
# the daemon writes) before failing with "database is locked".
BUSY_TIMEOUT_MS = 5000

__all__ = [
    "INTENT_KINDS",
    "BidDirection",
    "BidRecord",
    "BidSource",
    "BidStatus",
    "CeremonyRecord",
    "ChainCursor",
    "CorruptRecordError",
    "DuplicateIntentError",
    "Intent",
    "IntentStatus",
    "IntentTransitionError",
    "JobInput",
    "JobRecord",
    "ModelRecord",
    "PeerInfo",
    "Role",
    "SchemaTooNewError",
    "Store",
    "StoreError",
    "UnknownRecordError",
    "WrongChainError",
]


class Store(ChainStateMixin, JobsMixin, JournalMixin, MarketMixin):
    """The node's SQLite store; open with ``Store.open`` and close when done."""

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        chain_id: int,
        contracts: Mapping[str, str],
        clock: Callable[[], float] = time.time,
        migrations: Sequence[str] = MIGRATIONS,
    ) -> Store:
        """Open (creating, mode 0600) and migrate the store of ``chain_id``'s ``contracts``."""
        _create_private(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        store = cls(conn, str(path), clock)
        try:
            conn.row_factory = sqlite3.Row
            _configure(conn)
            migrate(conn, str(path), migrations)
            store._bind_chain(chain_id, contracts)
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed)."""
        self._conn.close()

    def integrity_problems(self) -> list[str]:
        """SQLite's integrity check findings (empty when the file is sound)."""
        rows = self._all("PRAGMA integrity_check")
        found = [str(row[0]) for row in rows]
        return [] if found == ["ok"] else found

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal and -shm inherit the mode)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, DB_MODE)
        os.close(fd)
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, DB_MODE)
    except OSError as exc:
        raise StoreError(f"cannot create the store {path}: {exc}") from exc


def _configure(conn: sqlite3.Connection) -> None:
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"not a provernet store (or a damaged one): {exc}") from exc
    if str(mode).lower() != "wal":
        raise StoreError(f"the store could not switch to WAL mode (got {mode})")
    conn.execute("PRAGMA foreign_keys = ON")
    # FULL: a commit is on disk before the call returns, so an intent journaled
    # before a transaction is broadcast survives a power cut, not only a crash.
    conn.execute("PRAGMA synchronous = FULL")
