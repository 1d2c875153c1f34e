"""Sums of many groups of affine points at once, sharing field inversions.

``g1_sum_groups`` / ``g2_sum_groups`` add up every list of points pairwise, level
by level; all additions of one level share a single inversion (Montgomery's
trick), so an affine addition costs about six multiplications instead of the
eleven of a mixed Jacobian one. This feeds Pippenger's buckets and fixed-base
batches. Inputs are finite points (never None); a group whose points cancel
out sums to None.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from protocol.bn254.fields import P
from protocol.bn254.types import Fq2, G1Affine, G2Affine

_T = TypeVar("_T")

_G1Point = tuple[int, int]
_G2Point = tuple[Fq2, Fq2]

# Groups are reduced about a thousand points at a time: one inversion per level is
# still negligible, and the working set stays small enough to be cache-friendly
# (measured: about 20% faster than reducing 200k points in one go).
CHUNK_POINTS = 1024


def _chunks(work: list[list[_T]]) -> Iterator[list[int]]:
    # Indices of the groups with something to add, a bounded number of points at a time.
    chunk: list[int] = []
    size = 0
    for i, g in enumerate(work):
        if len(g) > 1:
            chunk.append(i)
            size += len(g)
            if size >= CHUNK_POINTS:
                yield chunk
                chunk, size = [], 0
    if chunk:
        yield chunk


def g1_sum_groups(groups: Iterable[list[_G1Point]]) -> list[G1Affine]:
    """The sum of each list of finite G1 points; the lists are consumed."""
    work = list(groups)
    for chunk in _chunks(work):
        _g1_reduce(work, chunk)
    return [g[0] if g else None for g in work]


def _g1_reduce(work: list[list[_G1Point]], active: list[int]) -> None:
    # Sum the groups work[i] for i in active, in place, one level per pass.
    while active:
        # Forward: running products of the slope denominators (Montgomery's trick).
        prefix: list[int] = []
        items: list[tuple[list[_G1Point], int, int, int, int, int]] = []
        acc = 1
        for i in active:
            g = work[i]
            work[i] = survivors = [g[-1]] if len(g) & 1 else []
            for (x1, y1), (x2, y2) in zip(g[::2], g[1::2], strict=False):
                if x1 != x2:
                    num, den = y2 - y1, x2 - x1
                elif y1 == y2:  # doubling: slope 3x^2 / 2y
                    num, den = 3 * x1 * x1, 2 * y1
                else:  # P + (-P): drop both
                    continue
                prefix.append(acc)
                acc = acc * den % P
                items.append((survivors, x1, y1, x2, num, den))
        # Backward: peel one inverse off per item and finish its addition.
        inv = pow(acc, -1, P)
        for j in range(len(items) - 1, -1, -1):
            survivors, x1, y1, x2, num, den = items[j]
            lam = num * inv * prefix[j] % P
            inv = inv * den % P
            x3 = (lam * lam - x1 - x2) % P
            survivors.append((x3, (lam * (x1 - x3) - y1) % P))
        active = [i for i in active if len(work[i]) > 1]


def g2_sum_groups(groups: Iterable[list[_G2Point]]) -> list[G2Affine]:
    """The sum of each list of finite G2 points; the lists are consumed."""
    work = list(groups)
    for chunk in _chunks(work):
        _g2_reduce(work, chunk)
    return [g[0] if g else None for g in work]


def _g2_reduce(work: list[list[_G2Point]], active: list[int]) -> None:
    # Sum the groups work[i] for i in active, in place, one level per pass.
    while active:
        # 1/d = conj(d) / norm(d): Montgomery's trick over the Fq norms.
        prefix: list[int] = []
        items: list[tuple[list[_G2Point], Fq2, Fq2, Fq2, Fq2, Fq2, int]] = []
        acc = 1
        for i in active:
            g = work[i]
            work[i] = survivors = [g[-1]] if len(g) & 1 else []
            for (x1, y1), (x2, y2) in zip(g[::2], g[1::2], strict=False):
                if x1 != x2:
                    num = (y2[0] - y1[0], y2[1] - y1[1])
                    den = (x2[0] - x1[0], x2[1] - x1[1])
                elif y1 == y2:  # doubling: slope 3x^2 / 2y
                    a, b = x1
                    num, den = (3 * (a + b) * (a - b), 6 * a * b), (2 * y1[0], 2 * y1[1])
                else:  # P + (-P): drop both
                    continue
                norm = (den[0] * den[0] + den[1] * den[1]) % P
                prefix.append(acc)
                acc = acc * norm % P
                items.append((survivors, x1, y1, x2, num, den, norm))
        inv = pow(acc, -1, P)
        for j in range(len(items) - 1, -1, -1):
            survivors, x1, y1, x2, (n0, n1), (d0, d1), norm = items[j]
            ni = inv * prefix[j] % P
            inv = inv * norm % P
            survivors.append(_g2_affine_finish(x1, y1, x2, n0, n1, d0 * ni % P, -d1 * ni % P))
        active = [i for i in active if len(work[i]) > 1]


def _g2_affine_finish(x1: Fq2, y1: Fq2, x2: Fq2, n0: int, n1: int, i0: int, i1: int) -> _G2Point:
    # slope = num * inv(den); x3 = slope^2 - x1 - x2; y3 = slope * (x1 - x3) - y1.
    t0, t1 = n0 * i0, n1 * i1
    l0 = (t0 - t1) % P
    l1 = ((n0 + n1) * (i0 + i1) - t0 - t1) % P
    x30 = ((l0 + l1) * (l0 - l1) - x1[0] - x2[0]) % P
    x31 = (2 * l0 * l1 - x1[1] - x2[1]) % P
    e0, e1 = x1[0] - x30, x1[1] - x31
    t0, t1 = l0 * e0, l1 * e1
    return ((x30, x31), ((t0 - t1 - y1[0]) % P, ((l0 + l1) * (e0 + e1) - t0 - t1 - y1[1]) % P))
