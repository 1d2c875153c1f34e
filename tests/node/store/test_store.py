"""Opening the store (modes, migrations, chain binding) and its tables' round trips."""

from __future__ import annotations

import dataclasses
import sqlite3
import stat
from pathlib import Path

import pytest

from node.store import (
    BidDirection,
    BidSource,
    BidStatus,
    ChainCursor,
    CorruptRecordError,
    IntentStatus,
    ModelRecord,
    Role,
    SchemaTooNewError,
    Store,
    StoreError,
    UnknownRecordError,
    WrongChainError,
)
from node.store.codec import decode_job, encode_job
from node.store.schema import MIGRATIONS
from protocol.market import (
    ProverState,
    RequesterJob,
    RequesterState,
    new_prover_job,
    new_requester_job,
)
from protocol.messages import Bid, sign_bid
from tests.node.store.conftest import CHAIN_ID, CONTRACTS, Clock
from tests.protocol.messages.samples import ALICE, BOB, BOB_KEY, MARKET, NOW, PEER_B, announcement


def requester_job() -> RequesterJob:
    job, _ = new_requester_job(
        max_fee=10**16, collateral=10**17, bid_deadline=NOW + 60, proof_deadline=NOW + 600,
        rescue_window=3600,
    )  # fmt: skip
    return job


def a_bid(fee: int = 10**15, job_id: int = 7) -> Bid:
    return sign_bid(
        BOB_KEY, CHAIN_ID, MARKET, job_id=job_id, fee=fee, expiry=NOW + 50, peer_id=PEER_B
    )


def open_store(path: Path, **changes: object) -> Store:
    options: dict[str, object] = {"chain_id": CHAIN_ID, "contracts": CONTRACTS, **changes}
    return Store.open(path, **options)  # type: ignore[arg-type]


def test_a_new_store_is_private_wal_and_at_the_newest_schema(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with open_store(path) as store:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(f"{path}-wal").stat().st_mode) == 0o600
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert store.integrity_problems() == []
        assert store.chain_binding() == (CHAIN_ID, {k: v.lower() for k, v in CONTRACTS.items()})


