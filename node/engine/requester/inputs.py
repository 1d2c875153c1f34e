"""The requester's private input and the job's outputs, in the model's fixed point.

``load_model`` opens a circuit directory (node.artifacts: every file checked against
its manifest) and returns the compiled model; ``prepare_input`` quantizes a float
input and commits to it with a salt (Poseidon, as the circuit does); ``decode_outputs``
turns the field elements JobMarket emits into signed integers and floats. All of it
is CPU work: the requester runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from node.artifacts import CircuitDir
from node.exit_codes import CliError
from protocol import zkml
from protocol.errors import RemoteProtocolError
from protocol.r1cs import binfmt
from protocol.r1cs.system import R

HALF_FIELD = R // 2  # outputs above r/2 encode negative values (two's complement mod r)


class ModelUnavailableError(Exception):
    """The model's circuit cannot be used here (missing, corrupt, another circuit)."""


@dataclass(frozen=True)
class PreparedInput:
    """A quantized input, the salt drawn for it, and their commitment."""

    values: tuple[int, ...]
    salt: int
    commitment: int


def load_model(circuit_dir: Path) -> zkml.CompiledModel:
    """The compiled model kept in ``circuit_dir``; raises ModelUnavailableError."""
    try:
        cdir = CircuitDir.open(circuit_dir)
        r1cs = binfmt.r1cs_from_bytes(cdir.read_checked("r1cs"))
        return zkml.CompiledModel.from_bytes(cdir.read_checked("circuit"), r1cs)
    except CliError as exc:
        raise ModelUnavailableError(str(exc)) from exc
    except RemoteProtocolError as exc:
        raise ModelUnavailableError(f"the circuit in {circuit_dir} is corrupt: {exc}") from exc


def prepare_input(model: zkml.CompiledModel, raw: Any, salt: int) -> PreparedInput:
    """Quantize ``raw`` (nested lists in the model's input shape) and commit to it.

    Raises ``zkml.InputError`` for a wrong shape, NaN or a value outside the range.
    """
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise zkml.InputError(f"the input is not a rectangular array of numbers: {exc}") from exc
    quantized = model.quantize_input(array)
    commitment = model.input_commitment(quantized, salt)
    return PreparedInput(tuple(int(v) for v in quantized.tolist()), salt, commitment)


def commit_quantized(circuit_dir: Path, values: Sequence[int], salt: int) -> PreparedInput:
    """A stored quantized input committed again with a new salt (a resubmitted job)."""
    model = load_model(circuit_dir)
    commitment = model.input_commitment(np.asarray(values, dtype=np.int64), salt)
    return PreparedInput(tuple(values), salt, commitment)


def signed(word: int) -> int:
    """A field element as the signed integer the circuit meant."""
    if not 0 <= word < R:
        raise ValueError(f"{word} is not a BN254 scalar field element")
    return word - R if word > HALF_FIELD else word


def decode_outputs(words: Sequence[int], output_scale: int) -> tuple[list[int], list[float]]:
    """The outputs JobMarket emitted: signed integers and their dequantized floats."""
    output_q = [signed(int(w)) for w in words]
    return output_q, [v / 2.0**output_scale for v in output_q]


def output_scale_of(circuit_dir: Path) -> int:
    """The output scale recorded in the circuit's manifest; raises ModelUnavailableError."""
    try:
        manifest = CircuitDir.open(circuit_dir).manifest
        return int(manifest["quantization"]["output_scale"])
    except (CliError, KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailableError(f"no output scale in {circuit_dir}: {exc}") from exc
