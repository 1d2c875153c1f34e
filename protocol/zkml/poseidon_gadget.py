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

from protocol.poseidon import SBOX_ALPHA, poseidon, poseidon_params
from protocol.r1cs.system import ConstraintSystem, LinearCombination, R

T = TypeVar("T", LinearCombination, int)

CHAIN_WIDTH = 15  # packed elements per Poseidon call after the salt or chaining value
PACK_BITS = 253  # bits per packed field element: 2^253 < R, so packing never wraps
WIRES_PER_SBOX = 3


class _Backend(Generic[T]):
    def const(self, value: int) -> T:
        raise NotImplementedError

    def sbox(self, x: T) -> T:
        raise NotImplementedError

    def mix(self, mds: Sequence[Sequence[int]], state: list[T]) -> list[T]:
        raise NotImplementedError


class _Circuit(_Backend[LinearCombination]):
    def __init__(self, cs: ConstraintSystem) -> None:
        self.cs = cs

    def const(self, value: int) -> LinearCombination:
        return LinearCombination.constant(value)

    def sbox(self, x: LinearCombination) -> LinearCombination:
        x2, x4, x5 = (LinearCombination.wire(w) for w in self.cs.alloc_many(WIRES_PER_SBOX))
        self.cs.enforce(x, x, x2)
        self.cs.enforce(x2, x2, x4)
        self.cs.enforce(x4, x, x5)
        return x5

    def mix(
        self, mds: Sequence[Sequence[int]], state: list[LinearCombination]
    ) -> list[LinearCombination]:
        # Accumulate raw terms: building intermediate combinations dominates emission time.
        out = []
        for row in mds:
            acc: dict[int, int] = {}
            for m, x in zip(row, state, strict=True):
                for w, c in x.terms.items():
                    acc[w] = acc.get(w, 0) + m * c
            out.append(LinearCombination(acc))
        return out


class _Witness(_Backend[int]):
    def __init__(self) -> None:
        self.trace: list[int] = []

    def const(self, value: int) -> int:
        return value % R

    def sbox(self, x: int) -> int:
        x2 = x * x % R
        x4 = x2 * x2 % R
        x5 = x4 * x % R
        self.trace += (x2, x4, x5)
        return x5

    def mix(self, mds: Sequence[Sequence[int]], state: list[int]) -> list[int]:
        return [sum(m * x for m, x in zip(row, state, strict=True)) % R for row in mds]


def _hash(backend: _Backend[T], inputs: Sequence[T]) -> T:
    params = poseidon_params(len(inputs) + 1)
    state: list[T] = [backend.const(0)]
    state.extend(inputs)
    for r, constants in enumerate(params.round_constants):
        state = [x + c for x, c in zip(state, constants, strict=True)]
        full = params.is_full_round(r)
        for i in range(params.t if full else 1):
            if r == 0 and i == 0:  # capacity element: the constant C[0][0]
                state[0] = backend.const(pow(constants[0], SBOX_ALPHA, R))
            else:
                state[i] = backend.sbox(state[i])
        state = backend.mix(params.mds, state)
    return state[0]


def poseidon_constraints(n_inputs: int) -> int:
    """Constraints (and wires) one in-circuit Poseidon hash of ``n_inputs`` costs / 3."""
    params = poseidon_params(n_inputs + 1)
    sboxes = params.full_rounds * params.t + params.partial_rounds - 1
    return WIRES_PER_SBOX * sboxes


def emit_poseidon(cs: ConstraintSystem, inputs: Sequence[LinearCombination]) -> LinearCombination:
    """Constrain a Poseidon hash of ``inputs``; returns its output as a linear combination."""
    return _hash(_Circuit(cs), inputs)


def poseidon_witness(inputs: Sequence[int]) -> tuple[int, list[int]]:
    """The hash of ``inputs`` and the values of the wires ``emit_poseidon`` allocates."""
    backend = _Witness()
    return _hash(backend, inputs) % R, backend.trace


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
