from __future__ import annotations

import random

import pytest
from py_ecc.optimized_bn128 import optimized_curve as oc

from protocol.bn254 import curve as c
from protocol.bn254.fields import P, R
from protocol.bn254.pairing import from_py_ecc_g1, from_py_ecc_g2, to_py_ecc_g1, to_py_ecc_g2
from protocol.bn254.types import G1Affine, G1Jac
from tests.protocol.bn254.helpers import random_g1, random_g2, twist_point_outside_g2

EDGE_SCALARS = [0, 1, 2, 3, R - 1, R - 2, R, R + 1, 2**128, -1, -5, (R - 1) // 2, (R + 1) // 2]


def test_generators_match_py_ecc() -> None:
    assert from_py_ecc_g1(oc.G1) == c.G1
    assert from_py_ecc_g2(oc.G2) == c.G2
    assert c.g1_mul(c.G1, R) is None
    assert c.g2_mul(c.G2, R) is None


@pytest.mark.parametrize("k", EDGE_SCALARS)
def test_g1_mul_matches_py_ecc(k: int) -> None:
    assert c.g1_mul(c.G1, k) == from_py_ecc_g1(oc.multiply(oc.G1, k % R))


@pytest.mark.parametrize("k", EDGE_SCALARS)
def test_g2_mul_matches_py_ecc(k: int) -> None:
    assert c.g2_mul(c.G2, k) == from_py_ecc_g2(oc.multiply(oc.G2, k % R))


def test_g1_add_double_neg_match_py_ecc(rng: random.Random) -> None:
    for _ in range(5):
        p, q = random_g1(rng), random_g1(rng)
        expected = from_py_ecc_g1(oc.add(to_py_ecc_g1(p), to_py_ecc_g1(q)))
        assert c.g1_add(p, q) == expected
        assert c.g1_to_affine(c.g1_jac_add(_scrambled_g1(p, rng), _scrambled_g1(q, rng))) == (
            expected
        )
        assert c.g1_double(p) == from_py_ecc_g1(oc.double(to_py_ecc_g1(p)))
        assert c.g1_add(p, p) == c.g1_double(p)
        assert c.g1_to_affine(c.g1_jac_add(_scrambled_g1(p, rng), _scrambled_g1(p, rng))) == (
            c.g1_double(p)
        )
        assert c.g1_add(p, c.g1_neg(p)) is None
        assert (
            c.g1_to_affine(c.g1_jac_add(c.g1_from_affine(p), c.g1_jac_neg(_scrambled_g1(p, rng))))
            is None
        )
        assert c.g1_add(p, None) == p
        assert c.g1_add(None, q) == q
        assert c.g1_is_on_curve(p)


def test_g2_add_double_neg_match_py_ecc(rng: random.Random) -> None:
    for _ in range(3):
        p, q = random_g2(rng), random_g2(rng)
        expected = from_py_ecc_g2(oc.add(to_py_ecc_g2(p), to_py_ecc_g2(q)))
        assert c.g2_add(p, q) == expected
        pj = c.g2_jac_double(c.g2_from_affine(p))
        assert c.g2_to_affine(c.g2_jac_add(pj, c.g2_from_affine(q))) == c.g2_add(c.g2_double(p), q)
        assert c.g2_double(p) == from_py_ecc_g2(oc.double(to_py_ecc_g2(p)))
        assert c.g2_add(p, p) == c.g2_double(p)
        assert c.g2_to_affine(c.g2_jac_add(pj, pj)) == c.g2_mul(p, 4)
        assert c.g2_add(p, c.g2_neg(p)) is None
        assert c.g2_to_affine(c.g2_jac_add(pj, c.g2_jac_neg(pj))) is None
        assert c.g2_add(p, None) == p
        assert c.g2_add(None, q) == q
        assert c.g2_in_subgroup(p)


def test_infinity_and_doubling_edge_cases() -> None:
    assert c.g1_double(None) is None
    assert c.g2_double(None) is None
    assert c.g1_neg(None) is None
    assert c.g1_mul(None, 5) is None
    assert c.g2_mul(None, 5) is None
    assert c.g1_to_affine(c.G1_INFINITY_JAC) is None
    assert c.g2_to_affine(c.G2_INFINITY_JAC) is None
    assert c.g1_jac_add(c.G1_INFINITY_JAC, c.G1_INFINITY_JAC)[2] == 0
    assert c.g1_jac_add_mixed(c.G1_INFINITY_JAC, None)[2] == 0
    assert c.g1_is_on_curve(None)
    assert c.g2_in_subgroup(None)


def test_batch_to_affine_matches_single(rng: random.Random) -> None:
    jacs = [_scrambled_g1(random_g1(rng), rng) for _ in range(6)]
    jacs.insert(2, c.G1_INFINITY_JAC)
    assert c.g1_batch_to_affine(jacs) == [c.g1_to_affine(p) for p in jacs]
    g2s = [c.g2_jac_double(c.g2_from_affine(random_g2(rng))) for _ in range(3)]
    g2s.append(c.G2_INFINITY_JAC)
    assert c.g2_batch_to_affine(g2s) == [c.g2_to_affine(p) for p in g2s]
    assert c.g1_batch_to_affine([]) == []


def test_on_curve_rejects_bad_points(rng: random.Random) -> None:
    assert not c.g1_is_on_curve((1, 3))
    assert not c.g1_is_on_curve((1 + P, 2))
    assert c.G2 is not None
    assert not c.g2_is_on_curve((c.G2[0], (1, 1)))
    assert not c.g2_is_on_curve((c.G2[0], (c.G2[1][0] + P, c.G2[1][1])))
    outside = twist_point_outside_g2(rng)
    assert c.g2_is_on_curve(outside)
    assert not c.g2_in_subgroup(outside)


def _scrambled_g1(p: G1Affine, rng: random.Random) -> G1Jac:
    """The same point in Jacobian form with a random Z != 1."""
    assert p is not None
    z = rng.randrange(2, P)
    return (p[0] * z * z % P, p[1] * z * z * z % P, z)
