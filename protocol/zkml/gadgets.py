"""Fixed-point gadgets: the constraints and the witness of each, side by side.

Each gadget owns a contiguous block of wires, one fixed-size record per output
element; the ``*Layout`` classes define where each value sits in a record and are
the single source of truth for both ``emit_*`` (constraints) and ``witness_*``
(values, vectorised with numpy). A witness record array has shape
``(n_elements, layout.size)`` and is written to the block row by row.

Bit decompositions never materialise their lowest bit: bit 0 is the linear
combination ``value - sum_{j>=1} 2^j b_j`` and its booleanity constraint replaces
the recomposition constraint, so a ``B``-bit range check costs exactly ``B``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.r1cs.system import ConstraintSystem, LinearCombination
from protocol.zkml.errors import InputError

LC = LinearCombination
IntArray = NDArray[np.int64]
AnyIntArray = NDArray[np.int64] | NDArray[np.object_]
ZERO = LinearCombination()
UNIT = LinearCombination.constant(1)


def emit_bits(cs: ConstraintSystem, value: LC, wires: Sequence[int]) -> list[LC]:
    """Constrain ``value`` to ``[0, 2^(len(wires)+1))``; returns its bits, bit 0 first."""
    rest = [LC.wire(w) for w in wires]
    terms = dict(value.terms)  # the wires are fresh, so no term collides
    for j, w in enumerate(wires, start=1):
        terms[w] = -(1 << j)
    low = LC(terms)
    for w in wires:
        cs.enforce_bit(w)
    cs.enforce(low, low - 1, ZERO)
    return [low, *rest]


def bits_of(values: AnyIntArray, nbits: int) -> IntArray:
    """Bits ``0 .. nbits-1`` of non-negative integers, shape ``(n, nbits)``."""
    v = np.asarray(values).astype(np.int64)
    return (v[:, None] >> np.arange(nbits, dtype=np.int64)) & 1


@dataclass(frozen=True)
class RequantLayout:
    """Record of one rescale ``acc + 2^(k-1) = q 2^k + r`` (optionally fused with ReLU).

    Wires: remainder bits 1..k-1, then the bits of ``q + 2^(B-1)`` (all B when
    ``k > 0``; bits 1..B-1 when ``k == 0`` and ``q = acc``), then ``relu(q)``.
    """

    k: int
    bits: int
    relu: bool

    @property
    def r_wires(self) -> int:
        return max(self.k - 1, 0)

    @property
    def q_wires(self) -> int:
        return self.bits if self.k > 0 else self.bits - 1

    @property
    def size(self) -> int:
        return self.r_wires + self.q_wires + int(self.relu)


def emit_requant(
    cs: ConstraintSystem, accs: Sequence[LC], lay: RequantLayout
) -> tuple[list[LC], list[LC]]:
    """Constrain the rescale of each accumulator; returns (q, relu(q) or [])."""
    start = cs.alloc_many(len(accs) * lay.size).start
    qs: list[LC] = []
    ys: list[LC] = []
    half = 1 << (lay.bits - 1)
    for e, acc in enumerate(accs):
        base = start + e * lay.size
        q_first = base + lay.r_wires
        q_wires = range(q_first, q_first + lay.q_wires)
        if lay.k == 0:
            q_bits = emit_bits(cs, acc + half, q_wires)
            q = acc
        else:
            q_bits = [LC.wire(w) for w in q_wires]
            for w in q_wires:
                cs.enforce_bit(w)
            q = LC.sum_of((w, 1 << j) for j, w in enumerate(q_wires)) - half
            emit_bits(cs, acc + (1 << (lay.k - 1)) - q * (1 << lay.k), range(base, q_first))
        qs.append(q)
        if lay.relu:
            y = base + lay.size - 1
            cs.enforce(q_bits[-1], q, LC.wire(y))
            ys.append(LC.wire(y))
    return qs, ys


def witness_requant(
    acc: AnyIntArray, lay: RequantLayout, layer: str
) -> tuple[IntArray, IntArray, IntArray]:
    """Records, q and relu(q) for accumulators ``acc``; raises InputError on overflow."""
    if lay.k > 0:
        t = acc + (1 << (lay.k - 1))
        q_any = t >> lay.k
        r = np.asarray(t - (q_any << lay.k)).astype(np.int64)
    else:
        q_any, r = acc, np.zeros(len(acc), dtype=np.int64)
    half = 1 << (lay.bits - 1)
    if len(acc) and (np.max(q_any) >= half or np.min(q_any) < -half):
        worst = max(int(np.max(q_any)), -int(np.min(q_any)))
        raise InputError(
            f"layer '{layer}': value {worst} leaves its calibrated {lay.bits}-bit range for "
            "this input; recompile the model with calibration data that covers such inputs"
        )
    q = np.asarray(q_any).astype(np.int64)
    parts = [bits_of(r, lay.k)[:, 1:]] if lay.k > 1 else []
    q_bits = bits_of(q + half, lay.bits)
    parts.append(q_bits if lay.k > 0 else q_bits[:, 1:])
    y = np.maximum(q, 0)
    if lay.relu:
        parts.append(y[:, None])
    rec = np.concatenate(parts, axis=1) if parts else np.zeros((len(q), 0), dtype=np.int64)
    return rec, q, y


@dataclass(frozen=True)
class ReluLayout:
    """Record of ``relu(x - t)``: bits 1..B-1 of ``x - t + 2^(B-1)``, then the result."""

    bits: int

    @property
    def size(self) -> int:
        return self.bits


def emit_relu(cs: ConstraintSystem, xs: Sequence[LC], knot: int, lay: ReluLayout) -> list[LC]:
    """Constrain ``relu(x - knot)`` for each x (whose range must fit ``lay.bits``)."""
    start = cs.alloc_many(len(xs) * lay.size).start
    out = []
    for e, x in enumerate(xs):
        base = start + e * lay.size
        v = x - knot
        bits = emit_bits(cs, v + (1 << (lay.bits - 1)), range(base, base + lay.bits - 1))
        y = LC.wire(base + lay.bits - 1)
        cs.enforce(bits[-1], v, y)
        out.append(y)
    return out


def witness_relu(x: IntArray, knot: int, lay: ReluLayout) -> tuple[IntArray, IntArray]:
    """Records and values of ``relu(x - knot)``."""
    v = x - knot
    y = np.maximum(v, 0)
    bits = bits_of(v + (1 << (lay.bits - 1)), lay.bits)[:, 1:]
    return np.concatenate([bits, y[:, None]], axis=1), y


@dataclass(frozen=True)
class MaxLayout:
    """Record of one max over a window of ``width`` values.

    Wires: the maximum m, bits 1..B-1 of each ``m - x_i``, then the running products
    ``(m - x_0)(m - x_1)...`` that prove one difference is zero.
    """

    width: int
    bits: int

    @property
    def n_products(self) -> int:
        return max(self.width - 2, 0)

    @property
    def size(self) -> int:
        return 1 + self.width * (self.bits - 1) + self.n_products


def emit_max(cs: ConstraintSystem, windows: Sequence[Sequence[LC]], lay: MaxLayout) -> list[LC]:
    """Constrain ``m = max(window)`` for each window (values within ``lay.bits`` of each other)."""
    start = cs.alloc_many(len(windows) * lay.size).start
    out = []
    for e, window in enumerate(windows):
        base = start + e * lay.size
        m = LC.wire(base)
        diffs = []
        for i, x in enumerate(window):
            first = base + 1 + i * (lay.bits - 1)
            emit_bits(cs, m - x, range(first, first + lay.bits - 1))
            diffs.append(m - x)
        prods = base + 1 + lay.width * (lay.bits - 1)
        acc = diffs[0]
        for i, d in enumerate(diffs[1:-1]):
            p = LC.wire(prods + i)
            cs.enforce(acc, d, p)
            acc = p
        cs.enforce(acc, diffs[-1] if lay.width > 1 else UNIT, ZERO)
        out.append(m)
    return out


def witness_max(windows: IntArray, lay: MaxLayout) -> tuple[NDArray[np.object_], IntArray]:
    """Records (Python ints: the products can exceed 64 bits) and maxima of ``windows``."""
    m = windows.max(axis=1)
    d = m[:, None] - windows
    parts: list[NDArray[np.object_]] = [m[:, None].astype(object)]
    parts += [bits_of(d[:, i], lay.bits)[:, 1:].astype(object) for i in range(lay.width)]
    acc = d[:, 0].astype(object)
    for i in range(1, lay.width - 1):
        acc = acc * d[:, i].astype(object)
        parts.append(acc[:, None])
    return np.concatenate(parts, axis=1), m


def emit_mul(cs: ConstraintSystem, a: Sequence[LC], b: Sequence[LC]) -> list[LC]:
    """Constrain ``z = a * b`` elementwise (one wire and one constraint each)."""
    start = cs.alloc_many(len(a)).start
    out = []
    for e, (x, y) in enumerate(zip(a, b, strict=True)):
        cs.enforce(x, y, LC.wire(start + e))
        out.append(LC.wire(start + e))
    return out


@dataclass(frozen=True)
class DivLayout:
    """Record of one quotient ``q = floor(a 2^k / (b 2^d))`` of integers, ``b 2^d >= 1``
    (written ``b`` below).

    Wires: the ``bits`` bits of ``q + 2^(bits-1)``, the ``r_bits`` bits of the remainder
    ``r = a 2^k - q b``, then bits 1..r_bits-1 of ``b - 1 - r``. The product constraint
    ``q b = a 2^k - r`` with ``0 <= r <= b - 1`` makes q the floor quotient and b
    positive; q's own range check keeps every term far below the field's size, so no
    other field element satisfies the product.
    """

    k: int  # the numerator's shift
    d: int  # the divisor's shift (b 2^d is the divisor)
    bits: int  # the quotient's signed bits
    r_bits: int  # the remainder's and the shifted divisor's bits

    @property
    def size(self) -> int:
        return self.bits + 2 * self.r_bits - 1


def emit_div(
    cs: ConstraintSystem, nums: Sequence[LC], dens: Sequence[LC], lay: DivLayout
) -> list[LC]:
    """Constrain ``q = floor(num 2^k / den)`` for each pair; returns the quotients."""
    start = cs.alloc_many(len(nums) * lay.size).start
    half = 1 << (lay.bits - 1)
    out = []
    for e, (a, unshifted) in enumerate(zip(nums, dens, strict=True)):
        b = unshifted * (1 << lay.d)
        base = start + e * lay.size
        q_wires = range(base, base + lay.bits)
        r_wires = range(base + lay.bits, base + lay.bits + lay.r_bits)
        for w in (*q_wires, *r_wires):
            cs.enforce_bit(w)
        q = LC.sum_of((w, 1 << j) for j, w in enumerate(q_wires)) - half
        r = LC.sum_of((w, 1 << j) for j, w in enumerate(r_wires))
        gap_first = base + lay.bits + lay.r_bits
        emit_bits(cs, b - 1 - r, range(gap_first, gap_first + lay.r_bits - 1))
        cs.enforce(q, b, a * (1 << lay.k) - r)
        out.append(q)
    return out


def witness_div(
    a: AnyIntArray, b: AnyIntArray, lay: DivLayout, layer: str
) -> tuple[NDArray[np.object_], IntArray]:
    """Records and quotients; raises InputError for a divisor below 1 or a quotient
    outside its calibrated range."""
    num = np.asarray(a).astype(object) * (1 << lay.k)
    den = np.asarray(b).astype(object) * (1 << lay.d)
    if len(den) and min(den) < 1:
        raise InputError(
            f"layer '{layer}': a divisor is {min(den)} for this input (it must be at least 1 "
            "in fixed point); recompile with calibration data that covers such inputs"
        )
    q = num // den
    r = num - q * den
    half = 1 << (lay.bits - 1)
    if len(q) and (max(q) >= half or min(q) < -half):
        raise InputError(
            f"layer '{layer}': a quotient leaves its calibrated {lay.bits}-bit range for this "
            "input; recompile the model with calibration data that covers such inputs"
        )
    q64, r64, gap = (np.asarray(v).astype(np.int64) for v in (q, r, den - 1 - r))
    parts = [bits_of(q64 + half, lay.bits), bits_of(r64, lay.r_bits),
             bits_of(gap, lay.r_bits)[:, 1:]]  # fmt: skip
    return np.concatenate(parts, axis=1).astype(object), q64


@dataclass(frozen=True)
class SqrtLayout:
    """Record of one integer square root ``s = floor(sqrt((v + offset) 2^m))``, v >= 0.

    Wires: the ``bits`` bits of s, the square ``s^2``, then bits 1..r_bits-1 of
    ``v 2^m - s^2`` and of ``s^2 + 2 s - v 2^m``. Both gaps non-negative means
    ``s^2 <= v 2^m < (s + 1)^2``: s is the floor root, and v is not negative. With s
    range-checked every term is far below the field's size, so the relations hold
    over the integers.
    """

    m: int  # the radicand's shift
    bits: int  # the root's bits (unsigned)
    offset: int = 0  # one unit added to the radicand (LayerNorm: the root is then >= 1)

    @property
    def r_bits(self) -> int:
        """The gaps' bits: each gap is at most 2 s < 2^(bits + 1)."""
        return self.bits + 1

    @property
    def size(self) -> int:
        return self.bits + 2 * self.r_bits - 1


