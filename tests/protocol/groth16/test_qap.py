"""The R1CS-to-QAP reduction: domain sizes, Lagrange evaluations, the divisibility
identity A(tau)*B(tau) - C(tau) = h(tau)*Z(tau) on satisfying witnesses."""

from __future__ import annotations

import pytest

from protocol.bn254.backend import get_backend
from protocol.bn254.fields import R
from protocol.bn254.ntt import root_of_unity
from protocol.errors import LocalProtocolError
from protocol.groth16.qap import (
    Matrices,
    domain_size,
    lagrange_at,
    odd_point_values,
    row_values,
    wire_evaluations,
)
from protocol.r1cs.system import R1CS
from tests.protocol.circuits import cubic, cubic_witness, product_sum, product_sum_witness

TAU = 0x1F2E3D4C5B6A79880  # a fixed evaluation point: tests only


def test_domain_holds_constraints_and_public_rows() -> None:
    assert domain_size(cubic()) == 8  # 3 constraints + 1 public + one-wire = 5 rows
    assert domain_size(product_sum(4)) == 16  # 4 + 4 + 1 = 9 rows


def test_lagrange_basis() -> None:
    n = 8
    lag = lagrange_at(TAU, n)
    assert sum(lag) % R == 1
    omega = root_of_unity(n)
    assert sum(lj * pow(omega, j, R) for j, lj in enumerate(lag)) % R == TAU % R
    with pytest.raises(LocalProtocolError, match="domain"):
        lagrange_at(omega, n)


@pytest.mark.parametrize(
    ("r1cs", "witness"),
    [(cubic(), cubic_witness(7)), (product_sum(4), product_sum_witness(9, R - 2, 4))],
)
def test_odd_point_values_interpolate_a_b_minus_c(r1cs: R1CS, witness: list[int]) -> None:
    a_tau, b_tau, c_tau, _ = wire_evaluations(r1cs, TAU)
    a, b, c = row_values(Matrices.from_r1cs(r1cs), witness)
    values = odd_point_values(a, b, c, get_backend("pure"))
    n = domain_size(r1cs)
    assert len(values) == n
    odd = lagrange_at(TAU, 2 * n)[1::2]
    at_tau = sum(v * lj for v, lj in zip(values, odd, strict=True)) % R
    at = sum(w * x for w, x in zip(witness, a_tau, strict=True)) % R
    bt = sum(w * x for w, x in zip(witness, b_tau, strict=True)) % R
    ct = sum(w * x for w, x in zip(witness, c_tau, strict=True)) % R
    assert (at * bt - ct) % R == at_tau
    # A witness that breaks a constraint is refused before any value is computed.
    with pytest.raises(LocalProtocolError, match="violates constraint"):
        row_values(Matrices.from_r1cs(r1cs), [witness[0], *witness[1:-1], witness[-1] + 1])


def test_public_rows_make_public_polynomials_independent() -> None:
    # Without the extra rows, wire 1 of cubic() (only in C) would have A_1 = 0.
    a_tau, _, _, _ = wire_evaluations(cubic(), TAU)
    assert all(a_tau[w] for w in (0, 1))


def test_unsatisfying_witness_is_rejected() -> None:
    witness = cubic_witness(7)
    witness[4] = (witness[4] + 1) % R
    with pytest.raises(LocalProtocolError, match="constraint 1"):
        row_values(Matrices.from_r1cs(cubic()), witness)
