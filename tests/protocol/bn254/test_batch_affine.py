from __future__ import annotations

import random

from protocol.bn254 import batch_affine
from protocol.bn254.batch_affine import g1_sum_groups, g2_sum_groups
from protocol.bn254.curve import G1, G2, g1_add, g1_double, g1_neg, g2_add, g2_neg
from protocol.bn254.types import G1Affine, G2Affine
from tests.protocol.bn254.helpers import random_g1, random_g2


def total_g1(points: list[tuple[int, int]]) -> G1Affine:
    acc: G1Affine = None
    for p in points:
        acc = g1_add(acc, p)
    return acc


def total_g2(points: list[tuple[tuple[int, int], tuple[int, int]]]) -> G2Affine:
    acc: G2Affine = None
    for p in points:
        acc = g2_add(acc, p)
    return acc


def test_g1_groups_with_doublings_and_cancellations(rng: random.Random) -> None:
    pts = [random_g1(rng) for _ in range(12)]
    finite = [p for p in pts if p is not None]
    p, q = finite[0], finite[1]
    neg_p = g1_neg(p)
    assert neg_p is not None
    doubled = g1_double(p)
    assert doubled is not None
    groups = [
        [],
        [p],
        [p, p],
        [p, neg_p],
        [p, neg_p, q],
        [p, p, neg_p, q, doubled],
        finite + finite[:5],
        [q] * 9,
    ]
    expected = [total_g1(g) for g in groups]
    assert g1_sum_groups([list(g) for g in groups]) == expected


def test_g1_groups_across_chunks(rng: random.Random) -> None:
    pool = [random_g1(rng) for _ in range(8)]
    finite = [p for p in pool if p is not None]
    groups = [[finite[(i * j) % 8] for j in range(1 + i % 7)] for i in range(700)]
    assert sum(len(g) for g in groups) > 2 * batch_affine.CHUNK_POINTS
    expected = [total_g1(g) for g in groups]
    assert g1_sum_groups([list(g) for g in groups]) == expected


def test_g2_groups_with_doublings_and_cancellations(rng: random.Random) -> None:
    assert G2 is not None
    p = random_g2(rng)
    assert p is not None
    neg_p = g2_neg(p)
    assert neg_p is not None
    groups = [[], [G2], [p, p], [p, neg_p], [p, neg_p, G2], [G2, p, p, G2, p], [G2] * 5]
    expected = [total_g2(g) for g in groups]
    assert g2_sum_groups([list(g) for g in groups]) == expected


def test_generator_sums() -> None:
    assert G1 is not None
    assert g1_sum_groups([[G1] * 4]) == [g1_double(g1_double(G1))]
