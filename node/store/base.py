"""The connection and transaction discipline every part of the store shares."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator


class StoreBase:
    """A SQLite connection in autocommit mode; every change runs inside ``transaction``."""

    def __init__(self, conn: sqlite3.Connection, path: str, clock: Callable[[], float]) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._depth = 0

    def _now(self) -> int:
        return int(self._clock())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block as one transaction: all its changes land, or none.

        Nested blocks are savepoints: an exception caught inside the outer block
        undoes only the inner block's changes.
        """
        self._depth += 1
        depth = self._depth
        begin, commit, rollback = (
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
            if depth == 1
            else (f"SAVEPOINT s{depth}", f"RELEASE s{depth}", f"ROLLBACK TO s{depth}")
        )
        try:
            self._conn.execute(begin)
            try:
                yield
                self._conn.execute(commit)
            except BaseException:
                # Also when COMMIT itself fails (e.g. the disk is full): nothing half-done stays.
                if self._conn.in_transaction:
                    self._conn.execute(rollback)
                    if depth > 1:
                        self._conn.execute(f"RELEASE s{depth}")
                raise
        finally:
            self._depth -= 1

    def _one(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return list(self._conn.execute(sql, params).fetchall())
