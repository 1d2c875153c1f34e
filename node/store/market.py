"""Bids (received and sent), registered models, and the peers we have met."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from node.store.base import StoreBase
from node.store.errors import UnknownRecordError
from node.store.records import (
    BidDirection,
    BidRecord,
    BidSource,
    BidStatus,
    CeremonyRecord,
    ModelRecord,
    PeerInfo,
)
from protocol.messages import Bid, decode_as, encode

_MODEL_COLUMNS = (
    "model_id, name, onnx_sha256, circuit_id, manifest_hash, constraint_count, n_public, "
    "owner, deprecated, circuit_dir, registered_tx, ceremony_id, transcript"
)


def _bid(row: sqlite3.Row) -> BidRecord:
    return BidRecord(
        key=row["key"],
        bid=decode_as(bytes(row["frame"]), Bid),
        direction=BidDirection(row["direction"]),
        source=BidSource(row["source"]),
        status=BidStatus(row["status"]),
        reason=row["reason"],
        received_at=row["received_at"],
    )


def _model(row: sqlite3.Row) -> ModelRecord:
    return ModelRecord(
        model_id=row["model_id"],
        name=row["name"],
        onnx_sha256=bytes(row["onnx_sha256"]),
        circuit_id=bytes(row["circuit_id"]),
        manifest_hash=bytes(row["manifest_hash"]),
        constraint_count=row["constraint_count"],
        n_public=row["n_public"],
        owner=row["owner"],
        deprecated=bool(row["deprecated"]),
        circuit_dir=row["circuit_dir"],
        registered_tx=row["registered_tx"],
        ceremony_id=row["ceremony_id"],
        transcript=None if row["transcript"] is None else tuple(json.loads(row["transcript"])),
    )


class MarketMixin(StoreBase):
    def add_bid(self, bid: Bid, direction: BidDirection, source: BidSource) -> tuple[int, bool]:
        """Store a bid; returns its key and whether it is new (the same signed bid is kept once)."""
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO bids (job_id, direction, source, prover, fee, expiry, "
                "signature, peer_id, frame, status, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                (
                    str(bid.job_id),
                    direction.value,
                    source.value,
                    "0x" + bid.prover.hex(),
                    str(bid.fee),
                    bid.expiry,
                    bid.signature,
                    bid.peer_id,
                    encode(bid),
                    self._now(),
                ),
            )
            if cursor.rowcount == 1:
                assert cursor.lastrowid is not None
                return cursor.lastrowid, True
            row = self._one(
                "SELECT key FROM bids WHERE job_id = ? AND direction = ? AND signature = ?",
                (str(bid.job_id), direction.value, bid.signature),
            )
        assert row is not None
        return int(row[0]), False

    def set_bid_status(self, key: int, status: BidStatus, reason: str | None = None) -> None:
        """Record a bid's validation result (with the reason for an invalid one)."""
        with self.transaction():
            changed = self._conn.execute(
                "UPDATE bids SET status = ?, reason = ? WHERE key = ?", (status.value, reason, key)
            ).rowcount
        if changed != 1:
            raise UnknownRecordError(f"no bid with key {key}")

    def mark_winner(self, job_id: int, key: int) -> None:
        """Bid ``key`` won job ``job_id``: every other valid or pending bid for it lost."""
        with self.transaction():
            self.set_bid_status(key, BidStatus.WON)
            self._conn.execute(
                "UPDATE bids SET status = 'lost' WHERE job_id = ? AND key != ? "
                "AND status IN ('pending', 'valid')",
                (str(job_id), key),
            )

    def bids_for_job(self, job_id: int, direction: BidDirection | None = None) -> list[BidRecord]:
        """The bids of job ``job_id``, in arrival order."""
        sql = (
            "SELECT key, direction, source, status, reason, received_at, frame "
            "FROM bids WHERE job_id = ?"
        )
        params: tuple[object, ...] = (str(job_id),)
        if direction is not None:
            sql += " AND direction = ?"
            params += (direction.value,)
        return [_bid(row) for row in self._all(sql + " ORDER BY key", params)]

    def upsert_model(self, model: ModelRecord) -> None:
        """Store or update a model (as the registry and our files say)."""
        values = (
            model.model_id,
            model.name,
            model.onnx_sha256,
            model.circuit_id,
            model.manifest_hash,
            model.constraint_count,
            model.n_public,
            model.owner,
            int(model.deprecated),
            model.circuit_dir,
            model.registered_tx,
            model.ceremony_id,
            None if model.transcript is None else json.dumps(list(model.transcript)),
            self._now(),
        )
        columns = _MODEL_COLUMNS + ", updated_at"
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns.split(", ")[1:])
        with self.transaction():
            self._conn.execute(
                f"INSERT INTO models ({columns}) VALUES ({', '.join('?' * len(values))}) "
                f"ON CONFLICT (model_id) DO UPDATE SET {updates}",
                values,
            )

    def get_model(self, model_id: int) -> ModelRecord | None:
        """Model ``model_id``, if known."""
        row = self._one(f"SELECT {_MODEL_COLUMNS} FROM models WHERE model_id = ?", (model_id,))
        return None if row is None else _model(row)

    def models_named(self, name: str) -> list[ModelRecord]:
        """Models registered under ``name`` (names are not unique on-chain), newest first."""
        sql = f"SELECT {_MODEL_COLUMNS} FROM models WHERE name = ? ORDER BY model_id DESC"
        return [_model(row) for row in self._all(sql, (name,))]

    def list_models(self) -> list[ModelRecord]:
        """Every known model, by id."""
        return [_model(r) for r in self._all(f"SELECT {_MODEL_COLUMNS} FROM models ORDER BY 1")]

    def set_model_dir(self, model_id: int, circuit_dir: str | None) -> None:
        """Where this node keeps the model's circuit (None: not held)."""
        with self.transaction():
            changed = self._conn.execute(
                "UPDATE models SET circuit_dir = ?, updated_at = ? WHERE model_id = ?",
                (circuit_dir, self._now(), model_id),
            ).rowcount
        if changed != 1:
            raise UnknownRecordError(f"no model {model_id}")

    def add_ceremony(self, ceremony: CeremonyRecord) -> None:
        """Record an opened ceremony (its opening never changes: a replay is a no-op)."""
        with self.transaction():
            self._conn.execute(
                "INSERT OR IGNORE INTO ceremonies (ceremony_id, name, coordinator, "
                "contribution_deadline) VALUES (?, ?, ?, ?)",
                (ceremony.ceremony_id, ceremony.name, ceremony.coordinator,
                 ceremony.contribution_deadline),
            )  # fmt: skip

    def get_ceremony(self, ceremony_id: int) -> CeremonyRecord | None:
        """Ceremony ``ceremony_id``, if its opening has been seen."""
        row = self._one(
            "SELECT ceremony_id, name, coordinator, contribution_deadline FROM ceremonies "
            "WHERE ceremony_id = ?",
            (ceremony_id,),
        )
        return None if row is None else CeremonyRecord(*row)

    def ceremonies_named(self, name: str) -> list[CeremonyRecord]:
        """Ceremonies opened under ``name``, newest first."""
        rows = self._all(
            "SELECT ceremony_id, name, coordinator, contribution_deadline FROM ceremonies "
            "WHERE name = ? ORDER BY ceremony_id DESC",
            (name,),
        )
        return [CeremonyRecord(*row) for row in rows]

    def see_peer(
        self, peer_id: str, *, address: str | None = None, addrs: Sequence[str] = ()
    ) -> None:
        """Note that ``peer_id`` was seen now (keeping what was known of it before)."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO peers (peer_id, address, addrs, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (peer_id) DO UPDATE SET "
                "address = coalesce(excluded.address, address), "
                "addrs = CASE WHEN excluded.addrs = '[]' THEN addrs ELSE excluded.addrs END, "
                "last_seen = excluded.last_seen",
                (peer_id, address, json.dumps(list(addrs)), self._now()),
            )

    def set_peer_score(self, peer_id: str, score: float) -> None:
        """Replace a known peer's score."""
        with self.transaction():
            changed = self._conn.execute(
                "UPDATE peers SET score = ? WHERE peer_id = ?", (score, peer_id)
            ).rowcount
        if changed != 1:
            raise UnknownRecordError(f"no peer {peer_id}")

    def list_peers(self) -> list[PeerInfo]:
        """Known peers, most recently seen first."""
        rows = self._all(
            "SELECT peer_id, address, addrs, last_seen, score FROM peers ORDER BY last_seen DESC"
        )
        return [PeerInfo(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4]) for r in rows]
