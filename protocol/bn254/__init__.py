"""BN254 (alt_bn128) arithmetic as Ethereum's precompiles define it.

Fields (``fields``), the groups G1 and G2 (``curve``, ``g2``), EVM encodings
(``encoding``), the pairing (``pairing``, the only py_ecc user), multi-scalar
multiplication (``msm``, on top of ``batch_affine``), NTTs over Fr (``ntt``),
fixed-base batches (``fixed_base``) and a pluggable fast path (``backend``).
"""

from __future__ import annotations

from protocol.bn254.fields import P, R
from protocol.bn254.types import Fq2, G1Affine, G1Jac, G2Affine, G2Jac

__all__ = ["Fq2", "G1Affine", "G1Jac", "G2Affine", "G2Jac", "P", "R"]
