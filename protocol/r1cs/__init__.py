"""Rank-1 constraint systems: linear combinations, a builder, and circom's file formats."""

from protocol.r1cs.system import (
    ONE,
    R1CS,
    Constraint,
    ConstraintSystem,
    LinearCombination,
    first_unsatisfied,
    is_satisfied,
)

__all__ = [
    "ONE",
    "R1CS",
    "Constraint",
    "ConstraintSystem",
    "LinearCombination",
    "first_unsatisfied",
    "is_satisfied",
]
