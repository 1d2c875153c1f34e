"""Reading models, inputs and calibration samples from disk, and the float reference.

The float reference (onnxruntime) lives here rather than in protocol/: it is an
external runtime, and the compiler only needs its outputs to report accuracy.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from node.exit_codes import INPUT_REJECTED, USAGE, CliError
from protocol.r1cs.system import R

MAX_MODEL_BYTES = 256 * 1024 * 1024  # refuse absurd files before parsing them


def read_model(path: Path) -> bytes:
    """The bytes of an ONNX file, with a clear error if it is missing or empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"model file not found: {path}", USAGE) from None
    except OSError as exc:
        raise CliError(f"cannot read model file {path}: {exc}", USAGE) from None
    if not data:
        raise CliError(f"model file {path} is empty", USAGE)
    if len(data) > MAX_MODEL_BYTES:
        raise CliError(f"model file {path} is larger than {MAX_MODEL_BYTES} bytes", USAGE)
    return data


def _as_float_array(value: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CliError(
            f"{what} is not a rectangular array of numbers: {exc}", INPUT_REJECTED
        ) from None
    if array.dtype == object:
        raise CliError(f"{what} is not a rectangular array of numbers", INPUT_REJECTED)
    return array


def read_input(path: Path) -> tuple[np.ndarray, int | None]:
    """Parse INPUT.json: ``{"input": nested list[, "salt": "<decimal>"]}``."""
    try:
        obj = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CliError(f"input file not found: {path}", USAGE) from None
    except (OSError, ValueError) as exc:
        raise CliError(f"input file {path} is not valid JSON: {exc}", USAGE) from None
    if not isinstance(obj, dict) or "input" not in obj:
        raise CliError(
            f'input file {path} must be a JSON object {{"input": [...]}} holding a nested '
            "list in the model's input shape",
            USAGE,
        )
    array = _as_float_array(obj["input"], f"'input' in {path}")
    salt = obj.get("salt")
    if salt is None:
        return array, None
    try:
        salt_int = int(str(salt), 10)
    except ValueError:
        raise CliError(f"'salt' in {path} must be a decimal integer string", USAGE) from None
    if not 0 <= salt_int < R:
        raise CliError(f"'salt' in {path} must be in [0, r) for BN254's scalar field", USAGE)
    return array, salt_int


def fresh_salt() -> int:
    """A uniformly random commitment salt in the scalar field."""
    return secrets.randbelow(R)


def read_samples(path: Path) -> np.ndarray:
    """Calibration samples from ``.npy`` (first axis = sample) or a JSON list of inputs."""
    if not path.is_file():
        raise CliError(f"calibration file not found: {path}", USAGE)
    if path.suffix == ".npy":
        try:
            raw = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CliError(
                f"calibration file {path} is not a valid .npy array: {exc}", USAGE
            ) from None
        array = _as_float_array(raw, f"calibration samples in {path}")
    else:
        try:
            obj = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CliError(
                f"calibration file {path} is neither .npy nor JSON: {exc}", USAGE
            ) from None
        if isinstance(obj, dict) and "input" in obj:
            obj = [obj["input"]]
        array = _as_float_array(obj, f"calibration samples in {path}")
    if array.ndim < 1 or array.shape[0] == 0:
        raise CliError(f"calibration file {path} holds no samples", USAGE)
    if not np.all(np.isfinite(array)):
        raise CliError(f"calibration file {path} contains NaN or infinite values", INPUT_REJECTED)
    return array


def conform_samples(samples: np.ndarray, input_shape: tuple[int, ...], path: Path) -> np.ndarray:
    """Reshape samples to ``(N, *input_shape)``; accept them with or without a batch axis of 1."""
    if samples.shape[1:] == input_shape:
        return samples
    if input_shape[:1] == (1,) and samples.shape[1:] == input_shape[1:]:
        return samples.reshape((samples.shape[0], *input_shape))
    raise CliError(
        f"calibration samples in {path} have shape {list(samples.shape[1:])} per sample; "
        f"the model's input shape is {list(input_shape)}",
        INPUT_REJECTED,
    )


def onnx_input_shape(onnx_bytes: bytes) -> tuple[int, ...] | None:
    """The static shape of the model's single data input, or None if it cannot be read.

    Only used to line calibration samples up with the model; the compiler does the
    real validation and reports problems with the model itself.
    """
    import onnx

    try:
        model = onnx.load_from_string(onnx_bytes)
    except Exception:  # the compiler reports a corrupt model with a proper message
        return None
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) != 1:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    if not dims or any(not d.HasField("dim_value") for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def float_reference(onnx_bytes: bytes, input_name: str, samples: np.ndarray) -> np.ndarray:
    """Run the float model with onnxruntime on each sample; returns ``(N, *output_shape)``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    outputs = [
        _proven_output(session.run(None, {input_name: sample.astype(np.float32)}))
        for sample in samples
    ]
    return np.stack(outputs).astype(np.float64)


def _proven_output(outputs: list[Any]) -> np.ndarray:
    """The output the circuit proves: the only one, or a classifier's probabilities
    (not its integer label; a ZipMap's {class: probability} maps as rows)."""
    if len(outputs) == 1:
        return np.asarray(outputs[0])
    for value in reversed(outputs):
        if isinstance(value, list):
            return np.array([[row[k] for k in sorted(row)] for row in value])
        if not np.issubdtype(np.asarray(value).dtype, np.integer):
            return np.asarray(value)
    return np.asarray(outputs[-1])
