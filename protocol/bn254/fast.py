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
converted back to ints. Given a ``Mapper`` (the node passes one that runs each
part in its own process: protocol/ does no I/O), scaling and group sums of many
points are split into parts, since loading points is their cost.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from zksnake._algebra import ec_bn254, polynomial_bn254

from protocol.bn254.backend import Mapper
from protocol.bn254.batch_affine import g1_sum_groups, g2_sum_groups
from protocol.bn254.curve import G1, G2, g1_is_on_curve, g2_is_on_curve
from protocol.bn254.fields import R as R_ORDER
from protocol.bn254.fixed_base import g1_fixed_base_batch, g2_fixed_base_batch
from protocol.bn254.ntt import COSET_SHIFT, root_of_unity, scale_by_powers
from protocol.bn254.point_fft import ifft_prefixes
from protocol.bn254.types import Fq2, G1Affine, G2Affine
from protocol.errors import LocalProtocolError

NAME = "zksnake"
# Loading a point natively (0.1-0.3 ms, holding the GIL) dominates scaling and group
# sums; from this many points on a backend given a mapper splits them into parts (a
# process start costs about 0.5 s and pays back from a few seconds of work).
PARALLEL_MIN_POINTS = 16_384


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
    return _made(ec_bn254.PointG1, p, "G1")


def native_g2(p: tuple[Fq2, Fq2]) -> Any:
    """``p`` (finite) as an arkworks point; LocalProtocolError when it is off the twist
    or outside its prime-order subgroup."""
    if not g2_is_on_curve(p):
        raise LocalProtocolError(f"load_g2: {p} is not on the G2 twist")
    (x0, x1), (y0, y1) = p
    return _made(ec_bn254.PointG2, (x0, x1, y0, y1), "G2")


def _made(make: Callable[..., Any], coordinates: Sequence[int], group: str) -> Any:
    # arkworks asserts curve and subgroup membership; pyo3 turns the failed assertion
    # into PanicException, a BaseException that no ``except Exception`` would catch.
    try:
        return make(*coordinates)
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise LocalProtocolError(f"a point is not in {group}'s prime-order subgroup") from None


def native_pairing_check(pairs: Sequence[tuple[G1Affine, G2Affine]]) -> bool:
    """Whether the product of ``e(P_i, Q_i)`` is one (pairs with a point at infinity add
    nothing); LocalProtocolError for a point off its curve or subgroup."""
    finite = [(p, q) for p, q in pairs if p is not None and q is not None]
    g1s = [native_g1(p) for p, _ in finite]
    g2s = [native_g2(q) for _, q in finite]
    return bool(ec_bn254.multi_pairing(g1s, g2s) == _GT_ONE)


