"""A model's phase-2 ceremony on disk and against its on-chain record.

The registrant's side, each step a blocking call for a worker thread on the build
folder: ``start`` derives the initial key from the phase-1 file (no secret of anyone's),
``contribute`` adds a contribution with fresh OS entropy that never leaves the call,
``finalize_key`` applies the beacon the registry fixed after the contribution window.

The fetcher's side, ``check_transcript``: a fetched model whose registry entry names a
ceremony is accepted only when its final key's transcript is exactly the recorded one
(the on-chain contribution hashes in order, as many as the registry says the final
key includes, then the beacon contribution from the on-chain beacon), the key replays
from the phase-1 file and the circuit's R1CS
(``phase2.verify_zkey``), and the proving and verification keys served beside it are
the ones the final key holds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from node.artifacts import CircuitDir
from node.ceremony_cli import ZKEY_FILE, record_ceremony, setup_from_ptau
from node.chain.types import CeremonyContribution, CeremonyInfo, ModelInfo
from node.engine.models.files import file_sha256
from node.parallel import ceremony_backend
from protocol.errors import RemoteProtocolError
from protocol.groth16 import phase2
from protocol.groth16.calldata import vk_to_evm_words, words_to_bytes
from protocol.groth16.keys import proving_key_from_bytes
from protocol.groth16.ptau import PowersOfTau, check_powers
from protocol.groth16.zkey import BEACON, ZKey, zkey_from_bytes
from protocol.r1cs import binfmt

# The beacon contribution hashes the block hash 2^BEACON_ITERATIONS_EXP times (snarkjs's
# `zkey beacon` iterations): fixed, so every node derives the same final key.
BEACON_ITERATIONS_EXP = 10
PHASE1_FILE = "phase1.ptau"


class TranscriptError(RemoteProtocolError):
    """A model's ceremony transcript disagrees with its on-chain record or does not verify."""


@dataclass(frozen=True)
class Contributed:
    """One contribution made here: what the registry records for it."""

    predecessor_sha256: bytes
    key_sha256: bytes
    contribution_hash: bytes


def start(build: Path, ptau_path: Path) -> tuple[bytes, bytes]:
    """Start ``build``'s ceremony from the phase 1 at ``ptau_path`` (checked), keeping a
    copy of the phase-1 file beside it for fetchers; (phase-1 sha256, initial key sha256)."""
    cdir = CircuitDir.open(build)
    r1cs = binfmt.r1cs_from_bytes(cdir.read_checked("r1cs"))
    setup_from_ptau(cdir, r1cs, ptau_path)
    copy = build / PHASE1_FILE
    try:
        os.link(ptau_path, copy)
    except OSError:
        shutil.copyfile(ptau_path, copy)
    cdir = CircuitDir.open(build)
    cdir.manifest["files"]["phase1"] = {
        "file": PHASE1_FILE, "sha256": file_sha256(copy).hex(), "size": copy.stat().st_size,
    }  # fmt: skip
    cdir.save()
    return file_sha256(copy), key_sha256(build)


def key_sha256(build: Path) -> bytes:
    """sha256 of the ceremony's current key file."""
    return file_sha256(build / ZKEY_FILE)


def _key(build: Path) -> ZKey:
    return zkey_from_bytes(CircuitDir.open(build).read_checked("zkey"))


def contribute(build: Path, name: str) -> Contributed:
    """Add one contribution with fresh OS entropy (discarded on return)."""
    before = key_sha256(build)
    key = phase2.contribute(_key(build), os.urandom(64), name=name, backend=ceremony_backend())
    record_ceremony(CircuitDir.open(build), key)
    return Contributed(before, key_sha256(build), phase2.contribution_hash(key.contributions[-1]))


def finalize_key(build: Path, beacon: bytes) -> bytes:
    """Apply the beacon contribution; the final key's sha256."""
    key = phase2.beacon(_key(build), beacon, BEACON_ITERATIONS_EXP, name="beacon",
                        backend=ceremony_backend())  # fmt: skip
    record_ceremony(CircuitDir.open(build), key)
    return key_sha256(build)


def check_transcript(
    path: Path,
    model_id: int,
    info: ModelInfo,
    registered_key: bytes,
    ceremony: CeremonyInfo,
    recorded: Sequence[CeremonyContribution],
    checked_phase1: set[bytes],
) -> list[str]:
    """Raise TranscriptError unless the fetched model at ``path`` is the final key of the
    recorded ceremony (module docstring); the contributors' addresses, in order.
    ``checked_phase1`` caches the sha256 of phase-1 files already checked."""
    cdir = CircuitDir.open(path)
    files = cdir.manifest["files"]
    for what in ("zkey", "phase1"):
        if what not in files:
            raise TranscriptError(f"the model's files hold no {what}: its ceremony is unverifiable")
    zkey_bytes = cdir.read_checked("zkey")
    if hashlib.sha256(zkey_bytes).digest() != info.final_key_sha256:
        raise TranscriptError("the ceremony key is not the final key the registry records")
    phase1 = cdir.read_checked("phase1")
    phase1_sha = hashlib.sha256(phase1).digest()
    if phase1_sha != ceremony.phase1_sha256:
        raise TranscriptError("the phase-1 file is not the one the ceremony was opened on")
    if ceremony.circuit_hash != info.circuit_hash or ceremony.model_id != model_id:
        raise TranscriptError("the ceremony record is not this model's")
    key = zkey_from_bytes(zkey_bytes)
    included = recorded[: ceremony.included]
    _match_record(key, info, included)
    r1cs = binfmt.r1cs_from_bytes(cdir.read_checked("r1cs"))
    ptau = PowersOfTau(phase1)
    n = key.domain_size
    if phase1_sha not in checked_phase1:
        check_powers(ptau, seed=os.urandom(32), lagrange_sizes=[n, 2 * n])
        checked_phase1.add(phase1_sha)
    phase2.verify_zkey(key, r1cs, ptau, seed=os.urandom(32), backend=ceremony_backend())
    if words_to_bytes(vk_to_evm_words(key.verifying_key())) != registered_key:
        raise TranscriptError("the final key's verifying key is not the registered one")
    if proving_key_from_bytes(cdir.read_checked("proving_key")) != key.proving_key():
        raise TranscriptError("the proving key served is not the final key's")
    return [c.contributor for c in included]


def _match_record(key: ZKey, info: ModelInfo, recorded: Sequence[CeremonyContribution]) -> None:
    made = key.contributions
    if not made or made[-1].kind != BEACON:
        raise TranscriptError("the final key has no beacon contribution")
    last = made[-1]
    if (last.beacon_hash, last.iterations_exp) != (info.beacon, BEACON_ITERATIONS_EXP):
        raise TranscriptError("the beacon contribution is not derived from the on-chain beacon")
    ours = [phase2.contribution_hash(c) for c in made[:-1]]
    theirs = [c.contribution_hash for c in recorded]
    if ours != theirs:
        raise TranscriptError(
            f"the key's {len(ours)} contribution(s) are not the {len(theirs)} recorded on-chain"
            " in order"
        )
