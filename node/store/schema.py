"""The store's schema as an ordered list of migrations; ``PRAGMA user_version`` is its version.

Migration i (0-based) takes a database from version i to i + 1; a new database
runs them all. Each runs in its own transaction together with the version bump,
so a crash leaves the database at one version or the next, never between.
Migrations are append-only: a released one is never edited.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from node.store.errors import SchemaTooNewError

INTENT_KINDS = (
    "create_job",
    "award_job",
    "accept_job",
    "submit_proof",
    "cancel_job",
    "slash",
    "withdraw",
    "stake_deposit",
    "stake_withdraw_request",
    "register_model",
)
# Kinds of the first two schema versions: the CHECK of V1 is frozen with the migration.
_V1_KINDS = tuple(k for k in INTENT_KINDS if k != "accept_job")
_V1_KINDS_SQL = ", ".join(f"'{kind}'" for kind in _V1_KINDS)
_KINDS_SQL = ", ".join(f"'{kind}'" for kind in INTENT_KINDS)

# Integers that may exceed SQLite's signed 64 bits (uint256 job ids, uint96 wei
# amounts) are stored as decimal text.
V1 = f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE models (
    model_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    onnx_sha256 BLOB NOT NULL,
    circuit_id BLOB NOT NULL,
    manifest_hash BLOB NOT NULL,
    constraint_count INTEGER NOT NULL,
    n_public INTEGER NOT NULL,
    owner TEXT NOT NULL,
    deprecated INTEGER NOT NULL DEFAULT 0,
    circuit_dir TEXT,
    registered_tx TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX models_by_name ON models (name);
CREATE TABLE jobs (
    key INTEGER PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('requester', 'prover', 'rescuer')),
    job_id TEXT,
    model_id INTEGER,
    state TEXT NOT NULL,
    bid_deadline INTEGER NOT NULL,
    proof_deadline INTEGER NOT NULL,
    counterparty TEXT,
    fee TEXT,
    blob TEXT NOT NULL,
    output_q TEXT,
    output TEXT,
    proof TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (job_id, role)
);
CREATE INDEX jobs_by_state ON jobs (role, state);
CREATE TABLE job_inputs (
    job_key INTEGER PRIMARY KEY REFERENCES jobs (key) ON DELETE CASCADE,
    input_q TEXT NOT NULL,
    salt TEXT NOT NULL,
    stored_at INTEGER NOT NULL
);
CREATE TABLE bids (
    key INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('received', 'sent')),
    source TEXT NOT NULL CHECK (source IN ('gossip', 'direct', 'local')),
    prover TEXT NOT NULL,
    fee TEXT NOT NULL,
    expiry INTEGER NOT NULL,
    signature BLOB NOT NULL,
    peer_id BLOB NOT NULL,
    frame BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'won', 'lost')),
    reason TEXT,
    received_at INTEGER NOT NULL,
    UNIQUE (job_id, direction, signature)
);
CREATE TABLE intents (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ({_V1_KINDS_SQL})),
    job_key INTEGER REFERENCES jobs (key),
    params TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('recorded', 'sent', 'mined', 'reverted', 'failed', 'dropped')),
    tx_hash TEXT,
    nonce INTEGER,
    receipt TEXT,
    reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- "Never submits twice": one open or succeeded intent per (kind, job).
CREATE UNIQUE INDEX intents_once ON intents (kind, job_key)
    WHERE job_key IS NOT NULL AND status IN ('recorded', 'sent', 'mined');
CREATE INDEX intents_open ON intents (status) WHERE status IN ('recorded', 'sent');
CREATE TABLE peers (
    peer_id TEXT PRIMARY KEY,
    address TEXT,
    addrs TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    score REAL NOT NULL DEFAULT 0
);
CREATE TABLE events (
    block_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    PRIMARY KEY (block_hash, log_index)
);
CREATE INDEX events_by_block ON events (block_number);
"""

# The signed transaction of a sent intent (TxRecord JSON with the raw bytes), so a
# restarted node can rebroadcast exactly those bytes; the transaction that proved a
# job (a requester learns it from ProofAccepted).
V2 = """
ALTER TABLE intents ADD COLUMN signed TEXT;
ALTER TABLE jobs ADD COLUMN proof_tx TEXT;
"""

# Settlement v2: a prover accepts a job on-chain (acceptJob), a money-moving intent of its
# own; a requester may award (and slash) one job more than once, after a lapse or a slash, so
# "never twice" holds per (kind, job, attempt): the award's or slash's ordinal. SQLite cannot
# alter a CHECK or an index's columns, so the intents table is rebuilt.
V3 = f"""
CREATE TABLE intents_v3 (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ({_KINDS_SQL})),
    job_key INTEGER REFERENCES jobs (key),
    params TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('recorded', 'sent', 'mined', 'reverted', 'failed', 'dropped')),
    tx_hash TEXT,
    nonce INTEGER,
    receipt TEXT,
    reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    signed TEXT,
    attempt INTEGER NOT NULL DEFAULT 0
);
INSERT INTO intents_v3 (id, kind, job_key, params, status, tx_hash, nonce, receipt, reason,
    created_at, updated_at, signed)
    SELECT id, kind, job_key, params, status, tx_hash, nonce, receipt, reason, created_at,
    updated_at, signed FROM intents;
DROP TABLE intents;
ALTER TABLE intents_v3 RENAME TO intents;
CREATE UNIQUE INDEX intents_once ON intents (kind, job_key, attempt)
    WHERE job_key IS NOT NULL AND status IN ('recorded', 'sent', 'mined');
CREATE INDEX intents_open ON intents (status) WHERE status IN ('recorded', 'sent');
"""

# Trusted setup: a model registered from an on-chain ceremony names it; ``transcript`` is
# the JSON list of its contributors once this node has verified the final key's transcript
# against the registry's record (NULL: not verified here).
V4 = """
ALTER TABLE models ADD COLUMN ceremony_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN transcript TEXT;
"""

# Ceremonies as CeremonyOpened announced them: the coordinator's name for the model (the
# registry emits it and does not store it), so contributors can name a ceremony.
V5 = """
CREATE TABLE ceremonies (
    ceremony_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    coordinator TEXT NOT NULL,
    contribution_deadline INTEGER NOT NULL
);
CREATE INDEX ceremonies_by_name ON ceremonies (name);
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5)


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version (0: empty)."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(conn: sqlite3.Connection, path: str, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the database to the newest version; refuses one newer than this code."""
    current = schema_version(conn)
    if current > len(migrations):
        raise SchemaTooNewError(
            f"{path} has schema version {current}, but this provernet reads versions up to "
            f"{len(migrations)}; upgrade provernet (or use another --home)"
        )
    for version in range(current, len(migrations)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migrations[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(migrations)


def _statements(script: str) -> list[str]:
    """The statements of ``script`` (complete per sqlite3.complete_statement)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"an incomplete SQL statement in a migration: {pending.strip()[:60]}")
    return statements
