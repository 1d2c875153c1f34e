"""The prover's CPU work: check an input against its commitment, prove it, verify the proof.

All of it blocks: the prover role runs it through ``trio.to_thread.run_sync``, and
the multi-scalar multiplications run in the ``ProverPool``'s worker processes. Also
the small pure helpers the prover's modules share (reading a stored job, a message's
payload, an announcement checked against the chain).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.artifacts import CircuitDir
from node.chain.types import JobInfo, JobStatus
from node.engine.requester_input import ModelUnavailableError, load_model
from node.exit_codes import CliError
from node.proving import ProverPool
from node.store import JobRecord
from protocol import zkml
from protocol.errors import RemoteProtocolError
from protocol.groth16 import keys as g16keys
from protocol.groth16.calldata import proof_to_evm_words
from protocol.groth16.verify import verify
from protocol.market import ProverJob
from protocol.messages import JobAnnouncement, Verified
from protocol.r1cs.system import R

# submitProof's proof argument: uint256[8] (A, B, C of a Groth16 proof; calldata.py).
PROOF_WORDS = 8


class InputRefusedError(Exception):
    """An input that does not fit the model or does not match the on-chain commitment."""


@dataclass(frozen=True)
class MadeProof:
    """A verified proof as submitProof's calldata, its outputs, and how long proving took."""

    words: tuple[int, ...]
    outputs: tuple[int, ...]
    seconds: float
    constraints: int


def check_input(circuit_dir: Path, values: Sequence[int], salt: int, commitment: int) -> None:
    """Raise InputRefusedError unless ``values`` and ``salt`` commit to ``commitment``."""
    model = load_model(circuit_dir)
    try:
        mine = model.input_commitment(np.asarray(values, dtype=np.int64), salt)
    except (zkml.InputError, ValueError) as exc:
        raise InputRefusedError(f"the input does not fit the model: {exc}") from exc
    if mine != commitment:
        raise InputRefusedError("the input does not match the job's on-chain commitment")


def prove_input(pool: ProverPool, circuit_dir: Path, values: Sequence[int], salt: int) -> MadeProof:
    """Prove the model on ``values`` and check the proof against the verifying key."""
    try:
        cdir = CircuitDir.open(circuit_dir)
        pk = g16keys.proving_key_from_bytes(cdir.read_checked("proving_key"))
    except (CliError, RemoteProtocolError) as exc:
        raise ModelUnavailableError(f"no usable proving key in {circuit_dir}: {exc}") from exc
    model = load_model(circuit_dir)
    witness = model.generate_witness(np.asarray(values, dtype=np.int64), salt)
    key = str(cdir.manifest["files"]["r1cs"]["sha256"])
    started = time.monotonic()
    pool.prepare(key, pk, model.r1cs)
    proof = pool.prove(key, witness.values, secrets.randbelow(R), secrets.randbelow(R))
    seconds = time.monotonic() - started
    if not verify(pk.vk, witness.public, proof):
        raise RuntimeError("the proof just made does not verify")
    outputs = tuple(int(v) for v in witness.public[1:])  # public[0] is the input commitment
    return MadeProof(proof_to_evm_words(proof), outputs, seconds, model.r1cs.n_constraints)


def disagreement(job: JobAnnouncement, onchain: JobInfo) -> str | None:
    """Why the announcement misstates the on-chain job (protocol.messages.JobAnnouncement)."""
    if onchain.status is not JobStatus.OPEN:
        return f"the job is {onchain.status.name.lower()} on-chain"
    announced = (job.requester.hex(), job.model_id, job.input_commitment, job.max_fee,
                 job.collateral, job.bid_deadline, job.proof_deadline)  # fmt: skip
    actual = (onchain.requester[2:].lower(), onchain.model_id, onchain.input_commitment,
              onchain.max_fee, onchain.collateral, onchain.bid_deadline,
              onchain.proof_deadline)  # fmt: skip
    return None if announced == actual else "the announcement disagrees with the on-chain job"


def payload(inbound: object) -> object:
    """The message an inbound p2p item carries (inside its verified envelope, if any)."""
    message = getattr(inbound, "message", inbound)
    return message.message if isinstance(message, Verified) else message


def prover_job(record: JobRecord) -> ProverJob:
    """The lifecycle object of a prover's or rescuer's stored job."""
    job = record.job
    assert isinstance(job, ProverJob)
    return job
