"""The float IR: a model as a few kinds of numpy-evaluable nodes.

Every ONNX op the compiler accepts becomes one of nine node kinds over flat
tensors (the batch dimension of 1 included in the shape, the value flattened):

- ``Linear``: ``y[i] = bias[i] + sum_k coef[i, k] * x[idx[i, k]]`` (Gemm, MatMul,
  Conv, pooling averages, BatchNormalization, constant Add/Sub/Mul/Div, layout ops);
- ``Combine``: sums and concatenations of several variable tensors;
- ``Pwl``: an elementwise piecewise-linear function
  ``c + a0 x + sum_i a_i relu(x - t_i)`` (Relu, LeakyRelu, Clip, Sigmoid's approximation);
- ``MaxWindow``: the maximum over index windows (MaxPool);
- ``Product``: the elementwise product of two variable tensors;
- ``Quotient``: the elementwise quotient of two, the divisor positive (Softmax);
- ``SquareRoot``: the elementwise root of a non-negative tensor (LayerNormalization);
- ``ArgMaxWindow`` and ``Below``: the first maximum's index, and a comparison with a
  constant, as 0/1 (ArgMax, and what ``--reveal`` makes public).

``evaluate`` runs the IR on a batch (rows are samples); ``intervals`` propagates
elementwise bounds. Both define the float reference the circuit quantizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BATCH_CHUNK = 64  # samples per evaluation chunk, bounding the gathered temporaries


@dataclass(frozen=True)
class Linear:
    idx: IntArray
    coef: FloatArray
    bias: FloatArray

    @property
    def dense(self) -> bool:
        n_in = self.idx.shape[1]
        return bool(np.array_equal(self.idx, np.broadcast_to(np.arange(n_in), self.idx.shape)))

    def then(self, outer: Linear) -> Linear:
        """``outer`` applied after this map, as one map."""
        n, k = outer.idx.shape
        inner_k = self.idx.shape[1]
        idx = self.idx[outer.idx].reshape(n, k * inner_k)
        coef = (outer.coef[:, :, None] * self.coef[outer.idx]).reshape(n, k * inner_k)
        bias = (outer.coef * self.bias[outer.idx]).sum(axis=1) + outer.bias
        return Linear(idx, coef, bias)


@dataclass(frozen=True)
class Part:
    """One input of a Combine: ``y[rows] += coef * x[cols]``."""

    rows: IntArray
    cols: IntArray
    coef: float


@dataclass(frozen=True)
class Combine:
    parts: tuple[Part, ...]
    bias: FloatArray


@dataclass(frozen=True)
class Pwl:
    c: float
    a0: float
    knots: tuple[float, ...]
    slopes: tuple[float, ...]  # the change of slope at each knot

    def __call__(self, x: FloatArray) -> FloatArray:
        y = self.c + self.a0 * x
        for t, a in zip(self.knots, self.slopes, strict=True):
            y = y + a * np.maximum(x - t, 0.0)
        return np.asarray(y, dtype=np.float64)


@dataclass(frozen=True)
class MaxWindow:
    windows: IntArray  # (n_out, width) indices into the input


@dataclass(frozen=True)
class Product:
    ia: IntArray
    ib: IntArray


@dataclass(frozen=True)
class Quotient:
    """``a[ia] / b[ib]`` elementwise, for a divisor that stays positive; ``bounds`` is
    the quotient's range when it is known by construction (a softmax's is [0, 1])."""

    ia: IntArray
    ib: IntArray
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class SquareRoot:
    """The elementwise square root of a tensor that stays non-negative. With ``at_least_unit``
    the circuit adds one unit of the radicand's fixed point first, so that the root is a
    divisor of at least 1 even for a constant row (LayerNorm's epsilon, rounded away
    at that scale, would otherwise leave 0); the float reference has the epsilon."""

    at_least_unit: bool = False


@dataclass(frozen=True)
class ArgMaxWindow:
    """The index of the first maximum of each index window (ArgMax, reveal argmax)."""

    windows: IntArray


@dataclass(frozen=True)
class Below:
    """``1.0 if x[idx[i]] < values[i] else 0.0`` (``<=`` when ``inclusive``): the
    threshold reveal, and the decisions of tree ensembles."""

    idx: IntArray
    values: FloatArray
    inclusive: bool = False


@dataclass(frozen=True)
class Exp:
    """e^x elementwise, exactly: a placeholder that the compiler replaces by an interpolant
    once calibration bounds its input (``compiler._resolve_exp``); never lowered."""


Kind = (
    Linear
    | Combine
    | Pwl
    | MaxWindow
    | Product
    | Quotient
    | SquareRoot
    | ArgMaxWindow
    | Below
    | Exp
)


@dataclass(frozen=True)
class Node:
    """One IR node: its ONNX name and op, variable inputs, output and output shape."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    output: str
    shape: tuple[int, ...]
    kind: Kind


