"""The Groth16 prover with the r, s randomisation.

    A = alpha + sum(w_i * A_i(tau)) + r * delta                      (G1)
    B = beta  + sum(w_i * B_i(tau)) + s * delta                      (G2, and G1 for C)
    C = sum_{private i}(w_i * L_i) + h(tau) * Z(tau) / delta + s*A + r*B - r*s*delta

Fresh random r and s per proof make proofs of the same witness unlinkable (zero
knowledge); the caller supplies them. ``Prover`` prepares a key and circuit once
(sparse matrices, bases loaded into the backend); its five multi-scalar
multiplications are independent ``MsmJob`` values so a caller may run them in
parallel (``msm_jobs`` then ``assemble``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from protocol.bn254.backend import Backend, G1Bases, G2Bases, get_backend
from protocol.bn254.curve import g1_add, g1_mul, g1_neg, g2_add, g2_mul
from protocol.bn254.fields import R
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import Proof, ProvingKey
from protocol.groth16.qap import Matrices, odd_point_values, row_values
from protocol.r1cs.system import R1CS


@dataclass(frozen=True)
class MsmJobs:
    """The prover's independent MSMs as (bases, scalars) pairs."""

    a: tuple[G1Bases, Sequence[int]]
    b_g1: tuple[G1Bases, Sequence[int]]
    b_g2: tuple[G2Bases, Sequence[int]]
    l: tuple[G1Bases, Sequence[int]]  # noqa: E741 -- the paper's name
    h: tuple[G1Bases, Sequence[int]]


@dataclass(frozen=True)
class MsmResults:
    """The sums computed from ``MsmJobs``."""

    a: G1Affine
    b_g1: G1Affine
    b_g2: G2Affine
    l: G1Affine  # noqa: E741 -- the paper's name
    h: G1Affine


def run_g1(backend: Backend, job: tuple[G1Bases, Sequence[int]]) -> G1Affine:
    """One G1 MSM job."""
    return backend.msm_g1(*job)


def run_g2(backend: Backend, job: tuple[G2Bases, Sequence[int]]) -> G2Affine:
    """One G2 MSM job."""
    return backend.msm_g2(*job)


class Prover:
    """A proving key and its circuit, prepared for repeated proving on one backend."""

    def __init__(self, pk: ProvingKey, r1cs: R1CS, backend: Backend | None = None) -> None:
        self.backend = backend or get_backend()
        self.pk = pk
        self.matrices = Matrices.from_r1cs(r1cs)
        m = self.matrices
        if (pk.n_wires, pk.n_public, pk.domain_size) != (m.n_wires, m.n_public, m.domain_size):
            raise LocalProtocolError(
                f"proving key (wires {pk.n_wires}, public {pk.n_public}, domain "
                f"{pk.domain_size}) does not match the circuit (wires {m.n_wires}, "
                f"public {m.n_public}, domain {m.domain_size})"
            )
        load_g1 = self.backend.load_g1
        self._a = load_g1(pk.a_query)
        self._b_g1 = load_g1(pk.b_g1_query)
        self._b_g2 = self.backend.load_g2(pk.b_g2_query)
        self._l = load_g1(pk.l_query)
        self._h = load_g1(pk.h_query)

    def drop_points(self) -> None:
        """Forget the key's query points here, once the backend keeps them elsewhere.

        ``assemble`` needs only the key's fixed points; a pooled prover's bases live in
        its worker processes, so the driver need not hold a second copy.
        """
        empty: tuple[()] = ()
        self.pk = replace(
            self.pk, a_query=empty, b_g1_query=empty, b_g2_query=empty, h_query=empty, l_query=empty
        )

    def check_witness(self, witness: Sequence[int]) -> None:
        """Raise LocalProtocolError unless ``witness`` is a full witness of field elements."""
        if len(witness) != self.matrices.n_wires:
            raise LocalProtocolError(
                f"witness has {len(witness)} values, the circuit {self.matrices.n_wires} wires"
            )
        if witness[0] != 1:
            raise LocalProtocolError("witness[0] (the one-wire) must be 1")
        if not all(0 <= v < R for v in witness):
            raise LocalProtocolError("witness values must be field elements in [0, R)")

    def msm_jobs(self, witness: Sequence[int]) -> MsmJobs:
        """Check the witness, compute the H scalars, and describe the five MSMs."""
        self.check_witness(witness)
        a, b, c = row_values(self.matrices, witness)
        h = odd_point_values(a, b, c, self.backend)
        private = witness[self.matrices.n_public + 1 :]
        return MsmJobs(
            (self._a, witness),
            (self._b_g1, witness),
            (self._b_g2, witness),
            (self._l, private),
            (self._h, h),
        )

    def run(self, jobs: MsmJobs) -> MsmResults:
        """Run the five MSMs one after another."""
        return MsmResults(
            a=run_g1(self.backend, jobs.a),
            b_g1=run_g1(self.backend, jobs.b_g1),
            b_g2=run_g2(self.backend, jobs.b_g2),
            l=run_g1(self.backend, jobs.l),
            h=run_g1(self.backend, jobs.h),
        )

    def assemble(self, sums: MsmResults, r: int, s: int) -> Proof:
        """Combine the MSM results with the randomisers ``r``, ``s`` into a proof."""
        if not (0 <= r < R and 0 <= s < R):
            raise LocalProtocolError("randomisers r and s must be in [0, R)")
        pk, vk = self.pk, self.pk.vk
        a = g1_add(g1_add(vk.alpha_g1, sums.a), g1_mul(pk.delta_g1, r))
        b = g2_add(g2_add(vk.beta_g2, sums.b_g2), g2_mul(vk.delta_g2, s))
        b1 = g1_add(g1_add(pk.beta_g1, sums.b_g1), g1_mul(pk.delta_g1, s))
        c = g1_add(sums.l, sums.h)
        c = g1_add(c, g1_mul(a, s))
        c = g1_add(c, g1_mul(b1, r))
        c = g1_add(c, g1_neg(g1_mul(pk.delta_g1, r * s % R)))
        return Proof(a, b, c)

    def prove(self, witness: Sequence[int], r: int, s: int) -> Proof:
        """A proof for ``witness``, randomised by ``r`` and ``s``."""
        return self.assemble(self.run(self.msm_jobs(witness)), r, s)


def prove(
    pk: ProvingKey,
    r1cs: R1CS,
    witness: Sequence[int],
    r: int,
    s: int,
    backend: Backend | None = None,
) -> Proof:
    """A Groth16 proof for ``witness`` (circom wire order) with randomisers ``r``, ``s``.

    Callers proving repeatedly with one key should keep a ``Prover`` instead.
    """
    return Prover(pk, r1cs, backend).prove(witness, r, s)
