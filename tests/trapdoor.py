"""A well-formed, non-degenerate Groth16 key whose trapdoor the tests know.

The registry refuses keys anyone could forge from alone (points at infinity, gamma equal
to delta); a test that moves jobs through the contracts without proving a circuit needs
a key that passes those checks and proofs that verify against it. Knowing every scalar
behind the key, a test can make a verifying proof of any statement: exactly the power a
ceremony's toxic waste gives, which is why real keys come from a ceremony.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocol.bn254.curve import G1, G2, g1_mul, g2_mul
from protocol.bn254.fields import R
from protocol.groth16.calldata import proof_to_evm_words, vk_to_evm_words, words_to_bytes
from protocol.groth16.keys import Proof, VerifyingKey


@dataclass(frozen=True)
class TrapdoorKey:
    """A key for ``n_public`` public signals, derived from small fixed scalars."""

    n_public: int
    alpha: int = 5
    beta: int = 7
    gamma: int = 11
    delta: int = 13

    def ic(self, index: int) -> int:
        """The scalar behind gamma_abc_g1[index]."""
        return 17 + 2 * index

    @property
    def vk(self) -> VerifyingKey:
        return VerifyingKey(
            g1_mul(G1, self.alpha),
            g2_mul(G2, self.beta),
            g2_mul(G2, self.gamma),
            g2_mul(G2, self.delta),
            tuple(g1_mul(G1, self.ic(i)) for i in range(self.n_public + 1)),
        )

    @property
    def key_bytes(self) -> bytes:
        """The key as ModelRegistry stores it."""
        return words_to_bytes(vk_to_evm_words(self.vk))

    def proof(self, public: Sequence[int], a: int = 3, b: int = 1) -> Proof:
        """A proof that verifies for ``public``: ``a*b = alpha*beta + x*gamma + c*delta``."""
        assert len(public) == self.n_public
        x = (self.ic(0) + sum(s * self.ic(i + 1) for i, s in enumerate(public))) % R
        c = (a * b - self.alpha * self.beta - x * self.gamma) * pow(self.delta, -1, R) % R
        return Proof(g1_mul(G1, a), g2_mul(G2, b), g1_mul(G1, c))

    def proof_words(self, public: Sequence[int]) -> list[int]:
        """``proof`` as the 8 calldata words submitProof takes."""
        return list(proof_to_evm_words(self.proof(public)))