def emit_sqrt(cs: ConstraintSystem, vs: Sequence[LC], lay: SqrtLayout) -> list[LC]:
    """Constrain ``s = floor(sqrt(v 2^m))`` for each v; returns the roots."""
    start = cs.alloc_many(len(vs) * lay.size).start
    out = []
    for e, v in enumerate(vs):
        base = start + e * lay.size
        s_wires = range(base, base + lay.bits)
        for w in s_wires:
            cs.enforce_bit(w)
        root = LC.sum_of((w, 1 << j) for j, w in enumerate(s_wires))
        square = LC.wire(base + lay.bits)
        cs.enforce(root, root, square)
        shifted = (v + lay.offset) * (1 << lay.m)
        below = base + lay.bits + 1
        above = below + lay.r_bits - 1
        emit_bits(cs, shifted - square, range(below, above))
        emit_bits(cs, square + root * 2 - shifted, range(above, above + lay.r_bits - 1))
        out.append(root)
    return out


def witness_sqrt(v: AnyIntArray, lay: SqrtLayout, layer: str) -> tuple[IntArray, IntArray]:
    """Records and roots; raises InputError for a negative radicand or a root that leaves
    its calibrated range."""
    shifted = [(int(x) + lay.offset) << lay.m for x in np.asarray(v).tolist()]
    if shifted and min(shifted) < 0:
        raise InputError(
            f"layer '{layer}': the square root of a negative value ({min(shifted)}) for this "
            "input; recompile with calibration data that covers such inputs"
        )
    roots = [math.isqrt(x) for x in shifted]
    if roots and max(roots) >= 1 << lay.bits:
        raise InputError(
            f"layer '{layer}': a square root leaves its calibrated {lay.bits}-bit range for this "
            "input; recompile the model with calibration data that covers such inputs"
        )
    s = np.array(roots, dtype=np.int64)
    below = np.array([x - r * r for x, r in zip(shifted, roots, strict=True)], dtype=np.int64)
    above = np.array([r * r + 2 * r - x for x, r in zip(shifted, roots, strict=True)],
                     dtype=np.int64)  # fmt: skip
    parts = [bits_of(s, lay.bits), (s * s)[:, None], bits_of(below, lay.r_bits)[:, 1:],
             bits_of(above, lay.r_bits)[:, 1:]]  # fmt: skip
    return np.concatenate(parts, axis=1), s


