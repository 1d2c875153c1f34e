"""A pluggable fast path for the heavy BN254 operations of a prover.

``Backend`` is the interface; ``PureBackend`` is the pure-Python reference that
every other backend is tested against. Bases are loaded once (``load_g1`` /
``load_g2``) and reused across MSMs, so a native backend can keep its own point
representation. ``ntt(..., coset=True)`` works on the coset
``COSET_SHIFT * <omega>`` with ``omega = root_of_unity(len(values))``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from protocol.bn254.curve import g1_add, g1_mul, g1_neg
from protocol.bn254.fixed_base import g1_fixed_base_batch, g2_fixed_base_batch
from protocol.bn254.g2 import g2_add, g2_mul, g2_neg
from protocol.bn254.msm import msm_g1, msm_g2
from protocol.bn254.ntt import COSET_SHIFT, coset_intt, coset_ntt, intt, ntt, root_of_unity
from protocol.bn254.pairing import pairing_check
from protocol.bn254.point_fft import ifft_prefixes
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError

# ``mapper(work, parts)`` is ``[work(part) for part in parts]``, each part possibly in
# another process (so ``work`` is a module-level function and parts are picklable): the
# node passes one that runs parts in processes, since protocol/ does no I/O.
Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


class G1Bases(Protocol):
    """Backend-specific G1 bases, opaque to callers; ``len`` is the point count."""

    def __len__(self) -> int: ...


class G2Bases(Protocol):
    """Backend-specific G2 bases, opaque to callers; ``len`` is the point count."""

    def __len__(self) -> int: ...


class Backend(Protocol):
    """The operations a prover and a setup spend their time in."""

    name: str

    def load_g1(self, points: Sequence[G1Affine]) -> G1Bases: ...
    def load_g2(self, points: Sequence[G2Affine]) -> G2Bases: ...
    def msm_g1(self, bases: G1Bases, scalars: Sequence[int]) -> G1Affine: ...
    def msm_g2(self, bases: G2Bases, scalars: Sequence[int]) -> G2Affine: ...
    def ntt(
        self, values: Sequence[int], *, inverse: bool = False, coset: bool = False
    ) -> list[int]: ...
    def g1_fixed_base_batch(self, base: G1Affine, scalars: Sequence[int]) -> list[G1Affine]: ...
    def g2_fixed_base_batch(self, base: G2Affine, scalars: Sequence[int]) -> list[G2Affine]: ...
    def pairing_check(self, pairs: Sequence[tuple[G1Affine, G2Affine]]) -> bool:
        """Whether the product of ``e(P_i, Q_i)`` is one (the EIP-197 question)."""
        ...

    def scale_g1(self, points: Sequence[G1Affine], k: int) -> list[G1Affine]:
        """Every point times the one scalar ``k``."""
        ...

    def group_sums_g1(
        self, points: Sequence[G1Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G1Affine]:
        """For every group of (index, scalar) terms, ``sum(k * points[index])``."""
        ...

    def group_sums_g2(
        self, points: Sequence[G2Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G2Affine]:
        """``group_sums_g1`` over G2."""
        ...

    def ifft_g1(self, points: Sequence[G1Affine], sizes: Sequence[int]) -> list[list[G1Affine]]:
        """For each size ``s`` (a power of two), the inverse DFT of ``points[:s]``
        (``protocol.bn254.point_fft``)."""
        ...

    def ifft_g2(self, points: Sequence[G2Affine], sizes: Sequence[int]) -> list[list[G2Affine]]:
        """``ifft_g1`` over G2."""
        ...


@dataclass(frozen=True)
class _PureG1Bases:
    points: tuple[G1Affine, ...]

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class _PureG2Bases:
    points: tuple[G2Affine, ...]

    def __len__(self) -> int:
        return len(self.points)


class PureBackend:
    """The pure-Python reference backend."""

    name = "pure"

    def load_g1(self, points: Sequence[G1Affine]) -> G1Bases:
        return _PureG1Bases(tuple(points))

    def load_g2(self, points: Sequence[G2Affine]) -> G2Bases:
        return _PureG2Bases(tuple(points))

    def msm_g1(self, bases: G1Bases, scalars: Sequence[int]) -> G1Affine:
        if not isinstance(bases, _PureG1Bases):
            raise LocalProtocolError("msm_g1: bases were not loaded by this backend")
        return msm_g1(bases.points, scalars)

    def msm_g2(self, bases: G2Bases, scalars: Sequence[int]) -> G2Affine:
        if not isinstance(bases, _PureG2Bases):
            raise LocalProtocolError("msm_g2: bases were not loaded by this backend")
        return msm_g2(bases.points, scalars)

    def ntt(
        self, values: Sequence[int], *, inverse: bool = False, coset: bool = False
    ) -> list[int]:
        omega = root_of_unity(len(values))
        if coset:
            transform = coset_intt if inverse else coset_ntt
            return transform(values, omega, COSET_SHIFT)
        return (intt if inverse else ntt)(values, omega)

    def g1_fixed_base_batch(self, base: G1Affine, scalars: Sequence[int]) -> list[G1Affine]:
        return g1_fixed_base_batch(base, scalars)

    def g2_fixed_base_batch(self, base: G2Affine, scalars: Sequence[int]) -> list[G2Affine]:
        return g2_fixed_base_batch(base, scalars)

    def pairing_check(self, pairs: Sequence[tuple[G1Affine, G2Affine]]) -> bool:
        return pairing_check(pairs)

    def scale_g1(self, points: Sequence[G1Affine], k: int) -> list[G1Affine]:
        return [g1_mul(p, k) for p in points]

    def group_sums_g1(
        self, points: Sequence[G1Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G1Affine]:
        return [msm_g1([points[i] for i, _ in g], [k for _, k in g]) if g else None for g in groups]

    def group_sums_g2(
        self, points: Sequence[G2Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G2Affine]:
        return [msm_g2([points[i] for i, _ in g], [k for _, k in g]) if g else None for g in groups]

    def ifft_g1(self, points: Sequence[G1Affine], sizes: Sequence[int]) -> list[list[G1Affine]]:
        return ifft_prefixes(
            points,
            sizes,
            mul_many=lambda ps, ks: [g1_mul(p, k) for p, k in zip(ps, ks, strict=True)],
            add=g1_add,
            sub=lambda p, q: g1_add(p, g1_neg(q)),
        )

    def ifft_g2(self, points: Sequence[G2Affine], sizes: Sequence[int]) -> list[list[G2Affine]]:
        return ifft_prefixes(
            points,
            sizes,
            mul_many=lambda ps, ks: [g2_mul(p, k) for p, k in zip(ps, ks, strict=True)],
            add=g2_add,
            sub=lambda p, q: g2_add(p, g2_neg(q)),
        )


# Backends in order of preference; a native backend registers itself in front.
_FACTORIES: dict[str, Callable[[], Backend]] = {"pure": PureBackend}
_PREFERENCE: list[str] = ["pure"]


def register_backend(name: str, factory: Callable[[], Backend], *, preferred: bool) -> None:
    """Make a backend available by name; ``preferred`` puts it first for ``get_backend()``."""
    _FACTORIES[name] = factory
    if name in _PREFERENCE:
        _PREFERENCE.remove(name)
    if preferred:
        _PREFERENCE.insert(0, name)
    else:
        _PREFERENCE.append(name)


def available_backends() -> list[str]:
    """Names of the backends that can be used, best first."""
    return list(_PREFERENCE)


def get_backend(name: str | None = None) -> Backend:
    """The backend called ``name``, or the best available one when ``name`` is None."""
    chosen = _PREFERENCE[0] if name is None else name
    factory = _FACTORIES.get(chosen)
    if factory is None:
        raise LocalProtocolError(f"unknown BN254 backend {chosen!r}; have {available_backends()}")
    return factory()


def _register_native() -> None:
    try:
        from protocol.bn254.fast import ZksnakeBackend
        from protocol.bn254.hybrid import HybridBackend
    except ImportError:  # the optional native wheel (extra "fast") is not installed
        return
    # Best first: native (kept keys), hybrid (one-shot proofs), then pure.
    register_backend(HybridBackend.name, HybridBackend, preferred=True)
    register_backend(ZksnakeBackend.name, ZksnakeBackend, preferred=True)


_register_native()
