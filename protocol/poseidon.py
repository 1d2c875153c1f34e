"""The Poseidon hash over the BN254 scalar field with circomlib's parameters.

State width ``t = n_inputs + 1`` for 1 to 16 inputs, 8 full rounds, circomlib's
partial-round counts, S-box ``x^5``, initial state ``[0, inputs...]``, output
``state[0]`` after the permutation. Constants are generated (see
``protocol.poseidon_constants``) and cached per width; the result equals
circomlib's ``Poseidon(n)`` template and circomlibjs's ``poseidon``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from protocol import poseidon_constants
from protocol.errors import LocalProtocolError

# BN254 scalar field order (EIP-196/197; circom's default prime).
R = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001

FULL_ROUNDS = 8
# circomlib's N_ROUNDS_P, indexed by t - 2: the paper's recommended partial rounds
# for 128-bit security, rounded up (circomlibjs src/poseidon_reference.js).
PARTIAL_ROUNDS = (56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68)
MIN_T = 2
MAX_T = MIN_T + len(PARTIAL_ROUNDS) - 1
SBOX_ALPHA = 5
FIELD_BITS = 254  # bit length of R, the "n" parameter of the Grain seed


@dataclass(frozen=True)
class PoseidonParams:
    """Parameters of one Poseidon width; ``round_constants[r]`` holds round r's t constants."""

    t: int
    full_rounds: int
    partial_rounds: int
    round_constants: tuple[tuple[int, ...], ...]
    mds: tuple[tuple[int, ...], ...]

    @property
    def n_rounds(self) -> int:
        return self.full_rounds + self.partial_rounds

    def is_full_round(self, r: int) -> bool:
        """True when round ``r`` applies the S-box to every state element."""
        half = self.full_rounds // 2
        return r < half or r >= half + self.partial_rounds


@cache
def poseidon_params(t: int) -> PoseidonParams:
    """The circomlib parameters for state width ``t`` (2..17)."""
    if not MIN_T <= t <= MAX_T:
        raise LocalProtocolError(f"Poseidon width t={t} outside {MIN_T}..{MAX_T}")
    partial = PARTIAL_ROUNDS[t - MIN_T]
    flat, mds = poseidon_constants.generate(R, FIELD_BITS, t, FULL_ROUNDS, partial)
    rounds = tuple(tuple(flat[r * t : (r + 1) * t]) for r in range(FULL_ROUNDS + partial))
    return PoseidonParams(t, FULL_ROUNDS, partial, rounds, mds)


def permute(params: PoseidonParams, state: Sequence[int]) -> list[int]:
    """The Poseidon permutation applied to ``state`` (t field elements)."""
    if len(state) != params.t:
        raise LocalProtocolError(f"state has {len(state)} elements, width is {params.t}")
    s = list(state)
    for r, constants in enumerate(params.round_constants):
        s = [(x + c) % R for x, c in zip(s, constants, strict=True)]
        if params.is_full_round(r):
            s = [pow(x, SBOX_ALPHA, R) for x in s]
        else:
            s[0] = pow(s[0], SBOX_ALPHA, R)
        s = [sum(m * x for m, x in zip(row, s, strict=True)) % R for row in params.mds]
    return s


def poseidon(inputs: Sequence[int]) -> int:
    """circomlib's Poseidon hash of 1..16 field elements (each ``0 <= x < R``)."""
    if not 1 <= len(inputs) <= MAX_T - 1:
        raise LocalProtocolError(f"Poseidon takes 1..{MAX_T - 1} inputs, got {len(inputs)}")
    for x in inputs:
        if not 0 <= x < R:
            raise LocalProtocolError(f"Poseidon input {x} is not a field element")
    return permute(poseidon_params(len(inputs) + 1), [0, *inputs])[0]
