"""The quantized program: the wire layout, the constraints and the witness of a model.

A ``Program`` is a list of steps over numbered sources (vectors of constrained
integer values; source 0 is the private input). Every step allocates one block of
wires in order; ``emit`` walks the steps building constraints, ``witness`` walks
the same steps computing values, and both take the block sizes from the gadget
layouts, so the wire layout has one definition.

Wire order: ``[1, commitment, outputs..., inputs..., salt, input range bits,
commitment hash wires, step blocks...]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.errors import LocalProtocolError
from protocol.r1cs.system import R1CS, ConstraintSystem, LinearCombination, R
from protocol.zkml import gadgets, poseidon_gadget
from protocol.zkml.affine import Affine
from protocol.zkml.errors import InputError
from protocol.zkml.gadgets import (
    ArgMaxLayout,
    BelowLayout,
    DivLayout,
    MaxLayout,
    ReluLayout,
    RequantLayout,
    SegmentLayout,
    SqrtLayout,
)

LC = LinearCombination
IntArray = NDArray[np.int64]
Values = list[IntArray]


@dataclass(frozen=True)
class Source:
    """A constrained vector: its length, scale, and proven bounds ``lo <= x <= hi``."""

    size: int
    scale: int
    lo: int
    hi: int


@dataclass(frozen=True)
class RequantStep:
    """Rescale an affine map to ``lay.bits`` bits (and optionally apply ReLU)."""

    layer: str
    affine: Affine
    lay: RequantLayout
    wide: bool  # accumulators may exceed int64: compute with Python ints
    q_out: int
    y_out: int  # -1 without ReLU

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        qs, ys = gadgets.emit_requant(
            cs, self.affine.lcs([lcs[s] for s in self.affine.srcs]), self.lay
        )
        lcs[self.q_out] = qs
        if self.y_out >= 0:
            lcs[self.y_out] = ys

    def witness(self, vals: Values) -> NDArray[np.int64] | NDArray[np.object_]:
        acc = self.affine.evaluate([vals[s] for s in self.affine.srcs], self.wide)
        rec, q, y = gadgets.witness_requant(acc, self.lay, self.layer)
        vals[self.q_out] = q
        if self.y_out >= 0:
            vals[self.y_out] = y
        return rec


@dataclass(frozen=True)
class ReluStep:
    """``relu(x - knot)`` of a source, elementwise."""

    layer: str
    src: int
    knot: int
    lay: ReluLayout
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        lcs[self.out] = gadgets.emit_relu(cs, lcs[self.src], self.knot, self.lay)

    def witness(self, vals: Values) -> IntArray:
        rec, vals[self.out] = gadgets.witness_relu(vals[self.src], self.knot, self.lay)
        return rec


@dataclass(frozen=True)
class MaxStep:
    """The maximum over each row of ``windows`` (indices into a source)."""

    layer: str
    src: int
    windows: IntArray
    lay: MaxLayout
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        x = lcs[self.src]
        lcs[self.out] = gadgets.emit_max(
            cs, [[x[i] for i in row] for row in self.windows.tolist()], self.lay
        )

    def witness(self, vals: Values) -> NDArray[np.object_]:
        rec, vals[self.out] = gadgets.witness_max(vals[self.src][self.windows], self.lay)
        return rec


@dataclass(frozen=True)
class MulStep:
    """``a[ia] * b[ib]`` elementwise, for two constrained sources."""

    layer: str
    a: int
    ia: IntArray
    b: int
    ib: IntArray
    wide: bool
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        a, b = lcs[self.a], lcs[self.b]
        lcs[self.out] = gadgets.emit_mul(cs, [a[i] for i in self.ia], [b[i] for i in self.ib])

    def witness(self, vals: Values) -> NDArray[np.int64] | NDArray[np.object_]:
        x, y = vals[self.a][self.ia], vals[self.b][self.ib]
        z = x.astype(object) * y.astype(object) if self.wide else x * y
        vals[self.out] = z
        return z[:, None]


@dataclass(frozen=True)
class ViewStep:
    """Elements ``index`` of a source, reused as they are (no wires, no constraints)."""

    layer: str
    src: int
    index: IntArray
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        lcs[self.out] = [lcs[self.src][i] for i in self.index.tolist()]

    def witness(self, vals: Values) -> IntArray:
        vals[self.out] = vals[self.src][self.index]
        return np.zeros((0, 0), dtype=np.int64)


@dataclass(frozen=True)
class DivStep:
    """``floor(a[ia] 2^k / b[ib])`` elementwise, for two constrained sources (b >= 1)."""

    layer: str
    a: int
    ia: IntArray
    b: int
    ib: IntArray
    lay: DivLayout
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        a, b = lcs[self.a], lcs[self.b]
        nums, dens = [a[i] for i in self.ia], [b[i] for i in self.ib]
        lcs[self.out] = gadgets.emit_div(cs, nums, dens, self.lay)

    def witness(self, vals: Values) -> NDArray[np.object_]:
        a, b = vals[self.a][self.ia], vals[self.b][self.ib]
        rec, vals[self.out] = gadgets.witness_div(a, b, self.lay, self.layer)
        return rec


@dataclass(frozen=True)
class SqrtStep:
    """``floor(sqrt(x 2^m))`` of a constrained, non-negative source, elementwise."""

    layer: str
    src: int
    lay: SqrtLayout
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        lcs[self.out] = gadgets.emit_sqrt(cs, lcs[self.src], self.lay)

    def witness(self, vals: Values) -> IntArray:
        rec, vals[self.out] = gadgets.witness_sqrt(vals[self.src], self.lay, self.layer)
        return rec


@dataclass(frozen=True)
class ArgMaxStep:
    """The index of the first maximum of each row of ``windows`` (indices into a source)."""

    layer: str
    src: int
    windows: IntArray
    lay: ArgMaxLayout
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        x = lcs[self.src]
        rows = [[x[i] for i in row] for row in self.windows.tolist()]
        lcs[self.out] = gadgets.emit_argmax(cs, rows, self.lay)

    def witness(self, vals: Values) -> IntArray:
        rec, vals[self.out] = gadgets.witness_argmax(vals[self.src][self.windows], self.lay)
        return rec


@dataclass(frozen=True)
class BelowStep:
    """``[x[index[i]] < consts[i]]`` elementwise, as 0/1."""

    layer: str
    src: int
    index: IntArray
    consts: IntArray
    lay: BelowLayout
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        x = [lcs[self.src][i] for i in self.index.tolist()]
        lcs[self.out] = gadgets.emit_below(cs, x, self.consts.tolist(), self.lay)

    def witness(self, vals: Values) -> IntArray:
        x = vals[self.src][self.index]
        rec, vals[self.out] = gadgets.witness_below(x, self.consts, self.lay)
        return rec


@dataclass(frozen=True)
class SegmentStep:
    """A piecewise-linear function of a source by segment selection: its selectors
    (source ``out``, K per element) and ``slope x`` (source ``out + 1``); the function's
    value is an affine map of the two."""

    layer: str
    src: int
    starts: IntArray  # the first value of each segment, ascending
    ends: IntArray  # the last value of each segment: the next start minus one
    slopes: IntArray  # each segment's slope (integer, at the slopes' scale)
    lay: SegmentLayout
    out: int

    def emit(self, cs: ConstraintSystem, lcs: list[list[LC]]) -> None:
        bounds = (self.starts.tolist(), self.ends.tolist())
        sels, ms = gadgets.emit_segments(cs, lcs[self.src], bounds, self.slopes.tolist(), self.lay)
        lcs[self.out], lcs[self.out + 1] = sels, ms

    def witness(self, vals: Values) -> IntArray:
        bounds = (self.starts, self.ends)
        rec, vals[self.out], vals[self.out + 1] = gadgets.witness_segments(
            vals[self.src], bounds, self.slopes, self.lay, self.layer
        )
        return rec


Step = (
    RequantStep
    | ReluStep
    | MaxStep
    | MulStep
    | DivStep
    | SqrtStep
    | ArgMaxStep
    | BelowStep
    | SegmentStep
    | ViewStep
)


def step_wires(step: Step, sources: Sequence[Source]) -> int:
    """Number of wires ``step`` allocates."""
    if isinstance(step, RequantStep):
        return step.affine.n * step.lay.size
    if isinstance(step, ReluStep):
        return sources[step.src].size * step.lay.size
    if isinstance(step, MaxStep):
        return len(step.windows) * step.lay.size
    if isinstance(step, MulStep):
        return len(step.ia)
    if isinstance(step, DivStep):
        return len(step.ia) * step.lay.size
    if isinstance(step, SqrtStep):
        return sources[step.src].size * step.lay.size
    if isinstance(step, ArgMaxStep):
        return len(step.windows) * step.lay.size
    if isinstance(step, BelowStep):
        return len(step.index) * step.lay.size
    if isinstance(step, SegmentStep):
        return sources[step.src].size * step.lay.size
    return 0


@dataclass(frozen=True)
class Program:
    """A model as gadgets over sources; source 0 holds the ``input_bits``-bit inputs."""

    input_bits: int
    sources: tuple[Source, ...]
    steps: tuple[Step, ...]
    output: int  # the source whose elements are the public outputs

    @property
    def n_inputs(self) -> int:
        return self.sources[0].size

    @property
    def n_outputs(self) -> int:
        return self.sources[self.output].size

    def _packed_count(self) -> int:
        per = poseidon_gadget.PACK_BITS // self.input_bits
        return -(-self.n_inputs // per)

    def emit(self) -> R1CS:
        """Build the constraint system."""
        cs = ConstraintSystem()
        commit = cs.alloc_public()
        outs = [cs.alloc_public() for _ in range(self.n_outputs)]
        lcs: list[list[LC]] = [[] for _ in self.sources]
        lcs[0] = self._emit_input(cs, commit)
        for step in self.steps:
            cs.section(step.layer)
            before = cs.n_wires
            step.emit(cs, lcs)
            if cs.n_wires - before != step_wires(step, self.sources):
                raise LocalProtocolError(
                    f"step {step.layer} allocated an unexpected number of wires"
                )
        cs.section("outputs")
        for wire, lc in zip(outs, lcs[self.output], strict=True):
            cs.enforce_equal(LC.wire(wire), lc)
        return cs.finish()

    def _emit_input(self, cs: ConstraintSystem, commit: int) -> list[LC]:
        """Private inputs and salt, their range checks and the commitment; returns the inputs."""
        xs = [LC.wire(cs.alloc_private_input()) for _ in range(self.n_inputs)]
        salt = LC.wire(cs.alloc_private_input())
        cs.section("input range")
        half = 1 << (self.input_bits - 1)
        start = cs.alloc_many(self.n_inputs * (self.input_bits - 1)).start
        for e, x in enumerate(xs):
            first = start + e * (self.input_bits - 1)
            gadgets.emit_bits(cs, x + half, range(first, first + self.input_bits - 1))
        cs.section("commitment")
        packed = poseidon_gadget.pack([x + half for x in xs], self.input_bits)
        cs.enforce_equal(LC.wire(commit), poseidon_gadget.emit_commitment(cs, packed, salt))
        return xs

    def n_wires(self) -> int:
        """Total wires, computed from the layouts alone."""
        fixed = 1 + 1 + self.n_outputs + self.n_inputs + 1
        fixed += self.n_inputs * (self.input_bits - 1)
        fixed += poseidon_gadget.commitment_wires(self._packed_count())
        return fixed + sum(step_wires(s, self.sources) for s in self.steps)

    def run(self, x_q: IntArray) -> Values:
        """Every source's values for quantized input ``x_q`` (no witness records)."""
        vals: Values = [np.zeros(0, dtype=np.int64) for _ in self.sources]
        vals[0] = x_q.astype(np.int64)
        for step in self.steps:
            step.witness(vals)
        return vals

    def witness(self, x_q: IntArray, salt: int) -> tuple[list[int], list[int], int]:
        """(full wire values mod R, signed outputs, commitment) for input ``x_q``."""
        half = 1 << (self.input_bits - 1)
        if len(x_q) != self.n_inputs or np.any(x_q >= half) or np.any(x_q < -half):
            raise InputError(
                f"quantized input must be {self.n_inputs} values of {self.input_bits} bits"
            )
        u = (x_q.astype(np.int64) + half).tolist()
        packed = poseidon_gadget.pack(u, self.input_bits)
        commitment, trace = poseidon_gadget.commitment_witness(packed, salt)
        vals: Values = [np.zeros(0, dtype=np.int64) for _ in self.sources]
        vals[0] = x_q.astype(np.int64)
        blocks: list[list[int]] = [
            gadgets.bits_of(np.asarray(u), self.input_bits)[:, 1:].ravel().tolist(),
            trace,
        ]
        for step in self.steps:
            blocks.append(step.witness(vals).ravel().tolist())
        outputs = [int(v) for v in vals[self.output].tolist()]
        head = [1, commitment, *outputs, *x_q.tolist(), salt % R]
        values = [int(v) % R for block in [head, *blocks] for v in block]
        return values, outputs, commitment
