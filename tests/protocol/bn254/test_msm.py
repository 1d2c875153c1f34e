from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_ecc.optimized_bn128 import optimized_curve as oc

from protocol.bn254.curve import G1, G2, g1_add, g1_mul, g1_neg, g2_add, g2_mul
from protocol.bn254.fields import R
from protocol.bn254.msm import choose_window, msm_g1, msm_g2, signed_digits
from protocol.bn254.pairing import from_py_ecc_g1, to_py_ecc_g1
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError
from tests.protocol.bn254.helpers import random_g1, random_g2

POOL_RNG = random.Random(7)
POOL: list[G1Affine] = [random_g1(POOL_RNG) for _ in range(12)]


def naive_g1(points: Sequence[G1Affine], scalars: Sequence[int]) -> G1Affine:
    acc: G1Affine = None
    for p, k in zip(points, scalars, strict=True):
        acc = g1_add(acc, g1_mul(p, k))
    return acc


def naive_g2(points: Sequence[G2Affine], scalars: Sequence[int]) -> G2Affine:
    acc: G2Affine = None
    for p, k in zip(points, scalars, strict=True):
        acc = g2_add(acc, g2_mul(p, k))
    return acc


def test_matches_py_ecc_naive_sum(rng: random.Random) -> None:
    points = POOL[:6]
    scalars = [rng.randrange(R) for _ in points]
    expected = oc.Z1
    for p, k in zip(points, scalars, strict=True):
        expected = oc.add(expected, oc.multiply(to_py_ecc_g1(p), k))
    assert msm_g1(points, scalars) == from_py_ecc_g1(expected)


@pytest.mark.parametrize("n", [1, 2, 3, 17, 64])
def test_random_full_scalars(rng: random.Random, n: int) -> None:
    points = [POOL[rng.randrange(len(POOL))] for _ in range(n)]
    scalars = [rng.randrange(R) for _ in range(n)]
    assert msm_g1(points, scalars) == naive_g1(points, scalars)


def test_edge_scalars_and_points() -> None:
    p, q = POOL[0], POOL[1]
    assert msm_g1([], []) is None
    assert msm_g1([p], [0]) is None
    assert msm_g1([p], [1]) == p
    assert msm_g1([p], [R - 1]) == g1_neg(p)
    assert msm_g1([p], [R]) is None
    assert msm_g1([p], [R + 5]) == g1_mul(p, 5)
    assert msm_g1([p], [-5]) == g1_mul(p, R - 5)
    assert msm_g1([None, p, None], [3, 4, 0]) == g1_mul(p, 4)
    assert msm_g1([p, g1_neg(p)], [9, 9]) is None
    assert msm_g1([p, p, p], [1, 1, 1]) == g1_mul(p, 3)
    assert msm_g1([p, p], [R - 1, R - 1]) == g1_mul(p, R - 2)
    assert msm_g1([p, q, p], [2**200, 3, 2**200]) == naive_g1([p, q], [2**201, 3])
    assert msm_g1([G1] * 40, list(range(40))) == g1_mul(G1, sum(range(40)))


def test_length_mismatch_raises() -> None:
    with pytest.raises(LocalProtocolError):
        msm_g1([G1, G1], [1])
    with pytest.raises(LocalProtocolError):
        msm_g2([G2], [])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(POOL) - 1),
            st.one_of(
                st.integers(min_value=-(2**17), max_value=2**17),
                st.sampled_from([0, 1, R - 1, R, R + 1, (R - 1) // 2, (R + 1) // 2]),
                st.integers(min_value=0, max_value=2 * R),
            ),
        ),
        max_size=24,
    )
)
def test_mixed_small_negative_and_large(terms: list[tuple[int, int]]) -> None:
    points = [POOL[i] for i, _ in terms]
    scalars = [k for _, k in terms]
    assert msm_g1(points, scalars) == naive_g1(points, scalars)


def test_bits_and_bytes_witness(rng: random.Random) -> None:
    points = [POOL[i % len(POOL)] for i in range(60)]
    bits = [rng.randrange(2) for _ in points]
    signed_bits = [-b if i % 3 else b for i, b in enumerate(bits)]
    bytes_ = [rng.randrange(-128, 256) for _ in points]
    for scalars in (bits, signed_bits, bytes_):
        assert msm_g1(points, scalars) == naive_g1(points, scalars)


def test_g2_msm(rng: random.Random) -> None:
    points: list[G2Affine] = [random_g2(rng) for _ in range(3)]
    points += [None, points[0], G2]
    scalars = [rng.randrange(R), -7, 1, 5, R - 1, 2**64 + 3]
    assert msm_g2(points, scalars) == naive_g2(points, scalars)
    assert msm_g2(points[:1], [R]) is None
    assert msm_g2([], []) is None
    small = [3, -1, 0, 2, 1, 1]
    assert msm_g2(points, small) == naive_g2(points, small)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=2**254 - 1), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=16),
)
def test_signed_digits_recompose(scalars: list[int], c: int) -> None:
    digits = signed_digits(scalars, c, 254)
    half = 1 << (c - 1)
    for i, k in enumerate(scalars):
        column = [row[i] for row in digits]
        assert all(-half <= d <= half for d in column)
        assert sum(d << (c * w) for w, d in enumerate(column)) == k


def test_window_follows_scalar_size() -> None:
    def windows(n: int, bits: int) -> int:
        return bits // choose_window(n, bits) + 1

    assert windows(4096, 16) <= 3
    assert windows(4096, 254) >= 20
    assert choose_window(1 << 16, 254) > choose_window(64, 254)


def test_many_points_sharing_buckets(rng: random.Random) -> None:
    points = [POOL[i % len(POOL)] for i in range(400)]
    scalars = [rng.randrange(-(2**16), 2**16) for _ in points]
    assert choose_window(400, 17) >= 6
    assert msm_g1(points, scalars) == naive_g1(points, scalars)
