"""The optimal ate pairing on BN254, the one place provernet uses py_ecc.

``pairing_check`` answers the EIP-197 question "is the product of e(P_i, Q_i)
one?" with our own argument order (G1 first), a Miller loop per pair and a single
final exponentiation. The converters translate between our plain-int points and
py_ecc's ``optimized_bn128`` objects for tests and cross-checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from py_ecc.fields import optimized_bn128_FQ as _FQ
from py_ecc.fields import optimized_bn128_FQ2 as _FQ2
from py_ecc.fields import optimized_bn128_FQ12 as _FQ12
from py_ecc.optimized_bn128 import optimized_curve as _oc
from py_ecc.optimized_bn128 import optimized_pairing as _op

from protocol.bn254.curve import G1, G2, g1_is_on_curve, g2_in_subgroup
from protocol.bn254.fields import P, R
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError

PyEccPoint = Any  # py_ecc's projective (x, y, z) tuple of FQ / FQ2 elements


def to_py_ecc_g1(p: G1Affine) -> PyEccPoint:
    """Our G1 point as a py_ecc optimized_bn128 point."""
    if p is None:
        return _oc.Z1
    return (_FQ(p[0]), _FQ(p[1]), _FQ.one())


def to_py_ecc_g2(p: G2Affine) -> PyEccPoint:
    """Our G2 point as a py_ecc optimized_bn128 point."""
    if p is None:
        return _oc.Z2
    (x0, x1), (y0, y1) = p
    return (_FQ2([x0, x1]), _FQ2([y0, y1]), _FQ2.one())


def from_py_ecc_g1(p: PyEccPoint) -> G1Affine:
    """A py_ecc optimized_bn128 G1 point as ours."""
    if _oc.is_inf(p):
        return None
    x, y = _oc.normalize(p)
    return (int(x), int(y))


def from_py_ecc_g2(p: PyEccPoint) -> G2Affine:
    """A py_ecc optimized_bn128 G2 point as ours."""
    if _oc.is_inf(p):
        return None
    x, y = _oc.normalize(p)
    return ((int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1])))


@dataclass(frozen=True)
class GT:
    """An element of the target group, opaque apart from ``==`` and ``*``."""

    coeffs: tuple[int, ...]

    def __mul__(self, other: GT) -> GT:
        return GT(_to_coeffs(_FQ12(list(self.coeffs)) * _FQ12(list(other.coeffs))))


def _to_coeffs(f: Any) -> tuple[int, ...]:
    return tuple(int(c) for c in f.coeffs)


def _miller(p: G1Affine, q: G2Affine) -> Any:
    if not g1_is_on_curve(p):
        raise LocalProtocolError("pairing: G1 argument is not on the curve")
    if not g2_in_subgroup(q):
        raise LocalProtocolError("pairing: G2 argument is not in G2")
    if p is None or q is None:
        return _FQ12.one()
    return _op.miller_loop(
        _oc.twist(to_py_ecc_g2(q)), _op.cast_point_to_fq12(to_py_ecc_g1(p)), False
    )


def pairing(p: G1Affine, q: G2Affine) -> GT:
    """The reduced pairing ``e(p, q)``."""
    return GT(_to_coeffs(_op.final_exponentiate(_miller(p, q))))


def pairing_check(pairs: Sequence[tuple[G1Affine, G2Affine]]) -> bool:
    """True iff the product of ``e(P_i, Q_i)`` over all pairs is one (EIP-197).

    Points off their group raise LocalProtocolError; an empty list is True.
    """
    acc = _FQ12.one()
    for p, q in pairs:
        acc = acc * _miller(p, q)
    return bool(_op.final_exponentiate(acc) == _FQ12.one())


def _check_against_py_ecc() -> None:
    if from_py_ecc_g1(_oc.G1) != G1 or from_py_ecc_g2(_oc.G2) != G2:
        raise ImportError("BN254 generators differ from py_ecc's")
    if _oc.field_modulus != P or _oc.curve_order != R:
        raise ImportError("BN254 moduli differ from py_ecc's")


_check_against_py_ecc()
