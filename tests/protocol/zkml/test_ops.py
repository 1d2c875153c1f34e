"""Every supported op: float IR against onnxruntime, the quantized program against an
independent integer interpreter, a satisfying witness with the right public signals,
and soundness (no witness value can change by one and still satisfy the circuit)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from protocol.r1cs.system import R, first_unsatisfied
from protocol.zkml import CompiledModel, CompileError, CompileOptions, compile_model
from tests.protocol.zkml import models
from tests.protocol.zkml.helpers import (
    SALT,
    calibration,
    make_model,
    quantized_close,
    reference_run,
    run_onnxruntime,
    unpinned_wires,
)
from tests.protocol.zkml.models import CASES, wide


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, bytes, CompiledModel, np.ndarray]:
    data, shape = CASES[request.param]()
    cal = calibration(shape)
    return request.param, data, compile_model(data, cal), cal


# GELU multiplies its Erf / Tanh by x / 2: |x| / 2 <= 3 on these inputs.
ERROR_GAIN = {"gelu_erf": 3.0, "gelu_tanh": 3.0, "silu_and_mish": 8.0}  # x times the error


def test_float_ir_matches_onnxruntime(case: tuple[str, bytes, CompiledModel, np.ndarray]) -> None:
    name, data, model, cal = case
    bounds = [a.max_error for a in model.report.approximations]
    tol = 1e-5 + ERROR_GAIN.get(name, 1.0) * sum(bounds)
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
        magnitude = max(1.0, float(np.max(np.abs(model.infer_float(x)))))  # x^3 reaches 500
        assert quantized_close(model, x) < 0.05 * magnitude


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


def test_wide_accumulators_use_python_integers() -> None:
    data, shape = wide()
    options = CompileOptions(activation_bits=32, weight_bits=24, input_bits=32)
    cal = calibration(shape)
    model = compile_model(data, cal, options)
    assert any(getattr(step, "wide", False) for step in model.program.steps)
    for x in cal[:3]:
        x_q = model.quantize_input(x)
        witness = model.generate_witness(x_q, SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None
        assert witness.outputs_q == reference_run(model.program, x_q.tolist())
        assert quantized_close(model, x) < 1e-4


@pytest.mark.parametrize("squarings", [3, 8])
def test_repeated_squaring_stays_within_the_witness_and_field_bounds(squarings: int) -> None:
    """x^(2^n) then ReLU: without rescaling between products the bounds would double
    n times (past the field's 254 bits at n = 8), leaving a bit decomposition whose
    top bits a prover could choose. Every gadget's width stays at activation_bits + 1."""
    nodes, prev = [], "x"
    for i in range(squarings):
        nodes.append(helper.make_node("Mul", [prev, prev], [f"p{i}"], name=f"square{i}"))
        prev = f"p{i}"
    nodes.append(helper.make_node("Relu", [prev], ["y"], name="act"))
    data = make_model(nodes, (1, 4), (1, 4))
    options = CompileOptions()
    cal = calibration((1, 4), scale=1.2)
    model = compile_model(data, cal, options)
    widths = [s.lay.bits for s in model.program.steps if hasattr(s, "lay")]
    assert widths
    assert max(widths) <= options.activation_bits + 1
    assert all(abs(t.lo) < 2**63 and abs(t.hi) < 2**63 for t in model.report.tensors)
    for x in cal[:4]:
        x_q = model.quantize_input(x)
        witness = model.generate_witness(x_q, SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None
        assert witness.outputs_q == reference_run(model.program, x_q.tolist())


@pytest.mark.parametrize("calibrated", [True, False])
def test_values_past_float64_are_a_compile_error_naming_the_tensor(calibrated: bool) -> None:
    nodes, prev = [], "x"
    for i in range(16):  # 1.5^(2^16) is not a float
        nodes.append(helper.make_node("Mul", [prev, prev], [f"p{i}"], name=f"square{i}"))
        prev = f"p{i}"
    data = make_model(nodes, (1, 4), (1, 4), out_name=prev)
    cal = calibration((1, 4), scale=1.5) + 1.5 if calibrated else None
    options = CompileOptions() if calibrated else CompileOptions(input_range=(-1.5, 1.5))
    with pytest.raises(CompileError, match=r"node 'square\d+' \(op Mul\) tensor 'p\d+' has no fin"):
        compile_model(data, cal, options)


def test_without_calibration_interval_bounds_cover_the_input_range() -> None:
    data, shape = CASES["branches"]()
    model = compile_model(data)
    assert model.input_range == (-1.0, 1.0)
    assert model.report.calibration_samples == 0
    rng = np.random.default_rng(5)
    corners = rng.choice([-1.0, 1.0], size=(16, *shape))
    for x in [*corners, *rng.uniform(-1.0, 1.0, size=(16, *shape))]:
        witness = model.generate_witness(model.quantize_input(x), SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None


def test_sigmoid_reports_its_approximation() -> None:
    data, shape = CASES["sigmoid"]()
    model = compile_model(data, calibration(shape))
    (approx,) = model.report.approximations
    assert approx.node == "act"
    assert approx.op_type == "Sigmoid"
    assert approx.sampled_error <= approx.max_error < 0.02


@pytest.mark.parametrize(
    ("case_name", "node", "op"),
    [("tanh", "act", "Tanh"), ("gelu_erf", "gelu/erf", "Erf"), ("gelu_tanh", "gelu/tanh", "Tanh"),
     ("softplus", "act", "Softplus"), ("elu", "act", "Elu"), ("selu", "act", "Selu")],
)  # fmt: skip
def test_smooth_activations_report_their_approximation(case_name: str, node: str, op: str) -> None:
    data, shape = CASES[case_name]()
    model = compile_model(data, calibration(shape))
    (approx,) = model.report.approximations
    assert (approx.node, approx.op_type) == (node, op)
    assert approx.sampled_error <= approx.max_error < 0.01
    assert "piecewise-linear interpolation of" in approx.method


EXACT = ["hard_sigmoid", "hard_swish", "abs", "neg", "prelu_one_slope", "prelu_per_channel",
         "max_of_two", "min_of_two", "cube"]  # fmt: skip


@pytest.mark.parametrize("case_name", EXACT)
def test_exact_elementwise_ops_report_no_approximation(case_name: str) -> None:
    data, shape = CASES[case_name]()
    assert compile_model(data, calibration(shape)).report.approximations == ()


def test_a_pow_other_than_whole_or_half_exponents_is_refused() -> None:
    for exponent in (0.25, 5.0, -1.5, -5.0):
        data, _ = models.gemm_then("Pow", np.array(exponent))()
        with pytest.raises(CompileError, match=r"node 'act' \(op Pow\).*exponents \+-1..4"):
            compile_model(data)


@pytest.mark.parametrize("decomposed", [False, True])
def test_a_layer_norm_of_constant_rows_is_proved(decomposed: bool) -> None:
    """A constant row has variance 0 and epsilon rounds away at the variance's scale: the
    root keeps one unit, so the divisor is at least 1 and the output is the bias."""
    from tests.protocol.zkml.models_layout import layer_norm

    data, shape = layer_norm(decomposed)()
    model = compile_model(data, calibration(shape, scale=2.0))
    for x in (np.zeros(shape), np.full(shape, 0.3)):
        witness = model.generate_witness(model.quantize_input(x), SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None
        out = np.array(model.dequantize_output(witness.outputs_q))
        assert np.max(np.abs(out - run_onnxruntime(data, x).ravel())) < 0.01
