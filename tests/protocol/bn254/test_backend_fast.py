"""The native backend against the pure reference, on random and edge inputs."""

from __future__ import annotations

import random

import pytest

from node.parallel import process_map
from protocol.bn254.backend import PureBackend, available_backends, get_backend
from protocol.bn254.curve import G1, G2, g1_mul, g1_neg, g2_in_subgroup, g2_neg
from protocol.bn254.fields import R, fq2_add, fq2_mul, fq2_sqr, fq2_sqrt
from protocol.bn254.g2 import B2, g2_mul
from protocol.errors import LocalProtocolError
from tests.protocol.bn254.helpers import random_g1, random_g2

fast = pytest.importorskip(
    "protocol.bn254.fast", reason="the native wheel (extra 'fast': zksnake) is not installed"
)

PURE = PureBackend()
FAST = fast.ZksnakeBackend()


def test_native_backend_is_preferred_when_installed() -> None:
    assert available_backends()[0] == fast.NAME
    assert get_backend().name == fast.NAME


def _edge_scalars(rng: random.Random, n: int) -> list[int]:
    special = [0, 1, R - 1, R, R + 5, -3, 2**256 - 1, R // 2, R // 2 + 1]
    return [special[i] if i < len(special) else rng.randrange(R) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 17, 300])
def test_msm_g1_agrees(rng: random.Random, n: int) -> None:
    points = [random_g1(rng) for _ in range(n)]
    for scalars in ([rng.randrange(R) for _ in range(n)], _edge_scalars(rng, n)):
        assert FAST.msm_g1(FAST.load_g1(points), scalars) == PURE.msm_g1(
            PURE.load_g1(points), scalars
        )


def test_msm_g1_edge_points(rng: random.Random) -> None:
    p = random_g1(rng)
    points = [None, p, p, g1_neg(p), G1, None, G1]
    for scalars in ([5, 1, 2, 3, 0, 7, R - 1], [0] * 7, [1] * 7, _edge_scalars(rng, 7)):
        expected = PURE.msm_g1(PURE.load_g1(points), scalars)
        assert FAST.msm_g1(FAST.load_g1(points), scalars) == expected
    assert FAST.msm_g1(FAST.load_g1([p, g1_neg(p)]), [4, 4]) is None
    assert FAST.msm_g1(FAST.load_g1([]), []) is None
    assert FAST.msm_g1(FAST.load_g1([None, None]), [1, 2]) is None
    assert FAST.msm_g2(FAST.load_g2([None]), [3]) is None


def test_msm_g2_agrees_with_edges(rng: random.Random) -> None:
    q = random_g2(rng)
    points = [q, None, G2, q, g2_neg(q), random_g2(rng)]
    for scalars in ([rng.randrange(R) for _ in range(6)], _edge_scalars(rng, 6), [0] * 6):
        expected = PURE.msm_g2(PURE.load_g2(points), scalars)
        assert FAST.msm_g2(FAST.load_g2(points), scalars) == expected
    assert FAST.msm_g2(FAST.load_g2([q, g2_neg(q)]), [3, 3]) is None


def test_msm_refuses_bad_input(rng: random.Random) -> None:
    with pytest.raises(LocalProtocolError, match="2 points but 1 scalars"):
        FAST.msm_g1(FAST.load_g1([G1, G1]), [1])
    with pytest.raises(LocalProtocolError, match="not loaded by this backend"):
        FAST.msm_g1(PURE.load_g1([G1]), [1])
    with pytest.raises(LocalProtocolError, match="not loaded by this backend"):
        FAST.msm_g2(FAST.load_g1([G1]), [1])
    with pytest.raises(LocalProtocolError, match="not on G1"):
        FAST.load_g1([(1, 3)])
    (x0, x1), y = G2
    with pytest.raises(LocalProtocolError, match="not on the G2 twist"):
        FAST.load_g2([((x0 + 1, x1), y)])


@pytest.mark.parametrize("n", [1, 2, 8, 256])
def test_ntt_agrees_on_every_flag(rng: random.Random, n: int) -> None:
    values = [rng.randrange(R) for _ in range(n)]
    values[0] = R + 7  # unreduced input is taken mod R, as in the pure NTT
    for inverse in (False, True):
        for coset in (False, True):
            got = FAST.ntt(values, inverse=inverse, coset=coset)
            assert got == PURE.ntt(values, inverse=inverse, coset=coset)
    assert FAST.ntt(FAST.ntt(values, coset=True), inverse=True, coset=True) == [
        v % R for v in values
    ]


def test_ntt_refuses_lengths_that_are_not_powers_of_two() -> None:
    with pytest.raises(LocalProtocolError, match="power of two"):
        FAST.ntt([1, 2, 3])


