"""Converters for the 2-D spatial ops (Conv, pooling), BatchNormalization and activations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from numpy.typing import NDArray

from protocol.zkml import activations
from protocol.zkml.floatir import Linear, MaxWindow, Node, Pwl
from protocol.zkml.onnx_ops import Ctx, IntArray, _attr, _linear, _size
from protocol.zkml.report import Approximation

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class _Window:
    """Sliding-window geometry over a ``(C, H, W)`` input."""

    channels: int
    height: int
    width: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilations: tuple[int, int]

    def out_dims(self, ceil: bool = False) -> tuple[int, int]:
        dims = []
        for i, size in enumerate((self.height, self.width)):
            span = (self.kernel[i] - 1) * self.dilations[i] + 1
            room = size + self.pads[i] + self.pads[i + 2] - span
            dims.append((-(-room // self.strides[i]) if ceil else room // self.strides[i]) + 1)
        return dims[0], dims[1]

    def taps(self) -> tuple[IntArray, IntArray, NDArray[np.bool_]]:
        """Per output position ``(oh, ow)`` and tap ``(u, v)``: row, column and validity."""
        oh, ow = self.out_dims()
        kh, kw = self.kernel
        i = np.arange(oh)[:, None, None, None]
        j = np.arange(ow)[None, :, None, None]
        u = np.arange(kh)[None, None, :, None]
        v = np.arange(kw)[None, None, None, :]
        h = i * self.strides[0] - self.pads[0] + u * self.dilations[0]
        w = j * self.strides[1] - self.pads[1] + v * self.dilations[1]
        valid = (h >= 0) & (h < self.height) & (w >= 0) & (w < self.width)
        return np.clip(h, 0, self.height - 1), np.clip(w, 0, self.width - 1), valid


def _window(
    ctx: Ctx, node: onnx.NodeProto, shape: tuple[int, ...], kernel: tuple[int, int]
) -> _Window:
    if len(shape) != 4 or shape[0] != 1:
        raise ctx.fail(f"only 2-D inputs of shape (1, C, H, W) are supported, got {shape}")
    auto_pad = _attr(node, "auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise ctx.fail(f"auto_pad {auto_pad} is not supported; export with explicit pads")
    pads = tuple(_attr(node, "pads", [0, 0, 0, 0])) if auto_pad == "NOTSET" else (0, 0, 0, 0)
    strides = tuple(_attr(node, "strides", [1, 1]))
    dilations = tuple(_attr(node, "dilations", [1, 1]))
    if len(pads) != 4 or len(strides) != 2 or len(dilations) != 2:
        raise ctx.fail("only 2-D kernels are supported")
    return _Window(shape[1], shape[2], shape[3], kernel, strides, pads, dilations)


def _conv(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    w = np.asarray(ctx.const(node.input[1]), dtype=float)
    if _attr(node, "group", 1) != 1:
        raise ctx.fail("grouped and depthwise convolutions are not supported (group must be 1)")
    if w.ndim != 4 or len(s) != 4 or w.shape[1] != s[1]:
        raise ctx.fail(f"only 2-D convolutions are supported, got input {s} and weight {w.shape}")
    out_c, in_c, kh, kw = w.shape
    win = _window(ctx, node, s, (kh, kw))
    oh, ow = win.out_dims()
    h, col, valid = win.taps()  # (oh, ow, kh, kw)
    c = np.arange(in_c)[None, None, :, None, None]
    idx = c * (win.height * win.width) + (h * win.width + col)[:, :, None]
    coef = w[:, None, None] * valid[None, :, :, None]  # (O, oh, ow, C, kh, kw)
    idx_full = np.broadcast_to(idx[None], coef.shape)
    bias = np.zeros(out_c)
    if len(node.input) > 2 and node.input[2]:
        bias = np.asarray(ctx.const(node.input[2]), dtype=float)
    n = out_c * oh * ow
    kind = Linear(
        idx_full.reshape(n, -1).astype(np.int64), coef.reshape(n, -1), np.repeat(bias, oh * ow)
    )
    return _linear(ctx, node, x, (1, out_c, oh, ow), kind)


def _pool_windows(
    ctx: Ctx, node: onnx.NodeProto
) -> tuple[str, _Window, IntArray, NDArray[np.bool_]]:
    x, s = ctx.var(node.input[0])
    kernel = tuple(_attr(node, "kernel_shape", []))
    if len(kernel) != 2:
        raise ctx.fail("only 2-D pooling is supported")
    win = _window(ctx, node, s, kernel)
    if _attr(node, "ceil_mode", 0) and win.out_dims(ceil=True) != win.out_dims():
        raise ctx.fail("ceil_mode=1 changes the output size here; export with ceil_mode=0")
    h, col, valid = win.taps()
    c = np.arange(win.channels)[:, None, None, None, None]
    idx = c * (win.height * win.width) + (h * win.width + col)[None]
    valid_full = np.broadcast_to(valid[None], idx.shape)
    n = idx.shape[0] * idx.shape[1] * idx.shape[2]
    return x, win, idx.reshape(n, -1).astype(np.int64), valid_full.reshape(n, -1)


def _maxpool(ctx: Ctx, node: onnx.NodeProto) -> Node:
    if len([o for o in node.output if o]) > 1:
        raise ctx.fail("the Indices output of MaxPool is not supported")
    x, win, idx, valid = _pool_windows(ctx, node)
    first_valid = idx[np.arange(len(idx)), valid.argmax(axis=1)]
    windows = np.where(valid, idx, first_valid[:, None])  # padding never wins a max
    oh, ow = win.out_dims()
    return _linear(ctx, node, x, (1, win.channels, oh, ow), MaxWindow(windows))


def _avgpool(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, win, idx, valid = _pool_windows(ctx, node)
    count = (
        valid.shape[1] if _attr(node, "count_include_pad", 0) else valid.sum(axis=1, keepdims=True)
    )
    coef = valid / count
    oh, ow = win.out_dims()
    return _linear(ctx, node, x, (1, win.channels, oh, ow), Linear(idx, coef, np.zeros(len(idx))))


def _global_avgpool(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    if len(s) != 4 or s[0] != 1:
        raise ctx.fail(f"only inputs of shape (1, C, H, W) are supported, got {s}")
    area = s[2] * s[3]
    idx = np.arange(s[1])[:, None] * area + np.arange(area)[None]
    kind = Linear(idx.astype(np.int64), np.full(idx.shape, 1.0 / area), np.zeros(s[1]))
    return _linear(ctx, node, x, (1, s[1], 1, 1), kind)


def _batchnorm(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    if _attr(node, "training_mode", 0):
        raise ctx.fail("training_mode=1 is not supported; export the model in eval mode")
    scale, b, mean, var = (np.asarray(ctx.const(i), dtype=float) for i in node.input[1:5])
    mult = scale / np.sqrt(var + _attr(node, "epsilon", 1e-5))
    channel = (np.arange(_size(s)) // _size(s[2:])) % s[1]
    kind = Linear(
        np.arange(_size(s), dtype=np.int64)[:, None],
        mult[channel][:, None],
        (b - mean * mult)[channel],
    )
    return _linear(ctx, node, x, s, kind)


def _elementwise(ctx: Ctx, node: onnx.NodeProto, pwl: Pwl) -> Node:
    x, s = ctx.var(node.input[0])
    return _linear(ctx, node, x, s, pwl)


def _relu(ctx: Ctx, node: onnx.NodeProto) -> Node:
    return _elementwise(ctx, node, activations.relu())


def _leaky_relu(ctx: Ctx, node: onnx.NodeProto) -> Node:
    return _elementwise(ctx, node, activations.leaky_relu(float(_attr(node, "alpha", 0.01))))


def _sigmoid(ctx: Ctx, node: onnx.NodeProto) -> Node:
    method = (
        f"piecewise-linear interpolation at {len(activations.SIGMOID_NODES)} nodes, "
        "saturating beyond"
    )
    bound, seen = activations.sigmoid_error_bound(), activations.sigmoid_error_sampled()
    ctx.notes.append(Approximation(ctx.name, ctx.op, method, bound, seen))
    return _elementwise(ctx, node, activations.sigmoid())


def _clip(ctx: Ctx, node: onnx.NodeProto) -> Node:
    bounds: list[float | None] = []
    for i in (1, 2):
        has = len(node.input) > i and node.input[i]
        bounds.append(float(np.asarray(ctx.const(node.input[i])).item()) if has else None)
    return _elementwise(ctx, node, activations.clip(bounds[0], bounds[1]))