def _slices(n: int, parts: int) -> list[int]:
    """The start of each of ``parts`` near-equal slices of ``range(n)``."""
    return [i * n // parts for i in range(parts)]


def _parts(n_points: int, mapper: Mapper | None, workers: int) -> int:
    """How many parts to split ``n_points`` into (1: do it here)."""
    return workers if mapper is not None and n_points >= PARALLEL_MIN_POINTS else 1


def native_scale_g1(
    points: Sequence[G1Affine], k: int, mapper: Mapper | None = None, workers: int = 1
) -> list[G1Affine]:
    """Every point times ``k`` (points at infinity stay there), split over ``mapper``
    for many points."""
    workers = _parts(len(points), mapper, workers)
    if mapper is None or workers == 1:
        return _scale_g1_here(points, k)
    starts = [*_slices(len(points), workers), len(points)]
    parts = [(list(points[a:b]), k) for a, b in itertools.pairwise(starts)]
    return [p for part in mapper(_scale_part, parts) for p in part]


def _scale_part(args: tuple[list[G1Affine], int]) -> list[G1Affine]:
    return _scale_g1_here(*args)


def _scale_g1_here(points: Sequence[G1Affine], k: int) -> list[G1Affine]:
    finite = [i for i, p in enumerate(points) if p is not None]
    native = [native_g1(points[i]) for i in finite]  # type: ignore[arg-type]
    scaled = ec_bn254.batch_multi_scalar_g1(native, [k % R_ORDER] * len(native))
    out: list[G1Affine] = [None] * len(points)
    for i, q in zip(finite, scaled, strict=True):
        out[i] = g1_value(q)
    return out


def parallel_group_sums(
    points: Sequence[Any],
    groups: Sequence[Sequence[tuple[int, int]]],
    group: str,
    mapper: Mapper | None = None,
    workers: int = 1,
) -> list[Any]:
    """``native_group_sums`` in ``group`` ("G1" or "G2"), for many points split into
    slices over ``mapper``: each part sums its slice's terms of every group, and the
    partial sums are added here."""
    workers = _parts(len(points), mapper, workers)
    if mapper is None or workers == 1:
        return _group_sums_part((group, list(points), groups))
    starts = _slices(len(points), workers)
    local: list[list[list[tuple[int, int]]]] = [[[] for _ in groups] for _ in starts]
    for g, terms in enumerate(groups):
        for i, k in terms:
            w = bisect.bisect_right(starts, i) - 1
            local[w][g].append((i - starts[w], k))
    ends = [*starts[1:], len(points)]
    parts = [
        (group, list(points[a:b]), local[w])
        for w, (a, b) in enumerate(zip(starts, ends, strict=True))
    ]
    partials = mapper(_group_sums_part, parts)
    pieces = [[s for s in column if s is not None] for column in zip(*partials, strict=True)]
    return g1_sum_groups(pieces) if group == "G1" else g2_sum_groups(pieces)


def _group_sums_part(args: tuple[str, list[Any], Sequence[Sequence[tuple[int, int]]]]) -> list[Any]:
    group, points, groups = args
    if group == "G1":
        return native_group_sums(points, groups, native_g1, native_msm_g1)
    return native_group_sums(points, groups, native_g2, native_msm_g2)


def native_group_sums(
    points: Sequence[Any],
    groups: Sequence[Sequence[tuple[int, int]]],
    convert: Callable[[Any], Any],
    msm: Callable[[list[Any], list[int]], Any],
) -> list[Any]:
    """``sum(k * points[i] for i, k in group)`` for every group, each used point
    converted once (None for an empty sum), in this process."""
    made: dict[int, Any] = {}
    out = []
    for group in groups:
        terms = [(i, k % R_ORDER) for i, k in group if points[i] is not None]
        for i, _ in terms:
            if i not in made:
                made[i] = convert(points[i])
        out.append(msm([made[i] for i, _ in terms], [k for _, k in terms]) if terms else None)
    return out


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
    """MSMs and NTTs in arkworks (via zksnake); fixed-base batches on the pure path.

    With a ``mapper`` and ``workers`` > 1, scaling and group sums of many points are
    split into ``workers`` parts run by the mapper.
    """

    name = NAME

    def __init__(self, mapper: Mapper | None = None, workers: int = 1) -> None:
        self.mapper, self.workers = mapper, max(1, workers)

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

    def pairing_check(self, pairs: Sequence[tuple[G1Affine, G2Affine]]) -> bool:
        return native_pairing_check(pairs)

    def scale_g1(self, points: Sequence[G1Affine], k: int) -> list[G1Affine]:
        return native_scale_g1(points, k, self.mapper, self.workers)

    def group_sums_g1(
        self, points: Sequence[G1Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G1Affine]:
        return parallel_group_sums(points, groups, "G1", self.mapper, self.workers)

    def group_sums_g2(
        self, points: Sequence[G2Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G2Affine]:
        return parallel_group_sums(points, groups, "G2", self.mapper, self.workers)

    def ifft_g1(self, points: Sequence[G1Affine], sizes: Sequence[int]) -> list[list[G1Affine]]:
        return native_ifft(points, sizes, native_g1, ec_bn254.PointG1.identity,
                           ec_bn254.batch_multi_scalar_g1, g1_value)  # fmt: skip

    def ifft_g2(self, points: Sequence[G2Affine], sizes: Sequence[int]) -> list[list[G2Affine]]:
        return native_ifft(points, sizes, native_g2, _g2_identity,
                           ec_bn254.batch_multi_scalar_g2, g2_value)  # fmt: skip


def native_ifft(
    points: Sequence[Any],
    sizes: Sequence[int],
    make: Callable[[Any], Any],
    identity: Callable[[], Any],
    mul_many: Callable[[list[Any], list[int]], list[Any]],
    value: Callable[[Any], Any],
) -> list[list[Any]]:
    """``ifft_prefixes`` on arkworks points: each point loaded once for every prefix, the
    twiddle multiplications of a level in one native call (spread over the cores)."""
    largest = max(sizes, default=0)
    native = [identity() if p is None else make(p) for p in points[:largest]]
    out = ifft_prefixes(native, sizes, mul_many=mul_many, add=operator.add, sub=operator.sub)
    return [[value(q) for q in prefix] for prefix in out]


def _g2_identity() -> Any:
    g = ec_bn254.g2()
    return g - g


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
# The product of no pairings: the identity of the target group.
_GT_ONE = ec_bn254.multi_pairing([], [])
