"""The hybrid backend against the pure reference, and where it puts each term."""

from __future__ import annotations

import random

import pytest

from protocol.bn254.backend import PureBackend, available_backends
from protocol.bn254.curve import G1, G2, g1_neg, g2_neg
from protocol.bn254.fields import R
from protocol.errors import LocalProtocolError
from protocol.groth16.prove import Prover
from protocol.groth16.setup import ToxicWaste, setup
from protocol.groth16.verify import verify
from tests.protocol.bn254.helpers import random_g1, random_g2
from tests.protocol.circuits import small_values

hybrid = pytest.importorskip(
    "protocol.bn254.hybrid", reason="the native wheel (extra 'fast': zksnake) is not installed"
)

PURE = PureBackend()
HYBRID = hybrid.HybridBackend()
BIG = R - 2**200  # signed size 2^200: beyond CONVERT_ABOVE_BITS
MID = 2**100  # between NATIVE_ABOVE_BITS and CONVERT_ABOVE_BITS


def _mixed_scalars(rng: random.Random, n: int) -> list[int]:
    """Zero, one, small, small negative, mid-size and full-size scalars, unreduced ones too."""
    pool = [0, 1, 2, R - 1, R - 7, -3, 255, 2**30, MID, BIG, R, R + 5, 2**256 - 1, R // 2 + 1]
    return [rng.choice(pool) if i % 3 else rng.randrange(R) for i in range(n)]


def test_hybrid_is_listed_between_native_and_pure() -> None:
    order = available_backends()
    assert order.index("zksnake") < order.index(hybrid.NAME) < order.index("pure")


@pytest.mark.parametrize("n", [1, 2, 17, 200])
def test_msm_g1_agrees_on_repeated_use(rng: random.Random, n: int) -> None:
    points = [random_g1(rng) for _ in range(n)]
    bases = HYBRID.load_g1(points)
    for _ in range(3):  # the later calls reuse the native points made by the first
        scalars = _mixed_scalars(rng, n)
        assert HYBRID.msm_g1(bases, scalars) == PURE.msm_g1(PURE.load_g1(points), scalars)


def test_msm_g2_agrees_on_repeated_use(rng: random.Random) -> None:
    points = [random_g2(rng) for _ in range(9)] + [None, G2, g2_neg(G2)]
    bases = HYBRID.load_g2(points)
    for _ in range(3):
        scalars = _mixed_scalars(rng, len(points))
        assert HYBRID.msm_g2(bases, scalars) == PURE.msm_g2(PURE.load_g2(points), scalars)


def test_msm_edge_points(rng: random.Random) -> None:
    p = random_g1(rng)
    points = [None, p, p, g1_neg(p), G1, None, G1]
    for scalars in ([BIG, 1, 2, BIG, 0, 7, R - 1], [0] * 7, [BIG] * 7, [1] * 7):
        assert HYBRID.msm_g1(HYBRID.load_g1(points), scalars) == PURE.msm_g1(
            PURE.load_g1(points), scalars
        )
    assert HYBRID.msm_g1(HYBRID.load_g1([p, g1_neg(p)]), [BIG, BIG]) is None
    assert HYBRID.msm_g1(HYBRID.load_g1([p, g1_neg(p)]), [3, 3]) is None
    assert HYBRID.msm_g1(HYBRID.load_g1([]), []) is None
    assert HYBRID.msm_g2(HYBRID.load_g2([None]), [BIG]) is None


def test_terms_go_where_they_are_cheap(rng: random.Random) -> None:
    points = [random_g1(rng) for _ in range(6)]
    bases = HYBRID.load_g1(points)
    first = hybrid.split_terms(bases, [0, 1, R - 5, MID, BIG, R - BIG], "t")
    assert first.native_index == [4, 5]  # only full-size terms pay a conversion
    assert first.pure_scalars == [1, R - 5, MID]
    HYBRID.msm_g1(bases, [0, 1, R - 5, MID, BIG, R - BIG])
    assert sorted(bases.native) == [4, 5]
    again = hybrid.split_terms(bases, [BIG, 0, 0, 0, MID, 3], "t")
    assert again.native_index == [0, 4]  # a converted base takes mid-size scalars too
    assert again.pure_scalars == [3]


def test_g2_bases_convert_at_their_second_large_scalar(rng: random.Random) -> None:
    q = random_g2(rng)
    bases = HYBRID.load_g2([q, q])
    assert HYBRID.msm_g2(bases, [BIG, 1]) == PURE.msm_g2(PURE.load_g2([q, q]), [BIG, 1])
    assert bases.native == {}
    assert HYBRID.msm_g2(bases, [BIG, BIG]) == PURE.msm_g2(PURE.load_g2([q, q]), [BIG, BIG])
    assert sorted(bases.native) == [0]


def test_refuses_bad_input(rng: random.Random) -> None:
    with pytest.raises(LocalProtocolError, match="2 points but 1 scalars"):
        HYBRID.msm_g1(HYBRID.load_g1([G1, G1]), [1])
    with pytest.raises(LocalProtocolError, match="not loaded by this backend"):
        HYBRID.msm_g1(PURE.load_g1([G1]), [1])
    with pytest.raises(LocalProtocolError, match="not loaded by this backend"):
        HYBRID.msm_g2(HYBRID.load_g1([G1]), [1])
    bad = HYBRID.load_g1([(1, 3)])
    assert HYBRID.msm_g1(bad, [0]) is None  # never converted: nothing to check yet
    with pytest.raises(LocalProtocolError, match="not on G1"):
        HYBRID.msm_g1(bad, [BIG])


def test_ntt_and_fixed_base_agree(rng: random.Random) -> None:
    values = [rng.randrange(R) for _ in range(16)]
    for inverse in (False, True):
        for coset in (False, True):
            got = HYBRID.ntt(values, inverse=inverse, coset=coset)
            assert got == PURE.ntt(values, inverse=inverse, coset=coset)
    scalars = [0, 1, R - 1, BIG]
    assert HYBRID.g1_fixed_base_batch(G1, scalars) == PURE.g1_fixed_base_batch(G1, scalars)
    assert HYBRID.g2_fixed_base_batch(G2, scalars) == PURE.g2_fixed_base_batch(G2, scalars)


def test_groth16_proofs_equal_the_pure_ones() -> None:
    r1cs, witness = small_values(150, n_public=2)
    pk = setup(r1cs, ToxicWaste.from_entropy(b"hybrid".ljust(32, b".")), PURE)
    prover = Prover(pk, r1cs, HYBRID)
    for r, s in ((0x5EED1, 0x5EED2), (7, 9)):  # the second proof runs on converted bases
        proof = prover.prove(witness, r, s)
        assert proof == Prover(pk, r1cs, PURE).prove(witness, r, s)
        assert verify(pk.vk, witness[1:3], proof)


def test_convert_all_makes_every_finite_native_point(rng: random.Random) -> None:
    points = [random_g1(rng), None, random_g1(rng)]
    bases = HYBRID.load_g1(points)
    HYBRID.convert_all(bases)
    assert sorted(bases.native) == [0, 2]
    scalars = [MID, BIG, 5]  # a converted base takes the mid-size scalar natively
    assert hybrid.split_terms(bases, scalars, "t").native_index == [0]
    assert HYBRID.msm_g1(bases, scalars) == PURE.msm_g1(PURE.load_g1(points), scalars)
    g2 = HYBRID.load_g2([G2, None])
    HYBRID.convert_all(g2)
    assert sorted(g2.native) == [0]
    with pytest.raises(LocalProtocolError, match="not loaded by this backend"):
        HYBRID.convert_all(PURE.load_g1(points))