@dataclass(frozen=True)
class ArgMaxLayout:
    """Record of the index of the first maximum of one window of ``width`` values.

    Wires: the maximum m, one selector bit per value, then bits 1..bits-1 of each
    ``m - x_i - 1 + t_i`` where ``t_i`` is the sum of the selectors up to i. The
    selectors sum to one and ``s_i (m - x_i) = 0``, so m is a value of the window; the
    range checks say every value before the selected one is below m (t_i = 0 there)
    and none after it exceeds m, so the index ``sum i s_i`` is that of the first
    maximum, as ONNX ArgMax defines it, and no other.
    """

    width: int
    bits: int  # m - x_i fits ``bits`` unsigned bits

    @property
    def size(self) -> int:
        return 1 + self.width + self.width * (self.bits - 1)


def emit_argmax(
    cs: ConstraintSystem, windows: Sequence[Sequence[LC]], lay: ArgMaxLayout
) -> list[LC]:
    """Constrain the first argmax of each window; returns the indices."""
    start = cs.alloc_many(len(windows) * lay.size).start
    out = []
    for e, window in enumerate(windows):
        base = start + e * lay.size
        m = LC.wire(base)
        selectors = [LC.wire(base + 1 + i) for i in range(lay.width)]
        for i, x in enumerate(window):
            cs.enforce_bit(base + 1 + i)
            cs.enforce(selectors[i], m - x, ZERO)
        cs.enforce(LC.sum_of((base + 1 + i, 1) for i in range(lay.width)), UNIT, UNIT)
        prefix = ZERO
        gaps = base + 1 + lay.width
        for i, x in enumerate(window):
            prefix = prefix + selectors[i]
            first = gaps + i * (lay.bits - 1)
            emit_bits(cs, m - x - 1 + prefix, range(first, first + lay.bits - 1))
        out.append(LC.sum_of((base + 1 + i, i) for i in range(1, lay.width)))
    return out


