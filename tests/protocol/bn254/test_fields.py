from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2

from protocol.bn254 import fields as f
from protocol.errors import LocalProtocolError
from protocol.r1cs import system

fq = st.integers(min_value=0, max_value=f.P - 1)
fq2 = st.tuples(fq, fq)
fr = st.integers(min_value=0, max_value=f.R - 1)


def ref(a: tuple[int, int]) -> FQ2:
    return FQ2(list(a))


def back(a: FQ2) -> tuple[int, int]:
    return (int(a.coeffs[0]), int(a.coeffs[1]))


def test_moduli_match_py_ecc_and_r1cs() -> None:
    assert FQ.field_modulus == f.P
    assert f.R == system.R
    assert pow(5, f.R - 1, f.R) == 1


@given(fq2, fq2)
def test_fq2_ring_ops_match_py_ecc(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert f.fq2_add(a, b) == back(ref(a) + ref(b))
    assert f.fq2_sub(a, b) == back(ref(a) - ref(b))
    assert f.fq2_mul(a, b) == back(ref(a) * ref(b))
    assert f.fq2_sqr(a) == back(ref(a) * ref(a))
    assert f.fq2_neg(a) == back(-ref(a))
    assert f.fq2_scalar(a, b[0]) == back(ref(a) * b[0])


@given(fq2)
def test_fq2_inverse_and_sqrt(a: tuple[int, int]) -> None:
    if a == (0, 0):
        with pytest.raises(LocalProtocolError):
            f.fq2_inv(a)
        return
    assert f.fq2_mul(a, f.fq2_inv(a)) == (1, 0)
    assert f.fq2_inv(a) == back(ref(a).inv())
    square = f.fq2_sqr(a)
    root = f.fq2_sqrt(square)
    assert root in (a, f.fq2_neg(a))
    root_a = f.fq2_sqrt(a)
    if root_a is not None:
        assert f.fq2_sqr(root_a) == a


def test_fq2_sqrt_detects_non_squares() -> None:
    # An element of Fq2 is a square iff its norm c0^2 + c1^2 is a square in Fq.
    non_squares = [a for a in [(i, 1) for i in range(1, 40)] if f.fq2_sqrt(a) is None]
    assert non_squares  # about half of all elements are non-squares
    for a in non_squares:
        assert pow(a[0] * a[0] + 1, (f.P - 1) // 2, f.P) == f.P - 1


@given(fq)
def test_fq_inverse_and_sqrt(a: int) -> None:
    if a == 0:
        with pytest.raises(LocalProtocolError):
            f.fq_inv(a)
    else:
        assert a * f.fq_inv(a) % f.P == 1
    root = f.fq_sqrt(a)
    is_square = a == 0 or pow(a, (f.P - 1) // 2, f.P) == 1
    assert (root is not None) == is_square
    if root is not None:
        assert root * root % f.P == a


@given(st.lists(st.integers(min_value=1, max_value=f.R - 1), max_size=20))
def test_fr_batch_inv_matches_single_inverses(values: list[int]) -> None:
    assert f.fr_batch_inv(values) == [f.fr_inv(v) for v in values]


@given(fr)
def test_fr_inv(a: int) -> None:
    if a == 0:
        with pytest.raises(LocalProtocolError):
            f.fr_inv(a)
    else:
        assert a * f.fr_inv(a) % f.R == 1


def test_batch_inv_rejects_zero_anywhere() -> None:
    with pytest.raises(LocalProtocolError, match="element 2"):
        f.fr_batch_inv([3, 5, f.R, 7])
    assert f.fr_batch_inv([]) == []
