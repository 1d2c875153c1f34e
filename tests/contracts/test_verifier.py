"""The Groth16 verifier library against real snarkjs proofs, through VerifierHarness."""

from __future__ import annotations

import pytest

from protocol.bn254.fields import P, R
from tests.contracts.circuits import ProvedCircuit, Snarkjs, Statement, snarkjs_toy_circuit
from tests.contracts.deployment import Deployment

pytestmark = pytest.mark.slow


def _verify(chain: Deployment, n_public: int, statement: Statement) -> bool:
    key = chain.registry.functions.getModel(chain.models[n_public]).call()[4]
    harness = chain.harness.functions.verify
    return bool(harness(key, list(statement.proof), statement.commitment, statement.outputs).call())


@pytest.mark.parametrize("n_public", [1, 3, 11])
def test_real_proofs_verify(chain: Deployment, n_public: int) -> None:
    for statement in chain.circuits[n_public].statements:
        assert _verify(chain, n_public, statement)


@pytest.mark.parametrize("word", range(8))
def test_any_changed_proof_word_fails(chain: Deployment, word: int) -> None:
    good = chain.circuits[3].statements[0]
    proof = list(good.proof)
    proof[word] = (proof[word] + 1) % P  # off the curve: the precompile fails, verify is false
    assert not _verify(chain, 3, Statement(good.public, tuple(proof)))


def test_negated_a_is_a_different_proof(chain: Deployment) -> None:
    good = chain.circuits[3].statements[0]
    proof = list(good.proof)
    proof[1] = P - proof[1]  # still on the curve
    assert not _verify(chain, 3, Statement(good.public, tuple(proof)))
    proof[1] = good.proof[1] + P  # the same point written with a non-canonical coordinate
    assert not _verify(chain, 3, Statement(good.public, tuple(proof)))


def test_signals_at_or_above_r_are_rejected(chain: Deployment) -> None:
    good = chain.circuits[3].statements[0]
    for index in range(3):
        public = list(good.public)
        public[index] += R  # aliases the same scalar: must not verify
        assert not _verify(chain, 3, Statement(tuple(public), good.proof))


def test_signal_count_must_match_the_key(chain: Deployment) -> None:
    good = chain.circuits[3].statements[0]
    assert not _verify(chain, 3, Statement(good.public[:2], good.proof))
    assert not _verify(chain, 3, Statement((*good.public, 0), good.proof))
    assert not _verify(chain, 1, good)


def test_proof_of_another_circuit_fails(chain: Deployment) -> None:
    one = chain.circuits[1].statements[0]
    three = chain.circuits[3].statements[0]
    assert not _verify(chain, 3, Statement(three.public, one.proof))


@pytest.fixture(scope="session")
def snarkjs_circuit(tmp_path_factory: pytest.TempPathFactory) -> ProvedCircuit:
    """The 3-signal toy circuit set up and proved by snarkjs instead of protocol.groth16."""
    snarkjs = Snarkjs(tmp_path_factory.mktemp("snarkjs"))
    return snarkjs_toy_circuit(snarkjs, 3, 1)[0]


@pytest.mark.snarkjs
def test_snarkjs_keys_and_proofs_verify_too(
    chain: Deployment, snarkjs_circuit: ProvedCircuit
) -> None:
    model_id = chain.register(snarkjs_circuit, chain.dave)
    key = chain.registry.functions.getModel(model_id).call()[4]
    (statement,) = snarkjs_circuit.statements
    verify = chain.harness.functions.verify
    assert verify(key, list(statement.proof), statement.commitment, statement.outputs).call()
    ours = chain.circuits[3].statements[0]
    assert ours.public == statement.public  # same circuit and witness, different keys
    assert not verify(key, list(ours.proof), ours.commitment, ours.outputs).call()