def witness_argmax(windows: IntArray, lay: ArgMaxLayout) -> tuple[IntArray, IntArray]:
    """Records and first-argmax indices of ``windows``."""
    m = windows.max(axis=1)
    index = windows.argmax(axis=1)  # numpy's argmax is the first maximum
    selectors = np.zeros(windows.shape, dtype=np.int64)
    selectors[np.arange(len(windows)), index] = 1
    prefix = np.cumsum(selectors, axis=1)
    gaps = m[:, None] - windows - 1 + prefix
    parts = [m[:, None], selectors, *(bits_of(gaps[:, i], lay.bits)[:, 1:] for i in
                                      range(lay.width))]  # fmt: skip
    return np.concatenate(parts, axis=1), index.astype(np.int64)


@dataclass(frozen=True)
class BelowLayout:
    """Record of one comparison ``b = [x < c]`` against a constant ``c`` (one per element).

    Wires: b, the product ``b x``, then bits 1..bits-1 of ``(x - c) + b (2c - 1 - 2x)``,
    which is ``x - c`` when b = 0 and ``c - 1 - x`` when b = 1: non-negative exactly
    when b is the comparison's truth.
    """

    bits: int  # |x - c| < 2^bits

    @property
    def size(self) -> int:
        return 2 + self.bits - 1


