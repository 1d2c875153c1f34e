"""Radix-2 number-theoretic transforms over Fr, on subgroups and their cosets.

``ntt(a, omega)`` evaluates the polynomial with coefficients ``a`` (lowest degree
first) at ``omega^0 .. omega^(n-1)``; ``intt`` interpolates back. The coset forms
evaluate on / interpolate from ``shift * <omega>``. Fr has 2-adicity 28 with
multiplicative generator 5, so domains go up to ``2^28`` points.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.bn254.fields import R
from protocol.errors import LocalProtocolError

# R - 1 = 2^28 * odd (EIP-196 group order); 5 generates Fr* (arkworks, gnark).
TWO_ADICITY = 28
MULTIPLICATIVE_GENERATOR = 5
# The arkworks-style coset shift: the multiplicative generator, outside every
# power-of-two subgroup.
COSET_SHIFT = MULTIPLICATIVE_GENERATOR
_ROOT_2_28 = pow(MULTIPLICATIVE_GENERATOR, (R - 1) >> TWO_ADICITY, R)

if (R - 1) % (1 << TWO_ADICITY) or pow(_ROOT_2_28, 1 << (TWO_ADICITY - 1), R) != R - 1:
    raise ImportError("BN254 Fr two-adic root of unity is not primitive")


def _log2_exact(n: int, what: str) -> int:
    if n < 1 or n & (n - 1):
        raise LocalProtocolError(f"{what}: length {n} is not a power of two")
    log = n.bit_length() - 1
    if log > TWO_ADICITY:
        raise LocalProtocolError(f"{what}: length 2^{log} exceeds Fr's 2-adicity {TWO_ADICITY}")
    return log


def root_of_unity(n: int) -> int:
    """The canonical primitive ``n``-th root of unity in Fr (``n`` a power of two <= 2^28)."""
    log = _log2_exact(n, "root_of_unity")
    return pow(_ROOT_2_28, 1 << (TWO_ADICITY - log), R)


def _check_root(omega: int, n: int, what: str) -> int:
    _log2_exact(n, what)
    omega %= R
    if pow(omega, n, R) != 1 or (n > 1 and pow(omega, n // 2, R) == 1):
        raise LocalProtocolError(f"{what}: omega is not a primitive {n}-th root of unity")
    return omega


def _transform(values: Sequence[int], omega: int, scale: int = 1) -> list[int]:
    # Stockham-style: at each level, residue class r holds the transform of
    # values[r::classes]; two classes merge into one of twice the length. Sums and
    # differences stay unreduced (one bit of growth per level) until the end.
    n = len(values)
    if n == 1:
        return [values[0] * scale % R]
    half = n // 2
    twiddles = [1] * half
    for j in range(1, half):
        twiddles[j] = twiddles[j - 1] * omega % R
    classes = [[a + b, a - b] for a, b in zip(values[:half], values[half:], strict=True)]
    m = 2
    while m < n:
        half = len(classes) // 2
        tw = twiddles[:: n // (2 * m)]
        merged: list[list[int]] = []
        for r in range(half):
            even = classes[r]
            odd = [o * t % R for o, t in zip(classes[r + half], tw, strict=True)]
            merged.append(
                [e + o for e, o in zip(even, odd, strict=True)]
                + [e - o for e, o in zip(even, odd, strict=True)]
            )
        classes = merged
        m *= 2
    return [v * scale % R for v in classes[0]]


def ntt(values: Sequence[int], omega: int) -> list[int]:
    """Evaluations of the polynomial ``values`` at ``omega^i`` for ``i < len(values)``."""
    omega = _check_root(omega, len(values), "ntt")
    return _transform(values, omega)


def intt(values: Sequence[int], omega: int) -> list[int]:
    """Coefficients of the polynomial whose evaluations at ``omega^i`` are ``values``."""
    n = len(values)
    omega = _check_root(omega, n, "intt")
    return _transform(values, pow(omega, -1, R), pow(n, -1, R))


def scale_by_powers(values: Sequence[int], factor: int) -> list[int]:
    """``values[i] * factor^i`` mod R."""
    out = [0] * len(values)
    power = 1
    for i, v in enumerate(values):
        out[i] = v * power % R
        power = power * factor % R
    return out


def coset_ntt(values: Sequence[int], omega: int, shift: int = COSET_SHIFT) -> list[int]:
    """Evaluations of the polynomial ``values`` at ``shift * omega^i``."""
    omega = _check_root(omega, len(values), "coset_ntt")
    if shift % R == 0:
        raise LocalProtocolError("coset_ntt: shift must be non-zero")
    return _transform(scale_by_powers(values, shift % R), omega)


def coset_intt(values: Sequence[int], omega: int, shift: int = COSET_SHIFT) -> list[int]:
    """Coefficients of the polynomial whose evaluations at ``shift * omega^i`` are ``values``."""
    if shift % R == 0:
        raise LocalProtocolError("coset_intt: shift must be non-zero")
    return scale_by_powers(intt(values, omega), pow(shift, -1, R))
