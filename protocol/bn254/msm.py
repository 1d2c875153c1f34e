"""Multi-scalar multiplication ``sum(k_i * P_i)`` on G1 and G2 (Pippenger's buckets).

Scalars are any ints and are reduced mod R first, so ``-3`` and ``R - 3`` mean the
same thing. A reduced scalar above ``R/2`` is replaced by ``R - k`` with the point
negated, so the small negative values common in ML witnesses cost as little as
small positive ones; the window size then follows the largest remaining bit
length. Digits are signed (``-2^(c-1) .. 2^(c-1)``), which halves the buckets.
Each window's buckets are filled with batched affine additions (one shared
inversion per level, see ``batch_affine``), then weighted by a running sum in
Jacobian coordinates. Points at infinity and zero scalars contribute nothing and
are skipped; 0/1 scalars reduce to a plain sum. Points are not validated here:
callers pass points checked on decoding (see ``encoding``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from protocol.bn254.batch_affine import g1_sum_groups, g2_sum_groups
from protocol.bn254.curve import (
    G1_INFINITY_JAC,
    G2_INFINITY_JAC,
    g1_batch_to_affine,
    g1_jac_add,
    g1_jac_add_mixed,
    g1_jac_double,
    g1_neg,
    g1_to_affine,
    g2_batch_to_affine,
    g2_jac_add,
    g2_jac_add_mixed,
    g2_jac_double,
    g2_neg,
    g2_to_affine,
)
from protocol.bn254.fields import R
from protocol.bn254.types import Fq2, G1Affine, G1Jac, G2Affine, G2Jac
from protocol.errors import LocalProtocolError

A = TypeVar("A")  # affine point (None is infinity)
J = TypeVar("J")  # Jacobian point


@dataclass(frozen=True)
class GroupOps(Generic[A, J]):
    """The group operations an MSM needs, so one algorithm serves G1 and G2."""

    infinity: J
    add: Callable[[J, J], J]
    add_mixed: Callable[[J, A], J]
    double: Callable[[J], J]
    neg: Callable[[A], A]
    to_affine: Callable[[J], A]
    batch_to_affine: Callable[[Sequence[J]], list[A]]
    # The sum of each list of finite points (see protocol.bn254.batch_affine).
    sum_groups: Callable[[list[list[A]]], list[A]]


def _g1_sum_groups(groups: list[list[G1Affine]]) -> list[G1Affine]:
    return g1_sum_groups(cast(list[list[tuple[int, int]]], groups))


def _g2_sum_groups(groups: list[list[G2Affine]]) -> list[G2Affine]:
    return g2_sum_groups(cast(list[list[tuple[Fq2, Fq2]]], groups))


G1_OPS: GroupOps[G1Affine, G1Jac] = GroupOps(
    G1_INFINITY_JAC,
    g1_jac_add,
    g1_jac_add_mixed,
    g1_jac_double,
    g1_neg,
    g1_to_affine,
    g1_batch_to_affine,
    _g1_sum_groups,
)
G2_OPS: GroupOps[G2Affine, G2Jac] = GroupOps(
    G2_INFINITY_JAC,
    g2_jac_add,
    g2_jac_add_mixed,
    g2_jac_double,
    g2_neg,
    g2_to_affine,
    g2_batch_to_affine,
    _g2_sum_groups,
)

# Costs relative to one batched affine addition into a bucket, measured with
# bench/msm_pure.py-style timings (about 3 us): a bucket's share of the running
# sum (one mixed plus one full Jacobian addition) and a Jacobian doubling.
_BUCKET_COST = 3.5
_DOUBLE_COST = 1.0
_MAX_WINDOW = 20


def msm_g1(points: Sequence[G1Affine], scalars: Sequence[int]) -> G1Affine:
    """``sum(scalars[i] * points[i])`` on G1; scalars are taken mod R."""
    return G1_OPS.to_affine(msm_jac(G1_OPS, points, scalars))


def msm_g2(points: Sequence[G2Affine], scalars: Sequence[int]) -> G2Affine:
    """``sum(scalars[i] * points[i])`` on G2; scalars are taken mod R."""
    return G2_OPS.to_affine(msm_jac(G2_OPS, points, scalars))


def msm_jac(ops: GroupOps[A, J], points: Sequence[A], scalars: Sequence[int]) -> J:
    """The MSM in Jacobian form for any group described by ``ops``."""
    if len(points) != len(scalars):
        raise LocalProtocolError(f"msm: {len(points)} points but {len(scalars)} scalars")
    bases, ks = _signed_terms(ops, points, scalars)
    # Terms are split by scalar size (bands of 1, 2, 3-4, 5-8, ... bits) so that a
    # few full-size scalars do not make every small one pay for 254-bit windows.
    bands: dict[int, tuple[list[A], list[int]]] = {}
    for p, k in zip(bases, ks, strict=True):
        band_bases, band_ks = bands.setdefault((k.bit_length() - 1).bit_length(), ([], []))
        band_bases.append(p)
        band_ks.append(k)
    acc = ops.infinity
    for band_bases, band_ks in bands.values():
        acc = ops.add(acc, _pippenger(ops, band_bases, band_ks))
    return acc


def _pippenger(ops: GroupOps[A, J], bases: Sequence[A], ks: Sequence[int]) -> J:
    # sum(ks[i] * bases[i]) for finite points and scalars in (0, R/2].
    bits = max(k.bit_length() for k in ks)
    if bits == 1:
        return ops.add_mixed(ops.infinity, ops.sum_groups([list(bases)])[0])
    c = choose_window(len(ks), bits)
    half = 1 << (c - 1)
    negated = [ops.neg(p) for p in bases]
    acc = ops.infinity
    for row in reversed(signed_digits(ks, c, bits)):
        for _ in range(c):
            acc = ops.double(acc)
        buckets = _bucket_sums(ops, bases, negated, row, half)
        acc = ops.add(acc, _weighted_bucket_sum(ops, buckets))
    return acc


def _signed_terms(
    ops: GroupOps[A, J], points: Sequence[A], scalars: Sequence[int]
) -> tuple[list[A], list[int]]:
    # Reduce, drop zero terms, and fold k > R/2 into (R - k) * (-P).
    half = R // 2
    bases: list[A] = []
    ks: list[int] = []
    for p, k in zip(points, scalars, strict=True):
        k %= R
        if k == 0 or p is None:
            continue
        if k > half:
            bases.append(ops.neg(p))
            ks.append(R - k)
        else:
            bases.append(p)
            ks.append(k)
    return bases, ks


def choose_window(n: int, bits: int) -> int:
    """The window width (in bits) that minimises the estimated cost of an MSM."""

    def cost(c: int) -> float:
        windows = bits // c + 1
        return windows * (n + _BUCKET_COST * (1 << (c - 1)) + _DOUBLE_COST * c)

    return min(range(1, _MAX_WINDOW + 1), key=cost)


def signed_digits(scalars: Sequence[int], c: int, bits: int) -> list[list[int]]:
    """Per window (least significant first), each scalar's digit in ``[-2^(c-1), 2^(c-1)]``.

    Every scalar must be below ``2^bits``; ``bits // c + 1`` windows then absorb the
    final carry.
    """
    windows = bits // c + 1
    mask = (1 << c) - 1
    half = 1 << (c - 1)
    full = 1 << c
    out = [[0] * len(scalars) for _ in range(windows)]
    for i, k in enumerate(scalars):
        carry = 0
        for w in range(windows):
            d = (k & mask) + carry
            k >>= c
            if d > half:
                out[w][i] = d - full
                carry = 1
            else:
                out[w][i] = d
                carry = 0
    return out


def _bucket_sums(
    ops: GroupOps[A, J],
    bases: Sequence[A],
    negated: Sequence[A],
    digits: Sequence[int],
    half: int,
) -> list[A]:
    # Bucket d - 1 sums the points whose digit is d, and the negations of those
    # whose digit is -d; all buckets are summed together in affine form.
    groups: list[list[A]] = [[] for _ in range(half)]
    for i, d in enumerate(digits):
        if d > 0:
            groups[d - 1].append(bases[i])
        elif d < 0:
            groups[-d - 1].append(negated[i])
    return ops.sum_groups(groups)


def _weighted_bucket_sum(ops: GroupOps[A, J], buckets: Sequence[A]) -> J:
    # sum((d + 1) * buckets[d]) with the running-sum trick: 2 * len(buckets) additions.
    add_mixed = ops.add_mixed
    add = ops.add
    running = ops.infinity
    total = ops.infinity
    for b in reversed(buckets):
        running = add_mixed(running, b)
        total = add(total, running)
    return total
