"""Plain-value types for BN254 field elements and curve points.

Every value is made of Python ints so that arithmetic stays fast and values can
be compared, hashed and serialised without wrappers.

- ``Fq2`` is ``c0 + c1*u`` with ``u^2 = -1``; ``c0`` is the real part.
- Affine points are ``(x, y)``; ``None`` is the point at infinity.
- Jacobian points are ``(X, Y, Z)`` standing for ``(X/Z^2, Y/Z^3)``; ``Z == 0`` is
  the point at infinity.
"""

from __future__ import annotations

from typing import TypeAlias

Fq2: TypeAlias = tuple[int, int]
G1Affine: TypeAlias = tuple[int, int] | None
G2Affine: TypeAlias = tuple[Fq2, Fq2] | None
G1Jac: TypeAlias = tuple[int, int, int]
G2Jac: TypeAlias = tuple[Fq2, Fq2, Fq2]
