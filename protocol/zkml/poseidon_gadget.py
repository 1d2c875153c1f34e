"""Poseidon in R1CS (circomlib parameters) and the input commitment built on it.

The permutation is written once, generic over a ``_Backend``: the circuit backend
allocates three wires per S-box (``x^2``, ``x^4``, ``x^5``) and enforces them; the
witness backend computes the same values in the same order. The capacity element
starts at the constant 0, so round 0's first S-box acts on a constant and costs
nothing, which gives circomlib's counts: 213 / 240 / 297 / 402 / 609 constraints for
1 / 2 / 4 / 8 / 16 inputs (3 per S-box; linear layers are free).

Input commitment: quantized inputs are offset to unsigned ``B``-bit values, packed
``floor(253 / B)`` per field element (first value in the lowest bits), then hashed
with the salt: ``h = Poseidon([salt, e_1 .. e_15])``, and while elements remain,
``h = Poseidon([h, next up to 15 elements])``. With 15 or fewer packed elements the
commitment is the single call ``Poseidon([salt, e_1 .. e_n])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np

from protocol.poseidon import SBOX_ALPHA, poseidon, poseidon_params
from protocol.r1cs.system import ONE, ConstraintSystem, LinearCombination, R

T = TypeVar("T", LinearCombination, int)

CHAIN_WIDTH = 15  # packed elements per Poseidon call after the salt or chaining value
PACK_BITS = 253  # bits per packed field element: 2^253 < R, so packing never wraps
WIRES_PER_SBOX = 3


class _Backend(Generic[T]):
    """One Poseidon state under evaluation; ``T`` is what the hash output is."""

    def add(self, constants: Sequence[int]) -> None:
        raise NotImplementedError

    def set_constant(self, i: int, value: int) -> None:
        raise NotImplementedError

    def sbox(self, i: int) -> None:
        raise NotImplementedError

    def mix(self, mds: Sequence[Sequence[int]]) -> None:
        raise NotImplementedError

    def output(self) -> T:
        raise NotImplementedError


class _Circuit(_Backend[LinearCombination]):
    """The state as a coefficient matrix over a basis of wires plus a constant column.

    Row i of ``coef`` holds element i's coefficients; numpy object matrices make the
    MDS mixing several times faster than mixing dictionaries of terms.
    """

    def __init__(self, cs: ConstraintSystem, inputs: Sequence[LinearCombination]) -> None:
        self.cs = cs
        self.basis = sorted({w for lc in inputs for w in lc.terms if w != ONE})
        column = {w: j for j, w in enumerate(self.basis)}
        self.coef = np.zeros((len(inputs) + 1, len(self.basis)), dtype=object)
        self.const = np.zeros(len(inputs) + 1, dtype=object)
        for i, lc in enumerate(inputs, start=1):
            for w, c in lc.terms.items():
                if w == ONE:
                    self.const[i] = c
                else:
                    self.coef[i, column[w]] = c

    def element(self, i: int) -> LinearCombination:
        row = self.coef[i]
        terms = {self.basis[j]: int(row[j]) for j in np.flatnonzero(row != 0)}
        terms[ONE] = int(self.const[i])
        return LinearCombination(terms)

    def add(self, constants: Sequence[int]) -> None:
        self.const = (self.const + np.array(constants, dtype=object)) % R

    def set_constant(self, i: int, value: int) -> None:
        self.coef[i] = 0
        self.const[i] = value

    def sbox(self, i: int) -> None:
        x = self.element(i)
        x2, x4, x5 = (LinearCombination.wire(w) for w in self.cs.alloc_many(WIRES_PER_SBOX))
        self.cs.enforce(x, x, x2)
        self.cs.enforce(x2, x2, x4)
        self.cs.enforce(x4, x, x5)
        self.coef = np.concatenate([self.coef, np.zeros((len(self.coef), 1), dtype=object)], 1)
        self.set_constant(i, 0)
        self.coef[i, -1] = 1
        self.basis.append(self.cs.n_wires - 1)

    def mix(self, mds: Sequence[Sequence[int]]) -> None:
        m = np.array(mds, dtype=object)
        live = np.flatnonzero(np.any(self.coef != 0, axis=0))
        self.basis = [self.basis[j] for j in live]
        self.coef = m.dot(self.coef[:, live]) % R
        self.const = m.dot(self.const) % R

    def output(self) -> LinearCombination:
        return self.element(0)


class _Witness(_Backend[int]):
    def __init__(self, inputs: Sequence[int]) -> None:
        self.state = [0, *(x % R for x in inputs)]
        self.trace: list[int] = []

    def add(self, constants: Sequence[int]) -> None:
        self.state = [(x + c) % R for x, c in zip(self.state, constants, strict=True)]

    def set_constant(self, i: int, value: int) -> None:
        self.state[i] = value

    def sbox(self, i: int) -> None:
        x = self.state[i]
        x2 = x * x % R
        x4 = x2 * x2 % R
        x5 = x4 * x % R
        self.trace += (x2, x4, x5)
        self.state[i] = x5

    def mix(self, mds: Sequence[Sequence[int]]) -> None:
        self.state = [sum(m * x for m, x in zip(row, self.state, strict=True)) % R for row in mds]

    def output(self) -> int:
        return self.state[0]


def _hash(backend: _Backend[T], n_inputs: int) -> T:
    params = poseidon_params(n_inputs + 1)
    for r, constants in enumerate(params.round_constants):
        backend.add(constants)
        full = params.is_full_round(r)
        for i in range(params.t if full else 1):
            if r == 0 and i == 0:  # the capacity element is the constant C[0][0] here
                backend.set_constant(0, pow(constants[0], SBOX_ALPHA, R))
            else:
                backend.sbox(i)
        backend.mix(params.mds)
    return backend.output()


def poseidon_constraints(n_inputs: int) -> int:
    """Constraints (and wires) one in-circuit Poseidon hash of ``n_inputs`` costs / 3."""
    params = poseidon_params(n_inputs + 1)
    sboxes = params.full_rounds * params.t + params.partial_rounds - 1
    return WIRES_PER_SBOX * sboxes


def emit_poseidon(cs: ConstraintSystem, inputs: Sequence[LinearCombination]) -> LinearCombination:
    """Constrain a Poseidon hash of ``inputs``; returns its output as a linear combination."""
    return _hash(_Circuit(cs, inputs), len(inputs))


def poseidon_witness(inputs: Sequence[int]) -> tuple[int, list[int]]:
    """The hash of ``inputs`` and the values of the wires ``emit_poseidon`` allocates."""
    backend = _Witness(inputs)
    return _hash(backend, len(inputs)), backend.trace


def pack(values: Sequence[T], bits: int) -> list[T]:
    """Pack unsigned ``bits``-bit values ``floor(253 / bits)`` per element, lowest first."""
    per = PACK_BITS // bits
    out: list[T] = []
    for start in range(0, len(values), per):
        chunk = values[start : start + per]
        acc = chunk[0]
        for j, v in enumerate(chunk[1:], start=1):
            acc = acc + v * (1 << (bits * j))
        out.append(acc)
    return out


def _chunks(elements: Sequence[T]) -> list[list[T]]:
    """Consecutive groups of up to CHAIN_WIDTH elements; one empty group for no elements."""
    groups = [list(elements[i : i + CHAIN_WIDTH]) for i in range(0, len(elements), CHAIN_WIDTH)]
    return groups or [[]]


def commitment_native(packed: Sequence[int], salt: int) -> int:
    """The chained Poseidon commitment to packed input elements (see module docstring)."""
    h = salt % R
    for chunk in _chunks(packed):
        h = poseidon([h, *chunk])
    return h


def emit_commitment(
    cs: ConstraintSystem, packed: Sequence[LinearCombination], salt: LinearCombination
) -> LinearCombination:
    """Constrain the chained commitment; returns it as a linear combination."""
    h = salt
    for chunk in _chunks(packed):
        h = emit_poseidon(cs, [h, *chunk])
    return h


def commitment_witness(packed: Sequence[int], salt: int) -> tuple[int, list[int]]:
    """The commitment and the values of the wires ``emit_commitment`` allocates."""
    h = salt % R
    trace: list[int] = []
    for chunk in _chunks(packed):
        h, part = poseidon_witness([h, *chunk])
        trace += part
    return h, trace


def commitment_wires(n_packed: int) -> int:
    """Number of wires ``emit_commitment`` allocates for ``n_packed`` elements."""
    return sum(poseidon_constraints(len(c) + 1) for c in _chunks([0] * n_packed))
