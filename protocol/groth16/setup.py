"""The circuit-specific Groth16 setup.

The toxic waste (tau, alpha, beta, gamma, delta) must be random and forgotten:
anyone who learns it can forge proofs for this circuit. ``setup`` keeps no
reference to it; the caller drops its ``ToxicWaste`` object once the keys exist.
The keys follow snarkjs's semantics: ``gamma_abc_g1[i] = (beta*A_i + alpha*B_i +
C_i)(tau) / gamma`` for the one-wire and public wires, ``l_query`` the same over
delta for the other wires, and ``h_query[j] = L_(2j+1)(tau) / delta`` for the
Lagrange basis of the doubled domain (its odd points; see ``qap.odd_point_values``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from protocol.bn254.backend import Backend, get_backend
from protocol.bn254.curve import G1, G2
from protocol.bn254.fields import R, fr_inv
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import ProvingKey, VerifyingKey
from protocol.groth16.qap import domain_size, lagrange_at, wire_evaluations
from protocol.r1cs.system import R1CS

MIN_ENTROPY_BYTES = 32
T = TypeVar("T")
_LABEL = b"provernet/groth16/toxic-waste/v1/"


@dataclass(frozen=True, repr=False)
class ToxicWaste:
    """The setup's secret scalars, all nonzero elements of Fr."""

    tau: int
    alpha: int
    beta: int
    gamma: int
    delta: int

    def __post_init__(self) -> None:
        for name in ("tau", "alpha", "beta", "gamma", "delta"):
            if not 0 < getattr(self, name) < R:
                raise LocalProtocolError(f"toxic waste {name} must be in [1, R)")

    def __repr__(self) -> str:
        return "ToxicWaste(<secret>)"

    @classmethod
    def from_entropy(cls, entropy: bytes) -> ToxicWaste:
        """Derive the five scalars from ``entropy`` (at least 32 bytes).

        Production callers pass ``os.urandom(64)``; only tests pass a fixed seed.
        """
        names = ("tau", "alpha", "beta", "gamma", "delta")
        return cls(**{name: derive_scalar(_LABEL + name.encode(), entropy) for name in names})


def derive_scalar(label: bytes, entropy: bytes, minimum: int = 1) -> int:
    """A secret scalar in ``[minimum, R)`` from ``entropy`` (at least 32 bytes) under ``label``.

    512-bit hash outputs reduced mod R: bias below 2^-250; values below ``minimum`` are
    skipped with the next counter byte.
    """
    if len(entropy) < MIN_ENTROPY_BYTES:
        raise LocalProtocolError(f"need at least {MIN_ENTROPY_BYTES} bytes of entropy")
    counter = 0
    while True:
        digest = hashlib.sha512(label + bytes([counter]) + entropy).digest()
        value = int.from_bytes(digest, "big") % R
        if value >= minimum:
            return value
        counter += 1


def setup(r1cs: R1CS, toxic: ToxicWaste, backend: Backend | None = None) -> ProvingKey:
    """Generate the proving key (holding the verifying key) for ``r1cs``."""
    backend = backend or get_backend()
    n = domain_size(r1cs)
    n_pub = r1cs.n_public_total
    a, b, c, _ = wire_evaluations(r1cs, toxic.tau)
    gamma_inv, delta_inv = fr_inv(toxic.gamma), fr_inv(toxic.delta)
    beta, alpha = toxic.beta, toxic.alpha
    mixed = [(beta * ai + alpha * bi + ci) % R for ai, bi, ci in zip(a, b, c, strict=True)]
    ic = [m * gamma_inv % R for m in mixed[: n_pub + 1]]
    l_scalars = [m * delta_inv % R for m in mixed[n_pub + 1 :]]
    h_scalars = [v * delta_inv % R for v in lagrange_at(toxic.tau, 2 * n)[1::2]]
    g1_scalars = [toxic.alpha, toxic.beta, toxic.delta, *ic, *a, *b, *h_scalars, *l_scalars]
    g1 = backend.g1_fixed_base_batch(G1, g1_scalars)
    g2 = backend.g2_fixed_base_batch(G2, [toxic.beta, toxic.gamma, toxic.delta, *b])
    n_wires = r1cs.n_wires
    ic_g1, a_query, b_g1_query, h_query, l_query = _split(
        g1[3:], [n_pub + 1, n_wires, n_wires, n, n_wires - n_pub - 1]
    )
    vk = VerifyingKey(g1[0], g2[0], g2[1], g2[2], ic_g1)
    return ProvingKey(
        vk=vk,
        beta_g1=g1[1],
        delta_g1=g1[2],
        a_query=a_query,
        b_g1_query=b_g1_query,
        b_g2_query=tuple(g2[3:]),
        h_query=h_query,
        l_query=l_query,
        domain_size=n,
        n_public=n_pub,
    )


def _split(items: Sequence[T], sizes: Sequence[int]) -> list[tuple[T, ...]]:
    out, start = [], 0
    for size in sizes:
        out.append(tuple(items[start : start + size]))
        start += size
    return out
