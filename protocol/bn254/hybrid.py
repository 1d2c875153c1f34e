"""The hybrid backend: each MSM term goes where it is cheapest, native points made on demand.

Loading keeps the points as ints and converts nothing. An MSM splits its terms
by the signed bit length of the scalar (``min(k, R - k)``, as in ``msm``): zero
terms are dropped, small scalars (the 0/1 and quantised values of ML witnesses)
stay on the pure Pippenger path, large ones go to arkworks, whose point for that
base is made when it is needed and kept: a G1 base at its first large scalar, a
G2 base at its second (converting a G2 point costs more than a pure G2 term, so
only a kept prover gains from it). A one-shot proof thus pays the native
conversion (about 100 us a G1 point, 375 us a G2 point) only for the G1 bases
that carry large scalars, mostly the H query (``convert_all`` does those ahead,
since its scalars are always full-size), and a kept prover converges to the
native backend's speed on the terms that matter.

The thresholds come from one measurement on the 2-core reference machine
(bench/results/backends.md, "Cold proofs"): a pure MSM term costs about
0.5 us per scalar bit (17 us at 32 bits, 40 us at 64, 90-126 us at 254; a G2
term 2.3x that), a native term about 10 us once its point exists, 100 us (G1)
or 375 us (G2) with the conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from protocol.bn254.curve import g1_add, g2_add
from protocol.bn254.fast import (
    ZksnakeBackend,
    native_g1,
    native_g2,
    native_msm_g1,
    native_msm_g2,
)
from protocol.bn254.fields import R
from protocol.bn254.fixed_base import g1_fixed_base_batch, g2_fixed_base_batch
from protocol.bn254.msm import msm_g1, msm_g2
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError

NAME = "hybrid"
# A term whose base has no native point yet goes native above this many bits
# (pure 0.5 us a bit against 100 us for conversion plus native term).
CONVERT_ABOVE_BITS = 128
# A term whose base already has a native point goes native above this many bits
# (pure 0.5 us a bit against about 10 us a native term).
NATIVE_ABOVE_BITS = 24

P = TypeVar("P")


@dataclass
class HybridBases(Generic[P]):
    """Points as ints, plus the native points made so far (by index)."""

    points: tuple[P | None, ...]
    native: dict[int, Any] = field(default_factory=dict)
    # Bases seen once with a large scalar: converted at the next (G2 only).
    seen: set[int] = field(default_factory=set)
    convert_at_first_use: bool = True

    def __len__(self) -> int:
        return len(self.points)


class HybridG1Bases(HybridBases[tuple[int, int]]):
    """G1 bases of the hybrid backend."""


class HybridG2Bases(HybridBases[Any]):
    """G2 bases of the hybrid backend."""


@dataclass(frozen=True)
class Split(Generic[P]):
    """An MSM's terms divided between the pure and the native path."""

    pure_points: list[P]
    pure_scalars: list[int]
    native_index: list[int]
    native_scalars: list[int]


def split_terms(bases: HybridBases[P], scalars: Sequence[int], what: str) -> Split[P]:
    """Divide the terms of ``bases`` x ``scalars`` by cost; see the module docstring."""
    if len(scalars) != len(bases.points):
        raise LocalProtocolError(f"{what}: {len(bases.points)} points but {len(scalars)} scalars")
    out: Split[P] = Split([], [], [], [])
    have, seen, half = bases.native, bases.seen, R // 2
    eager = bases.convert_at_first_use
    for i, (p, k) in enumerate(zip(bases.points, scalars, strict=True)):
        k %= R
        if p is None or k == 0:
            continue
        bits = (k if k <= half else R - k).bit_length()
        if bits > NATIVE_ABOVE_BITS and i in have:
            native = True
        elif bits > CONVERT_ABOVE_BITS:
            native = eager or i in seen
            seen.add(i)
        else:
            native = False
        if native:
            out.native_index.append(i)
            out.native_scalars.append(k)
        else:
            out.pure_points.append(p)
            out.pure_scalars.append(k)
    return out