def test_migrations_run_once_in_order_and_keep_data(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with open_store(path) as store:
        store.see_peer("peer-a", address="0xabc")
    v2 = "ALTER TABLE peers ADD COLUMN agent TEXT;\nUPDATE peers SET agent = 'old';"
    with open_store(path, migrations=(*MIGRATIONS, v2)) as store:
        row = store._conn.execute("SELECT peer_id, agent FROM peers").fetchone()
        assert tuple(row) == ("peer-a", "old")
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    # A failing migration leaves the database at the version before it.
    broken = (*MIGRATIONS, v2, "CREATE TABLE extra (x);\nSELECT * FROM no_such_table;")
    with pytest.raises(sqlite3.OperationalError):
        open_store(path, migrations=broken)
    with open_store(path, migrations=(*MIGRATIONS, v2)) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
        assert store._one("SELECT name FROM sqlite_master WHERE name = 'extra'") is None


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    open_store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(SchemaTooNewError, match="upgrade provernet"):
        open_store(path)


def test_another_chain_or_deployment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    open_store(path).close()
    with pytest.raises(WrongChainError, match="chain 31337, not chain 1"):
        open_store(path, chain_id=1)
    moved = {**CONTRACTS, "JobMarket": "0x" + "11" * 20}
    with pytest.raises(WrongChainError, match="JobMarket at 0x9fe4"):
        open_store(path, contracts=moved)
    open_store(
        path, contracts={k: v.upper().replace("0X", "0x") for k, v in CONTRACTS.items()}
    ).close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    path.write_bytes(b"not sqlite" * 100)
    with pytest.raises(StoreError, match="not a provernet store"):
        open_store(path)


def test_jobs_round_trip_with_their_lifecycle_objects(store: Store, clock: Clock) -> None:
    key = store.add_job(Role.REQUESTER, requester_job(), model_id=3)
    record = store.get_job(key)
    assert record.job == requester_job()
    assert (record.job_id, record.model_id, record.state) == (None, 3, "creating")
    created = dataclasses.replace(requester_job(), state=RequesterState.CREATED, job_id=2**200)
    clock.now += 5
    store.save_job(key, created)
    assert store.find_job(2**200, Role.REQUESTER) == dataclasses.replace(
        store.get_job(key), job=created
    )
    assert store.get_job(key).updated_at == record.updated_at + 5
    with pytest.raises(StoreError, match="is chain job"):
        store.save_job(key, dataclasses.replace(created, job_id=9))
    with pytest.raises(StoreError, match="a requester job is a RequesterJob"):
        store.save_job(key, new_prover_job(announcement(), BOB, 3600))

    prover = dataclasses.replace(
        new_prover_job(announcement(), BOB, 3600), state=ProverState.BID, bid=a_bid()
    )
    prover_key = store.add_job(Role.PROVER, prover)
    assert store.get_job(prover_key).job == prover
    assert store.get_job(prover_key).model_id == announcement().model_id
    with pytest.raises(StoreError, match="already stored as prover"):
        store.add_job(Role.PROVER, prover)
    store.add_job(Role.RESCUER, prover)  # another side of the same job
    assert [r.key for r in store.list_jobs(Role.PROVER, ["bid"])] == [prover_key]
    assert len(store.list_jobs()) == 3
    with pytest.raises(UnknownRecordError):
        store.get_job(999)


def test_outputs_proofs_and_private_inputs(store: Store) -> None:
    key = store.add_job(Role.REQUESTER, requester_job())
    store.set_outputs(key, [-3, 2**40], [-0.75, 1.5])
    store.set_proof(key, [2**255 + 1, 7])
    record = store.get_job(key)
    assert (record.output_q, record.output, record.proof) == (
        (-3, 2**40),
        (-0.75, 1.5),
        (2**255 + 1, 7),
    )
    assert store.get_input(key) is None
    store.put_input(key, [-(2**31), 0, 5], salt=2**250)
    held = store.get_input(key)
    assert held is not None
    assert held.input_q == (-(2**31), 0, 5)
    assert held.salt == 2**250
    assert store.forget_input(key) is True
    assert store.forget_input(key) is False
    assert store.get_input(key) is None
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are on
        store.put_input(12345, [1], 1)


def test_job_blobs_are_versioned(store: Store) -> None:
    blob = encode_job(requester_job())
    assert decode_job(blob) == requester_job()
    with pytest.raises(CorruptRecordError, match="version 2"):
        decode_job(blob.replace('"v": 1', '"v": 2'))
    with pytest.raises(CorruptRecordError, match="does not decode"):
        decode_job(blob.replace('"creating"', '"flying"'))
    with pytest.raises(CorruptRecordError, match="unknown fields"):
        decode_job(blob.replace('"max_fee"', '"max_fees"'))


def test_bids_are_kept_once_and_judged(store: Store) -> None:
    first, second = a_bid(10**15), a_bid(2 * 10**15)
    key, new = store.add_bid(first, BidDirection.RECEIVED, BidSource.GOSSIP)
    assert new
    assert store.add_bid(first, BidDirection.RECEIVED, BidSource.DIRECT) == (key, False)
    other, _ = store.add_bid(second, BidDirection.RECEIVED, BidSource.DIRECT)
    bad, _ = store.add_bid(a_bid(3 * 10**15), BidDirection.RECEIVED, BidSource.GOSSIP)
    store.set_bid_status(bad, BidStatus.INVALID, "fee above the max fee")
    store.mark_winner(7, other)
    bids = {r.key: r for r in store.bids_for_job(7)}
    assert bids[other].status is BidStatus.WON
    assert bids[key].status is BidStatus.LOST
    assert (bids[bad].status, bids[bad].reason) == (BidStatus.INVALID, "fee above the max fee")
    assert bids[key].bid == first
    assert bids[key].source is BidSource.GOSSIP
    assert store.bids_for_job(7, BidDirection.SENT) == []
    assert store.bids_for_job(8) == []
    with pytest.raises(UnknownRecordError):
        store.set_bid_status(999, BidStatus.VALID)


def test_models_and_peers(store: Store, clock: Clock) -> None:
    model = ModelRecord(
        2**40, "digits", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 120_000, 11, "0x" + ALICE.hex()
    )
    store.upsert_model(model)
    store.upsert_model(dataclasses.replace(model, model_id=5))
    store.set_model_dir(5, "/home/models/5")
    store.upsert_model(dataclasses.replace(model, deprecated=True))
    assert store.get_model(2**40) == dataclasses.replace(model, deprecated=True)
    assert [m.model_id for m in store.models_named("digits")] == [2**40, 5]
    assert store.get_model(5).circuit_dir == "/home/models/5"  # type: ignore[union-attr]
    assert store.get_model(6) is None
    store.see_peer("peer-a", address="0xabc", addrs=["/ip4/1.2.3.4/tcp/1"])
    clock.now += 10
    store.see_peer("peer-b")
    clock.now += 10
    store.see_peer("peer-a")  # seen again: address and addresses are kept
    store.set_peer_score("peer-a", -2.5)
    a, b = store.list_peers()
    assert (a.peer_id, a.address, a.addrs, a.score) == (
        "peer-a", "0xabc", ("/ip4/1.2.3.4/tcp/1",), -2.5
    )  # fmt: skip
    assert (b.peer_id, b.address, b.addrs, b.last_seen) == ("peer-b", None, (), a.last_seen - 10)
    with pytest.raises(UnknownRecordError):
        store.set_peer_score("peer-z", 1)


def test_cursor_and_events_make_replay_idempotent(store: Store) -> None:
    assert store.cursor() is None
    with store.transaction():
        assert store.record_event(10, "0xAA", 0, "0x01") is True
        assert store.record_event(10, "0xaa", 1, "0x01") is True
        store.set_cursor(ChainCursor(11, (10, "0xaa")))
    assert store.cursor() == ChainCursor(11, (10, "0xaa"))
    assert store.record_event(10, "0xaa", 0, "0x01") is False  # replayed: skip it
    assert store.forget_events_from(10) == 2
    assert store.record_event(10, "0xaa", 0, "0x01") is True


def crash_midway(store: Store, next_block: int) -> None:
    with store.transaction():
        if next_block == 5:
            store.add_job(Role.REQUESTER, requester_job())
        store.set_cursor(ChainCursor(next_block, None))
        raise RuntimeError("crash in the middle")


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError):
        crash_midway(store, 5)
    assert store.list_jobs() == []
    assert store.cursor() is None
    # A failing inner block undoes only itself.
    with store.transaction():
        kept = store.add_job(Role.REQUESTER, requester_job())
        with pytest.raises(RuntimeError):
            crash_midway(store, 6)
    assert [r.key for r in store.list_jobs()] == [kept]
    assert store.cursor() is None


def test_a_version_1_store_upgrades_with_its_sent_intents_and_jobs(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with open_store(path, migrations=MIGRATIONS[:1]) as old:
        job, _ = new_requester_job(
            max_fee=10, collateral=0, bid_deadline=5, proof_deadline=6, rescue_window=1
        )
        key = old.add_job(Role.REQUESTER, job)
        intent = old.record_intent("create_job", key, {})
        old._conn.execute("UPDATE intents SET status = 'sent', tx_hash = '0xaa', nonce = 3")
    with open_store(path) as store:
        upgraded = store.get_intent(intent)
        assert (upgraded.status, upgraded.tx_hash, upgraded.signed) == (
            IntentStatus.SENT, "0xaa", None
        )  # fmt: skip
        assert store.get_job(key).proof_tx is None
        store.set_proof_tx(key, "0xBEEF")
        assert store.get_job(key).proof_tx == "0xbeef"
