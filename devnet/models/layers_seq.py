"""More layers for the numpy kit: depthwise and 1-D convolutions, GELU, LayerNorm, attention.

Each follows ``layers.Layer``: a float64 batch forward, the loss gradient backward,
trainable arrays by name. Tensors of token models are (batch, tokens, features); 1-D
convolutions take (batch, channels, length). ``Residual`` wraps a sub-stack and adds its
input back; its parameters are the sub-stack's, prefixed with the layer index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from devnet.models.layers import Array, Dense, Layer, _he

LN_EPSILON = 1e-5  # ONNX LayerNormalization's default epsilon
SQRT2 = math.sqrt(2.0)
_erf = np.vectorize(math.erf, otypes=[np.float64])


class DepthwiseConv2d:
    """One k x k stride-1 'same' filter per channel (ONNX Conv with group = channels)."""

    def __init__(self, channels: int, k: int, rng: np.random.Generator) -> None:
        self.k, self.pad = k, k // 2
        self.weight = _he(rng, (channels, k, k), k * k)
        self.bias = np.zeros(channels)
        self.d_weight = np.zeros_like(self.weight)
        self.d_bias = np.zeros_like(self.bias)
        self._windows = np.zeros(0)

    def forward(self, x: Array, *, train: bool) -> Array:
        p = self.pad
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (self.k, self.k), axis=(2, 3))
        self._windows = windows  # (n, c, h, w, k, k)
        out: Array = np.einsum("nchwij,cij->nchw", windows, self.weight)
        return out + self.bias[:, None, None]

    def backward(self, grad: Array) -> Array:
        self.d_weight = np.einsum("nchwij,nchw->cij", self._windows, grad)
        self.d_bias = grad.sum(axis=(0, 2, 3))
        n, c, h, w = grad.shape
        p, k = self.pad, self.k
        padded = np.zeros((n, c, h + 2 * p, w + 2 * p))
        for dy in range(k):
            for dx in range(k):
                padded[:, :, dy : dy + h, dx : dx + w] += (
                    grad * self.weight[:, dy, dx][:, None, None]
                )
        return padded[:, :, p : p + h, p : p + w]

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {"weight": (self.weight, self.d_weight), "bias": (self.bias, self.d_bias)}


class Conv1d:
    """Stride-1 'same' convolution over the last axis of (n, c_in, length); weight (out, in, k)."""

    def __init__(self, c_in: int, c_out: int, k: int, rng: np.random.Generator) -> None:
        self.k, self.pad = k, k // 2
        self.weight = _he(rng, (c_out, c_in, k), c_in * k)
        self.bias = np.zeros(c_out)
        self.d_weight = np.zeros_like(self.weight)
        self.d_bias = np.zeros_like(self.bias)
        self._cols: Array = np.zeros((0, 0))
        self._shape = (0, 0, 0)

    def forward(self, x: Array, *, train: bool) -> Array:
        n, c, length = x.shape
        self._shape = (n, c, length)
        padded = np.pad(x, ((0, 0), (0, 0), (self.pad, self.pad)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.k, axis=2)  # (n,c,L,k)
        self._cols = windows.transpose(0, 2, 1, 3).reshape(n * length, c * self.k)
        out = self._cols @ self.weight.reshape(len(self.weight), -1).T + self.bias
        return out.reshape(n, length, -1).transpose(0, 2, 1)

    def backward(self, grad: Array) -> Array:
        n, c, length = self._shape
        c_out = len(self.weight)
        g = grad.transpose(0, 2, 1).reshape(-1, c_out)
        self.d_weight = (g.T @ self._cols).reshape(self.weight.shape)
        self.d_bias = g.sum(axis=0)
        patches = (g @ self.weight.reshape(c_out, -1)).reshape(n, length, c, self.k)
        padded = np.zeros((n, c, length + 2 * self.pad))
        for d in range(self.k):
            padded[:, :, d : d + length] += patches[..., d].transpose(0, 2, 1)
        return padded[:, :, self.pad : self.pad + length]

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {"weight": (self.weight, self.d_weight), "bias": (self.bias, self.d_bias)}


class MaxPool1d2:
    """Maximum over non-overlapping pairs along the last axis, stride 2."""

    def __init__(self) -> None:
        self._first = np.zeros(0, dtype=bool)

    def forward(self, x: Array, *, train: bool) -> Array:
        n, c, length = x.shape
        pairs = x.reshape(n, c, length // 2, 2)
        self._first = pairs[..., 0] >= pairs[..., 1]  # ties go to the first, as argmax
        pooled: Array = pairs.max(axis=-1)
        return pooled

    def backward(self, grad: Array) -> Array:
        out = np.stack([np.where(self._first, grad, 0.0), np.where(self._first, 0.0, grad)], -1)
        return out.reshape(*grad.shape[:-1], -1)

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {}


class MeanAxis:
    """The mean over one axis, dropped (ONNX ReduceMean with keepdims 0)."""

    def __init__(self, axis: int) -> None:
        self.axis = axis
        self._shape: tuple[int, ...] = ()

    def forward(self, x: Array, *, train: bool) -> Array:
        self._shape = x.shape
        mean: Array = x.mean(axis=self.axis)
        return mean

    def backward(self, grad: Array) -> Array:
        size = self._shape[self.axis]
        return np.broadcast_to(np.expand_dims(grad, self.axis) / size, self._shape).copy()

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {}


class Gelu:
    """``x * Phi(x)`` with the exact normal CDF (PyTorch's default GELU, exported with Erf)."""

    def __init__(self) -> None:
        self._x = np.zeros(0)

    def forward(self, x: Array, *, train: bool) -> Array:
        self._x = x
        out: Array = 0.5 * x * (1.0 + _erf(x / SQRT2))
        return out

    def backward(self, grad: Array) -> Array:
        x = self._x
        cdf = 0.5 * (1.0 + _erf(x / SQRT2))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        d_x: Array = grad * (cdf + x * pdf)
        return d_x

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {}


class TokenDense(Dense):
    """``x @ weight + bias`` over the last axis of any shape (exported as MatMul then Add)."""

    def backward(self, grad: Array) -> Array:
        flat_x = self._x.reshape(-1, self._x.shape[-1])
        flat_g = grad.reshape(-1, grad.shape[-1])
        self.d_weight = flat_x.T @ flat_g
        self.d_bias = flat_g.sum(axis=0)
        d_x: Array = grad @ self.weight.T
        return d_x


class AddPosition:
    """A learned (tokens, features) embedding added to every sample."""

    def __init__(self, tokens: int, features: int, rng: np.random.Generator) -> None:
        self.table = rng.normal(0.0, 0.1, size=(tokens, features))
        self.d_table = np.zeros_like(self.table)

    def forward(self, x: Array, *, train: bool) -> Array:
        out: Array = x + self.table
        return out

    def backward(self, grad: Array) -> Array:
        self.d_table = grad.sum(axis=0)
        return grad

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {"table": (self.table, self.d_table)}


class LayerNorm:
    """Normalisation over the last axis with a learned scale and shift."""

    def __init__(self, features: int) -> None:
        self.scale = np.ones(features)
        self.shift = np.zeros(features)
        self.d_scale = np.zeros(features)
        self.d_shift = np.zeros(features)
        self._xhat = np.zeros(0)
        self._inv_std = np.zeros(0)

    def forward(self, x: Array, *, train: bool) -> Array:
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        self._inv_std = 1.0 / np.sqrt(var + LN_EPSILON)
        self._xhat = (x - mean) * self._inv_std
        out: Array = self._xhat * self.scale + self.shift
        return out

    def backward(self, grad: Array) -> Array:
        lead = tuple(range(grad.ndim - 1))
        self.d_scale = (grad * self._xhat).sum(axis=lead)
        self.d_shift = grad.sum(axis=lead)
        g = grad * self.scale
        centred = g - g.mean(axis=-1, keepdims=True)
        proj = self._xhat * (g * self._xhat).mean(axis=-1, keepdims=True)
        d_x: Array = (centred - proj) * self._inv_std
        return d_x

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {"scale": (self.scale, self.d_scale), "shift": (self.shift, self.d_shift)}


def softmax(x: Array, axis: int = -1) -> Array:
    """Row-wise softmax, max-subtracted."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out: Array = e / e.sum(axis=axis, keepdims=True)
    return out


class SelfAttention:
    """Single-head scaled dot-product self-attention over (n, tokens, d), with its projections."""

    def __init__(self, d: int, rng: np.random.Generator) -> None:
        self.d = d
        self.q, self.k, self.v, self.o = (TokenDense(d, d, rng) for _ in range(4))
        for proj in (self.q, self.k, self.v, self.o):
            proj.weight *= 0.5  # a smaller start keeps the first softmaxes soft
        self._qkv = (np.zeros(0), np.zeros(0), np.zeros(0))
        self._p = np.zeros(0)

    @property
    def scale(self) -> float:
        """The 1 / sqrt(d) factor on the scores."""
        return 1.0 / math.sqrt(self.d)

    def forward(self, x: Array, *, train: bool) -> Array:
        q, k, v = (proj.forward(x, train=train) for proj in (self.q, self.k, self.v))
        self._qkv = (q, k, v)
        self._p = softmax(q @ k.transpose(0, 2, 1) * self.scale)
        return self.o.forward(self._p @ v, train=train)

    def backward(self, grad: Array) -> Array:
        q, k, v = self._qkv
        p = self._p
        d_a = self.o.backward(grad)
        d_p = d_a @ v.transpose(0, 2, 1)
        d_v = p.transpose(0, 2, 1) @ d_a
        d_s = p * (d_p - (d_p * p).sum(axis=-1, keepdims=True)) * self.scale
        d_q = d_s @ k
        d_k = d_s.transpose(0, 2, 1) @ q
        d_x: Array = self.q.backward(d_q) + self.k.backward(d_k) + self.v.backward(d_v)
        return d_x

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {
            f"{name}.{key}": value
            for name, proj in (("q", self.q), ("k", self.k), ("v", self.v), ("o", self.o))
            for key, value in proj.params().items()
        }


class Residual:
    """``x + f(x)`` for a sub-stack ``f``."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)

    def forward(self, x: Array, *, train: bool) -> Array:
        y = x
        for layer in self.layers:
            y = layer.forward(y, train=train)
        return x + y

    def backward(self, grad: Array) -> Array:
        g = grad
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return grad + g

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {
            f"{i}.{key}": value
            for i, layer in enumerate(self.layers)
            for key, value in layer.params().items()
        }


class Reshape:
    """(n, ...) to (n, *shape) and back in the backward pass."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self._in: tuple[int, ...] = ()

    def forward(self, x: Array, *, train: bool) -> Array:
        self._in = x.shape
        return x.reshape(len(x), *self.shape)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self._in)

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {}
