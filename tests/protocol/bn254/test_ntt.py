from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.bn254.fields import R
from protocol.bn254.ntt import (
    COSET_SHIFT,
    TWO_ADICITY,
    coset_intt,
    coset_ntt,
    intt,
    ntt,
    root_of_unity,
)
from protocol.errors import LocalProtocolError

fr = st.integers(min_value=0, max_value=R - 1)


def evaluate(coeffs: list[int], x: int) -> int:
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % R
    return acc


def test_roots_of_unity_are_primitive() -> None:
    assert root_of_unity(1) == 1
    assert root_of_unity(2) == R - 1
    top = root_of_unity(1 << TWO_ADICITY)
    assert pow(top, 1 << TWO_ADICITY, R) == 1
    assert pow(top, 1 << (TWO_ADICITY - 1), R) == R - 1
    assert pow(root_of_unity(1024), 512, R) == R - 1
    assert root_of_unity(8) == pow(root_of_unity(16), 2, R)
    for bad in [0, 3, 12, 1 << (TWO_ADICITY + 1)]:
        with pytest.raises(LocalProtocolError):
            root_of_unity(bad)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 32])
def test_ntt_matches_naive_evaluation(rng: random.Random, n: int) -> None:
    coeffs = [rng.randrange(R) for _ in range(n)]
    omega = root_of_unity(n)
    assert ntt(coeffs, omega) == [evaluate(coeffs, pow(omega, i, R)) for i in range(n)]
    cosets = [evaluate(coeffs, COSET_SHIFT * pow(omega, i, R)) for i in range(n)]
    assert coset_ntt(coeffs, omega, COSET_SHIFT) == cosets
    assert coset_ntt(coeffs, omega) == cosets
    assert coset_intt(cosets, omega) == coeffs


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=0, max_value=9).flatmap(
        lambda k: st.lists(fr, min_size=1 << k, max_size=1 << k)
    )
)
def test_round_trips(values: list[int]) -> None:
    omega = root_of_unity(len(values))
    assert intt(ntt(values, omega), omega) == values
    assert ntt(intt(values, omega), omega) == values
    assert coset_intt(coset_ntt(values, omega, 7), omega, 7) == values


def test_convolution_theorem(rng: random.Random) -> None:
    a = [rng.randrange(R) for _ in range(8)] + [0] * 8
    b = [rng.randrange(R) for _ in range(8)] + [0] * 8
    omega = root_of_unity(16)
    product = intt([x * y % R for x, y in zip(ntt(a, omega), ntt(b, omega), strict=True)], omega)
    expected = [0] * 16
    for i in range(8):
        for j in range(8):
            expected[i + j] = (expected[i + j] + a[i] * b[j]) % R
    assert product == expected


def test_inputs_are_reduced() -> None:
    omega = root_of_unity(4)
    assert ntt([R + 1, -1, 0, 2 * R], omega) == ntt([1, R - 1, 0, 0], omega)


def test_rejects_bad_lengths_and_roots() -> None:
    with pytest.raises(LocalProtocolError):
        ntt([1, 2, 3], root_of_unity(4))
    with pytest.raises(LocalProtocolError):
        intt([], 1)
    with pytest.raises(LocalProtocolError, match="primitive"):
        ntt([1, 2, 3, 4], root_of_unity(8))
    with pytest.raises(LocalProtocolError, match="primitive"):
        ntt([1, 2, 3, 4], R - 1)
    with pytest.raises(LocalProtocolError):
        coset_ntt([1, 2], R - 1, 0)
