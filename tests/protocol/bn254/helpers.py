"""Point generators shared by the BN254 tests."""

from __future__ import annotations

import random

from protocol.bn254.curve import G1, G2, g1_mul, g2_mul
from protocol.bn254.fields import P, R, fq2_add, fq2_mul, fq2_sqr, fq2_sqrt
from protocol.bn254.g2 import B2
from protocol.bn254.types import G1Affine, G2Affine


def random_g1(rng: random.Random) -> G1Affine:
    return g1_mul(G1, rng.randrange(1, R))


def random_g2(rng: random.Random) -> G2Affine:
    return g2_mul(G2, rng.randrange(1, R))


def twist_point_outside_g2(rng: random.Random) -> G2Affine:
    """A point on the twist curve that is (with overwhelming odds) not in G2."""
    while True:
        x = (rng.randrange(P), rng.randrange(P))
        y = fq2_sqrt(fq2_add(fq2_mul(fq2_sqr(x), x), B2))
        if y is not None:
            return (x, y)
