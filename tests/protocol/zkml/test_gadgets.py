"""Each gadget on its own: constraints and witness agree, and every wire is pinned."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocol.r1cs.system import ConstraintSystem, LinearCombination, R, first_unsatisfied
from protocol.zkml import gadgets
from protocol.zkml.errors import InputError
from tests.protocol.zkml.helpers import unpinned_wires

LC = LinearCombination


def _system(values: list[int]) -> tuple[ConstraintSystem, list[LC]]:
    cs = ConstraintSystem()
    wires = [cs.alloc_private_input() for _ in values]
    return cs, [LC.wire(w) for w in wires]


def _check(cs: ConstraintSystem, inputs: list[int], records: np.ndarray) -> None:
    r1cs = cs.finish()
    witness = [1, *(v % R for v in inputs), *(int(v) % R for v in records.ravel().tolist())]
    assert len(witness) == r1cs.n_wires
    assert first_unsatisfied(r1cs, witness) is None
    # the gadget's inputs are pinned by whatever produced them, not by the gadget
    assert [w for w in unpinned_wires(r1cs, witness) if w > len(inputs)] == []


@pytest.mark.parametrize(("k", "relu"), [(0, False), (0, True), (1, True), (4, False), (4, True)])
def test_requant(k: int, relu: bool) -> None:
    bits = 6
    accs = [-(32 << k), -37, -1, 0, 1, 5, (31 << k) - 1, (1 << k) // 2]
    accs = [a for a in accs if -(32 << k) <= a + (1 << k >> 1) < (32 << k)]
    lay = gadgets.RequantLayout(k, bits, relu)
    cs, lcs = _system(accs)
    qs, ys = gadgets.emit_requant(cs, lcs, lay)
    rec, q, y = gadgets.witness_requant(np.array(accs, dtype=np.int64), lay, "layer")
    expected = [(a + (1 << k >> 1)) // (1 << k) for a in accs]
    assert q.tolist() == expected
    assert y.tolist() == [max(v, 0) for v in expected]
    assert len(cs.constraints) == len(accs) * (k + bits + int(relu))
    assert len(ys) == (len(accs) if relu else 0)
    assert len(qs) == len(accs)
    _check(cs, accs, rec)


def test_requant_overflow_names_the_layer() -> None:
    lay = gadgets.RequantLayout(2, 4, False)
    with pytest.raises(InputError, match="layer 'fc'"):
        gadgets.witness_requant(np.array([4 * 8], dtype=np.int64), lay, "fc")


@pytest.mark.parametrize("knot", [-3, 0, 5])
def test_relu_shifted(knot: int) -> None:
    xs = [-8, -3, 0, 4, 5, 7]
    lay = gadgets.ReluLayout(5)  # x - knot stays within [-16, 16)
    cs, lcs = _system(xs)
    gadgets.emit_relu(cs, lcs, knot, lay)
    rec, y = gadgets.witness_relu(np.array(xs, dtype=np.int64), knot, lay)
    assert y.tolist() == [max(x - knot, 0) for x in xs]
    _check(cs, xs, rec)


@pytest.mark.parametrize("width", [1, 2, 4, 9])
def test_max(width: int) -> None:
    rng = np.random.default_rng(width)
    values = rng.integers(-20, 20, size=12).tolist()
    windows = rng.integers(0, len(values), size=(3, width))
    lay = gadgets.MaxLayout(width, 6)  # differences within [0, 40) < 2^6
    cs, lcs = _system(values)
    gadgets.emit_max(cs, [[lcs[i] for i in row] for row in windows.tolist()], lay)
    rec, m = gadgets.witness_max(np.array(values, dtype=np.int64)[windows], lay)
    assert m.tolist() == [max(values[i] for i in row) for row in windows.tolist()]
    assert len(cs.constraints) == 3 * (width * 6 + max(width - 1, 1))
    _check(cs, values, rec)


@pytest.mark.parametrize(("k", "d"), [(0, 0), (5, 0), (0, 2), (3, 1)])
def test_division_is_the_floor_quotient(k: int, d: int) -> None:
    nums = [-40, -7, -1, 0, 1, 6, 13, 31]
    dens = [1, 3, 7, 2, 5, 9, 1, 4]
    lay = gadgets.DivLayout(k, d, 12, max((max(dens) << d).bit_length(), 1))
    cs, lcs = _system([*nums, *dens])
    gadgets.emit_div(cs, lcs[: len(nums)], lcs[len(nums) :], lay)
    rec, q = gadgets.witness_div(np.array(nums), np.array(dens), lay, "div")
    assert q.tolist() == [(a << k) // (b << d) for a, b in zip(nums, dens, strict=True)]
    assert len(cs.constraints) == len(nums) * (lay.bits + 2 * lay.r_bits + 1)
    _check(cs, [*nums, *dens], rec)


def test_division_admits_no_other_quotient() -> None:
    """The other integer quotients (q + 1 with r - b, q - 1 with r + b) satisfy the
    product constraint; the remainder's two range checks refuse them. (A field element
    q + t / b with r - t would too, but q's own range check leaves no such q.)"""
    lay = gadgets.DivLayout(0, 0, 8, 4)
    cs, lcs = _system([17, 5])
    gadgets.emit_div(cs, lcs[:1], lcs[1:], lay)
    r1cs = cs.finish()
    rec, q = gadgets.witness_div(np.array([17]), np.array([5]), lay, "div")
    honest = [1, 17, 5, *(int(v) for v in rec.ravel())]
    assert first_unsatisfied(r1cs, honest) is None
    honest_q = int(q[0])
    for fake_q in (honest_q + 1, honest_q - 1):
        fake_r = 17 - 5 * fake_q
        half = 1 << (lay.bits - 1)
        q_bits = [(fake_q + half) >> j & 1 for j in range(lay.bits)]
        r_bits = [(fake_r % R) >> j & 1 for j in range(lay.r_bits)]
        gap = (5 - 1 - fake_r) % R
        gap_bits = [gap >> j & 1 for j in range(1, lay.r_bits)]
        assert first_unsatisfied(r1cs, [1, 17, 5, *q_bits, *r_bits, *gap_bits]) is not None


