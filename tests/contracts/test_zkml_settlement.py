"""A real inference proof settles on-chain: the digits MLP, compiled, set up and proved
by the proving core, registered with its true hashes, and paid for by JobMarket.

This is the chain-side half of the whole product: the requester's Poseidon input
commitment goes on-chain, the prover's outputs are emitted by the contract only
after the Groth16 check passes, and a tampered output is refused.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from protocol import zkml
from protocol.groth16.calldata import proof_to_evm_words, vk_to_evm_words
from protocol.groth16.prove import prove
from protocol.groth16.setup import ToxicWaste, setup
from protocol.r1cs.binfmt import r1cs_to_bytes
from protocol.r1cs.system import R
from tests.contracts.chain import assert_reverts, events, send
from tests.contracts.deployment import (
    ACCEPT_WINDOW,
    COLLATERAL,
    FEE,
    MAX_FEE,
    PROOF_WINDOW,
    STAKE,
    Deployment,
    vk_bytes,
)

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parents[2] / "devnet" / "models"


@dataclass(frozen=True)
class ProvedInference:
    model: zkml.CompiledModel
    onnx_sha256: bytes
    circuit_hash: bytes
    vk_words: tuple[int, ...]
    commitment: int
    outputs_q: list[int]
    public: list[int]
    proof: tuple[int, ...]


@pytest.fixture(scope="module")
def inference() -> ProvedInference:
    onnx_bytes = (MODELS / "digits_mlp.onnx").read_bytes()
    samples = np.load(MODELS / "digits_mlp_calibration.npy")
    model = zkml.compile_model(onnx_bytes, samples)
    pk = setup(model.r1cs, ToxicWaste.from_entropy(b"zkml settlement test seed, never production"))
    x = np.asarray(json.loads((MODELS / "digits_mlp_input.json").read_text())["input"])
    witness = model.generate_witness(model.quantize_input(x), salt=secrets.randbelow(R))
    proof = prove(pk, model.r1cs, witness.values, secrets.randbelow(R), secrets.randbelow(R))
    return ProvedInference(
        model=model,
        onnx_sha256=hashlib.sha256(onnx_bytes).digest(),
        circuit_hash=hashlib.sha256(r1cs_to_bytes(model.r1cs)).digest(),
        vk_words=tuple(vk_to_evm_words(pk.vk)),
        commitment=witness.commitment,
        outputs_q=list(witness.outputs_q),
        public=list(witness.public),
        proof=tuple(proof_to_evm_words(proof)),
    )


def _register(chain: Deployment, inference: ProvedInference) -> int:
    return chain.register_from_ceremony(
        chain.alice,
        inference.onnx_sha256,
        inference.circuit_hash,
        b"\x00" * 32,
        len(inference.public),
        inference.model.r1cs.n_constraints,
        vk_bytes(inference.vk_words),
    )


def _create_and_accept(chain: Deployment, model_id: int, commitment: int) -> int:
    m = chain.market
    call = m.functions.createJob(model_id, commitment, COLLATERAL, ACCEPT_WINDOW, PROOF_WINDOW)
    job_id = int(call.call({"from": chain.alice.address, "value": MAX_FEE}))
    send(chain.w3, call, chain.alice.address, MAX_FEE)
    chain.accepted(job_id, chain.bob)
    return job_id


def test_a_real_inference_proof_is_paid_and_its_outputs_emitted(
    chain: Deployment, inference: ProvedInference
) -> None:
    model_id = _register(chain, inference)
    job_id = _create_and_accept(chain, model_id, inference.commitment)
    outputs = inference.public[1:]
    call = chain.market.functions.submitProof(job_id, list(inference.proof), outputs)
    (event,) = events(chain.market, "ProofAccepted", send(chain.w3, call, chain.bob.address))

    emitted = [v - R if v > R // 2 else v for v in event["outputs"]]
    assert emitted == inference.outputs_q
    assert chain.market.functions.balanceOf(chain.bob.address).call() == FEE
    assert chain.market.functions.balanceOf(chain.alice.address).call() == MAX_FEE - FEE
    assert chain.stake_of(chain.bob) == (STAKE, 0)
    registered = chain.registry.functions.getModel(model_id).call()
    assert inference.onnx_sha256 in registered
    assert inference.circuit_hash in registered


def test_a_wrong_output_or_another_input_commitment_is_refused(
    chain: Deployment, inference: ProvedInference
) -> None:
    model_id = _register(chain, inference)
    m = chain.market
    job_id = _create_and_accept(chain, model_id, inference.commitment)
    forged = inference.public[1:]
    winner = int(np.argmax(inference.outputs_q))
    forged[winner] = (forged[winner] - 1000) % R  # claim a different, lower logit
    assert_reverts(
        m,
        "InvalidProof",
        lambda: m.functions.submitProof(job_id, list(inference.proof), forged).transact(
            {"from": chain.bob.address}
        ),
    )
    other_job = _create_and_accept(chain, model_id, (inference.commitment + 1) % R)
    assert_reverts(
        m,
        "InvalidProof",
        lambda: m.functions.submitProof(
            other_job, list(inference.proof), inference.public[1:]
        ).transact({"from": chain.bob.address}),
    )
    assert m.functions.balanceOf(chain.bob.address).call() == 0
