"""Opening the store (modes, migrations, chain binding) and its tables' round trips."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from node.store import (
    BidDirection,
    BidSource,
    BidStatus,
    CeremonyRecord,
    ChainCursor,
    CorruptRecordError,
    DuplicateIntentError,
    IntentStatus,
    ModelRecord,
    Role,
    SchemaTooNewError,
    Store,
    StoreError,
    UnknownRecordError,
    WrongChainError,
)
from node.store.codec import JOB_BLOB_VERSION, decode_job, encode_job
from node.store.schema import INTENT_KINDS, MIGRATIONS
from protocol.market import (
    ProverState,
    RequesterJob,
    RequesterState,
    new_prover_job,
    new_requester_job,
)
from protocol.messages import Bid
from tests.node.store.conftest import CHAIN_ID, CONTRACTS, Clock
from tests.protocol.messages.samples import ALICE, BOB, NOW, announcement, sample_bid


def requester_job() -> RequesterJob:
    job, _ = new_requester_job(
        max_fee=10**16, collateral=10**17, bid_deadline=NOW + 60, accept_window=60,
        proof_window=600,
    )  # fmt: skip
    return job


def a_bid(fee: int = 10**15, job_id: int = 7) -> Bid:
    return sample_bid(fee=fee, job_id=job_id)


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
        store.save_job(key, new_prover_job(announcement(), BOB))

    prover = dataclasses.replace(
        new_prover_job(announcement(), BOB), state=ProverState.BID, bid=a_bid()
    )
    prover_key = store.add_job(Role.PROVER, prover)
    assert store.get_job(prover_key).job == prover
    assert store.get_job(prover_key).model_id == announcement().model_id
    with pytest.raises(StoreError, match="already stored as prover"):
        store.add_job(Role.PROVER, prover)
    assert [r.key for r in store.list_jobs(Role.PROVER, ["bid"])] == [prover_key]
    assert len(store.list_jobs()) == 2
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
    assert json.loads(blob)["v"] == JOB_BLOB_VERSION == 2
    assert decode_job(blob) == requester_job()
    with pytest.raises(CorruptRecordError, match="blob version 3"):
        decode_job(blob.replace('"v": 2', '"v": 3'))
    with pytest.raises(CorruptRecordError, match="does not decode"):
        decode_job(blob.replace('"creating"', '"flying"'))
    with pytest.raises(CorruptRecordError, match="unknown fields"):
        decode_job(blob.replace('"max_fee"', '"max_fees"'))


# A requester job as settlement v1 stored it (JOB_BLOB_VERSION 1): deadlines, not windows.
V1_BLOB = json.dumps({
    "v": 1,
    "type": "RequesterJob",
    "fields": {"state": "overdue", "max_fee": 10, "collateral": 0, "bid_deadline": 5,
               "proof_deadline": 6, "rescue_window": 1, "job_id": 3},
})  # fmt: skip


def test_a_settlement_v1_job_blob_is_refused_with_what_to_do() -> None:
    with pytest.raises(CorruptRecordError) as caught:
        decode_job(V1_BLOB)
    message = str(caught.value)
    assert "a job of blob version 1 (another settlement protocol)" in message
    assert "this provernet reads version 2" in message
    assert "settle such jobs with the release that made them" in message
    assert "does not decode" not in message  # named for what it is, not as garbage


def test_a_stored_v1_job_is_refused_when_read(store: Store) -> None:
    key = store.add_job(Role.REQUESTER, requester_job())
    store._conn.execute("UPDATE jobs SET blob = ? WHERE key = ?", (V1_BLOB, key))
    with pytest.raises(CorruptRecordError, match="blob version 1"):
        store.get_job(key)


def test_lifecycle_objects_of_every_state_round_trip() -> None:
    job = dataclasses.replace(
        requester_job(), job_id=7, prover=BOB, fee=5, accept_deadline=NOW + 70,
        proof_deadline=NOW + 700, round=2, awards=3, slashes=1,
    )  # fmt: skip
    for state in RequesterState:
        for resume in (None, RequesterState.LAPSED):
            moved = dataclasses.replace(job, state=state, resume=resume)
            assert decode_job(encode_job(moved)) == moved
    prover = dataclasses.replace(new_prover_job(announcement(round=3), BOB), bid=a_bid(),
                                 accept_deadline=NOW + 9, proof_deadline=NOW + 99, attempts=2,
                                 reason="the plan no longer fits")  # fmt: skip
    for pstate in ProverState:
        moved_prover = dataclasses.replace(prover, state=pstate)
        assert decode_job(encode_job(moved_prover)) == moved_prover


def test_the_indexed_deadline_follows_the_chain(store: Store) -> None:
    """The jobs table's proof_deadline column: a requester's is the chain's once accepted
    (0 before), a prover's the latest moment its proof could be due."""
    key = store.add_job(Role.REQUESTER, requester_job())

    def column() -> int:
        row = store._one("SELECT proof_deadline FROM jobs WHERE key = ?", (key,))
        assert row is not None
        return int(row[0])

    assert column() == 0
    store.save_job(key, dataclasses.replace(requester_job(), proof_deadline=NOW + 700))
    assert column() == NOW + 700
    prover = dataclasses.replace(new_prover_job(announcement(), BOB), bid=a_bid())
    key = store.add_job(Role.PROVER, prover)
    assert column() == prover.work_deadline == a_bid().expiry + 60 + 600


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
    verified = dataclasses.replace(model, model_id=7, ceremony_id=3, transcript=("0xa", "0xb"))
    store.upsert_model(verified)
    assert store.get_model(7) == verified
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


