"""Multi-scalar multiplication ``sum(k_i * P_i)`` on G1 and G2 (Pippenger's buckets).

Scalars are any ints and are reduced mod R first, so ``-3`` and ``R - 3`` mean the
same thing. A reduced scalar above ``R/2`` is replaced by ``R - k`` with the point
negated, so the small negative values common in ML witnesses cost as little as
small positive ones; the window size then follows the largest remaining bit
length. Digits are signed (``-2^(c-1) .. 2^(c-1)``), which halves the buckets.
Points at infinity and zero scalars contribute nothing and are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

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
from protocol.bn254.types import G1Affine, G1Jac, G2Affine, G2Jac
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


G1_OPS: GroupOps[G1Affine, G1Jac] = GroupOps(
    G1_INFINITY_JAC,
    g1_jac_add,
    g1_jac_add_mixed,
    g1_jac_double,
    g1_neg,
    g1_to_affine,
    g1_batch_to_affine,
)
G2_OPS: GroupOps[G2Affine, G2Jac] = GroupOps(
    G2_INFINITY_JAC,
    g2_jac_add,
    g2_jac_add_mixed,
    g2_jac_double,
    g2_neg,
    g2_to_affine,
    g2_batch_to_affine,
)

# Relative cost of a full Jacobian addition and of a doubling against a mixed
# addition (field multiplications: 16 and 7 against 11), used to pick windows.
_FULL_ADD_COST = 1.5
_DOUBLE_COST = 0.7
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
    if not ks:
        return ops.infinity
    bits = max(k.bit_length() for k in ks)
    if bits == 1:
        return _plain_sum(ops, bases)
    c = choose_window(len(ks), bits)
    negated = [ops.neg(p) for p in bases]
    digits = signed_digits(ks, c, bits)
    acc = ops.infinity
    for w in range(len(digits) - 1, -1, -1):
        for _ in range(c):
            acc = ops.double(acc)
        acc = ops.add(acc, _window_sum(ops, bases, negated, digits[w], 1 << (c - 1)))
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


def _plain_sum(ops: GroupOps[A, J], bases: Sequence[A]) -> J:
    add_mixed = ops.add_mixed
    acc = ops.infinity
    for p in bases:
        acc = add_mixed(acc, p)
    return acc


def choose_window(n: int, bits: int) -> int:
    """The window width (in bits) that minimises the estimated cost of an MSM."""

    def cost(c: int) -> float:
        windows = bits // c + 1
        return windows * (n + _FULL_ADD_COST * (1 << c) + _DOUBLE_COST * c)

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


def _window_sum(
    ops: GroupOps[A, J], bases: Sequence[A], negated: Sequence[A], digits: Sequence[int], half: int
) -> J:
    # sum(d_i * P_i) for digits |d_i| <= half: bucket points by digit, then sum
    # buckets with the running-sum trick (sum_j j * B_j with 2 * half additions).
    add_mixed = ops.add_mixed
    add = ops.add
    infinity = ops.infinity
    buckets: list[J | None] = [None] * (half + 1)
    for i, d in enumerate(digits):
        if d == 0:
            continue
        if d > 0:
            p = bases[i]
        else:
            p = negated[i]
            d = -d
        b = buckets[d]
        buckets[d] = add_mixed(infinity if b is None else b, p)
    running: J | None = None
    total: J | None = None
    for d in range(half, 0, -1):
        b = buckets[d]
        if b is not None:
            running = b if running is None else add(running, b)
        if running is not None:
            total = running if total is None else add(total, running)
    return infinity if total is None else total
