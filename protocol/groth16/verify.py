"""Groth16 verification: ``e(A, B) = e(alpha, beta) * e(L, gamma) * e(C, delta)``
with ``L = gamma_abc_g1[0] + sum(public[i] * gamma_abc_g1[i + 1])``.

Malformed input (wrong number of public signals, a signal outside Fr, proof
points off their group) raises RemoteProtocolError; a well-formed proof that does
not verify returns False.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.bn254.curve import g1_add, g1_is_on_curve, g1_mul, g1_neg, g2_in_subgroup
from protocol.bn254.fields import R
from protocol.bn254.pairing import pairing_check
from protocol.bn254.types import G1Affine
from protocol.errors import RemoteProtocolError
from protocol.groth16.keys import Proof, VerifyingKey


def check_public(vk: VerifyingKey, public: Sequence[int]) -> None:
    """Raise RemoteProtocolError unless ``public`` has vk.n_public elements of Fr."""
    if len(public) != vk.n_public:
        raise RemoteProtocolError(
            f"{len(public)} public signals given, the verifying key expects {vk.n_public}"
        )
    for i, x in enumerate(public):
        if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < R:
            raise RemoteProtocolError(f"public signal {i} is not an element of Fr")


def check_proof(proof: Proof) -> None:
    """Raise RemoteProtocolError unless A, C are on G1 and B is in the G2 subgroup."""
    if not g1_is_on_curve(proof.a):
        raise RemoteProtocolError("proof point A is not on G1")
    if not g2_in_subgroup(proof.b):
        raise RemoteProtocolError("proof point B is not in G2")
    if not g1_is_on_curve(proof.c):
        raise RemoteProtocolError("proof point C is not on G1")


def public_input_point(vk: VerifyingKey, public: Sequence[int]) -> G1Affine:
    """``gamma_abc_g1[0] + sum(public[i] * gamma_abc_g1[i + 1])``."""
    acc = vk.gamma_abc_g1[0]
    for x, base in zip(public, vk.gamma_abc_g1[1:], strict=True):
        acc = g1_add(acc, g1_mul(base, x))
    return acc


def verify(vk: VerifyingKey, public: Sequence[int], proof: Proof) -> bool:
    """True when ``proof`` proves the circuit of ``vk`` on the public signals ``public``."""
    check_public(vk, public)
    check_proof(proof)
    return pairing_check(
        [
            (g1_neg(proof.a), proof.b),
            (vk.alpha_g1, vk.beta_g2),
            (public_input_point(vk, public), vk.gamma_g2),
            (proof.c, vk.delta_g2),
        ]
    )