def test_ceremony_openings_are_kept_once_and_found_by_name(store: Store) -> None:
    first = CeremonyRecord(3, "digits", "0xA", 1_000)
    store.add_ceremony(first)
    store.add_ceremony(CeremonyRecord(3, "renamed", "0xB", 2_000))  # a replayed id: kept as was
    store.add_ceremony(CeremonyRecord(9, "digits", "0xC", 3_000))
    store.add_ceremony(CeremonyRecord(4, "other", "0xA", 3_000))
    assert store.get_ceremony(3) == first
    assert store.get_ceremony(5) is None
    assert [c.ceremony_id for c in store.ceremonies_named("digits")] == [9, 3]
    assert store.ceremonies_named("renamed") == []


def test_a_version_3_store_keeps_its_models_with_no_ceremony(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with open_store(path, migrations=MIGRATIONS[:3]) as old:
        old._conn.execute(
            "INSERT INTO models (model_id, name, onnx_sha256, circuit_id, manifest_hash, "
            "constraint_count, n_public, owner, deprecated, updated_at) "
            "VALUES (4, 'digits', ?, ?, ?, 100, 11, '0xabc', 0, 1)",
            (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32),
        )
    with open_store(path) as store:
        model = store.get_model(4)
        assert model is not None
        assert (model.name, model.ceremony_id, model.transcript) == ("digits", 0, None)
        assert store.integrity_problems() == []


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
        key = old.add_job(Role.REQUESTER, requester_job())
        # As that release journaled it (this one's record_intent writes later columns).
        intent = old._conn.execute(
            "INSERT INTO intents (kind, job_key, params, status, tx_hash, nonce, created_at, "
            "updated_at) VALUES ('create_job', ?, '{}', 'sent', '0xaa', 3, 0, 0)",
            (key,),
        ).lastrowid
        assert intent is not None
    with open_store(path) as store:
        upgraded = store.get_intent(intent)
        assert (upgraded.status, upgraded.tx_hash, upgraded.signed) == (
            IntentStatus.SENT, "0xaa", None
        )  # fmt: skip
        assert store.get_job(key).proof_tx is None
        store.set_proof_tx(key, "0xBEEF")
        assert store.get_job(key).proof_tx == "0xbeef"


V2_KINDS = (
    "create_job", "award_job", "submit_proof", "cancel_job", "slash", "withdraw",
    "stake_deposit", "stake_withdraw_request", "register_model",
)  # fmt: skip
V2_STATUSES = ("recorded", "sent", "mined", "reverted", "failed", "dropped")


def _intent_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in conn.execute(
            "SELECT id, kind, job_key, params, status, tx_hash, nonce, receipt, reason, "
            "created_at, updated_at, signed FROM intents ORDER BY id"
        )
    ]