@pytest.mark.parametrize("den", [0, -3])
def test_a_divisor_below_one_is_an_input_error(den: int) -> None:
    lay = gadgets.DivLayout(0, 0, 8, 4)
    with pytest.raises(InputError, match="layer 'probs': a divisor is"):
        gadgets.witness_div(np.array([3]), np.array([den]), lay, "probs")


@pytest.mark.parametrize("m", [0, 3])
def test_square_root_is_the_floor_root(m: int) -> None:
    vs = [0, 1, 2, 3, 4, 15, 16, 17, 99, 255]
    lay = gadgets.SqrtLayout(m, 7)
    cs, lcs = _system(vs)
    gadgets.emit_sqrt(cs, lcs, lay)
    rec, s = gadgets.witness_sqrt(np.array(vs), lay, "root")
    assert s.tolist() == [math.isqrt(v << m) for v in vs]
    assert len(cs.constraints) == len(vs) * (lay.bits + 1 + 2 * lay.r_bits)
    _check(cs, vs, rec)


def test_square_root_admits_no_other_root_and_no_negative_radicand() -> None:
    lay = gadgets.SqrtLayout(0, 5)
    cs, lcs = _system([20])
    gadgets.emit_sqrt(cs, lcs, lay)
    r1cs = cs.finish()

    def record(root: int) -> list[int]:
        below, above = 20 - root * root, root * root + 2 * root - 20
        bits = [root >> j & 1 for j in range(lay.bits)]
        return [*bits, root * root, *(((below % R) >> j) & 1 for j in range(1, lay.r_bits)),
                *(((above % R) >> j) & 1 for j in range(1, lay.r_bits))]  # fmt: skip

    assert first_unsatisfied(r1cs, [1, 20, *record(4)]) is None
    for wrong in (3, 5):  # 3^2 + 2*3 < 20 and 5^2 > 20: one gap is negative
        assert first_unsatisfied(r1cs, [1, 20, *record(wrong)]) is not None
    with pytest.raises(InputError, match="layer 'ln': the square root of a negative value"):
        gadgets.witness_sqrt(np.array([-4]), lay, "ln")


def test_argmax_is_the_first_maximum_and_no_other() -> None:
    windows = np.array([[3, 7, 7, 1], [5, 5, 5, 5], [-2, -9, -2, -1], [0, 0, 4, 4]])
    lay = gadgets.ArgMaxLayout(4, 5)  # differences below 32
    flat = windows.ravel().tolist()
    cs, lcs = _system(flat)
    gadgets.emit_argmax(cs, [lcs[i * 4 : i * 4 + 4] for i in range(4)], lay)
    rec, index = gadgets.witness_argmax(windows, lay)
    assert index.tolist() == [1, 0, 3, 2]
    _check(cs, flat, rec)
    r1cs = cs.finish()
    honest = [1, *flat, *(int(v) % R for v in rec.ravel())]
    # select the later of a tied pair instead: the range check before it fails
    row = rec[0].copy()
    row[1 : 1 + 4] = [0, 0, 1, 0]
    gaps = 7 - windows[0] - 1 + np.cumsum(row[1:5])
    row[5:] = np.concatenate([[(g % R) >> j & 1 for j in range(1, 5)] for g in gaps.tolist()])
    forged = list(honest)
    start = 1 + len(flat)
    forged[start : start + lay.size] = [int(v) for v in row]
    assert first_unsatisfied(r1cs, forged) is not None


