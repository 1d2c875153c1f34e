"""Every supported op: float IR against onnxruntime, the quantized program against an
independent integer interpreter, a satisfying witness with the right public signals,
and soundness (no witness value can change by one and still satisfy the circuit)."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.r1cs.system import R, first_unsatisfied
from protocol.zkml import CompiledModel, compile_model
from protocol.zkml.activations import sigmoid_error_bound
from tests.protocol.zkml.helpers import (
    SALT,
    calibration,
    quantized_close,
    reference_run,
    run_onnxruntime,
    unpinned_wires,
)
from tests.protocol.zkml.models import CASES


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, bytes, CompiledModel, np.ndarray]:
    data, shape = CASES[request.param]()
    cal = calibration(shape)
    return request.param, data, compile_model(data, cal), cal


def test_float_ir_matches_onnxruntime(case: tuple[str, bytes, CompiledModel, np.ndarray]) -> None:
    name, data, model, cal = case
    tol = sigmoid_error_bound() if name == "sigmoid" else 1e-5
    for x in cal[:8]:
        expected = run_onnxruntime(data, x)
        assert np.max(np.abs(model.infer_float(x) - expected)) <= tol


def test_quantized_matches_integer_reference(
    case: tuple[str, bytes, CompiledModel, np.ndarray],
) -> None:
    _, _, model, cal = case
    for x in cal[:8]:
        x_q = model.quantize_input(x)
        assert model.infer_quantized(x_q) == reference_run(model.program, x_q.tolist())
        assert quantized_close(model, x) < 0.05


def test_witness_satisfies_and_exposes_commitment_then_outputs(
    case: tuple[str, bytes, CompiledModel, np.ndarray],
) -> None:
    _, _, model, cal = case
    x_q = model.quantize_input(cal[3])
    witness = model.generate_witness(x_q, SALT)
    assert len(witness.values) == model.r1cs.n_wires
    assert first_unsatisfied(model.r1cs, witness.values) is None
    assert witness.commitment == model.input_commitment(x_q, SALT)
    assert witness.outputs_q == model.infer_quantized(x_q)
    assert witness.public == [witness.commitment, *(v % R for v in witness.outputs_q)]
    assert witness.public == witness.values[1 : 1 + model.r1cs.n_public]


def test_every_wire_is_pinned(case: tuple[str, bytes, CompiledModel, np.ndarray]) -> None:
    _, _, model, cal = case
    witness = model.generate_witness(model.quantize_input(cal[5]), SALT)
    assert unpinned_wires(model.r1cs, list(witness.values)) == []


def test_sections_sum_to_the_total(case: tuple[str, bytes, CompiledModel, np.ndarray]) -> None:
    _, _, model, _ = case
    assert sum(n for _, n in model.report.layers) == model.r1cs.n_constraints
