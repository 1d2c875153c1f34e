"""Many multiples ``k_i * B`` of one base point, as a trusted setup needs them.

A table of every signed window digit times ``2^(c*w) * B`` is built once and
normalised with one inversion; each result is then the sum of one table entry
per non-zero window digit, and all those sums are computed together in affine
form with shared inversions. Scalars are taken mod R.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from protocol.bn254.fields import R
from protocol.bn254.msm import G1_OPS, G2_OPS, GroupOps, signed_digits
from protocol.bn254.types import G1Affine, G2Affine

A = TypeVar("A")
J = TypeVar("J")

_MAX_WINDOW = 16
_SCALAR_BITS = R.bit_length()


def g1_fixed_base_batch(base: G1Affine, scalars: Sequence[int]) -> list[G1Affine]:
    """``[k * base for k in scalars]`` on G1 (scalars taken mod R)."""
    return fixed_base_batch(G1_OPS, base, scalars)


def g2_fixed_base_batch(base: G2Affine, scalars: Sequence[int]) -> list[G2Affine]:
    """``[k * base for k in scalars]`` on G2 (scalars taken mod R)."""
    return fixed_base_batch(G2_OPS, base, scalars)


def _window_for(n: int) -> int:
    # Table: (windows * 2^(c-1)) additions; lookups: n * windows additions.
    def cost(c: int) -> int:
        return (_SCALAR_BITS // c + 1) * (n + (1 << (c - 1)))

    return min(range(1, _MAX_WINDOW + 1), key=cost)


def _table(ops: GroupOps[A, J], base: A, c: int, windows: int) -> list[list[A]]:
    # row w: [d * 2^(c*w) * base for d in 1 .. 2^(c-1)].
    half = 1 << (c - 1)
    flat: list[J] = []
    start = ops.add_mixed(ops.infinity, base)
    for _ in range(windows):
        acc = start
        flat.append(acc)
        for _ in range(half - 1):
            acc = ops.add(acc, start)
            flat.append(acc)
        for _ in range(c):
            start = ops.double(start)
    affine = ops.batch_to_affine(flat)
    return [affine[w * half : (w + 1) * half] for w in range(windows)]


def fixed_base_batch(ops: GroupOps[A, J], base: A, scalars: Sequence[int]) -> list[A]:
    """``[k * base for k in scalars]`` for any group described by ``ops``."""
    if base is None or not scalars:
        return [base for _ in scalars]
    reduced = [k % R for k in scalars]
    c = _window_for(len(reduced))
    digits = signed_digits(reduced, c, _SCALAR_BITS)
    table = _table(ops, base, c, len(digits))
    neg_table = [[ops.neg(p) for p in row] for row in table]
    groups: list[list[A]] = [[] for _ in reduced]
    for w, row in enumerate(digits):
        positive, negative = table[w], neg_table[w]
        for i, d in enumerate(row):
            if d > 0:
                groups[i].append(positive[d - 1])
            elif d < 0:
                groups[i].append(negative[-d - 1])
    return ops.sum_groups(groups)
