"""The inverse discrete Fourier transform of a list of group elements.

``ifft_points(points)`` is ``[sum_i omega^(-ij) points[i] / n for j < n]`` with
``omega = root_of_unity(n)``: applied to ``[tau^i]`` it gives the Lagrange basis
``[L_j(tau)]`` of the size-``n`` domain without knowing tau, which is what a phase-1
file's preparation for phase 2 computes (snarkjs's ``powersoftau prepare phase2``).

The transform is radix-2 (bit-reversed input, ``log2 n`` levels of butterflies) over
any group given as three operations, so backends run it on their own point types: all
twiddle multiplications of one level go to ``mul_many`` in a single call (a native
backend spreads them over its cores), and the additions stay one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from protocol.bn254.fields import R
from protocol.bn254.ntt import root_of_unity

T = TypeVar("T")


def _bit_reversed(values: Sequence[T]) -> list[T]:
    n = len(values)
    bits = n.bit_length() - 1
    return [values[int(f"{i:0{bits}b}"[::-1], 2) if bits else 0] for i in range(n)]


def ifft_points(
    points: Sequence[T],
    *,
    mul_many: Callable[[list[T], list[int]], list[T]],
    add: Callable[[T, T], T],
    sub: Callable[[T, T], T],
) -> list[T]:
    """The inverse DFT of ``points`` (a power-of-two count, at most the field's 2^28)."""
    n = len(points)
    omega_inv = pow(root_of_unity(n), -1, R)  # raises unless n is a usable power of two
    a = _bit_reversed(points)
    size = 2
    while size <= n:
        half = size // 2
        step = pow(omega_inv, n // size, R)
        twiddles = [1] * half
        for k in range(1, half):
            twiddles[k] = twiddles[k - 1] * step % R
        odd = [s + half + k for s in range(0, n, size) for k in range(1, half)]
        scalars = twiddles[1:] * (n // size)
        products = iter(mul_many([a[i] for i in odd], scalars))
        for s in range(0, n, size):
            for k in range(half):
                lo, hi = s + k, s + k + half
                t = a[hi] if k == 0 else next(products)
                a[lo], a[hi] = add(a[lo], t), sub(a[lo], t)
        size *= 2
    return mul_many(a, [pow(n, -1, R)] * n) if n > 1 else a


def ifft_prefixes(
    points: Sequence[T],
    sizes: Sequence[int],
    *,
    mul_many: Callable[[list[T], list[int]], list[T]],
    add: Callable[[T, T], T],
    sub: Callable[[T, T], T],
) -> list[list[T]]:
    """For each size ``s`` of ``sizes``, the inverse DFT of ``points[:s]``."""
    for s in sizes:
        if s > len(points):
            raise ValueError(f"a prefix of {s} points of {len(points)}")
    return [ifft_points(points[:s], mul_many=mul_many, add=add, sub=sub) for s in sizes]