@pytest.mark.parametrize("c", [-3, 0, 5])
def test_below_is_the_comparison(c: int) -> None:
    xs = [-8, -4, -3, -1, 0, 4, 5, 7]
    lay = gadgets.BelowLayout(5)
    cs, lcs = _system(xs)
    gadgets.emit_below(cs, lcs, [c] * len(xs), lay)
    rec, bits = gadgets.witness_below(np.array(xs), np.full(len(xs), c), lay)
    assert bits.tolist() == [int(x < c) for x in xs]
    _check(cs, xs, rec)


# A piecewise-linear function on [-20, 20] with segments starting at -20, -4, 1 and 9.
SEG_STARTS = np.array([-20, -4, 1, 9], dtype=np.int64)
SEG_ENDS = np.array([-5, 0, 8, 20], dtype=np.int64)
SEG_SLOPES = np.array([0, 3, -2, 5], dtype=np.int64)
SEG_LAY = gadgets.SegmentLayout(4, 4)  # the widest segment spans 15 < 2^4


def test_segments_select_the_segment_of_each_value() -> None:
    xs = list(range(-20, 21))
    cs, lcs = _system(xs)
    sels, ms = gadgets.emit_segments(cs, lcs, (SEG_STARTS, SEG_ENDS), SEG_SLOPES.tolist(), SEG_LAY)
    rec, sel, m = gadgets.witness_segments(
        np.array(xs), (SEG_STARTS, SEG_ENDS), SEG_SLOPES, SEG_LAY, "act"
    )
    segment = np.searchsorted(SEG_STARTS, xs, side="right") - 1
    assert sel.reshape(len(xs), 3).tolist() == [[int(j == i) for i in (1, 2, 3)] for j in segment]
    assert m.tolist() == [int(SEG_SLOPES[j]) * x for j, x in zip(segment, xs, strict=True)]
    assert len(sels) == 3 * len(xs)
    assert len(ms) == len(xs)
    assert len(cs.constraints) == len(xs) * (3 + 2 * 4 + 2)  # K + 2 bits + 2, for any K
    _check(cs, xs, rec)


@pytest.mark.parametrize("x", [-20, -5, -4, 0, 1, 8, 9, 20])
def test_segments_refuse_every_wrong_segment(x: int) -> None:
    """A prover claiming another segment (with its best range bits and product) fails."""
    cs, lcs = _system([x])
    gadgets.emit_segments(cs, lcs, (SEG_STARTS, SEG_ENDS), SEG_SLOPES.tolist(), SEG_LAY)
    r1cs = cs.finish()
    honest = int(np.searchsorted(SEG_STARTS, x, side="right") - 1)
    for claim in range(4):
        d, e = x - int(SEG_STARTS[claim]), int(SEG_ENDS[claim]) - x
        row = [int(claim == i) for i in (1, 2, 3)]
        row += [(d % R) >> j & 1 for j in range(1, 4)] + [(e % R) >> j & 1 for j in range(1, 4)]
        row.append(int(SEG_SLOPES[claim]) * x % R)
        unsatisfied = first_unsatisfied(r1cs, [1, x % R, *row])
        assert (unsatisfied is None) == (claim == honest), claim


def test_segments_refuse_two_selectors_at_once() -> None:
    cs, lcs = _system([3])
    gadgets.emit_segments(cs, lcs, (SEG_STARTS, SEG_ENDS), SEG_SLOPES.tolist(), SEG_LAY)
    r1cs = cs.finish()
    rec, _, _ = gadgets.witness_segments(
        np.array([3]), (SEG_STARTS, SEG_ENDS), SEG_SLOPES, SEG_LAY, "act"
    )
    forged = [1, 3, *(int(v) % R for v in rec.ravel().tolist())]
    forged[2] = 1  # segment 1 as well as segment 2: s0 = -1
    assert first_unsatisfied(r1cs, forged) is not None


def test_segments_outside_every_segment_is_an_input_error() -> None:
    with pytest.raises(InputError, match="layer act: a value lies outside"):
        gadgets.witness_segments(np.array([21]), (SEG_STARTS, SEG_ENDS), SEG_SLOPES, SEG_LAY, "act")
