"""G2 of BN254: the sextic twist ``y^2 = x^3 + 3/(9+u)`` over Fq2 (EIP-197).

Same conventions as G1 in ``protocol.bn254.curve`` (which re-exports this
module): affine ``(x, y)`` or None, Jacobian ``(X, Y, Z)`` with ``Z == (0, 0)`` for
infinity. Unlike G1, the twist has points outside the order-R subgroup, so
decoded points must also pass ``g2_in_subgroup``.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.bn254.fields import (
    FQ2_ONE,
    FQ2_ZERO,
    P,
    R,
    fq2_add,
    fq2_inv,
    fq2_mul,
    fq2_neg,
    fq2_sqr,
    fq2_sub,
    fq_batch_inv,
)
from protocol.bn254.types import Fq2, G2Affine, G2Jac

# Twist coefficient 3 / (9 + u) (EIP-197).
B2: Fq2 = fq2_mul((3, 0), fq2_inv((9, 1)))
# Generator of G2 (EIP-197), coordinates as (real, imaginary).
G2: G2Affine = (
    (
        10857046999023057135944570762232829481370756359578518086990519993285655852781,
        11559732032986387107991004021392285783925812861821192530917403151452391805634,
    ),
    (
        8495653923123431417604973247489272438418190587263600148770280649306958101930,
        4082367875863433681332203403145435568316851327593401208105741076214120093531,
    ),
)
G2_INFINITY_JAC: G2Jac = (FQ2_ONE, FQ2_ONE, FQ2_ZERO)


def _in_fq2(a: Fq2) -> bool:
    return 0 <= a[0] < P and 0 <= a[1] < P


def g2_is_on_curve(p: G2Affine) -> bool:
    """Whether ``p`` is infinity or has Fq2 coordinates satisfying the twist equation.

    This does not check subgroup membership; see ``g2_in_subgroup``.
    """
    if p is None:
        return True
    x, y = p
    if not (_in_fq2(x) and _in_fq2(y)):
        return False
    return fq2_sqr(y) == fq2_add(fq2_mul(fq2_sqr(x), x), B2)


def g2_from_affine(p: G2Affine) -> G2Jac:
    """The Jacobian form of an affine point."""
    if p is None:
        return G2_INFINITY_JAC
    return (p[0], p[1], FQ2_ONE)


def g2_to_affine(p: G2Jac) -> G2Affine:
    """The affine form of a Jacobian point (one inversion)."""
    x, y, z = p
    if z == FQ2_ZERO:
        return None
    zinv = fq2_inv(z)
    zinv2 = fq2_sqr(zinv)
    return (fq2_mul(x, zinv2), fq2_mul(y, fq2_mul(zinv2, zinv)))


def g2_batch_to_affine(points: Sequence[G2Jac]) -> list[G2Affine]:
    """Affine forms of many Jacobian points with a single field inversion."""
    finite = [i for i, p in enumerate(points) if p[2] != FQ2_ZERO]
    # 1/z = conj(z) / norm(z): batch-invert the Fq norms.
    norms = [(points[i][2][0] ** 2 + points[i][2][1] ** 2) % P for i in finite]
    out: list[G2Affine] = [None] * len(points)
    for i, ninv in zip(finite, fq_batch_inv(norms), strict=True):
        x, y, (z0, z1) = points[i]
        zinv = (z0 * ninv % P, -z1 * ninv % P)
        zinv2 = fq2_sqr(zinv)
        out[i] = (fq2_mul(x, zinv2), fq2_mul(y, fq2_mul(zinv2, zinv)))
    return out


def g2_jac_neg(p: G2Jac) -> G2Jac:
    """``-p`` in Jacobian form."""
    return (p[0], fq2_neg(p[1]), p[2])


def g2_jac_double(p: G2Jac) -> G2Jac:
    """``2p`` in Jacobian form (dbl-2009-l, a = 0)."""
    x, y, z = p
    if z == FQ2_ZERO or y == FQ2_ZERO:
        return G2_INFINITY_JAC
    (x0, x1), (y0, y1), (z0, z1) = x, y, z
    a0, a1 = (x0 + x1) * (x0 - x1) % P, 2 * x0 * x1 % P
    b0, b1 = (y0 + y1) * (y0 - y1) % P, 2 * y0 * y1 % P
    c0, c1 = (b0 + b1) * (b0 - b1) % P, 2 * b0 * b1 % P
    s0, s1 = x0 + b0, x1 + b1
    d0 = 2 * ((s0 + s1) * (s0 - s1) - a0 - c0) % P
    d1 = 2 * (2 * s0 * s1 - a1 - c1) % P
    e0, e1 = 3 * a0, 3 * a1
    x30 = ((e0 + e1) * (e0 - e1) - 2 * d0) % P
    x31 = (2 * e0 * e1 - 2 * d1) % P
    f0, f1 = d0 - x30, d1 - x31
    t0, t1 = e0 * f0, e1 * f1
    y30 = (t0 - t1 - 8 * c0) % P
    y31 = ((e0 + e1) * (f0 + f1) - t0 - t1 - 8 * c1) % P
    u0, u1 = y0 * z0, y1 * z1
    z30 = 2 * (u0 - u1) % P
    z31 = 2 * ((y0 + y1) * (z0 + z1) - u0 - u1) % P
    return ((x30, x31), (y30, y31), (z30, z31))


def g2_jac_add(p: G2Jac, q: G2Jac) -> G2Jac:
    """``p + q`` for two Jacobian points; handles infinity, doubling and ``p == -q``."""
    x1, y1, z1 = p
    x2, y2, z2 = q
    if z1 == FQ2_ZERO:
        return q
    if z2 == FQ2_ZERO:
        return p
    z1z1 = fq2_sqr(z1)
    z2z2 = fq2_sqr(z2)
    u1 = fq2_mul(x1, z2z2)
    s1 = fq2_mul(y1, fq2_mul(z2, z2z2))
    h = fq2_sub(fq2_mul(x2, z1z1), u1)
    r = fq2_sub(fq2_mul(y2, fq2_mul(z1, z1z1)), s1)
    return _g2_finish_add(p, h, r, u1, s1, fq2_mul(z1, z2))


def g2_jac_add_mixed(p: G2Jac, q: G2Affine) -> G2Jac:
    """``p + q`` for a Jacobian ``p`` and an affine ``q``; handles every special case."""
    if q is None:
        return p
    x1, y1, z1 = p
    if z1 == FQ2_ZERO:
        return (q[0], q[1], FQ2_ONE)
    z1z1 = fq2_sqr(z1)
    h = fq2_sub(fq2_mul(q[0], z1z1), x1)
    r = fq2_sub(fq2_mul(q[1], fq2_mul(z1, z1z1)), y1)
    return _g2_finish_add(p, h, r, x1, y1, z1)


def _g2_finish_add(p: G2Jac, h: Fq2, r: Fq2, u1: Fq2, s1: Fq2, z1z2: Fq2) -> G2Jac:
    # Shared tail of the add-1998-cmo-2 formulas once H, R, U1, S1 and Z1*Z2 are known.
    if h == FQ2_ZERO:
        return g2_jac_double(p) if r == FQ2_ZERO else G2_INFINITY_JAC
    hh = fq2_sqr(h)
    hhh = fq2_mul(h, hh)
    v = fq2_mul(u1, hh)
    rr = fq2_sqr(r)
    x3 = ((rr[0] - hhh[0] - 2 * v[0]) % P, (rr[1] - hhh[1] - 2 * v[1]) % P)
    y3 = fq2_sub(fq2_mul(r, fq2_sub(v, x3)), fq2_mul(s1, hhh))
    return (x3, y3, fq2_mul(z1z2, h))


def g2_neg(p: G2Affine) -> G2Affine:
    """``-p``."""
    return None if p is None else (p[0], fq2_neg(p[1]))


def g2_add(p: G2Affine, q: G2Affine) -> G2Affine:
    """``p + q`` for affine points."""
    return g2_to_affine(g2_jac_add_mixed(g2_from_affine(p), q))


def g2_double(p: G2Affine) -> G2Affine:
    """``2p`` for an affine point."""
    return g2_to_affine(g2_jac_double(g2_from_affine(p)))


def g2_mul_unreduced(p: G2Affine, k: int) -> G2Jac:
    """``k * p`` in Jacobian form for a non-negative ``k`` taken as is (not reduced mod R)."""
    acc = G2_INFINITY_JAC
    if p is None or k == 0:
        return acc
    for bit in bin(k)[2:]:
        acc = g2_jac_double(acc)
        if bit == "1":
            acc = g2_jac_add_mixed(acc, p)
    return acc


def g2_mul(p: G2Affine, k: int) -> G2Affine:
    """``k * p``; ``k`` is any int, taken mod R (negative scalars negate)."""
    k %= R
    if k > R // 2:
        return g2_to_affine(g2_mul_unreduced(g2_neg(p), R - k))
    return g2_to_affine(g2_mul_unreduced(p, k))


def g2_in_subgroup(p: G2Affine) -> bool:
    """Whether ``p`` is on the twist and in its order-R subgroup (``R * p`` is infinity)."""
    return g2_is_on_curve(p) and g2_mul_unreduced(p, R)[2] == FQ2_ZERO
