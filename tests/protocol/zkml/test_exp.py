"""Exp: interpolated up to the largest input calibration shows, relative to e^that."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.r1cs.system import first_unsatisfied
from protocol.zkml import CompileError, CompileOptions, compile_model
from tests.protocol.zkml.helpers import SALT, calibration, run_onnxruntime
from tests.protocol.zkml.models import CASES


def test_exp_is_bounded_by_its_calibrated_input() -> None:
    data, shape = CASES["exp"]()
    cal = calibration(shape)
    model = compile_model(data, cal)
    (note,) = model.report.approximations
    assert note.op_type == "Exp"
    assert "inputs at most" in note.method
    top = max(float(np.max(run_onnxruntime(data, x))) for x in cal)
    assert note.max_error <= 0.0011 * top * 2.0  # the tolerance relative to e^upper (headroom 2)
    for x in cal[:6]:
        out = model.dequantize_output(model.infer_quantized(model.quantize_input(x)))
        np.testing.assert_allclose(out, run_onnxruntime(data, x).ravel(), atol=2 * note.max_error)
        witness = model.generate_witness(model.quantize_input(x), SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None


def test_exp_without_calibration_uses_the_input_range() -> None:
    data, _ = CASES["exp"]()
    model = compile_model(data, None, CompileOptions(input_range=(-0.5, 0.5)))
    (note,) = model.report.approximations
    assert note.op_type == "Exp"


def test_an_exponent_past_e80_is_refused() -> None:
    data, shape = CASES["exp"]()
    with pytest.raises(CompileError, match="Exp's input reaches"):
        compile_model(data, calibration(shape, scale=40.0))
