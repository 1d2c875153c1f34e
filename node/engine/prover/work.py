"""The prover's CPU work: check that an input can be proved, prove it, verify the proof.

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
from node.engine.requester.inputs import ModelUnavailableError, load_model
from node.exit_codes import CliError
from node.proving import ProverPool
from protocol import zkml
from protocol.errors import RemoteProtocolError
from protocol.groth16 import keys as g16keys
from protocol.groth16.calldata import proof_to_evm_words
from protocol.groth16.verify import verify
from protocol.messages import JobAnnouncement, Verified
from protocol.r1cs.system import R

# submitProof's proof argument: uint256[8] (A, B, C of a Groth16 proof; calldata.py).
PROOF_WORDS = 8


class InputRefusedError(Exception):
    """An input the prover will not accept a job for: it does not fit the model, does not
    match the on-chain commitment, or cannot be proved."""


@dataclass(frozen=True)
class MadeProof:
    """A verified proof as submitProof's calldata, its outputs, and how long proving took."""

    words: tuple[int, ...]
    outputs: tuple[int, ...]
    seconds: float
    constraints: int


def check_input(circuit_dir: Path, values: Sequence[int], salt: int, commitment: int) -> None:
    """Raise InputRefusedError unless ``values`` and ``salt`` can be proved for a job committed
    to ``commitment``: in the circuit's range, matching the commitment, passing every layer's
    range check, with a witness that satisfies every constraint (zkml.provable_witness)."""
    model = load_model(circuit_dir)
    try:
        model.provable_witness(np.asarray(values, dtype=np.int64), salt, commitment)
    except (zkml.InputError, ValueError, OverflowError) as exc:
        raise InputRefusedError(f"the input cannot be proved: {exc}") from exc


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


def disagreement(job: JobAnnouncement, onchain: JobInfo, chain_now: int) -> str | None:
    """Why the announcement misstates the on-chain job (protocol.messages.JobAnnouncement),
    or the job cannot be awarded (it is Open, or its award lapsed by ``chain_now``)."""
    lapsed = onchain.status is JobStatus.AWARDED and chain_now > onchain.deadline
    if onchain.status is not JobStatus.OPEN and not lapsed:
        return f"the job is {onchain.status.name.lower()} on-chain"
    announced = (job.requester.hex(), job.model_id, job.input_commitment, job.max_fee,
                 job.collateral, job.accept_window, job.proof_window)  # fmt: skip
    actual = (onchain.requester[2:].lower(), onchain.model_id, onchain.input_commitment,
              onchain.max_fee, onchain.collateral, onchain.accept_window,
              onchain.proof_window)  # fmt: skip
    return None if announced == actual else "the announcement disagrees with the on-chain job"


def payload(inbound: object) -> object:
    """The message an inbound p2p item carries (inside its verified envelope, if any)."""
    message = getattr(inbound, "message", inbound)
    return message.message if isinstance(message, Verified) else message
