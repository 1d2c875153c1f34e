"""A model's circuit directory as the model role builds, describes and checks it.

Blocking work (compiling, the Groth16 setup, hashing files): the model role calls
these functions through ``trio.to_thread.run_sync``. A circuit directory is the
``provernet circuit compile`` + ``circuit setup`` layout (node.artifacts): the ONNX
file, the compiled circuit, the R1CS, both keys and the manifest recording every
file's sha256 and size. Its on-chain identity (``ModelSpec``) is derived here:
the ONNX sha256, the circuit hash (sha256 of circuit.r1cs), the manifest hash, the
number of public signals, the constraint count and the verifying key as the
registry stores it (protocol.groth16.calldata.vk_to_evm_words).

``check_fetched`` is the receiving side: a directory assembled from blobs that
peers sent is accepted only if every file matches the manifest, the manifest
matches the registry entry, and the verifying key is the one on-chain.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node import artifacts as art
from node import model_io
from node.artifacts import CircuitDir
from node.ceremony_cli import ZKEY_FILE
from node.chain.types import ModelInfo, ModelSpec
from node.circuit_cli import _new_manifest
from node.exit_codes import CliError
from node.proving import pool_for
from protocol import zkml
from protocol.errors import RemoteProtocolError
from protocol.groth16 import snarkjs
from protocol.groth16.calldata import vk_to_evm_words, words_to_bytes
from protocol.groth16.setup import ToxicWaste
from protocol.messages import ArtifactRef
from protocol.r1cs import binfmt

# The manifest keys of a complete artifact set, in the order they are announced.
ARTIFACT_KEYS = ("model", "circuit", "r1cs", "proving_key", "verification_key")
# A model from a ceremony also serves the final key (its transcript) and the phase-1 file.
CEREMONY_KEYS = ("zkey", "phase1")
ARTIFACT_NAMES = frozenset(
    (art.MODEL_FILE, art.CIRCUIT_FILE, art.R1CS_FILE, art.PROVING_KEY_FILE,
     art.VERIFICATION_KEY_FILE, art.MANIFEST, ZKEY_FILE, art.PHASE1_FILE)
)  # fmt: skip
# Bytes hashed per read when checking a fetched file (proving keys reach GBs).
HASH_CHUNK = 1 << 20
# A manifest lists a dozen files: far below this.
MAX_MANIFEST_BYTES = 1 << 20


class ModelFileError(Exception):
    """A circuit directory is incomplete or disagrees with what it must match."""


@dataclass(frozen=True)
class BuiltModel:
    """A circuit directory ready to register: where it is and its registry entry."""

    path: Path
    spec: ModelSpec


def compile_into(
    out: Path,
    onnx_path: Path,
    calibration: Path | None,
    reveal: str = "logits",
    precision: str = "standard",
) -> int:
    """Compile ``onnx_path`` into the circuit directory ``out`` (public outputs as
    ``reveal`` says, widths as the ``precision`` preset); its constraint count.

    Raises CliError for unreadable files and zkml.CompileError for unsupported models.
    """
    onnx_bytes = model_io.read_model(onnx_path)
    samples = model_io.read_samples(calibration) if calibration is not None else None
    if samples is not None:
        shape = model_io.onnx_input_shape(onnx_bytes)
        if shape is not None:
            samples = model_io.conform_samples(samples, shape, calibration)  # type: ignore[arg-type]
    options = zkml.CompileOptions(reveal=reveal).with_precision(precision)
    model = zkml.compile_model(onnx_bytes, samples, options)
    accuracy = None
    if samples is not None:
        assert calibration is not None
        conformed = model_io.conform_samples(samples, model.input_shape, calibration)
        reference = model_io.float_reference(onnx_bytes, model.input_name, conformed)
        accuracy = zkml.accuracy_report(model, conformed, reference).to_json()
    out.mkdir(parents=True, exist_ok=True)
    cdir = CircuitDir(out, _new_manifest(model, onnx_bytes, accuracy, samples))
    cdir.record("model", art.MODEL_FILE, onnx_bytes)
    cdir.record("circuit", art.CIRCUIT_FILE, model.to_bytes())
    cdir.record("r1cs", art.R1CS_FILE, binfmt.r1cs_to_bytes(model.r1cs))
    cdir.save()
    return model.r1cs.n_constraints


def setup_into(path: Path) -> BuiltModel:
    """Run the Groth16 setup for the compiled circuit at ``path``; the built model."""
    cdir = CircuitDir.open(path)
    r1cs = binfmt.r1cs_from_bytes(cdir.read_checked("r1cs"))
    with pool_for(None, r1cs.n_constraints) as pool:
        toxic = ToxicWaste.from_entropy(os.urandom(64))
        pk = pool.setup(r1cs, toxic)
        del toxic  # the toxic waste must not outlive the setup
        backend = pool.backend.name
    cdir.record_setup(pk, backend)
    return BuiltModel(path, spec_of(path))


def spec_of(path: Path) -> ModelSpec:
    """The registry entry of the complete circuit directory at ``path``."""
    cdir = CircuitDir.open(path)
    manifest = cdir.manifest
    vk = snarkjs.vk_from_json(json.loads(cdir.read_checked("verification_key")))
    return ModelSpec(
        onnx_sha256=bytes.fromhex(manifest["onnx_sha256"]),
        circuit_hash=bytes.fromhex(cdir.circuit_id),
        manifest_hash=bytes.fromhex(cdir.manifest_hash()),
        n_public=len(manifest["public_signals"]),
        constraint_count=int(manifest["constraints"]),
        verifying_key=words_to_bytes(vk_to_evm_words(vk)),
    )


def artifact_refs(path: Path) -> tuple[ArtifactRef, ...]:
    """Name, sha256 and size of every file of the directory, manifest last."""
    files = CircuitDir.open(path).manifest["files"]
    refs = [
        ArtifactRef(files[key]["file"], bytes.fromhex(files[key]["sha256"]), files[key]["size"])
        for key in (*ARTIFACT_KEYS, *(k for k in CEREMONY_KEYS if k in files))
    ]
    manifest = (path / art.MANIFEST).read_bytes()
    refs.append(ArtifactRef(art.MANIFEST, hashlib.sha256(manifest).digest(), len(manifest)))
    return tuple(refs)


def blob_index(path: Path) -> dict[bytes, Path]:
    """sha256 -> file for every artifact of the directory (for serving them)."""
    return {ref.sha256: path / ref.name for ref in artifact_refs(path)}


def file_sha256(path: Path) -> bytes:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while piece := file.read(HASH_CHUNK):
            digest.update(piece)
    return digest.digest()


def check_fetched(path: Path, info: ModelInfo, key: bytes, refs: tuple[ArtifactRef, ...]) -> None:
    """Accept the fetched directory at ``path`` for the registry entry ``info``.

    Every file must match its announced ref and the manifest; the manifest must
    hash to the registered manifest hash and agree with the registered ONNX hash,
    circuit hash, public-signal count and constraint count; the verifying key must
    equal ``key``, the one on-chain, and must not be degenerate (``degeneracy``).
    Raises ModelFileError naming the disagreement.
    """
    manifest_bytes = (path / art.MANIFEST).read_bytes()
    if hashlib.sha256(manifest_bytes).digest() != info.manifest_hash:
        raise ModelFileError("the manifest does not hash to the registered manifest hash")
    manifest = _manifest(manifest_bytes)
    try:
        _check_files(path, manifest, refs)
        _check_registry(manifest, info)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"the manifest is malformed: {exc!r}") from exc
    try:
        vk = snarkjs.vk_from_json(json.loads((path / art.VERIFICATION_KEY_FILE).read_bytes()))
    except (RemoteProtocolError, ValueError) as exc:
        raise ModelFileError(f"the verification key is malformed: {exc}") from exc
    if words_to_bytes(vk_to_evm_words(vk)) != key:
        raise ModelFileError("the verification key is not the one registered on-chain")
    problem = vk.degeneracy()
    if problem is not None:
        raise ModelFileError(f"the verification key is degenerate ({problem}): anyone could forge")
    _check_r1cs(path / art.R1CS_FILE, info)


def _check_r1cs(path: Path, info: ModelInfo) -> None:
    """The R1CS itself must have the registered constraint count and public signals: a
    registrant declaring fewer would have provers admit jobs they cannot finish in time."""
    try:
        r1cs = binfmt.r1cs_from_bytes(path.read_bytes())
    except RemoteProtocolError as exc:
        raise ModelFileError(f"the R1CS is malformed: {exc}") from exc
    if r1cs.n_constraints != info.constraint_count:
        raise ModelFileError(
            f"the R1CS has {r1cs.n_constraints} constraints; the registry says "
            f"{info.constraint_count}"
        )
    if r1cs.n_public != info.n_public:
        raise ModelFileError(
            f"the R1CS has {r1cs.n_public} public signals; the registry says {info.n_public}"
        )


def manifest_files(data: bytes, info: ModelInfo) -> list[tuple[str, bytes, int]]:
    """(name, sha256, size) of each file a fetched manifest lists, once the manifest is
    the registered one (its sha256 is the registry's manifest hash): sizes and hashes to
    fetch by, none of them taken from a peer. Raises ModelFileError."""
    if hashlib.sha256(data).digest() != info.manifest_hash:
        raise ModelFileError("the manifest does not hash to the registered manifest hash")
    manifest = _manifest(data)
    files = []
    try:
        for key in (*ARTIFACT_KEYS, *(k for k in CEREMONY_KEYS if k in manifest["files"])):
            entry = manifest["files"][key]
            name, size = str(entry["file"]), int(entry["size"])
            if name not in ARTIFACT_NAMES or name == art.MANIFEST or size < 0:
                raise ModelFileError(f"the manifest lists an unexpected file {name!r}")
            files.append((name, bytes.fromhex(str(entry["sha256"])), size))
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"the manifest is malformed: {exc!r}") from exc
    return files


def _manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
        CircuitDir(Path("."), manifest).circuit_id  # noqa: B018 (checks the layout)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"the manifest is malformed: {exc!r}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != art.FORMAT:
        raise ModelFileError("the manifest is not a provernet circuit manifest")
    return manifest


def _check_files(path: Path, manifest: dict[str, Any], refs: tuple[ArtifactRef, ...]) -> None:
    by_name = {ref.name: ref for ref in refs}
    for key in (*ARTIFACT_KEYS, *(k for k in CEREMONY_KEYS if k in manifest["files"])):
        entry = manifest["files"].get(key)
        if not isinstance(entry, dict):
            raise ModelFileError(f"the manifest lists no {key}")
        name, sha256 = str(entry["file"]), bytes.fromhex(str(entry["sha256"]))
        ref = by_name.get(name)
        if ref is None or ref.sha256 != sha256 or ref.size != entry["size"]:
            raise ModelFileError(f"{name} is announced differently than the manifest says")
        if file_sha256(path / name) != sha256:
            raise ModelFileError(f"{name} does not match its sha256 in the manifest")


def _check_registry(manifest: dict[str, Any], info: ModelInfo) -> None:
    checks = [
        ("ONNX sha256", bytes.fromhex(manifest["onnx_sha256"]), info.onnx_sha256),
        ("ONNX file", bytes.fromhex(manifest["files"]["model"]["sha256"]), info.onnx_sha256),
        ("circuit hash", bytes.fromhex(manifest["files"]["r1cs"]["sha256"]), info.circuit_hash),
        ("public-signal count", len(manifest["public_signals"]), info.n_public),
        ("constraint count", int(manifest["constraints"]), info.constraint_count),
    ]
    for what, ours, registered in checks:
        if ours != registered:
            raise ModelFileError(f"the manifest's {what} differs from the registry's")


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(API error code, message) for a failed build."""
    if isinstance(exc, zkml.CompileError):
        return "unsupported_model", str(exc)
    if isinstance(exc, CliError):
        return "bad_request", str(exc)
    return "failed", f"{type(exc).__name__}: {exc}"
