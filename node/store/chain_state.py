"""The store's chain bookkeeping: which chain it belongs to, where the watcher resumes,
and which events it has applied."""

from __future__ import annotations

import json
from collections.abc import Mapping

from node.store.base import StoreBase
from node.store.errors import WrongChainError
from node.store.records import ChainCursor


class ChainStateMixin(StoreBase):
    def _meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _bind_chain(self, chain_id: int, contracts: Mapping[str, str]) -> None:
        """Record the chain and contracts on first open; refuse any other afterwards."""
        wanted = {name: address.lower() for name, address in contracts.items()}
        with self.transaction():
            stored_id, stored_contracts = self._meta("chain_id"), self._meta("contracts")
            if stored_id is None or stored_contracts is None:
                self._set_meta("chain_id", str(chain_id))
                self._set_meta("contracts", json.dumps(wanted, sort_keys=True))
                return
        if int(stored_id) != chain_id:
            raise WrongChainError(
                f"{self.path} holds the state of chain {stored_id}, not chain {chain_id}; "
                "use another --home for another chain"
            )
        recorded = json.loads(stored_contracts)
        for name, address in wanted.items():
            if recorded.get(name, address) != address:
                raise WrongChainError(
                    f"{self.path} holds the state of {name} at {recorded[name]}, not {address} "
                    "(a redeployed or reset chain?); use another --home"
                )

    def chain_binding(self) -> tuple[int, dict[str, str]]:
        """The chain id and contract addresses (lowercase) this store belongs to."""
        chain_id, contracts = self._meta("chain_id"), self._meta("contracts")
        assert chain_id is not None, "bound when opened"
        assert contracts is not None, "bound when opened"
        return int(chain_id), json.loads(contracts)

    def cursor(self) -> ChainCursor | None:
        """Where the event watcher resumes (None: from the deployment block)."""
        raw = self._meta("cursor")
        if raw is None:
            return None
        data = json.loads(raw)
        anchor = data["anchor"]
        return ChainCursor(
            int(data["next_block"]), None if anchor is None else (int(anchor[0]), str(anchor[1]))
        )

    def set_cursor(self, cursor: ChainCursor) -> None:
        """Advance the resume point; call it in the transaction that applies the batch's events."""
        value = {"next_block": cursor.next_block, "anchor": cursor.anchor}
        with self.transaction():
            self._set_meta("cursor", json.dumps(value))

    def record_event(
        self, block_number: int, block_hash: str, log_index: int, tx_hash: str
    ) -> bool:
        """Note an event as applied; False if it already was (skip it: replay is idempotent)."""
        with self.transaction():
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO events (block_hash, log_index, block_number, tx_hash) "
                "VALUES (?, ?, ?, ?)",
                (block_hash.lower(), log_index, block_number, tx_hash.lower()),
            ).rowcount
        return inserted == 1

    def forget_events_from(self, block_number: int) -> int:
        """Drop the applied-event marks of blocks >= ``block_number`` (after a reorg)."""
        with self.transaction():
            return self._conn.execute(
                "DELETE FROM events WHERE block_number >= ?", (block_number,)
            ).rowcount
