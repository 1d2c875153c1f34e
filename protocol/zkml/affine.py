"""Integer affine maps over materialised sources: the free part of the circuit.

An ``Affine`` is a vector whose element i equals
``bias[i] + sum_k coef[i, k] * x[idx[i, k]]``, where x is the concatenation of
its source vectors (the quantized values of already constrained tensors) and the
result carries the power-of-two scale ``scale`` (value = integer / 2^scale).
Weights, biases, additions, layout changes and pooling sums compose into one
Affine at no constraint cost; constraints are spent only when a nonlinear step
consumes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.r1cs.system import LinearCombination

IntArray = NDArray[np.int64]
INT64_SAFE = 1 << 62  # accumulators below this are computed in int64 without overflow


@dataclass(frozen=True)
class Affine:
    """A vector of integer affine functions of source vectors (see module docstring)."""

    srcs: tuple[int, ...]
    sizes: tuple[int, ...]
    idx: IntArray  # (n, K) indices into the concatenated sources
    coef: IntArray  # (n, K)
    bias: IntArray  # (n,)
    scale: int

    @property
    def n(self) -> int:
        return len(self.bias)

    @classmethod
    def source(cls, src: int, size: int, scale: int) -> Affine:
        """The identity map of one source."""
        idx = np.arange(size, dtype=np.int64)[:, None]
        return cls(
            (src,), (size,), idx, np.ones((size, 1), np.int64), np.zeros(size, np.int64), scale
        )

    def take(self, rows: IntArray) -> Affine:
        """Rows ``rows`` of this map (a gather: layout ops, broadcasting)."""
        return Affine(
            self.srcs, self.sizes, self.idx[rows], self.coef[rows], self.bias[rows], self.scale
        )

    def shifted(self, bits: int) -> Affine:
        """The same values at scale ``scale + bits`` (multiplied by 2^bits, exact)."""
        top = max(np.abs(self.coef).max(initial=0), np.abs(self.bias).max(initial=0))
        if int(top) << bits >= INT64_SAFE:
            raise OverflowError(f"shifting by {bits} bits exceeds 62-bit coefficients")
        f = np.int64(1 << bits)
        return Affine(
            self.srcs, self.sizes, self.idx, self.coef * f, self.bias * f, self.scale + bits
        )

    def compose(self, idx: IntArray, coef: IntArray, bias: IntArray, coef_scale: int) -> Affine:
        """The map ``y[i] = bias[i] + sum_k coef[i, k] * self[idx[i, k]]``.

        ``coef`` carries scale ``coef_scale`` and ``bias`` the resulting scale.
        """
        n, k = idx.shape
        big = np.abs(coef).astype(float)[:, :, None] * np.abs(self.coef[idx]).astype(float)
        big_bias = np.abs(coef).astype(float) * np.abs(self.bias[idx]).astype(float)
        if max(big.max(initial=0.0), big_bias.sum(axis=1).max(initial=0.0)) >= INT64_SAFE:
            raise OverflowError("composed coefficients exceed 62 bits")
        inner_k = self.idx.shape[1]
        new_idx = self.idx[idx].reshape(n, k * inner_k)
        new_coef = (coef[:, :, None] * self.coef[idx]).reshape(n, k * inner_k)
        new_bias = (coef * self.bias[idx]).sum(axis=1) + bias
        keep = np.any(new_coef != 0, axis=0)
        if not keep.any():
            keep[0] = True
        return Affine(
            self.srcs,
            self.sizes,
            new_idx[:, keep],
            new_coef[:, keep],
            new_bias,
            self.scale + coef_scale,
        )

    def plus(self, other: Affine) -> Affine:
        """Elementwise sum with a map of the same length and scale."""
        srcs = list(self.srcs)
        sizes = list(self.sizes)
        offsets = dict(zip(self.srcs, np.cumsum([0, *self.sizes[:-1]]).tolist(), strict=True))
        end = sum(self.sizes)
        for s, size in zip(other.srcs, other.sizes, strict=True):
            if s not in offsets:
                srcs.append(s)
                sizes.append(size)
                offsets[s] = end
                end += size
        remap = np.concatenate(
            [offsets[s] + np.arange(size) for s, size in zip(other.srcs, other.sizes, strict=True)]
        ).astype(np.int64)
        idx = np.concatenate([self.idx, remap[other.idx]], axis=1)
        coef = np.concatenate([self.coef, other.coef], axis=1)
        return Affine(tuple(srcs), tuple(sizes), idx, coef, self.bias + other.bias, self.scale)

    def bound(self, maxabs: Sequence[int]) -> int:
        """An upper bound on ``|value|`` given each source's bound on ``|x|``."""
        per_elem = np.concatenate(
            [np.full(size, float(m)) for size, m in zip(self.sizes, maxabs, strict=True)]
        )
        rows = (np.abs(self.coef).astype(float) * per_elem[self.idx]).sum(axis=1)
        return int(np.max(rows + np.abs(self.bias).astype(float), initial=0.0)) + 1

    def is_view(self, scale: int) -> bool:
        """True when every element is one source element as is (a pure gather)."""
        return (
            len(self.srcs) == 1
            and self.scale == scale
            and self.idx.shape[1] == 1
            and bool(np.all(self.coef == 1))
            and not np.any(self.bias)
        )

    def lcs(self, sources: Sequence[Sequence[LinearCombination]]) -> list[LinearCombination]:
        """The map as one linear combination per element."""
        flat = [lc for src in sources for lc in src]
        out = []
        for row_idx, row_coef, b in zip(
            self.idx.tolist(), self.coef.tolist(), self.bias.tolist(), strict=True
        ):
            acc: dict[int, int] = {0: b} if b else {}
            for j, c in zip(row_idx, row_coef, strict=True):
                if c:
                    for w, t in flat[j].terms.items():
                        acc[w] = acc.get(w, 0) + c * t
            out.append(LinearCombination(acc))
        return out

    def evaluate(
        self, sources: Sequence[NDArray[np.int64]], wide: bool
    ) -> NDArray[np.int64] | NDArray[np.object_]:
        """The integer values given the source values (Python ints when ``wide``)."""
        x = np.concatenate(list(sources))
        if wide:
            xo = x.astype(object)
            wide_acc: NDArray[np.object_] = (self.coef.astype(object) * xo[self.idx]).sum(axis=1)
            out: NDArray[np.object_] = np.asarray(wide_acc + self.bias.astype(object))
            return out
        acc: NDArray[np.int64] = (self.coef * x[self.idx]).sum(axis=1) + self.bias
        return acc
