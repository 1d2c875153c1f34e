"""Groth16 end to end on small circuits: completeness, zero-knowledge randomisation,
soundness against tampering, and malformed input."""

from __future__ import annotations

from dataclasses import replace

import pytest

from protocol.bn254.curve import G1, G2, g1_add, g1_mul, g2_is_on_curve, g2_mul
from protocol.bn254.fields import P, R, fq2_add, fq2_mul, fq2_sqr, fq2_sqrt
from protocol.bn254.g2 import B2
from protocol.bn254.types import G2Affine
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.groth16.keys import Proof
from protocol.groth16.prove import Prover, prove
from protocol.groth16.qap import lagrange_at, wire_evaluations
from protocol.groth16.setup import ToxicWaste, setup
from protocol.groth16.verify import verify
from tests.protocol.circuits import cubic_witness, product_sum
from tests.protocol.groth16.conftest import Circuit, seeded

R_1, S_1 = 0x1234567, 0x89ABCDEF  # fixed randomisers: tests only
R_2, S_2 = 0x2468ACE, 0x13579BDF


def test_honest_proofs_verify(cubic_circuit: Circuit, multi_public_circuit: Circuit) -> None:
    for circ in (cubic_circuit, multi_public_circuit):
        proof = prove(circ.pk, circ.r1cs, circ.witness, R_1, S_1)
        assert verify(circ.pk.vk, circ.public, proof)


def test_proofs_of_one_witness_differ(cubic_circuit: Circuit) -> None:
    c = cubic_circuit
    prover = Prover(c.pk, c.r1cs)
    first = prover.prove(c.witness, R_1, S_1)
    second = prover.prove(c.witness, R_2, S_2)
    assert first.a != second.a
    assert first.b != second.b
    assert first.c != second.c
    assert verify(c.pk.vk, c.public, second)


def test_tampered_public_signal_fails(multi_public_circuit: Circuit) -> None:
    c = multi_public_circuit
    proof = prove(c.pk, c.r1cs, c.witness, R_1, S_1)
    for i in (0, 3):
        public = list(c.public)
        public[i] = (public[i] + 1) % R
        assert not verify(c.pk.vk, public, proof)


def test_swapped_and_mixed_points_fail(cubic_circuit: Circuit) -> None:
    c = cubic_circuit
    proof = prove(c.pk, c.r1cs, c.witness, R_1, S_1)
    other = prove(c.pk, c.r1cs, c.witness, R_2, S_2)
    assert not verify(c.pk.vk, c.public, Proof(proof.c, proof.b, proof.a))
    assert not verify(c.pk.vk, c.public, Proof(proof.a, other.b, proof.c))


def test_proof_of_another_statement_fails(cubic_circuit: Circuit) -> None:
    c = cubic_circuit
    proof_for_4 = prove(c.pk, c.r1cs, cubic_witness(4), R_1, S_1)
    assert not verify(c.pk.vk, c.public, proof_for_4)


def test_proof_against_another_key_fails(cubic_circuit: Circuit) -> None:
    c = cubic_circuit
    proof = prove(c.pk, c.r1cs, c.witness, R_1, S_1)
    other_setup = setup(c.r1cs, seeded("cubic, second ceremony"))
    assert not verify(other_setup.vk, c.public, proof)


def test_key_of_another_circuit_fails(multi_public_circuit: Circuit) -> None:
    c = multi_public_circuit
    proof = prove(c.pk, c.r1cs, c.witness, R_1, S_1)
    # Same shape, but the third public signal is 3*a instead of 2*a.
    r1cs = product_sum(4)
    con = r1cs.constraints[2]
    altered = replace(r1cs, constraints=(*r1cs.constraints[:2], replace(con, b={0: 5})))
    other_pk = setup(altered, seeded("product-sum"))
    assert not verify(other_pk.vk, c.public, proof)


def _twist_point_outside_g2() -> G2Affine:
    x0 = 1
    while True:
        x = (x0, 1)
        y = fq2_sqrt(fq2_add(fq2_mul(fq2_sqr(x), x), B2))
        if y is not None:
            return (x, y)
        x0 += 1


