"""The input commitment's range check, and the witness a prover checks before accepting a job.

Packing ``input_bits``-bit values into one field element (lowest first) is injective only
on the circuit's range: x' = (x0 + 2^B, x1 - 1, ...) packs like x. ``input_commitment``
must refuse such an x', because no proof of it exists (the circuit range-checks every
input), and a prover that accepted a job committed to it would be slashed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.r1cs.system import is_satisfied
from protocol.zkml import CompiledModel, CompileOptions, InputError, compile_model, poseidon_gadget
from tests.protocol.zkml.helpers import SALT
from tests.protocol.zkml.models import matmul_add_relu


@pytest.fixture(scope="module")
def model() -> CompiledModel:
    data, _ = matmul_add_relu()
    cal = np.random.default_rng(1).uniform(-1.0, 1.0, (16, 1, 4))
    return compile_model(data, cal)


def _half(model: CompiledModel) -> int:
    return 1 << (model.report.input_bits - 1)


def _alias(model: CompiledModel, x_q: np.ndarray) -> np.ndarray:
    """x' = (x0 + 2^B, x1 - 1, x2, ...): out of range, and packed exactly like x."""
    aliased = x_q.copy()
    aliased[0] += 1 << model.report.input_bits
    aliased[1] -= 1
    return aliased


def test_the_aliasing_input_packs_like_the_original(model: CompiledModel) -> None:
    """The reason for the range check: without it both would have one commitment."""
    bits, half = model.report.input_bits, _half(model)
    x_q = np.array([3, -5, 7, 0])
    aliased = _alias(model, x_q)
    assert poseidon_gadget.pack((aliased + half).tolist(), bits) == poseidon_gadget.pack(
        (x_q + half).tolist(), bits
    )
    assert aliased[0] >= half  # outside the B-bit range


def test_an_out_of_range_input_has_no_commitment(model: CompiledModel) -> None:
    x_q = np.array([3, -5, 7, 0])
    with pytest.raises(InputError, match=f"{model.report.input_bits}-bit"):
        model.input_commitment(_alias(model, x_q), SALT)
    half = _half(model)
    for bad in ([half, 0, 0, 0], [0, -half - 1, 0, 0], [0, 0, 0, 2**40]):
        with pytest.raises(InputError, match=rf"in \[{-half}, {half - 1}\]"):
            model.input_commitment(np.array(bad), SALT)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_in_range_inputs_commit_as_the_circuit_does(
    model: CompiledModel, data: st.DataObject
) -> None:
    half = _half(model)
    values = data.draw(st.lists(st.integers(-half, half - 1), min_size=4, max_size=4))
    salt = data.draw(st.integers(0, 2**250))
    x_q = np.array(values, dtype=np.int64)
    witness = model.generate_witness(x_q, salt)
    assert model.input_commitment(x_q, salt) == witness.commitment == witness.public[0]


def test_the_range_edges_commit(model: CompiledModel) -> None:
    half = _half(model)
    for edge in ([-half] * 4, [half - 1] * 4, [-half, half - 1, 0, -1]):
        x_q = np.array(edge)
        assert model.input_commitment(x_q, SALT) == model.generate_witness(x_q, SALT).commitment


def test_a_satisfying_input_gives_its_provable_witness(model: CompiledModel) -> None:
    x_q = model.quantize_input(np.array([[0.25, -0.5, 0.75, 0.1]]))
    commitment = model.input_commitment(x_q, SALT)
    witness = model.provable_witness(x_q, SALT, commitment)
    assert witness == model.generate_witness(x_q, SALT)
    assert witness.commitment == commitment
    assert is_satisfied(model.r1cs, witness.values)
    assert witness.outputs_q == model.infer_quantized(x_q)


def test_an_input_for_another_commitment_or_salt_is_not_provable(model: CompiledModel) -> None:
    x_q = model.quantize_input(np.array([[0.25, -0.5, 0.75, 0.1]]))
    commitment = model.input_commitment(x_q, SALT)
    with pytest.raises(InputError, match="do not match the job's commitment"):
        model.provable_witness(x_q, SALT + 1, commitment)  # the requester sent another salt
    other = x_q.copy()
    other[2] += 1
    with pytest.raises(InputError, match="do not match the job's commitment"):
        model.provable_witness(other, SALT, commitment)  # another input
    with pytest.raises(InputError, match="do not match the job's commitment"):
        model.provable_witness(x_q, SALT, commitment ^ 1)


def test_the_aliasing_input_is_not_provable_for_the_originals_commitment(
    model: CompiledModel,
) -> None:
    x_q = np.array([3, -5, 7, 0])
    commitment = model.input_commitment(x_q, SALT)
    with pytest.raises(InputError):
        model.provable_witness(_alias(model, x_q), SALT, commitment)


def test_an_input_that_overflows_a_later_layer_is_not_provable() -> None:
    """In the input range, yet outside the range a later layer was calibrated (and
    range-checked) for: the job would commit to it, and no proof of it exists."""
    data, _ = matmul_add_relu()
    narrow = compile_model(
        data, np.full((4, 1, 4), 0.01), CompileOptions(input_range=(-100.0, 100.0))
    )
    x_q = narrow.quantize_input(np.array([[50.0, -50.0, 50.0, -50.0]]))
    commitment = narrow.input_commitment(x_q, SALT)  # a valid commitment ...
    with pytest.raises(InputError, match=r"layer '\w+'.*calibrated"):
        narrow.provable_witness(x_q, SALT, commitment)  # ... to an unprovable input
    small = narrow.quantize_input(np.array([[0.01, 0.01, 0.01, 0.01]]))
    witness = narrow.provable_witness(small, SALT, narrow.input_commitment(small, SALT))
    assert is_satisfied(narrow.r1cs, witness.values)


def test_a_witness_that_violates_a_constraint_is_refused(
    model: CompiledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: the witness is checked against every constraint."""
    x_q = model.quantize_input(np.array([[0.25, -0.5, 0.75, 0.1]]))
    commitment = model.input_commitment(x_q, SALT)
    good = model.generate_witness(x_q, SALT)
    broken = dataclasses.replace(good, values=[*good.values[:-1], good.values[-1] + 1])
    monkeypatch.setattr(CompiledModel, "generate_witness", lambda self, x, salt: broken)
    with pytest.raises(InputError, match=r"violates constraint \d+; it cannot be proved"):
        model.provable_witness(x_q, SALT, commitment)