def emit_below(
    cs: ConstraintSystem, xs: Sequence[LC], consts: Sequence[int], lay: BelowLayout
) -> list[LC]:
    """Constrain ``b = [x < c]`` for each x and its c; returns the bits."""
    start = cs.alloc_many(len(xs) * lay.size).start
    out = []
    for e, (x, c) in enumerate(zip(xs, consts, strict=True)):
        base = start + e * lay.size
        b, bx = LC.wire(base), LC.wire(base + 1)
        cs.enforce_bit(base)
        cs.enforce(b, x, bx)
        gap = x - c + b * (2 * c - 1) - bx * 2
        emit_bits(cs, gap, range(base + 2, base + 2 + lay.bits - 1))
        out.append(b)
    return out


def witness_below(x: IntArray, consts: IntArray, lay: BelowLayout) -> tuple[IntArray, IntArray]:
    """Records and bits ``[x < c]``."""
    b = (x < consts).astype(np.int64)
    gap = np.where(b == 1, consts - 1 - x, x - consts)
    parts = [b[:, None], (b * x)[:, None], bits_of(gap, lay.bits)[:, 1:]]
    return np.concatenate(parts, axis=1), b


@dataclass(frozen=True)
class SegmentLayout:
    """Record of a piecewise-linear function by segment selection (one per element).

    Segment j covers ``starts[j] .. ends[j]``; the function there is ``alphas[j] + slopes[j] x``.
    Wires: selectors s_1..s_K (s_0 is ``1 - sum``, constrained to be a bit, so exactly one
    selector is 1), bits 1..bits-1 of ``x - start`` and of ``end - x`` for the selected
    segment (both non-negative exactly when x lies in it), then ``m = slope x``.
    Cost: ``K + 2 bits + 2`` constraints, however many knots.
    """

    segments: int  # K + 1
    bits: int  # every segment is narrower than 2^bits

    @property
    def size(self) -> int:
        return self.segments - 1 + 2 * (self.bits - 1) + 1


