"""Groth16 with the native backend: the same keys and proofs as the pure reference,
checked by our verifier and by snarkjs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol.bn254.backend import PureBackend
from protocol.groth16.prove import Prover
from protocol.groth16.setup import setup
from protocol.groth16.snarkjs import proof_to_json, public_to_json, vk_to_json
from protocol.groth16.verify import verify
from tests.protocol.circuits import small_values
from tests.protocol.groth16.conftest import Circuit, seeded
from tests.protocol.snarkjs_cli import run_snarkjs

fast = pytest.importorskip(
    "protocol.bn254.fast", reason="the native wheel (extra 'fast': zksnake) is not installed"
)

R_1, S_1 = 0x5EED1, 0x5EED2  # fixed randomisers: tests only


@pytest.fixture(scope="module")
def mixed_circuit() -> Circuit:
    r1cs, witness = small_values(200, n_public=3)
    return Circuit(r1cs, setup(r1cs, seeded("backends"), PureBackend()), witness)


def test_setups_agree(mixed_circuit: Circuit) -> None:
    c = mixed_circuit
    assert setup(c.r1cs, seeded("backends"), fast.ZksnakeBackend()) == c.pk


def test_proofs_are_identical_and_verify(mixed_circuit: Circuit) -> None:
    c = mixed_circuit
    pure = Prover(c.pk, c.r1cs, PureBackend()).prove(c.witness, R_1, S_1)
    native = Prover(c.pk, c.r1cs, fast.ZksnakeBackend()).prove(c.witness, R_1, S_1)
    assert native == pure
    assert verify(c.pk.vk, c.public, native)
    bad = list(c.public)
    bad[0] += 1
    assert not verify(c.pk.vk, bad, native)


@pytest.mark.snarkjs
def test_snarkjs_verifies_native_and_pure_proofs(tmp_path: Path, mixed_circuit: Circuit) -> None:
    c = mixed_circuit
    (tmp_path / "vk.json").write_text(json.dumps(vk_to_json(c.pk.vk)))
    (tmp_path / "public.json").write_text(json.dumps(public_to_json(c.public)))
    for backend in (fast.ZksnakeBackend(), PureBackend()):
        proof = Prover(c.pk, c.r1cs, backend).prove(c.witness, S_1, R_1)
        (tmp_path / "proof.json").write_text(json.dumps(proof_to_json(proof)))
        ok = run_snarkjs("groth16", "verify", "vk.json", "public.json", "proof.json", cwd=tmp_path)
        assert ok.returncode == 0, backend.name + ok.stdout + ok.stderr
        assert "OK!" in ok.stdout
