"""A small numpy neural-network kit: the layers the reference models use, with gradients.

Every layer maps a float64 batch forward, remembers what its backward pass needs,
and maps the loss gradient back. Parameters are named arrays the optimiser updates
in place; ``export`` names match the ONNX initialisers built from them.
Convolutions run as one matrix product over image patches (im2col).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Labels = NDArray[np.int64]

BN_EPSILON = 1e-5  # ONNX BatchNormalization's default epsilon
BN_MOMENTUM = 0.1  # weight of the current batch in the running statistics


class Layer(Protocol):
    """One differentiable step of a model."""

    def forward(self, x: Array, *, train: bool) -> Array: ...

    def backward(self, grad: Array) -> Array: ...

    def params(self) -> dict[str, tuple[Array, Array]]:
        """Trainable arrays by name, each with its gradient from the last backward pass."""
        ...


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> Array:
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


class Dense:
    """``x @ weight + bias`` with weight of shape (in, out)."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator) -> None:
        self.weight = _he(rng, (n_in, n_out), n_in)
        self.bias = np.zeros(n_out)
        self.d_weight = np.zeros_like(self.weight)
        self.d_bias = np.zeros_like(self.bias)
        self._x = np.zeros(0)

    def forward(self, x: Array, *, train: bool) -> Array:
        self._x = x
        return x @ self.weight + self.bias

    def backward(self, grad: Array) -> Array:
        self.d_weight = self._x.T @ grad
        self.d_bias = grad.sum(axis=0)
        return grad @ self.weight.T

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {"weight": (self.weight, self.d_weight), "bias": (self.bias, self.d_bias)}


class Relu:
    """``max(x, 0)``."""

    def __init__(self) -> None:
        self._mask = np.zeros(0, dtype=bool)

    def forward(self, x: Array, *, train: bool) -> Array:
        self._mask = x > 0
        return np.where(self._mask, x, 0.0)

    def backward(self, grad: Array) -> Array:
        return np.where(self._mask, grad, 0.0)

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {}


def im2col(x: Array, k: int, pad: int) -> Array:
    """(n, c, h, w) → (n*h*w, c*k*k) patches of a stride-1 'same' convolution."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def col2im(cols: Array, shape: tuple[int, int, int, int], k: int, pad: int) -> Array:
    """The adjoint of ``im2col``: patch gradients summed back onto the input."""
    n, c, h, w = shape
    patches = cols.reshape(n, h, w, c, k, k)
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for dy in range(k):
        for dx in range(k):
            padded[:, :, dy : dy + h, dx : dx + w] += patches[..., dy, dx].transpose(0, 3, 1, 2)
    return padded[:, :, pad : pad + h, pad : pad + w]


class Conv2d:
    """Stride-1 convolution with a k x k kernel and 'same' zero padding; weight (out, in, k, k).

    ``learn_bias=False`` keeps the bias at zero: before a batch norm the bias's gradient is zero
    in exact arithmetic, so learning it would only accumulate rounding noise that differs between
    BLAS builds and makes the exported file machine-dependent.
    """

    def __init__(
        self, c_in: int, c_out: int, k: int, rng: np.random.Generator, *, learn_bias: bool = True
    ) -> None:
        self.k, self.pad, self.learn_bias = k, k // 2, learn_bias
        self.weight = _he(rng, (c_out, c_in, k, k), c_in * k * k)
        self.bias = np.zeros(c_out)
        self.d_weight = np.zeros_like(self.weight)
        self.d_bias = np.zeros_like(self.bias)
        self._cols = np.zeros(0)
        self._shape = (0, 0, 0, 0)

    def forward(self, x: Array, *, train: bool) -> Array:
        n, _, h, w = x.shape
        self._shape = (n, x.shape[1], h, w)
        self._cols = im2col(x, self.k, self.pad)
        out = self._cols @ self.weight.reshape(len(self.weight), -1).T + self.bias
        return out.reshape(n, h, w, -1).transpose(0, 3, 1, 2)

    def backward(self, grad: Array) -> Array:
        c_out = len(self.weight)
        g = grad.transpose(0, 2, 3, 1).reshape(-1, c_out)
        self.d_weight = (g.T @ self._cols).reshape(self.weight.shape)
        if self.learn_bias:
            self.d_bias = g.sum(axis=0)
        d_cols = g @ self.weight.reshape(c_out, -1)
        return col2im(d_cols, self._shape, self.k, self.pad)

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {"weight": (self.weight, self.d_weight), "bias": (self.bias, self.d_bias)}


class BatchNorm2d:
    """Per-channel normalisation: batch statistics in training, running ones in inference."""

    def __init__(self, channels: int) -> None:
        self.scale = np.ones(channels)
        self.shift = np.zeros(channels)
        self.mean = np.zeros(channels)
        self.var = np.ones(channels)
        self.d_scale = np.zeros(channels)
        self.d_shift = np.zeros(channels)
        self._xhat = np.zeros(0)
        self._inv_std = np.zeros(0)

    def forward(self, x: Array, *, train: bool) -> Array:
        if train:
            mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
            count = x.size // x.shape[1]
            self.mean = (1 - BN_MOMENTUM) * self.mean + BN_MOMENTUM * mean
            self.var = (1 - BN_MOMENTUM) * self.var + BN_MOMENTUM * var * count / (count - 1)
        else:
            mean, var = self.mean, self.var
        self._inv_std = 1.0 / np.sqrt(var + BN_EPSILON)
        self._xhat = (x - mean[:, None, None]) * self._inv_std[:, None, None]
        return self._xhat * self.scale[:, None, None] + self.shift[:, None, None]

    def backward(self, grad: Array) -> Array:
        # The gradient of the training-mode forward pass (batch statistics).
        axes = (0, 2, 3)
        self.d_scale = (grad * self._xhat).sum(axis=axes)
        self.d_shift = grad.sum(axis=axes)
        g_hat = grad * self.scale[:, None, None]
        centred = g_hat - g_hat.mean(axis=axes, keepdims=True)
        proj = self._xhat * (g_hat * self._xhat).mean(axis=axes, keepdims=True)
        d_x: Array = (centred - proj) * self._inv_std[:, None, None]
        return d_x

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {"scale": (self.scale, self.d_scale), "shift": (self.shift, self.d_shift)}


class MaxPool2x2:
    """Maximum over non-overlapping 2x2 windows, stride 2."""

    def __init__(self) -> None:
        self._mask: NDArray[np.bool_] = np.zeros((0, 0, 0, 0, 4), dtype=bool)

    def forward(self, x: Array, *, train: bool) -> Array:
        n, c, h, w = x.shape
        windows = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
        flat = windows.reshape(n, c, h // 2, w // 2, 4)
        # One-hot on the first maximum, so tied inputs do not share the gradient.
        self._mask = np.eye(4, dtype=bool)[flat.argmax(axis=-1)]
        pooled: Array = flat.max(axis=-1)
        return pooled

    def backward(self, grad: Array) -> Array:
        n, c, h2, w2, _ = self._mask.shape
        spread = np.where(self._mask, grad[..., None], 0.0).reshape(n, c, h2, w2, 2, 2)
        return spread.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h2 * 2, w2 * 2)

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {}


class Flatten:
    """(n, ...) → (n, prod(...)), row-major like ONNX Flatten(axis=1)."""

    def __init__(self) -> None:
        self._shape: tuple[int, ...] = ()

    def forward(self, x: Array, *, train: bool) -> Array:
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self._shape)

    def params(self) -> dict[str, tuple[Array, Array]]:
        return {}
