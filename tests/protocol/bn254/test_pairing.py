from __future__ import annotations

import random

import pytest

from protocol.bn254.curve import G1, G2, g1_mul, g1_neg, g2_mul, g2_neg
from protocol.bn254.fields import R
from protocol.bn254.pairing import pairing, pairing_check
from protocol.errors import LocalProtocolError
from tests.protocol.bn254.helpers import twist_point_outside_g2


def test_bilinearity_through_pairing_check(rng: random.Random) -> None:
    a, b = rng.randrange(1, R), rng.randrange(1, R)
    lhs = (g1_mul(G1, a), g2_mul(G2, b))
    assert pairing_check([lhs, (g1_neg(g1_mul(G1, a * b)), G2)])
    assert pairing_check([lhs, (g1_mul(G1, a), g2_neg(g2_mul(G2, b)))])
    assert not pairing_check([lhs, (g1_neg(g1_mul(G1, a * b + 1)), G2)])
    assert not pairing_check([lhs])


def test_pairing_values_compare() -> None:
    e = pairing(G1, G2)
    assert pairing(g1_mul(G1, 6), G2) == pairing(g1_mul(G1, 2), g2_mul(G2, 3))
    assert pairing(g1_mul(G1, 2), G2) == e * e
    assert pairing(g1_mul(G1, 2), G2) != e


def test_infinity_pairs_are_neutral() -> None:
    assert pairing_check([])
    assert pairing_check([(None, G2), (G1, None)])
    assert not pairing_check([(None, G2), (G1, G2)])


def test_rejects_points_outside_their_groups(rng: random.Random) -> None:
    with pytest.raises(LocalProtocolError):
        pairing_check([(G1, twist_point_outside_g2(rng))])
    with pytest.raises(LocalProtocolError):
        pairing_check([((1, 3), G2)])
