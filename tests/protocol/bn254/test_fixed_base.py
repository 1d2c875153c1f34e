from __future__ import annotations

import random

from protocol.bn254.curve import G1, G2, g1_mul, g2_mul
from protocol.bn254.fields import R
from protocol.bn254.fixed_base import g1_fixed_base_batch, g2_fixed_base_batch
from tests.protocol.bn254.helpers import random_g1

EDGES = [0, 1, 2, R - 1, R, R + 1, -1, -12345, (R - 1) // 2, (R + 1) // 2, 2**253, 2**254 - 1]


def test_g1_matches_single_multiplications(rng: random.Random) -> None:
    base = random_g1(rng)
    scalars = EDGES + [rng.randrange(R) for _ in range(40)] + list(range(3, 40))
    assert g1_fixed_base_batch(base, scalars) == [g1_mul(base, k) for k in scalars]


def test_g1_generator_many_scalars_pick_a_larger_window(rng: random.Random) -> None:
    scalars = [rng.randrange(R) for _ in range(300)]
    out = g1_fixed_base_batch(G1, scalars)
    for i in range(0, 300, 37):
        assert out[i] == g1_mul(G1, scalars[i])


def test_g2_matches_single_multiplications(rng: random.Random) -> None:
    scalars = EDGES[:8] + [rng.randrange(R) for _ in range(6)]
    assert g2_fixed_base_batch(G2, scalars) == [g2_mul(G2, k) for k in scalars]


def test_degenerate_inputs() -> None:
    assert g1_fixed_base_batch(G1, []) == []
    assert g1_fixed_base_batch(None, [1, 2]) == [None, None]
    assert g2_fixed_base_batch(None, [5]) == [None]