def _native_points(bases: HybridBases[P], index: list[int], make: Callable[[P], Any]) -> list[Any]:
    have, points = bases.native, bases.points
    for i in index:
        if i not in have:
            have[i] = make(points[i])  # type: ignore[arg-type]  # finite: split_terms skips None
    return [have[i] for i in index]


def _finite(bases: HybridBases[P]) -> list[int]:
    return [i for i, p in enumerate(bases.points) if p is not None]


class HybridBackend:
    """Pure MSMs for small scalars, arkworks for large ones; arkworks NTTs."""

    name = NAME

    def __init__(self) -> None:
        self._native = ZksnakeBackend()

    def load_g1(self, points: Sequence[G1Affine]) -> HybridG1Bases:
        return HybridG1Bases(tuple(points))

    def load_g2(self, points: Sequence[G2Affine]) -> HybridG2Bases:
        return HybridG2Bases(tuple(points), convert_at_first_use=False)

    def msm_g1(self, bases: object, scalars: Sequence[int]) -> G1Affine:
        if not isinstance(bases, HybridG1Bases):
            raise LocalProtocolError("msm_g1: bases were not loaded by this backend")
        terms = split_terms(bases, scalars, "msm_g1")
        native = _native_points(bases, terms.native_index, native_g1)
        return g1_add(
            msm_g1(terms.pure_points, terms.pure_scalars),
            native_msm_g1(native, terms.native_scalars),
        )

    def msm_g2(self, bases: object, scalars: Sequence[int]) -> G2Affine:
        if not isinstance(bases, HybridG2Bases):
            raise LocalProtocolError("msm_g2: bases were not loaded by this backend")
        terms = split_terms(bases, scalars, "msm_g2")
        native = _native_points(bases, terms.native_index, native_g2)
        return g2_add(
            msm_g2(terms.pure_points, terms.pure_scalars),
            native_msm_g2(native, terms.native_scalars),
        )

    def convert_all(self, bases: object) -> None:
        """Make every finite base's native point now: for bases whose scalars are always
        large, as the H query's (the quotient's coefficients), whatever the witness."""
        if isinstance(bases, HybridG1Bases):
            _native_points(bases, _finite(bases), native_g1)
        elif isinstance(bases, HybridG2Bases):
            _native_points(bases, _finite(bases), native_g2)
        else:
            raise LocalProtocolError("convert_all: bases were not loaded by this backend")

    def ntt(
        self, values: Sequence[int], *, inverse: bool = False, coset: bool = False
    ) -> list[int]:
        return self._native.ntt(values, inverse=inverse, coset=coset)

    def g1_fixed_base_batch(self, base: G1Affine, scalars: Sequence[int]) -> list[G1Affine]:
        return g1_fixed_base_batch(base, scalars)

    def g2_fixed_base_batch(self, base: G2Affine, scalars: Sequence[int]) -> list[G2Affine]:
        return g2_fixed_base_batch(base, scalars)

    def pairing_check(self, pairs: Sequence[tuple[G1Affine, G2Affine]]) -> bool:
        return self._native.pairing_check(pairs)

    def scale_g1(self, points: Sequence[G1Affine], k: int) -> list[G1Affine]:
        return self._native.scale_g1(points, k)

    def group_sums_g1(
        self, points: Sequence[G1Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G1Affine]:
        return self._native.group_sums_g1(points, groups)

    def group_sums_g2(
        self, points: Sequence[G2Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G2Affine]:
        return self._native.group_sums_g2(points, groups)

    def ifft_g1(self, points: Sequence[G1Affine], sizes: Sequence[int]) -> list[list[G1Affine]]:
        return self._native.ifft_g1(points, sizes)

    def ifft_g2(self, points: Sequence[G2Affine], sizes: Sequence[int]) -> list[list[G2Affine]]:
        return self._native.ifft_g2(points, sizes)
