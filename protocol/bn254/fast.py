"""The native backend: BN254 MSMs and NTTs in arkworks, through the ``zksnake`` wheel.

zksnake (MIT, PyPI) wraps arkworks' ``ark-bn254``: the alt_bn128 curve with
Ethereum's generators, the same Fr and the same radix-2 roots of unity as
``protocol.bn254.ntt`` (checked when this module is imported). Importing this
module raises ImportError when the wheel is absent; ``backend`` then keeps the
pure reference as the only backend.

Semantics match ``PureBackend`` exactly: scalars are any ints, taken mod R (so
negative and ``>= R`` scalars are reduced, as in ``msm``); ``None`` is the point
at infinity; a points/scalars length mismatch raises LocalProtocolError. Loading
converts Python ints to arkworks points once (0.1 ms a G1 point, 0.3 ms a G2
point: arkworks checks curve and subgroup; see bench/results/backends.md), so
callers keep loaded bases per proving key; points at infinity are left out. Points
are checked on their curve when loaded, since arkworks aborts on a bad point
instead of raising. The native calls hold the GIL; node/proving runs the
independent MSMs in processes. Fixed-base batches stay on the pure path: arkworks'
batch multiplication measured no faster than ``fixed_base`` once its points are
converted back to ints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from zksnake._algebra import ec_bn254, polynomial_bn254

from protocol.bn254.curve import G1, G2, g1_is_on_curve, g2_is_on_curve
from protocol.bn254.fields import R as R_ORDER
from protocol.bn254.fixed_base import g1_fixed_base_batch, g2_fixed_base_batch
from protocol.bn254.ntt import COSET_SHIFT, root_of_unity, scale_by_powers
from protocol.bn254.types import Fq2, G1Affine, G2Affine
from protocol.errors import LocalProtocolError

NAME = "zksnake"


@dataclass(frozen=True)
class _NativeBases:
    """The finite points in native form and where they sit among the ``size`` loaded."""

    size: int
    points: list[Any]
    finite: tuple[int, ...] | None  # None: every point is finite

    def __len__(self) -> int:
        return self.size

    def scalars_for(self, scalars: Sequence[int], what: str) -> list[int]:
        if len(scalars) != self.size:
            raise LocalProtocolError(f"{what}: {self.size} points but {len(scalars)} scalars")
        if self.finite is None:
            return [k % R_ORDER for k in scalars]
        return [scalars[i] % R_ORDER for i in self.finite]


B = TypeVar("B", bound=_NativeBases)


class _NativeG1Bases(_NativeBases):
    pass


class _NativeG2Bases(_NativeBases):
    pass


def _load(points: Sequence[Any], convert: Callable[[Any], Any], cls: type[B]) -> B:
    # Points at infinity (wires absent from a query) are dropped with their scalars:
    # converting a point costs 0.1-0.3 ms, more than its share of the MSM.
    finite = [i for i, p in enumerate(points) if p is not None]
    native = [convert(points[i]) for i in finite]
    return cls(len(points), native, None if len(finite) == len(points) else tuple(finite))


def native_g1(p: tuple[int, int]) -> Any:
    """``p`` (finite) as an arkworks point; LocalProtocolError when it is not on G1."""
    if not g1_is_on_curve(p):
        raise LocalProtocolError(f"load_g1: {p} is not on G1")
    return ec_bn254.PointG1(*p)


def native_g2(p: tuple[Fq2, Fq2]) -> Any:
    """``p`` (finite) as an arkworks point; LocalProtocolError when it is off the twist."""
    if not g2_is_on_curve(p):
        raise LocalProtocolError(f"load_g2: {p} is not on the G2 twist")
    (x0, x1), (y0, y1) = p
    return ec_bn254.PointG2(x0, x1, y0, y1)


def g1_value(p: Any) -> G1Affine:
    """An arkworks G1 point as our affine ints (None at infinity)."""
    return None if p.is_zero() else (p.x, p.y)


def g2_value(p: Any) -> G2Affine:
    """An arkworks G2 point as our affine ints (None at infinity)."""
    if p.is_zero():
        return None
    (x0, x1), (y0, y1) = p.x, p.y
    return (x0, x1), (y0, y1)


class ZksnakeBackend:
    """MSMs and NTTs in arkworks (via zksnake); fixed-base batches on the pure path."""

    name = NAME

    def load_g1(self, points: Sequence[G1Affine]) -> _NativeG1Bases:
        return _load(points, native_g1, _NativeG1Bases)

    def load_g2(self, points: Sequence[G2Affine]) -> _NativeG2Bases:
        return _load(points, native_g2, _NativeG2Bases)

    def msm_g1(self, bases: object, scalars: Sequence[int]) -> G1Affine:
        if not isinstance(bases, _NativeG1Bases):
            raise LocalProtocolError("msm_g1: bases were not loaded by this backend")
        return native_msm_g1(bases.points, bases.scalars_for(scalars, "msm_g1"))

    def msm_g2(self, bases: object, scalars: Sequence[int]) -> G2Affine:
        if not isinstance(bases, _NativeG2Bases):
            raise LocalProtocolError("msm_g2: bases were not loaded by this backend")
        return native_msm_g2(bases.points, bases.scalars_for(scalars, "msm_g2"))

    def ntt(
        self, values: Sequence[int], *, inverse: bool = False, coset: bool = False
    ) -> list[int]:
        n = len(values)
        root_of_unity(n)  # raises LocalProtocolError unless n is a usable power of two
        if not inverse:
            xs = scale_by_powers(values, COSET_SHIFT) if coset else [v % R_ORDER for v in values]
            return list(polynomial_bn254.fft(xs, n))
        out = list(polynomial_bn254.ifft([v % R_ORDER for v in values], n))
        return scale_by_powers(out, pow(COSET_SHIFT, -1, R_ORDER)) if coset else out

    def g1_fixed_base_batch(self, base: G1Affine, scalars: Sequence[int]) -> list[G1Affine]:
        return g1_fixed_base_batch(base, scalars)

    def g2_fixed_base_batch(self, base: G2Affine, scalars: Sequence[int]) -> list[G2Affine]:
        return g2_fixed_base_batch(base, scalars)


def native_msm_g1(points: list[Any], scalars: list[int]) -> G1Affine:
    """``sum(k_i * P_i)`` over arkworks points with reduced scalars (None when empty)."""
    return g1_value(ec_bn254.multiscalar_mul_g1(points, scalars)) if points else None


def native_msm_g2(points: list[Any], scalars: list[int]) -> G2Affine:
    """``sum(k_i * Q_i)`` over arkworks points with reduced scalars (None when empty)."""
    return g2_value(ec_bn254.multiscalar_mul_g2(points, scalars)) if points else None


def _check_same_curve() -> None:
    # A "bn256" library on another BN curve would pass type checks and produce
    # garbage; compare generators and the 2^10-th root of unity with ours.
    if g1_value(ec_bn254.g1()) != G1 or g2_value(ec_bn254.g2()) != G2:
        raise ImportError("zksnake's bn254 generators are not alt_bn128's")
    n = 1 << 10
    if list(polynomial_bn254.fft([0, 1] + [0] * (n - 2), n))[1] != root_of_unity(n):
        raise ImportError("zksnake's radix-2 domain differs from protocol.bn254.ntt's")


_check_same_curve()
