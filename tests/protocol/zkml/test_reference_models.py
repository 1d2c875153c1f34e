"""The trained reference models in devnet/models: cost, accuracy, and valid witnesses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from protocol.r1cs.system import first_unsatisfied
from protocol.zkml import (
    CompiledModel,
    CompileError,
    CompileOptions,
    accuracy_report,
    compile_model,
)
from protocol.zkml.program import RequantStep
from tests.protocol.zkml.helpers import SALT, run_onnxruntime

MODELS = Path(__file__).parents[3] / "devnet" / "models"


def _load(name: str) -> tuple[bytes, np.ndarray, np.ndarray]:
    data = (MODELS / f"{name}.onnx").read_bytes()
    cal = np.load(MODELS / f"{name}_calibration.npy")
    sample = np.asarray(json.loads((MODELS / f"{name}_input.json").read_text())["input"])
    return data, cal, sample


def _check(name: str, max_constraints: int) -> CompiledModel:
    data, cal, sample = _load(name)
    model = compile_model(data, cal)
    assert model.r1cs.n_constraints <= max_constraints
    assert sum(n for _, n in model.report.layers) == model.r1cs.n_constraints
    reference = np.stack([run_onnxruntime(data, x) for x in cal])
    acc = accuracy_report(model, cal, reference)
    assert acc.rejected == 0
    assert acc.argmax_agreement == 1.0
    assert acc.max_abs_error < 0.03  # standard precision (bench/results/precision.md)
    x_q = model.quantize_input(sample.reshape(model.input_shape))
    witness = model.generate_witness(x_q, SALT)
    assert first_unsatisfied(model.r1cs, witness.values) is None
    assert witness.public[0] == model.input_commitment(x_q, SALT)
    assert int(np.argmax(witness.outputs_q)) == 9  # the sample's label (manifest.json)
    return model


def test_digits_mlp_costs_k_plus_b_plus_one_per_relu_neuron() -> None:
    model = _check("digits_mlp", max_constraints=2800)
    sections = dict(model.report.layers)
    for step in model.program.steps:
        if isinstance(step, RequantStep):
            per = step.lay.k + step.lay.bits + int(step.lay.relu)
            assert sections[step.layer] == per * step.affine.n
            assert per <= 37  # k = 16 or 17 with the default 16-bit weights, B = 18
    assert sections["input range"] == 64 * model.report.input_bits
    assert sections["commitment"] == 297 + 1  # Poseidon of salt + 3 packed elements


@pytest.mark.slow
def test_digits_cnn() -> None:
    _check("digits_cnn", max_constraints=20_000)


@pytest.mark.slow
def test_mnist784_mlp() -> None:
    _check("mnist784_mlp", max_constraints=12_000)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "mnist784_mlp"])
def test_quantized_circuit_agrees_with_onnxruntime_on_the_test_split(name: str) -> None:
    from devnet.models import data as digits

    split = digits.load_split()
    images = {
        "digits_mlp": digits.as_flat(split.test_images),
        "digits_cnn": digits.as_channels(split.test_images),
        "mnist784_mlp": digits.as_flat(digits.upsample(split.test_images)),
    }[name]
    onnx_bytes, cal, _ = _load(name)
    model = compile_model(onnx_bytes, cal)
    samples = images.reshape(-1, *model.input_shape)
    reference = np.stack([run_onnxruntime(onnx_bytes, x) for x in samples])
    acc = accuracy_report(model, samples, reference)
    assert acc.rejected == 0
    assert acc.argmax_agreement >= 0.99
    assert acc.max_abs_error < 0.03  # standard precision (bench/results/precision.md)


def test_precision_presets_trade_constraints_for_error() -> None:
    data, cal, _ = _load("digits_mlp")
    reference = np.stack([run_onnxruntime(data, x) for x in cal[:48]])
    measured = {}
    for preset in ("low", "standard", "high"):
        model = compile_model(data, cal, CompileOptions().with_precision(preset))
        error = accuracy_report(model, cal[:48], reference).max_abs_error
        measured[preset] = (model.r1cs.n_constraints, error)
    (low_n, low_e), (std_n, std_e), (high_n, high_e) = (
        measured[p] for p in ("low", "standard", "high")
    )
    assert low_n < std_n < high_n
    assert high_e < std_e < low_e / 10
    with pytest.raises(CompileError, match="precision 'extreme' is not one of low"):
        CompileOptions().with_precision("extreme")
