"""EVM calldata for Groth16 proofs: uint256 words in the EIP-196/197 layout.

G2 coordinates go imaginary part first (``x.c1, x.c0, y.c1, y.c0``), the reverse
of snarkjs's proof.json; infinity is encoded as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.bn254.fields import R
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import Proof, VerifyingKey

WORD_BYTES = 32


def g1_words(p: G1Affine) -> tuple[int, int]:
    """``(x, y)``, or ``(0, 0)`` for infinity (EIP-196)."""
    return (0, 0) if p is None else p


def g2_words(p: G2Affine) -> tuple[int, int, int, int]:
    """``(x.c1, x.c0, y.c1, y.c0)``, or zeros for infinity (EIP-197)."""
    if p is None:
        return (0, 0, 0, 0)
    (x0, x1), (y0, y1) = p
    return (x1, x0, y1, y0)


def proof_to_evm_words(proof: Proof) -> tuple[int, ...]:
    """The 8 words ``a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y``."""
    return (*g1_words(proof.a), *g2_words(proof.b), *g1_words(proof.c))


def words_to_bytes(words: Sequence[int]) -> bytes:
    """Concatenated 32-byte big-endian words (ABI encoding of a static uint256 array)."""
    return b"".join(w.to_bytes(WORD_BYTES, "big") for w in words)


def proof_to_evm_bytes(proof: Proof) -> bytes:
    """The 256-byte calldata form of ``proof``."""
    return words_to_bytes(proof_to_evm_words(proof))


def public_to_evm_words(public: Sequence[int]) -> tuple[int, ...]:
    """Public signals as uint256 words; each must be an element of Fr."""
    for i, x in enumerate(public):
        if not 0 <= x < R:
            raise LocalProtocolError(f"public signal {i} is not an element of Fr")
    return tuple(public)


def vk_to_evm_words(vk: VerifyingKey) -> tuple[int, ...]:
    """alpha (2 words), beta, gamma, delta (4 words each, EIP-197 order), then each
    gamma_abc_g1 point (2 words): 14 + 2 * (n_public + 1) words."""
    words = [*g1_words(vk.alpha_g1)]
    for p in (vk.beta_g2, vk.gamma_g2, vk.delta_g2):
        words += g2_words(p)
    for q in vk.gamma_abc_g1:
        words += g1_words(q)
    return tuple(words)