def _indexes(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'intents'"
    )
    return {str(row[0]) for row in rows if not str(row[0]).startswith("sqlite_autoindex")}


def test_a_version_2_store_migrates_its_intents_whole_and_then_takes_acceptances(
    tmp_path: Path,
) -> None:
    """V3 rebuilds the intents table (SQLite cannot alter a CHECK): every intent of every
    settlement-v1 kind and status keeps its id, status, hashes, receipt and signed bytes,
    and "never twice" still holds for the open and mined ones."""
    path = tmp_path / "node.db"
    assert tuple(k for k in INTENT_KINDS if k != "accept_job") == V2_KINDS
    with open_store(path, migrations=MIGRATIONS[:2]) as old:
        conn = old._conn
        keys = [old.add_job(Role.REQUESTER, requester_job()) for _ in V2_STATUSES]
        conn.execute("UPDATE jobs SET blob = ?", (V1_BLOB,))  # as v1 left them
        n = 0
        for kind in V2_KINDS:
            per_job = kind not in ("withdraw", "stake_deposit", "stake_withdraw_request",
                                   "register_model")  # fmt: skip
            for job_key, status in zip(keys, V2_STATUSES, strict=True):
                n += 1
                conn.execute(
                    "INSERT INTO intents (id, kind, job_key, params, status, tx_hash, nonce, "
                    "receipt, reason, created_at, updated_at, signed) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        100 + 3 * n,  # ids with gaps: they must survive as they are
                        kind,
                        job_key if per_job else None,
                        json.dumps({"n": n}),
                        status,
                        None if status == "recorded" else f"0x{n:064x}",
                        None if status == "recorded" else n,
                        '{"succeeded": true}' if status in ("mined", "reverted") else None,
                        "gone" if status in ("failed", "dropped") else None,
                        1_000 + n,
                        2_000 + n,
                        json.dumps({"raw": f"0x02{n:x}"}) if status == "sent" else None,
                    ),
                )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(
                "INSERT INTO intents (kind, params, status, created_at, updated_at) "
                "VALUES ('accept_job', '{}', 'recorded', 0, 0)"
            )
        before = _intent_rows(conn)
        indexes = _indexes(conn)
        assert len(before) == len(V2_KINDS) * len(V2_STATUSES)
    with open_store(path) as store:
        conn = store._conn
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert _intent_rows(conn) == before
        assert _indexes(conn) == indexes == {"intents_once", "intents_open"}
        assert {i.attempt for i in (store.get_intent(int(row[0])) for row in before)} == {0}
        assert store.integrity_problems() == []
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        open_ids = [int(row[0]) for row in before if row[4] in ("recorded", "sent")]
        assert [i.id for i in store.open_intents()] == open_ids
        sent = next(i for i in store.open_intents() if i.status is IntentStatus.SENT)
        assert sent.signed is not None
        assert sent.signed["raw"].startswith("0x02")
        # "Never twice": a job's open or mined createJob, awardJob, ... blocks another of its
        # kind; the job whose intents all reverted, failed or dropped may journal again.
        by_status = dict(zip(V2_STATUSES, keys, strict=True))
        for kind in ("create_job", "award_job", "submit_proof", "cancel_job", "slash"):
            for status in ("recorded", "sent", "mined"):
                with pytest.raises(DuplicateIntentError):
                    store.record_intent(kind, by_status[status], {})
            for status in ("reverted", "failed", "dropped"):
                store.record_intent(kind, by_status[status], {})
            store.record_intent(kind, by_status["mined"], {}, attempt=1)  # a later award
        # ... and the new kind is journaled, once per job.
        accept = store.record_intent("accept_job", by_status["mined"], {"job_id": "3"})
        assert store.get_intent(accept).kind == "accept_job"
        with pytest.raises(DuplicateIntentError):
            store.record_intent("accept_job", by_status["mined"], {})
        assert accept > max(int(row[0]) for row in before)
        # The jobs themselves are another protocol's and are refused when read.
        with pytest.raises(CorruptRecordError, match="blob version 1"):
            store.get_job(keys[0])
