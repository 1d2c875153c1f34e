"""EVM calldata: word order (EIP-197 G2 imaginary part first) and byte layout."""

from __future__ import annotations

import pytest

from node.anvil import AnvilProcess, rpc_call
from protocol.bn254.curve import G1, G2, g1_mul, g2_mul
from protocol.bn254.encoding import g1_to_bytes, g2_to_bytes
from protocol.bn254.fields import P, R
from protocol.errors import LocalProtocolError
from protocol.groth16.calldata import (
    g1_words,
    proof_to_evm_bytes,
    proof_to_evm_words,
    public_to_evm_words,
    vk_to_evm_words,
    words_to_bytes,
)
from protocol.groth16.keys import Proof
from protocol.groth16.prove import prove
from protocol.groth16.snarkjs import proof_to_json
from protocol.groth16.verify import public_input_point
from tests.protocol.groth16.conftest import Circuit

PROOF = Proof(g1_mul(G1, 11), g2_mul(G2, 13), g1_mul(G1, 17))


def test_words_are_proof_json_with_g2_halves_swapped() -> None:
    words = proof_to_evm_words(PROOF)
    j = proof_to_json(PROOF)
    assert len(words) == 8
    assert words[:2] == (int(j["pi_a"][0]), int(j["pi_a"][1]))
    assert words[2:6] == tuple(int(j["pi_b"][k][m]) for k in (0, 1) for m in (1, 0))
    assert words[6:] == (int(j["pi_c"][0]), int(j["pi_c"][1]))


def test_bytes_match_the_precompile_encodings() -> None:
    data = proof_to_evm_bytes(PROOF)
    assert len(data) == 256
    assert data == g1_to_bytes(PROOF.a) + g2_to_bytes(PROOF.b) + g1_to_bytes(PROOF.c)
    assert proof_to_evm_words(Proof(None, None, None)) == (0,) * 8


def test_public_words() -> None:
    assert public_to_evm_words([1, R - 1]) == (1, R - 1)
    assert words_to_bytes(public_to_evm_words([1]))[-1] == 1
    with pytest.raises(LocalProtocolError, match="public signal 1"):
        public_to_evm_words([0, R])


def test_vk_words_layout(multi_public_circuit: Circuit) -> None:
    vk = multi_public_circuit.pk.vk
    data = words_to_bytes(vk_to_evm_words(vk))
    assert len(data) == 448 + 64 * (vk.n_public + 1)
    assert data[64:192] == g2_to_bytes(vk.beta_g2)
    assert data[448:512] == g1_to_bytes(vk.gamma_abc_g1[0])


def _pairing_precompile(anvil: AnvilProcess, words: list[int]) -> int:
    data = "0x" + words_to_bytes(words).hex()
    call = {"to": "0x" + "00" * 19 + "08", "data": data}
    return int(str(rpc_call(anvil.rpc_url, "eth_call", [call, "latest"])), 16)


def test_evm_pairing_precompile_accepts_our_words(
    anvil: AnvilProcess, multi_public_circuit: Circuit
) -> None:
    c = multi_public_circuit
    proof = prove(c.pk, c.r1cs, c.witness, 0x1234567, 0x89ABCDEF)
    vk_words = vk_to_evm_words(c.pk.vk)
    alpha, beta, gamma, delta = vk_words[:2], vk_words[2:6], vk_words[6:10], vk_words[10:14]
    words = proof_to_evm_words(proof)
    a, b, c_words = words[:2], words[2:6], words[6:]

    def check(public: list[int]) -> int:
        vk_x = g1_words(public_input_point(c.pk.vk, public))
        neg_a = [a[0], (P - a[1]) % P]
        return _pairing_precompile(
            anvil, [*neg_a, *b, *alpha, *beta, *vk_x, *gamma, *c_words, *delta]
        )

    assert check(c.public) == 1
    assert check([c.public[0] + 1, *c.public[1:]]) == 0