def test_fixed_base_batches_agree(rng: random.Random) -> None:
    scalars = _edge_scalars(rng, 12)
    assert FAST.g1_fixed_base_batch(G1, scalars) == PURE.g1_fixed_base_batch(G1, scalars)
    assert FAST.g2_fixed_base_batch(G2, scalars[:4]) == PURE.g2_fixed_base_batch(G2, scalars[:4])


def _twist_point_outside_g2() -> tuple[tuple[int, int], tuple[int, int]]:
    """A point on the G2 twist outside the prime-order subgroup (the cofactor is huge)."""
    for x0 in range(1, 100):
        x = (x0, 1)
        y = fq2_sqrt(fq2_add(fq2_mul(fq2_sqr(x), x), B2))
        if y is not None and not g2_in_subgroup((x, y)):
            return x, y
    raise AssertionError("no such point among the first x")


@pytest.mark.parametrize("backend", [PURE, FAST], ids=["pure", "native"])
def test_pairing_checks_agree(rng: random.Random, backend: object) -> None:
    a, b = rng.randrange(1, R), rng.randrange(1, R)
    p, q = G1, G2
    ap, bq = g1_mul(p, a), g2_mul(q, b)
    abp = g1_mul(p, a * b % R)
    check = backend.pairing_check  # type: ignore[attr-defined]
    assert check([(ap, bq), (g1_neg(abp), q)])
    assert not check([(ap, bq), (abp, q)])
    assert check([])
    assert check([(None, q), (p, None)])
    assert not check([(ap, bq), (g1_neg(abp), q), (p, q)])


def test_a_g2_point_outside_the_subgroup_is_refused_not_a_panic() -> None:
    outside = _twist_point_outside_g2()
    with pytest.raises(LocalProtocolError, match="subgroup"):
        FAST.pairing_check([(G1, outside)])
    with pytest.raises(LocalProtocolError, match="subgroup"):
        FAST.msm_g2(FAST.load_g2([outside]), [1])
    with pytest.raises(LocalProtocolError, match="not in G2"):
        PURE.pairing_check([(G1, outside)])


def test_scaling_and_group_sums_agree(rng: random.Random) -> None:
    g1s = [random_g1(rng) for _ in range(6)] + [None]
    g2s = [random_g2(rng) for _ in range(3)] + [None]
    for k in (0, 1, R - 1, rng.randrange(R), -7):
        assert FAST.scale_g1(g1s, k) == PURE.scale_g1(g1s, k)
    groups = [[(0, 3), (1, R - 1), (6, 9)], [], [(2, 5), (2, R - 5)], [(5, rng.randrange(R))]]
    assert FAST.group_sums_g1(g1s, groups) == PURE.group_sums_g1(g1s, groups)
    assert PURE.group_sums_g1(g1s, groups)[1:3] == [None, None]
    groups2 = [[(0, 2), (3, 4)], [(1, R + 1)], [], [(2, -1), (0, 1)]]
    assert FAST.group_sums_g2(g2s, groups2) == PURE.group_sums_g2(g2s, groups2)


def test_scaling_and_group_sums_split_over_processes_agree(
    rng: random.Random, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the node's process mapper, from PARALLEL_MIN_POINTS on the points are split
    over worker processes; the results are the pure ones, including groups whose terms
    fall in several slices or cancel, and a bad point in a worker's slice is refused."""
    monkeypatch.setattr(fast, "PARALLEL_MIN_POINTS", 8)
    split = fast.ZksnakeBackend(mapper=process_map, workers=3)
    g1s = [random_g1(rng) for _ in range(11)] + [None]
    g2s = [random_g2(rng) for _ in range(8)] + [None]
    for k in (1, R - 1, rng.randrange(R)):
        assert split.scale_g1(g1s, k) == PURE.scale_g1(g1s, k)
    groups = [
        [(0, 3), (5, R - 1), (11, 9), (10, 2)],  # terms in all three slices
        [],
        [(1, 5), (9, R - 5), (9, 5), (1, R - 5)],  # cancels across slices
        [(7, rng.randrange(R))],
        [(i, rng.randrange(R)) for i in range(12)],
    ]
    assert split.group_sums_g1(g1s, groups) == PURE.group_sums_g1(g1s, groups)
    groups2 = [[(0, 2), (7, 4)], [(3, R + 1)], [], [(8, -1), (0, 1), (5, 6)]]
    assert split.group_sums_g2(g2s, groups2) == PURE.group_sums_g2(g2s, groups2)
    off_curve = [*g1s[:-1], (1, 3)]
    with pytest.raises(LocalProtocolError, match="not on G1"):
        split.group_sums_g1(off_curve, [[(11, 1)]])
