"""CompiledModel.to_bytes / from_bytes: a faithful round trip, garbage rejected."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from protocol.errors import RemoteProtocolError
from protocol.zkml import CompiledModel, compile_model, serialize
from protocol.zkml import model as model_module
from protocol.zkml.model import FORMAT_VERSION
from protocol.zkml.program import MaxStep
from tests.protocol.zkml.helpers import SALT, calibration
from tests.protocol.zkml.models import conv_bn_maxpool, gemm


@pytest.fixture(scope="module")
def model() -> CompiledModel:
    data, shape = conv_bn_maxpool()
    return compile_model(data, calibration(shape))


def test_round_trip_with_stored_r1cs(model: CompiledModel) -> None:
    loaded = CompiledModel.from_bytes(model.to_bytes(), model.r1cs)
    x = calibration(model.input_shape, n=1, seed=3)[0]
    x_q = loaded.quantize_input(x)
    assert loaded.report == model.report
    assert loaded.generate_witness(x_q, SALT) == model.generate_witness(x_q, SALT)
    assert np.array_equal(loaded.infer_float(x), model.infer_float(x))


def test_round_trip_regenerates_the_same_constraints(model: CompiledModel) -> None:
    loaded = CompiledModel.from_bytes(model.to_bytes())
    assert loaded.r1cs.constraints == model.r1cs.constraints
    assert loaded.r1cs.sections == model.r1cs.sections


def test_mismatched_r1cs_is_rejected(model: CompiledModel) -> None:
    data, shape = gemm()
    other = compile_model(data, calibration(shape))
    with pytest.raises(RemoteProtocolError, match="does not match"):
        CompiledModel.from_bytes(model.to_bytes(), other.r1cs)


@pytest.mark.parametrize("cut", [0, 1, 100, -1])
def test_truncated_bytes(model: CompiledModel, cut: int) -> None:
    with pytest.raises(RemoteProtocolError):
        CompiledModel.from_bytes(model.to_bytes()[:cut])


def test_any_flipped_byte_is_detected(model: CompiledModel) -> None:
    data = bytearray(model.to_bytes())
    rng = np.random.default_rng(11)
    for pos in rng.integers(0, len(data), 40):
        corrupt = bytearray(data)
        corrupt[pos] ^= 0xFF
        with pytest.raises(RemoteProtocolError):
            CompiledModel.from_bytes(bytes(corrupt), model.r1cs)


def test_other_versions_are_refused(model: CompiledModel) -> None:
    body = serialize.unseal(model.to_bytes(), FORMAT_VERSION)
    with pytest.raises(RemoteProtocolError, match="format 2"):
        CompiledModel.from_bytes(serialize.seal(FORMAT_VERSION + 1, body), model.r1cs)


def test_non_model_msgpack(model: CompiledModel) -> None:
    import msgpack

    bodies = ([1, 2, 3], {"#dc": "Program", "f": {}}, {"#dc": "os.system", "f": {}}, "x")
    for value in bodies:
        sealed = serialize.seal(FORMAT_VERSION, msgpack.packb(value))
        with pytest.raises(RemoteProtocolError):
            CompiledModel.from_bytes(sealed, model.r1cs)
        with pytest.raises(RemoteProtocolError):
            CompiledModel.from_bytes(msgpack.packb(value), model.r1cs)


def _with_program(model: CompiledModel, program: object) -> bytes:
    """A correctly sealed compiled model holding ``program`` (a crafted file)."""
    meta, report, _, nodes = serialize.decode(
        serialize.unseal(model.to_bytes(), FORMAT_VERSION), model_module._TYPES
    )
    body = serialize.encode((meta, report, program, nodes))
    return serialize.seal(FORMAT_VERSION, body)


def test_crafted_programs_are_rejected(model: CompiledModel) -> None:
    program = model.program
    maxstep = next(s for s in program.steps if isinstance(s, MaxStep))
    at = program.steps.index(maxstep)
    bad_windows = replace(maxstep, windows=maxstep.windows + 10_000)
    float_windows = replace(maxstep, windows=maxstep.windows.astype(np.float64))
    crafted = [
        replace(program, steps=(*program.steps[:at], bad_windows, *program.steps[at + 1 :])),
        replace(program, steps=(*program.steps[:at], float_windows, *program.steps[at + 1 :])),
        replace(program, output=len(program.sources)),
        replace(program, input_bits=1),
        replace(program, steps=program.steps[1:]),
        "not a program",
    ]
    untouched = CompiledModel.from_bytes(_with_program(model, program), model.r1cs)
    assert untouched.program.n_wires() == model.r1cs.n_wires
    for bad in crafted:
        with pytest.raises(RemoteProtocolError):
            CompiledModel.from_bytes(_with_program(model, bad), model.r1cs)


def test_crafted_segment_steps_are_rejected() -> None:
    from protocol.zkml.program import SegmentStep
    from tests.protocol.zkml.models import CASES

    data, shape = CASES["tanh"]()
    model = compile_model(data, calibration(shape))
    program = model.program
    step = next(s for s in program.steps if isinstance(s, SegmentStep))
    at = program.steps.index(step)
    gap = step.starts.copy()
    gap[2] += 1  # a value between two segments
    crafted = [
        replace(step, starts=gap),
        replace(step, starts=step.starts + 1, ends=step.ends + 1),  # the lowest value uncovered
        replace(step, lay=replace(step.lay, bits=1)),  # too narrow for the widest segment
        replace(step, slopes=step.slopes[:-1]),
        replace(step, slopes=step.slopes.astype(np.float64)),
        replace(step, out=step.out + 1),
    ]
    untouched = CompiledModel.from_bytes(_with_program(model, program), model.r1cs)
    assert untouched.generate_witness(
        untouched.quantize_input(calibration(shape, n=1)[0]), SALT
    ) == model.generate_witness(model.quantize_input(calibration(shape, n=1)[0]), SALT)
    for bad in crafted:
        steps = (*program.steps[:at], bad, *program.steps[at + 1 :])
        with pytest.raises(RemoteProtocolError):
            CompiledModel.from_bytes(_with_program(model, replace(program, steps=steps)))