def _select(consts: Sequence[int], sel: range) -> LC:
    """``consts[j]`` of the selected segment, as a linear combination of the selectors."""
    terms = {w: int(c) - int(consts[0]) for w, c in zip(sel, consts[1:], strict=True)}
    return LC({**terms, 0: int(consts[0])})  # wire 0 is the constant one


def emit_segments(
    cs: ConstraintSystem,
    xs: Sequence[LC],
    bounds: tuple[Sequence[int], Sequence[int]],
    slopes: Sequence[int],
    lay: SegmentLayout,
) -> tuple[list[LC], list[LC]]:
    """Constrain each x's segment and ``slope x``; returns (selectors s_1..s_K per x, m)."""
    starts, ends = bounds
    k = lay.segments - 1
    start = cs.alloc_many(len(xs) * lay.size).start
    sels: list[LC] = []
    ms: list[LC] = []
    for e, x in enumerate(xs):
        base = start + e * lay.size
        sel = range(base, base + k)
        for w in sel:
            cs.enforce_bit(w)
        s0 = _select([1, *([0] * k)], sel)
        cs.enforce(s0, s0 - 1, ZERO)
        d_wires = range(sel.stop, sel.stop + lay.bits - 1)
        e_wires = range(d_wires.stop, d_wires.stop + lay.bits - 1)
        emit_bits(cs, x - _select(starts, sel), d_wires)
        emit_bits(cs, _select(ends, sel) - x, e_wires)
        m = LC.wire(e_wires.stop)
        cs.enforce(_select(slopes, sel), x, m)
        sels.extend(LC.wire(w) for w in sel)
        ms.append(m)
    return sels, ms


def witness_segments(
    x: IntArray, bounds: tuple[IntArray, IntArray], slopes: IntArray, lay: SegmentLayout, layer: str
) -> tuple[IntArray, IntArray, IntArray]:
    """Records, selectors (n, K) flattened, and ``slope x`` of each element's segment."""
    starts, ends = bounds
    j = np.searchsorted(starts, x, side="right") - 1
    if np.any(j < 0) or np.any(x > ends[np.maximum(j, 0)]):
        raise InputError(f"layer {layer}: a value lies outside the function's segments")
    sel = (j[:, None] == np.arange(1, lay.segments, dtype=np.int64)[None]).astype(np.int64)
    m = slopes[j] * x
    parts = [
        sel,
        bits_of(x - starts[j], lay.bits)[:, 1:],
        bits_of(ends[j] - x, lay.bits)[:, 1:],
        m[:, None],
    ]
    return np.concatenate(parts, axis=1), sel.ravel(), m
