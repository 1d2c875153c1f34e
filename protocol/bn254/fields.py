"""The BN254 base field Fq, its quadratic extension Fq2, and the scalar field Fr.

Values are plain ints in normal form (``0 <= a < modulus``); Fq2 values are
``(c0, c1)`` pairs meaning ``c0 + c1*u`` with ``u^2 = -1`` (EIP-197's tower).
Functions accept any int and return normal form.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.bn254.types import Fq2
from protocol.errors import LocalProtocolError
from protocol.r1cs import system as _r1cs

# Base field modulus of alt_bn128 (EIP-196).
P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
# Order of the alt_bn128 groups G1, G2 and GT; the scalar field Fr (EIP-196).
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617

if _r1cs.R != R:  # the circuit field must be the curve's scalar field
    raise ImportError("protocol.r1cs.system.R is not the BN254 scalar field order")
if P % 4 != 3:  # fq_sqrt relies on p = 3 (mod 4)
    raise ImportError("BN254 base field modulus must be 3 mod 4")

FQ2_ZERO: Fq2 = (0, 0)
FQ2_ONE: Fq2 = (1, 0)


def fr_inv(a: int) -> int:
    """The inverse of ``a`` in Fr; zero raises LocalProtocolError."""
    a %= R
    if a == 0:
        raise LocalProtocolError("zero has no inverse in Fr")
    return pow(a, -1, R)


def _batch_inv(values: Sequence[int], modulus: int) -> list[int]:
    n = len(values)
    if n == 0:
        return []
    prefix = [0] * n
    acc = 1
    for i, v in enumerate(values):
        if v % modulus == 0:
            raise LocalProtocolError(f"batch inversion: element {i} is zero")
        prefix[i] = acc
        acc = acc * v % modulus
    inv = pow(acc, -1, modulus)
    out = [0] * n
    for i in range(n - 1, -1, -1):
        out[i] = inv * prefix[i] % modulus
        inv = inv * values[i] % modulus
    return out


def fr_batch_inv(values: Sequence[int]) -> list[int]:
    """Inverses of all ``values`` in Fr with one field inversion (Montgomery's trick).

    A zero anywhere raises LocalProtocolError.
    """
    return _batch_inv(values, R)


def fq_batch_inv(values: Sequence[int]) -> list[int]:
    """Inverses of all ``values`` in Fq with one field inversion; zero raises."""
    return _batch_inv(values, P)


def fq_inv(a: int) -> int:
    """The inverse of ``a`` in Fq; zero raises LocalProtocolError."""
    a %= P
    if a == 0:
        raise LocalProtocolError("zero has no inverse in Fq")
    return pow(a, -1, P)


def fq_sqrt(a: int) -> int | None:
    """A square root of ``a`` in Fq, or None when ``a`` is not a square."""
    a %= P
    root = pow(a, (P + 1) // 4, P)
    return root if root * root % P == a else None


def fq2_add(a: Fq2, b: Fq2) -> Fq2:
    """``a + b`` in Fq2."""
    return ((a[0] + b[0]) % P, (a[1] + b[1]) % P)


def fq2_sub(a: Fq2, b: Fq2) -> Fq2:
    """``a - b`` in Fq2."""
    return ((a[0] - b[0]) % P, (a[1] - b[1]) % P)


def fq2_neg(a: Fq2) -> Fq2:
    """``-a`` in Fq2."""
    return (-a[0] % P, -a[1] % P)


def fq2_mul(a: Fq2, b: Fq2) -> Fq2:
    """``a * b`` in Fq2."""
    a0, a1 = a
    b0, b1 = b
    t0 = a0 * b0
    t1 = a1 * b1
    return ((t0 - t1) % P, ((a0 + a1) * (b0 + b1) - t0 - t1) % P)


def fq2_sqr(a: Fq2) -> Fq2:
    """``a^2`` in Fq2."""
    a0, a1 = a
    return ((a0 + a1) * (a0 - a1) % P, 2 * a0 * a1 % P)


def fq2_scalar(a: Fq2, k: int) -> Fq2:
    """``k * a`` for an Fq scalar ``k``."""
    return (a[0] * k % P, a[1] * k % P)


def fq2_conj(a: Fq2) -> Fq2:
    """The conjugate ``c0 - c1*u`` (also the Frobenius map ``a^p``)."""
    return (a[0] % P, -a[1] % P)


def fq2_inv(a: Fq2) -> Fq2:
    """The inverse of ``a`` in Fq2; zero raises LocalProtocolError."""
    a0, a1 = a
    norm = (a0 * a0 + a1 * a1) % P
    if norm == 0:
        raise LocalProtocolError("zero has no inverse in Fq2")
    inv = pow(norm, -1, P)
    return (a0 * inv % P, -a1 * inv % P)


def fq2_sqrt(a: Fq2) -> Fq2 | None:
    """A square root of ``a`` in Fq2, or None when ``a`` is not a square."""
    a0, a1 = a[0] % P, a[1] % P
    if a1 == 0:
        root = fq_sqrt(a0)
        if root is not None:
            return (root, 0)
        root = fq_sqrt(-a0)  # -1 = u^2, so sqrt(a0) = u * sqrt(-a0)
        return None if root is None else (0, root)
    norm_root = fq_sqrt(a0 * a0 + a1 * a1)
    if norm_root is None:
        return None
    half = (P + 1) // 2
    x0 = fq_sqrt((a0 + norm_root) * half)
    if x0 is None:
        x0 = fq_sqrt((a0 - norm_root) * half)
    if x0 is None or x0 == 0:
        return None
    candidate = (x0, a1 * pow(2 * x0, -1, P) % P)
    return candidate if fq2_sqr(candidate) == (a0, a1) else None
