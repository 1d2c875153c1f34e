"""Jobs (one row per job and side) and the private inputs of the jobs we hold."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from node.store.base import StoreBase
from node.store.codec import decode_job, encode_job
from node.store.errors import StoreError, UnknownRecordError
from node.store.records import Job, JobInput, JobRecord, Role
from protocol.market import ProverJob, RequesterJob

_JOB_COLUMNS = (
    "key, role, model_id, blob, output_q, output, proof, created_at, updated_at, proof_tx"
)


def _indexed(job: Job) -> dict[str, object]:
    """The columns the store indexes and lists by, derived from the lifecycle object."""
    if isinstance(job, ProverJob):
        terms = job.job
        return {
            "job_id": str(terms.job_id),
            "state": job.state.value,
            "bid_deadline": terms.bid_deadline,
            "proof_deadline": job.work_deadline,
            "counterparty": "0x" + terms.requester.hex(),
            "fee": None if job.bid is None else str(job.bid.fee),
        }
    return {
        "job_id": None if job.job_id is None else str(job.job_id),
        "state": job.state.value,
        "bid_deadline": job.bid_deadline,
        "proof_deadline": job.proof_deadline or 0,
        "counterparty": None if job.prover is None else "0x" + job.prover.hex(),
        "fee": None if job.fee is None else str(job.fee),
    }


def _check_role(role: Role, job: Job) -> None:
    expected = RequesterJob if role is Role.REQUESTER else ProverJob
    if not isinstance(job, expected):
        raise StoreError(f"a {role.value} job is a {expected.__name__}, not {type(job).__name__}")


def _ints(raw: str | None) -> tuple[int, ...] | None:
    return None if raw is None else tuple(int(v) for v in json.loads(raw))


def _record(row: sqlite3.Row) -> JobRecord:
    output = row["output"]
    return JobRecord(
        key=row["key"],
        role=Role(row["role"]),
        job=decode_job(row["blob"]),
        model_id=row["model_id"],
        output_q=_ints(row["output_q"]),
        output=None if output is None else tuple(float(v) for v in json.loads(output)),
        proof=_ints(row["proof"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        proof_tx=row["proof_tx"],
    )


class JobsMixin(StoreBase):
    def add_job(self, role: Role, job: Job, *, model_id: int | None = None) -> int:
        """Store a new job; returns its key. A prover's job takes the model from its terms."""
        _check_role(role, job)
        if isinstance(job, ProverJob):
            model_id = job.job.model_id
        columns = _indexed(job)
        now = self._now()
        with self.transaction():
            try:
                cursor = self._conn.execute(
                    "INSERT INTO jobs (role, job_id, model_id, state, bid_deadline, "
                    "proof_deadline, counterparty, fee, blob, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        role.value,
                        columns["job_id"],
                        model_id,
                        columns["state"],
                        columns["bid_deadline"],
                        columns["proof_deadline"],
                        columns["counterparty"],
                        columns["fee"],
                        encode_job(job),
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"job {columns['job_id']} is already stored as {role.value}"
                ) from None
        key = cursor.lastrowid
        assert key is not None
        return key

    def save_job(self, key: int, job: Job) -> None:
        """Replace job ``key``'s lifecycle object (its chain job id, once set, never changes)."""
        current = self.get_job(key)
        _check_role(current.role, job)
        columns = _indexed(job)
        if current.job_id is not None and columns["job_id"] != str(current.job_id):
            raise StoreError(f"job {key} is chain job {current.job_id}, not {columns['job_id']}")
        with self.transaction():
            self._conn.execute(
                "UPDATE jobs SET job_id = ?, state = ?, bid_deadline = ?, proof_deadline = ?, "
                "counterparty = ?, fee = ?, blob = ?, updated_at = ? WHERE key = ?",
                (
                    columns["job_id"],
                    columns["state"],
                    columns["bid_deadline"],
                    columns["proof_deadline"],
                    columns["counterparty"],
                    columns["fee"],
                    encode_job(job),
                    self._now(),
                    key,
                ),
            )

    def get_job(self, key: int) -> JobRecord:
        """Job ``key``; raises UnknownRecordError."""
        row = self._one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE key = ?", (key,))
        if row is None:
            raise UnknownRecordError(f"no job with key {key}")
        return _record(row)

    def find_job(self, job_id: int, role: Role) -> JobRecord | None:
        """Chain job ``job_id`` as seen from ``role``, if stored."""
        row = self._one(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ? AND role = ?",
            (str(job_id), role.value),
        )
        return None if row is None else _record(row)

    def list_jobs(
        self, role: Role | None = None, states: Iterable[str] | None = None
    ) -> list[JobRecord]:
        """Jobs, oldest first, optionally of one role and in some states (by state value)."""
        where, params = ["1"], []
        if role is not None:
            where.append("role = ?")
            params.append(role.value)
        if states is not None:
            wanted = list(states)
            where.append(f"state IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)} ORDER BY key"
        return [_record(row) for row in self._all(sql, tuple(params))]

    def set_outputs(self, key: int, output_q: Sequence[int], output: Sequence[float]) -> None:
        """Record the job's public outputs: quantized, and dequantized for people."""
        self._update(
            key,
            "output_q = ?, output = ?",
            (json.dumps([int(v) for v in output_q]), json.dumps([float(v) for v in output])),
        )

    def set_proof(self, key: int, calldata_words: Sequence[int]) -> None:
        """Record the proof as the uint256 words submitProof takes."""
        self._update(key, "proof = ?", (json.dumps([str(int(w)) for w in calldata_words]),))

    def set_proof_tx(self, key: int, tx_hash: str) -> None:
        """Record the transaction that proved job ``key`` (its ProofAccepted's)."""
        self._update(key, "proof_tx = ?", (tx_hash.lower(),))

    def _update(self, key: int, assignments: str, params: tuple[object, ...]) -> None:
        with self.transaction():
            changed = self._conn.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ? WHERE key = ?",
                (*params, self._now(), key),
            ).rowcount
        if changed != 1:
            raise UnknownRecordError(f"no job with key {key}")

    def put_input(self, key: int, input_q: Sequence[int], salt: int) -> None:
        """Keep job ``key``'s private input and salt until ``forget_input``."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO job_inputs (job_key, input_q, salt, stored_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (job_key) DO UPDATE SET input_q = excluded.input_q, "
                "salt = excluded.salt, stored_at = excluded.stored_at",
                (key, json.dumps([str(int(v)) for v in input_q]), str(salt), self._now()),
            )

    def get_input(self, key: int) -> JobInput | None:
        """Job ``key``'s private input, if still held."""
        row = self._one("SELECT input_q, salt FROM job_inputs WHERE job_key = ?", (key,))
        if row is None:
            return None
        return JobInput(tuple(int(v) for v in json.loads(row[0])), int(row[1]))

    def forget_input(self, key: int) -> bool:
        """Delete job ``key``'s private input; False if none was held."""
        with self.transaction():
            deleted = self._conn.execute(
                "DELETE FROM job_inputs WHERE job_key = ?", (key,)
            ).rowcount
        return deleted == 1
