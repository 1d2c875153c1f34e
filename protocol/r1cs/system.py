"""Linear combinations over Fr, an R1CS builder, and witness checking.

Wire 0 is the constant 1. Public signals occupy wires ``1 .. n_public`` (circom's
"public outputs"), followed by every private and internal wire. The builder
enforces that order: all public wires are allocated before any private one, so a
wire's index never changes after allocation.

A constraint is ``<A, w> * <B, w> = <C, w>`` with A, B and C sparse maps from wire
index to a coefficient in normal form (``0 <= c < R``); zero coefficients are never
stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from protocol.errors import LocalProtocolError

# BN254 scalar field order (EIP-196/197, circom's default prime).
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617

ONE = 0  # index of the constant-one wire


class LinearCombination:
    """A sparse sum of ``coeff * wire`` terms over Fr, immutable once built."""

    __slots__ = ("terms",)

    def __init__(self, terms: Mapping[int, int] | None = None) -> None:
        self.terms: dict[int, int] = {}
        if terms:
            for wire, coeff in terms.items():
                c = coeff % R
                if c:
                    self.terms[wire] = c

    @classmethod
    def wire(cls, index: int, coeff: int = 1) -> LinearCombination:
        """The combination ``coeff * w[index]``."""
        return cls({index: coeff})

    @classmethod
    def constant(cls, value: int) -> LinearCombination:
        """The combination ``value * 1``."""
        return cls({ONE: value})

    @classmethod
    def sum_of(cls, pairs: Iterable[tuple[int, int]]) -> LinearCombination:
        """Sum of ``coeff * w[wire]`` for each ``(wire, coeff)``; repeated wires add up."""
        acc: dict[int, int] = {}
        for wire, coeff in pairs:
            acc[wire] = (acc.get(wire, 0) + coeff) % R
        return cls(acc)

    def __add__(self, other: LinearCombination | int) -> LinearCombination:
        other_lc = other if isinstance(other, LinearCombination) else self.constant(other)
        acc = dict(self.terms)
        for wire, coeff in other_lc.terms.items():
            acc[wire] = (acc.get(wire, 0) + coeff) % R
        return LinearCombination(acc)

    def __radd__(self, other: int) -> LinearCombination:
        return self + other

    def __neg__(self) -> LinearCombination:
        return LinearCombination({w: R - c for w, c in self.terms.items()})

    def __sub__(self, other: LinearCombination | int) -> LinearCombination:
        other_lc = other if isinstance(other, LinearCombination) else self.constant(other)
        return self + (-other_lc)

    def __rsub__(self, other: int) -> LinearCombination:
        return self.constant(other) - self

    def __mul__(self, scalar: int) -> LinearCombination:
        if not isinstance(scalar, int):
            return NotImplemented
        s = scalar % R
        return LinearCombination({w: c * s for w, c in self.terms.items()})

    __rmul__ = __mul__

    def evaluate(self, witness: Sequence[int]) -> int:
        """The value of the combination on a full witness, in normal form."""
        return sum(c * witness[w] for w, c in self.terms.items()) % R

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinearCombination) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def __repr__(self) -> str:
        inner = " + ".join(f"{c}*w{w}" for w, c in sorted(self.terms.items()))
        return f"LC({inner or '0'})"


@dataclass(frozen=True)
class Constraint:
    """One R1CS row ``<a, w> * <b, w> = <c, w>``; each side maps wire -> coefficient."""

    a: Mapping[int, int]
    b: Mapping[int, int]
    c: Mapping[int, int]


@dataclass(frozen=True)
class R1CS:
    """A finished constraint system in circom's wire order.

    ``n_public`` counts the public signals (wires ``1 .. n_public``); provernet
    exposes them all as circom "public outputs" (``n_pub_in`` is kept for files
    written by other tools). ``n_prv_in`` counts private inputs following them.
    """

    n_wires: int
    n_public: int
    constraints: tuple[Constraint, ...]
    n_pub_in: int = 0
    n_prv_in: int = 0
    labels: tuple[int, ...] = ()
    sections: tuple[tuple[str, int], ...] = ()  # (layer name, constraints) in order
    prime: int = R

    @property
    def n_constraints(self) -> int:
        return len(self.constraints)

    @property
    def n_public_total(self) -> int:
        """All public signals: circom's public outputs plus public inputs."""
        return self.n_public + self.n_pub_in


