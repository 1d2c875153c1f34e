"""CompiledModel.to_bytes / from_bytes: a faithful round trip, garbage rejected."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.errors import RemoteProtocolError
from protocol.zkml import CompiledModel, compile_model, serialize
from protocol.zkml.model import FORMAT_VERSION
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
