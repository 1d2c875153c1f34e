"""The compiled-circuit directory and the proof directory on disk.

A circuit directory (``provernet circuit compile``) holds:

- ``model.onnx`` — the exact ONNX file that was compiled;
- ``circuit.bin`` — the compiled, quantized model (protocol.zkml's own format);
- ``circuit.r1cs`` — the constraint system in circom's binary format;
- ``proving_key.bin`` and ``verification_key.json`` — after ``circuit setup``;
- ``ceremony.zkey`` — for a setup from a phase 1, the ceremony's current key in
  snarkjs's format (the two keys above are derived from it);
- ``manifest.json`` — format versions, every file's sha256 and size, quantization
  parameters, constraint count, public-signal layout, and the accuracy report.

Files are written atomically (temporary file, then rename) and every load checks
the manifest's hashes, so a corrupt or swapped file is reported, never used.
A proof directory holds ``proof.json``, ``public.json``, ``witness.wtns`` and
``output.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.exit_codes import ARTIFACT_MISMATCH, USAGE, CliError
from protocol.groth16 import keys as g16keys
from protocol.groth16 import snarkjs
from protocol.groth16.keys import ProvingKey

MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
CIRCUIT_FILE = "circuit.bin"
R1CS_FILE = "circuit.r1cs"
PROVING_KEY_FILE = "proving_key.bin"
VERIFICATION_KEY_FILE = "verification_key.json"
PHASE1_FILE = "phase1.ptau"  # a ceremony's phase-1 file, served to those who verify it
FORMAT = "provernet-circuit"
FORMAT_VERSION = 1

PROOF_FILE = "proof.json"
PUBLIC_FILE = "public.json"
WITNESS_FILE = "witness.wtns"
OUTPUT_FILE = "output.json"


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, turning absence or corruption into a clear CliError."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CliError(f"{what} not found: {path}", USAGE) from None
    except (OSError, ValueError) as exc:
        raise CliError(f"{what} at {path} is not valid JSON: {exc}", USAGE) from None


def file_entry(name: str, data: bytes) -> dict[str, Any]:
    """The manifest record of one file."""
    return {"file": name, "sha256": sha256_hex(data), "size": len(data)}


@dataclass
class CircuitDir:
    """A circuit directory and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> CircuitDir:
        """Open an existing circuit directory, checking its manifest's format."""
        if not path.is_dir():
            raise CliError(f"circuit directory not found: {path}", USAGE)
        manifest = read_json(path / MANIFEST, "circuit manifest")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CliError(f"{path / MANIFEST} is not a provernet circuit manifest", USAGE)
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise CliError(
                f"{path} uses circuit format version {version}; this provernet reads "
                f"version {FORMAT_VERSION}: recompile the model with `provernet circuit compile`",
                ARTIFACT_MISMATCH,
            )
        return cls(path, manifest)

    def read_checked(self, key: str) -> bytes:
        """Read the file the manifest records under ``key`` and check its sha256."""
        files = self.manifest.get("files", {})
        entry = files.get(key)
        if not isinstance(entry, dict):
            hint = " (run `provernet circuit setup` first)" if "key" in key else ""
            raise CliError(f"{self.path} has no {key}{hint}", USAGE)
        file_path = self.path / str(entry["file"])
        try:
            data = file_path.read_bytes()
        except FileNotFoundError:
            raise CliError(f"{file_path} is missing from the circuit directory", USAGE) from None
        if sha256_hex(data) != entry.get("sha256"):
            raise CliError(
                f"{file_path} does not match the sha256 in {MANIFEST}: the file is corrupt or "
                "was replaced; recompile or restore it",
                ARTIFACT_MISMATCH,
            )
        return data

    def record(self, key: str, name: str, data: bytes) -> None:
        """Write a file into the directory and record it in the manifest (not yet saved)."""
        write_atomic(self.path / name, data)
        self.manifest.setdefault("files", {})[key] = file_entry(name, data)

    def save(self) -> None:
        """Write the manifest."""
        write_json(self.path / MANIFEST, self.manifest)

    def record_keys(self, pk: ProvingKey) -> None:
        """Write the proving and verification keys (the manifest is not yet saved)."""
        self.record("proving_key", PROVING_KEY_FILE, g16keys.proving_key_to_bytes(pk))
        vk_json = json.dumps(snarkjs.vk_to_json(pk.vk), indent=2).encode() + b"\n"
        self.record("verification_key", VERIFICATION_KEY_FILE, vk_json)

    def record_setup(self, pk: ProvingKey, backend: str, seconds: float | None = None) -> None:
        """Write a single-party setup's proving and verification keys and record it."""
        self.record_keys(pk)
        self.manifest["files"].pop("zkey", None)
        setup: dict[str, Any] = {
            "kind": "single-party",
            "trusted": "whoever ran this setup must have discarded its toxic waste",
        }
        if seconds is not None:
            setup["seconds"] = round(seconds, 3)
        self.manifest["setup"] = setup | {"backend": backend}
        self.save()

    @property
    def circuit_id(self) -> str:
        """sha256 of the R1CS file: the circuit's identity, also registered on-chain."""
        return str(self.manifest["files"]["r1cs"]["sha256"])

    def manifest_hash(self) -> str:
        """sha256 of the saved manifest file (the artifact manifest hash)."""
        return sha256_hex((self.path / MANIFEST).read_bytes())