@dataclass
class ConstraintSystem:
    """A mutable R1CS under construction; ``finish()`` freezes it."""

    n_wires: int = 1
    n_public: int = 0
    n_prv_in: int = 0
    constraints: list[Constraint] = field(default_factory=list)
    _sections: list[tuple[str, int]] = field(default_factory=list)
    _section: str = "main"

    def alloc_public(self) -> int:
        """Allocate the next public signal; all public wires come before private ones."""
        if self.n_wires != 1 + self.n_public:
            raise LocalProtocolError("public wires must be allocated before any private wire")
        self.n_public += 1
        self.n_wires += 1
        return self.n_wires - 1

    def alloc_private_input(self) -> int:
        """Allocate a private input wire (only right after the public wires)."""
        if self.n_wires != 1 + self.n_public + self.n_prv_in:
            raise LocalProtocolError("private inputs must come before internal wires")
        self.n_prv_in += 1
        self.n_wires += 1
        return self.n_wires - 1

    def alloc(self) -> int:
        """Allocate an internal wire."""
        self.n_wires += 1
        return self.n_wires - 1

    def alloc_many(self, count: int) -> range:
        """Allocate ``count`` consecutive internal wires."""
        start = self.n_wires
        self.n_wires += count
        return range(start, start + count)

    def section(self, name: str) -> None:
        """Attribute the constraints that follow to ``name`` (a layer, for reports)."""
        self._section = name

    def enforce(self, a: LinearCombination, b: LinearCombination, c: LinearCombination) -> None:
        """Add the constraint ``a * b = c``."""
        for lc in (a, b, c):
            for wire in lc.terms:
                if not 0 <= wire < self.n_wires:
                    raise LocalProtocolError(f"constraint uses unallocated wire {wire}")
        self.constraints.append(Constraint(a.terms, b.terms, c.terms))
        if self._sections and self._sections[-1][0] == self._section:
            name, count = self._sections[-1]
            self._sections[-1] = (name, count + 1)
        else:
            self._sections.append((self._section, 1))

    def enforce_equal(self, a: LinearCombination, b: LinearCombination) -> None:
        """Add the linear constraint ``a = b`` (as ``(a - b) * 1 = 0``)."""
        self.enforce(a - b, LinearCombination.constant(1), LinearCombination())

    def enforce_bit(self, wire: int) -> None:
        """Constrain ``w[wire]`` to 0 or 1."""
        x = LinearCombination.wire(wire)
        self.enforce(x, x - 1, LinearCombination())

    def finish(self) -> R1CS:
        """Freeze the system."""
        return R1CS(
            n_wires=self.n_wires,
            n_public=self.n_public,
            constraints=tuple(self.constraints),
            n_prv_in=self.n_prv_in,
            sections=tuple(self._sections),
        )


def _dot(terms: Mapping[int, int], witness: Sequence[int]) -> int:
    return sum(c * witness[w] for w, c in terms.items()) % R


def first_unsatisfied(r1cs: R1CS, witness: Sequence[int]) -> int | None:
    """Index of the first violated constraint, or None when the witness satisfies all."""
    if len(witness) != r1cs.n_wires:
        raise LocalProtocolError(f"witness has {len(witness)} values, circuit {r1cs.n_wires}")
    if witness[0] != 1:
        raise LocalProtocolError("witness[0] must be 1")
    for i, con in enumerate(r1cs.constraints):
        if _dot(con.a, witness) * _dot(con.b, witness) % R != _dot(con.c, witness):
            return i
    return None


def is_satisfied(r1cs: R1CS, witness: Sequence[int]) -> bool:
    """True when every constraint holds on ``witness``."""
    return first_unsatisfied(r1cs, witness) is None