def _apply(kind: Kind, xs: Sequence[FloatArray]) -> FloatArray:
    if isinstance(kind, Linear):
        if kind.dense and xs[0].shape[1] == kind.idx.shape[1]:  # every input, in order
            return np.asarray(xs[0] @ kind.coef.T + kind.bias)
        return np.asarray((xs[0][:, kind.idx] * kind.coef).sum(axis=2) + kind.bias)
    if isinstance(kind, Combine):
        y = np.broadcast_to(kind.bias, (len(xs[0]), len(kind.bias))).copy()
        for part, x in zip(kind.parts, xs, strict=True):
            y[:, part.rows] += part.coef * x[:, part.cols]  # rows of one part are distinct
        return y
    if isinstance(kind, Pwl):
        return kind(xs[0])
    if isinstance(kind, MaxWindow):
        return np.asarray(xs[0][:, kind.windows].max(axis=2))
    if isinstance(kind, Quotient):  # 0 / 0 is 0, as onnxruntime's Normalizer has it
        a, b = xs[0][:, kind.ia], xs[1][:, kind.ib]
        return np.asarray(np.divide(a, b, out=np.zeros_like(a), where=b != 0))
    if isinstance(kind, SquareRoot):
        return np.asarray(np.sqrt(xs[0]))
    if isinstance(kind, Exp):
        return np.asarray(np.exp(xs[0]))
    if isinstance(kind, ArgMaxWindow):
        return np.asarray(xs[0][:, kind.windows].argmax(axis=2), dtype=np.float64)
    if isinstance(kind, Below):
        x = xs[0][:, kind.idx]
        return np.asarray(x <= kind.values if kind.inclusive else x < kind.values, dtype=np.float64)
    return np.asarray(xs[0][:, kind.ia] * xs[1][:, kind.ib])


def evaluate(nodes: Sequence[Node], input_name: str, x: FloatArray) -> dict[str, FloatArray]:
    """Every tensor's value for the batch ``x`` (shape ``(n, input size)``)."""
    env: dict[str, FloatArray] = {}
    for start in range(0, len(x), BATCH_CHUNK):
        part = {input_name: np.asarray(x[start : start + BATCH_CHUNK], dtype=np.float64)}
        for node in nodes:
            part[node.output] = _apply(node.kind, [part[i] for i in node.inputs])
        for name, value in part.items():
            env[name] = np.concatenate([env[name], value]) if name in env else value
    return env


def _interval(
    kind: Kind, lo: Sequence[FloatArray], hi: Sequence[FloatArray]
) -> tuple[FloatArray, FloatArray]:
    if isinstance(kind, Linear | Combine):
        mid = _apply(kind, [(a + b)[None] / 2 for a, b in zip(lo, hi, strict=True)])[0]
        rad_kind: Kind
        if isinstance(kind, Linear):
            rad_kind = Linear(kind.idx, np.abs(kind.coef), np.zeros_like(kind.bias))
        else:
            parts = tuple(Part(p.rows, p.cols, abs(p.coef)) for p in kind.parts)
            rad_kind = Combine(parts, np.zeros_like(kind.bias))
        rad = _apply(rad_kind, [(b - a)[None] / 2 for a, b in zip(lo, hi, strict=True)])[0]
        return mid - rad, mid + rad
    if isinstance(kind, Pwl):
        pts = [lo[0], hi[0], *(np.clip(t, lo[0], hi[0]) for t in kind.knots)]
        vals = np.stack([kind(p) for p in pts])
        return vals.min(axis=0), vals.max(axis=0)
    if isinstance(kind, MaxWindow):
        return lo[0][kind.windows].max(axis=1), hi[0][kind.windows].max(axis=1)
    if isinstance(kind, SquareRoot):
        return np.sqrt(np.maximum(lo[0], 0.0)), np.sqrt(np.maximum(hi[0], 0.0))
    if isinstance(kind, Exp):
        return np.exp(lo[0]), np.exp(hi[0])
    if isinstance(kind, ArgMaxWindow):
        n, width = kind.windows.shape
        return np.zeros(n), np.full(n, float(width - 1))
    if isinstance(kind, Below):
        return np.zeros(len(kind.idx)), np.ones(len(kind.idx))
    if isinstance(kind, Quotient):
        n = len(kind.ia)
        if kind.bounds is not None:
            return np.full(n, kind.bounds[0]), np.full(n, kind.bounds[1])
        a_lo, a_hi, b_lo, b_hi = lo[0][kind.ia], hi[0][kind.ia], lo[1][kind.ib], hi[1][kind.ib]
        with np.errstate(divide="ignore", invalid="ignore"):  # a divisor reaching 0: unbounded
            corners = np.stack([a_lo / b_lo, a_lo / b_hi, a_hi / b_lo, a_hi / b_hi])
        positive = b_lo > 0
        return (np.where(positive, corners.min(axis=0), -np.inf),
                np.where(positive, corners.max(axis=0), np.inf))  # fmt: skip
    a_lo, a_hi, b_lo, b_hi = lo[0][kind.ia], hi[0][kind.ia], lo[1][kind.ib], hi[1][kind.ib]
    corners = np.stack([a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi])
    return corners.min(axis=0), corners.max(axis=0)


def intervals(
    nodes: Sequence[Node], input_name: str, lo: FloatArray, hi: FloatArray
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Elementwise bounds of every tensor for inputs within ``[lo, hi]``."""
    env: dict[str, tuple[FloatArray, FloatArray]] = {input_name: (lo, hi)}
    for node in nodes:
        ins = [env[i] for i in node.inputs]
        env[node.output] = _interval(node.kind, [a for a, _ in ins], [b for _, b in ins])
    return env


def max_abs(values: Mapping[str, FloatArray]) -> dict[str, float]:
    """The largest absolute value of each tensor."""
    return {k: float(np.max(np.abs(v), initial=0.0)) for k, v in values.items()}
