"""The BN254 groups G1 (over Fq) and G2 (over Fq2) as EIP-196/197 define them.

G1 is ``y^2 = x^3 + 3`` over Fq; G2 is the sextic twist ``y^2 = x^3 + 3/(9+u)`` over
Fq2. Affine points are ``(x, y)`` or None for infinity; Jacobian points are
``(X, Y, Z)`` with ``Z == 0`` for infinity. The G1 functions live here; the G2
family (``g2_add``, ``g2_mul``, ...) lives in ``protocol.bn254.g2`` and is
re-exported. The generators and group order are checked at import.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.bn254.fields import P, R, fq_batch_inv
from protocol.bn254.g2 import (
    B2,
    G2,
    G2_INFINITY_JAC,
    g2_add,
    g2_batch_to_affine,
    g2_double,
    g2_from_affine,
    g2_in_subgroup,
    g2_is_on_curve,
    g2_jac_add,
    g2_jac_add_mixed,
    g2_jac_double,
    g2_jac_neg,
    g2_mul,
    g2_mul_unreduced,
    g2_neg,
    g2_to_affine,
)
from protocol.bn254.types import G1Affine, G1Jac

__all__ = [
    "B1",
    "B2",
    "G1",
    "G1_INFINITY_JAC",
    "G2",
    "G2_INFINITY_JAC",
    "g1_add",
    "g1_batch_to_affine",
    "g1_double",
    "g1_from_affine",
    "g1_is_on_curve",
    "g1_jac_add",
    "g1_jac_add_mixed",
    "g1_jac_double",
    "g1_jac_neg",
    "g1_mul",
    "g1_mul_unreduced",
    "g1_neg",
    "g1_to_affine",
    "g2_add",
    "g2_batch_to_affine",
    "g2_double",
    "g2_from_affine",
    "g2_in_subgroup",
    "g2_is_on_curve",
    "g2_jac_add",
    "g2_jac_add_mixed",
    "g2_jac_double",
    "g2_jac_neg",
    "g2_mul",
    "g2_mul_unreduced",
    "g2_neg",
    "g2_to_affine",
]

# Curve coefficient of G1: y^2 = x^3 + 3 (EIP-196).
B1 = 3
# Generator of G1 (EIP-196).
G1: G1Affine = (1, 2)
G1_INFINITY_JAC: G1Jac = (1, 1, 0)


def g1_is_on_curve(p: G1Affine) -> bool:
    """Whether ``p`` is infinity or has coordinates in Fq satisfying the G1 equation."""
    if p is None:
        return True
    x, y = p
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - x * x * x - B1) % P == 0


def g1_from_affine(p: G1Affine) -> G1Jac:
    """The Jacobian form of an affine point."""
    if p is None:
        return G1_INFINITY_JAC
    return (p[0], p[1], 1)


def g1_to_affine(p: G1Jac) -> G1Affine:
    """The affine form of a Jacobian point (one inversion)."""
    x, y, z = p
    if z % P == 0:
        return None
    zinv = pow(z, -1, P)
    zinv2 = zinv * zinv % P
    return (x * zinv2 % P, y * zinv2 * zinv % P)


def g1_batch_to_affine(points: Sequence[G1Jac]) -> list[G1Affine]:
    """Affine forms of many Jacobian points with a single field inversion."""
    finite = [i for i, p in enumerate(points) if p[2] % P != 0]
    inverses = fq_batch_inv([points[i][2] for i in finite])
    out: list[G1Affine] = [None] * len(points)
    for i, zinv in zip(finite, inverses, strict=True):
        x, y, _ = points[i]
        zinv2 = zinv * zinv % P
        out[i] = (x * zinv2 % P, y * zinv2 * zinv % P)
    return out


def g1_jac_neg(p: G1Jac) -> G1Jac:
    """``-p`` in Jacobian form."""
    return (p[0], -p[1] % P, p[2])


def g1_jac_double(p: G1Jac) -> G1Jac:
    """``2p`` in Jacobian form (dbl-2009-l, a = 0)."""
    x, y, z = p
    if z == 0 or y == 0:
        return G1_INFINITY_JAC
    a = x * x % P
    b = y * y % P
    c = b * b % P
    d = 2 * ((x + b) * (x + b) - a - c) % P
    e = 3 * a
    x3 = (e * e - 2 * d) % P
    return (x3, (e * (d - x3) - 8 * c) % P, 2 * y * z % P)


def g1_jac_add(p: G1Jac, q: G1Jac) -> G1Jac:
    """``p + q`` for two Jacobian points; handles infinity, doubling and ``p == -q``."""
    x1, y1, z1 = p
    x2, y2, z2 = q
    if z1 == 0:
        return q
    if z2 == 0:
        return p
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    s1 = y1 * z2 * z2z2 % P
    h = (x2 * z1z1 - u1) % P
    r = (y2 * z1 * z1z1 - s1) % P
    if h == 0:
        return g1_jac_double(p) if r == 0 else G1_INFINITY_JAC
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return (x3, (r * (v - x3) - s1 * hhh) % P, z1 * z2 * h % P)


def g1_jac_add_mixed(p: G1Jac, q: G1Affine) -> G1Jac:
    """``p + q`` for a Jacobian ``p`` and an affine ``q``; handles every special case."""
    if q is None:
        return p
    x1, y1, z1 = p
    x2, y2 = q
    if z1 == 0:
        return (x2, y2, 1)
    z1z1 = z1 * z1 % P
    h = (x2 * z1z1 - x1) % P
    r = (y2 * z1 * z1z1 - y1) % P
    if h == 0:
        return g1_jac_double(p) if r == 0 else G1_INFINITY_JAC
    hh = h * h % P
    hhh = h * hh % P
    v = x1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return (x3, (r * (v - x3) - y1 * hhh) % P, z1 * h % P)


def g1_neg(p: G1Affine) -> G1Affine:
    """``-p``."""
    return None if p is None else (p[0], -p[1] % P)


def g1_add(p: G1Affine, q: G1Affine) -> G1Affine:
    """``p + q`` for affine points."""
    return g1_to_affine(g1_jac_add_mixed(g1_from_affine(p), q))


def g1_double(p: G1Affine) -> G1Affine:
    """``2p`` for an affine point."""
    return g1_to_affine(g1_jac_double(g1_from_affine(p)))


def g1_mul_unreduced(p: G1Affine, k: int) -> G1Jac:
    """``k * p`` in Jacobian form for a non-negative ``k`` taken as is (not reduced mod R)."""
    acc = G1_INFINITY_JAC
    if p is None or k == 0:
        return acc
    for bit in bin(k)[2:]:
        acc = g1_jac_double(acc)
        if bit == "1":
            acc = g1_jac_add_mixed(acc, p)
    return acc


def g1_mul(p: G1Affine, k: int) -> G1Affine:
    """``k * p``; ``k`` is any int, taken mod R (negative scalars negate)."""
    k %= R
    if k > R // 2:
        return g1_to_affine(g1_mul_unreduced(g1_neg(p), R - k))
    return g1_to_affine(g1_mul_unreduced(p, k))


def _check_constants() -> None:
    if not g1_is_on_curve(G1) or g1_mul_unreduced(G1, R)[2] != 0:
        raise ImportError("BN254 G1 generator is not a point of order R")
    if not g2_is_on_curve(G2) or g2_mul_unreduced(G2, R)[2] != (0, 0):
        raise ImportError("BN254 G2 generator is not a point of order R")


_check_constants()
