"""From an R1CS to a quadratic arithmetic program over a radix-2 domain.

Row j of the QAP is the point ``omega^j`` of the smallest power-of-two domain
holding ``n_constraints + n_public + 1`` rows. As in snarkjs, after the circuit's
constraints come one row per public signal and one for the one-wire, each with
``A = that wire, B = 0, C = 0``; they make the public wires' polynomials linearly
independent, which Groth16's soundness needs. The setup evaluates every wire's
polynomials at tau; the prover evaluates ``A*B - C`` on the odd points of the doubled
domain, where the key's H points (odd Lagrange points over delta) turn it into
``h(tau) * Z(tau) / delta`` without a division (see ``odd_point_values``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocol.bn254.backend import Backend
from protocol.bn254.fields import R, fr_batch_inv, fr_inv
from protocol.bn254.ntt import root_of_unity, scale_by_powers
from protocol.errors import LocalProtocolError
from protocol.r1cs.system import R1CS

Row = tuple[tuple[int, ...], tuple[int, ...]]  # (wires, coefficients) of one side


def domain_size(r1cs: R1CS) -> int:
    """The smallest power of two holding the constraints plus the public rows."""
    rows = r1cs.n_constraints + r1cs.n_public_total + 1
    n = 2
    while n < rows:
        n *= 2
    return n


def lagrange_at(tau: int, n: int) -> list[int]:
    """``L_j(tau)`` for the Lagrange basis of ``<omega_n>``, j = 0..n-1."""
    omega = root_of_unity(n)
    z_tau = (pow(tau, n, R) - 1) % R
    if z_tau == 0:
        raise LocalProtocolError("tau lies in the evaluation domain")
    # L_j(x) = omega^j * (x^n - 1) / (n * (x - omega^j))
    powers = [1] * n
    for j in range(1, n):
        powers[j] = powers[j - 1] * omega % R
    inverses = fr_batch_inv([(tau - w) % R for w in powers])
    scale = z_tau * fr_inv(n) % R
    return [scale * w % R * inv % R for w, inv in zip(powers, inverses, strict=True)]


def wire_evaluations(r1cs: R1CS, tau: int) -> tuple[list[int], list[int], list[int], int]:
    """Per wire ``(A_i(tau), B_i(tau), C_i(tau))`` as three lists, and ``Z(tau)``."""
    n = domain_size(r1cs)
    lag = lagrange_at(tau, n)
    a, b, c = ([0] * r1cs.n_wires for _ in range(3))
    for j, con in enumerate(r1cs.constraints):
        lj = lag[j]
        for side, acc in ((con.a, a), (con.b, b), (con.c, c)):
            for wire, coeff in side.items():
                acc[wire] = (acc[wire] + coeff * lj) % R
    for wire in range(r1cs.n_public_total + 1):
        a[wire] = (a[wire] + lag[r1cs.n_constraints + wire]) % R
    return a, b, c, (pow(tau, n, R) - 1) % R


@dataclass(frozen=True)
class Matrices:
    """The R1CS in row-major sparse form, prepared once for repeated proving."""

    n_wires: int
    n_public: int
    domain_size: int
    a: tuple[Row, ...]
    b: tuple[Row, ...]
    c: tuple[Row, ...]

    @classmethod
    def from_r1cs(cls, r1cs: R1CS) -> Matrices:
        cons = r1cs.constraints
        return cls(
            n_wires=r1cs.n_wires,
            n_public=r1cs.n_public_total,
            domain_size=domain_size(r1cs),
            a=_rows(con.a for con in cons),
            b=_rows(con.b for con in cons),
            c=_rows(con.c for con in cons),
        )


def _rows(sides: Iterable[Mapping[int, int]]) -> tuple[Row, ...]:
    return tuple((tuple(terms), tuple(terms.values())) for terms in sides)


def _evaluate(rows: Sequence[Row], witness: Sequence[int]) -> list[int]:
    out = []
    for wires, coeffs in rows:
        if len(wires) == 1:
            out.append(coeffs[0] * witness[wires[0]] % R)
        else:
            out.append(sum(k * witness[w] for w, k in zip(wires, coeffs, strict=True)) % R)
    return out


def row_values(m: Matrices, witness: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """``<A_j, w>``, ``<B_j, w>``, ``<C_j, w>`` for every domain row (zero-padded).

    Raises LocalProtocolError naming the first constraint the witness violates.
    """
    a, b, c = _evaluate(m.a, witness), _evaluate(m.b, witness), _evaluate(m.c, witness)
    for j, (x, y, z) in enumerate(zip(a, b, c, strict=True)):
        if x * y % R != z:
            raise LocalProtocolError(f"witness violates constraint {j}")
    pad = m.domain_size - len(a)
    a += witness[: m.n_public + 1]
    a += [0] * (m.domain_size - len(a))
    return a, b + [0] * pad, c + [0] * pad


def odd_point_values(
    a: Sequence[int], b: Sequence[int], c: Sequence[int], backend: Backend
) -> list[int]:
    """``A*B - C`` at the odd points ``omega_2n^(2j+1)`` of the doubled domain, j < n.

    ``A*B - C`` has degree below 2n - 1 and vanishes on the even points (the domain
    itself), so its value at tau is ``sum_j v_j * L^(2n)_(2j+1)(tau)``: the proving key's
    h_query holds those Lagrange points over delta (snarkjs's convention), and these
    values are the H multi-scalar multiplication's scalars. The odd points are the coset
    ``omega_2n * <omega_n>``: interpolate, scale coefficient i by ``omega_2n^i``, evaluate.
    """
    shift = root_of_unity(2 * len(a))
    on_coset = [
        backend.ntt(scale_by_powers(backend.ntt(rows, inverse=True), shift)) for rows in (a, b, c)
    ]
    return [(x * y - z) % R for x, y, z in zip(*on_coset, strict=True)]