def test_malformed_inputs_raise(cubic_circuit: Circuit) -> None:
    c = cubic_circuit
    vk = c.pk.vk
    proof = prove(c.pk, c.r1cs, c.witness, R_1, S_1)
    with pytest.raises(RemoteProtocolError, match="public signals"):
        verify(vk, [*c.public, 1], proof)
    with pytest.raises(RemoteProtocolError, match="public signal 0"):
        verify(vk, [R], proof)
    assert proof.a is not None
    with pytest.raises(RemoteProtocolError, match="A is not on G1"):
        verify(vk, c.public, replace(proof, a=(proof.a[0], (proof.a[1] + 1) % P)))
    outside = _twist_point_outside_g2()
    assert g2_is_on_curve(outside)
    with pytest.raises(RemoteProtocolError, match="B is not in G2"):
        verify(vk, c.public, replace(proof, b=outside))


def test_prover_rejects_bad_witnesses_and_keys(
    cubic_circuit: Circuit, multi_public_circuit: Circuit
) -> None:
    c = cubic_circuit
    with pytest.raises(LocalProtocolError, match="witness has 4 values"):
        prove(c.pk, c.r1cs, c.witness[:-1], R_1, S_1)
    bad = list(c.witness)
    bad[3] += 1
    with pytest.raises(LocalProtocolError, match="violates constraint 0"):
        prove(c.pk, c.r1cs, bad, R_1, S_1)
    with pytest.raises(LocalProtocolError, match="one-wire"):
        prove(c.pk, c.r1cs, [2, *c.witness[1:]], R_1, S_1)
    with pytest.raises(LocalProtocolError, match="does not match the circuit"):
        prove(multi_public_circuit.pk, c.r1cs, c.witness, R_1, S_1)
    with pytest.raises(LocalProtocolError, match="randomisers"):
        prove(c.pk, c.r1cs, c.witness, R, S_1)


def test_keys_hold_the_documented_points() -> None:
    toxic = seeded("cubic")
    circ = product_sum(3)
    pk = setup(circ, toxic)
    a, b, c, _ = wire_evaluations(circ, toxic.tau)
    assert pk.vk.alpha_g1 == g1_mul(G1, toxic.alpha)
    assert pk.a_query[4] == g1_mul(G1, a[4])
    assert pk.b_g1_query[5] == g1_mul(G1, b[5])
    odd = lagrange_at(toxic.tau, 2 * pk.domain_size)[1::2]
    assert pk.h_query[2] == g1_mul(G1, odd[2] * pow(toxic.delta, -1, R))
    mixed = (toxic.beta * a[1] + toxic.alpha * b[1] + c[1]) * pow(toxic.gamma, -1, R)
    assert pk.vk.gamma_abc_g1[1] == g1_mul(G1, mixed)
    # (beta*A + alpha*B + C)/delta at the first private wire
    private = (toxic.beta * a[4] + toxic.alpha * b[4] + c[4]) * pow(toxic.delta, -1, R)
    assert pk.l_query[0] == g1_mul(G1, private)
    assert g1_add(pk.delta_g1, pk.delta_g1) == g1_mul(G1, 2 * toxic.delta)
    assert pk.vk.gamma_g2 == g2_mul(G2, toxic.gamma)


def test_toxic_waste_derivation() -> None:
    one = ToxicWaste.from_entropy(b"a" * 32)
    assert one == ToxicWaste.from_entropy(b"a" * 32)
    assert one != ToxicWaste.from_entropy(b"b" * 32)
    scalars = {one.tau, one.alpha, one.beta, one.gamma, one.delta}
    assert len(scalars) == 5
    assert all(0 < x < R for x in scalars)
    assert "secret" in repr(one)
    assert str(one.tau) not in repr(one)
    with pytest.raises(LocalProtocolError):
        ToxicWaste.from_entropy(b"short")
    with pytest.raises(LocalProtocolError):
        ToxicWaste(0, 1, 1, 1, 1)
