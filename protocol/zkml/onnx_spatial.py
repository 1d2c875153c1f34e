"""Converters for the 2-D spatial ops (Conv, pooling), BatchNormalization and activations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from numpy.typing import NDArray

from protocol.zkml import activations
from protocol.zkml.floatir import Linear, MaxWindow, Node, Pwl
from protocol.zkml.onnx_ops import Ctx, IntArray, _attr, _linear, _size

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class _Window:
    """Sliding-window geometry over a ``(C, H, W)`` input; a 1-D input ``(C, L)`` is
    ``(C, 1, L)`` with a ``(1, k)`` kernel (``rank`` says which it was)."""

    channels: int
    height: int
    width: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilations: tuple[int, int]
    rank: int = 4

    def out_shape(self, channels: int) -> tuple[int, ...]:
        """The output's ONNX shape with ``channels`` channels."""
        oh, ow = self.out_dims()
        return (1, channels, ow) if self.rank == 3 else (1, channels, oh, ow)

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
    ctx: Ctx, node: onnx.NodeProto, shape: tuple[int, ...], kernel: tuple[int, ...]
) -> _Window:
    """The geometry of a 1-D ``(1, C, L)`` or 2-D ``(1, C, H, W)`` window op."""
    if len(shape) not in (3, 4) or shape[0] != 1 or len(kernel) != len(shape) - 2:
        raise ctx.fail(
            f"only 1-D (1, C, L) and 2-D (1, C, H, W) inputs with a kernel of that rank are "
            f"supported, got input {shape} and kernel {tuple(kernel)}"
        )
    dims = len(kernel)
    strides = tuple(_attr(node, "strides", [1] * dims))
    dilations = tuple(_attr(node, "dilations", [1] * dims))
    pads = tuple(_attr(node, "pads", [0] * 2 * dims))
    if len(pads) != 2 * dims or len(strides) != dims or len(dilations) != dims:
        raise ctx.fail(f"pads, strides and dilations must match the kernel's {dims} dimensions")
    if min(strides) < 1 or min(dilations) < 1 or min(kernel) < 1 or min(pads) < 0:
        raise ctx.fail("kernel sizes, strides and dilations must be positive, pads not negative")
    sizes = shape[2:]
    auto_pad = _attr(node, "auto_pad", "NOTSET")
    if auto_pad == "VALID":
        pads = (0,) * 2 * dims
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        before, after = [], []
        for size, k, st, d in zip(sizes, kernel, strides, dilations, strict=True):
            total = max((-(-size // st) - 1) * st + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            before.append(small if auto_pad == "SAME_UPPER" else big)
            after.append(big if auto_pad == "SAME_UPPER" else small)
        pads = (*before, *after)
    elif auto_pad != "NOTSET":
        raise ctx.fail(f"auto_pad {auto_pad} is not an ONNX padding mode")
    if dims == 1:
        return _Window(shape[1], 1, shape[2], (1, kernel[0]), (1, strides[0]),
                       (0, pads[0], 0, pads[1]), (1, dilations[0]), rank=3)  # fmt: skip
    return _Window(shape[1], shape[2], shape[3], (kernel[0], kernel[1]), (strides[0], strides[1]),
                   (pads[0], pads[1], pads[2], pads[3]), (dilations[0], dilations[1]))  # fmt: skip


def _conv(ctx: Ctx, node: onnx.NodeProto) -> Node:
    """1-D or 2-D convolution; ``group`` > 1 (grouped, depthwise) reads each output
    channel's own slice of the input channels."""
    x, s = ctx.var(node.input[0])
    w = np.asarray(ctx.const(node.input[1]), dtype=float)
    group = int(_attr(node, "group", 1))
    if w.ndim not in (3, 4) or len(s) != w.ndim:
        raise ctx.fail(
            "only 1-D (1, C, L) and 2-D (1, C, H, W) convolutions with a weight of the "
            f"input's rank are supported, got input {s} and weight {w.shape}"
        )
    out_c, per_group = w.shape[0], w.shape[1]
    if group < 1 or s[1] % group or out_c % group or per_group * group != s[1]:
        raise ctx.fail(
            f"group {group} does not divide input channels {s[1]} and output channels "
            f"{out_c} into groups of {per_group} input channels"
        )
    win = _window(ctx, node, s, tuple(w.shape[2:]))
    w4 = w.reshape(out_c, per_group, win.kernel[0], win.kernel[1])
    oh, ow = win.out_dims()
    h, col, valid = win.taps()  # (oh, ow, kh, kw)
    first = (np.arange(out_c) // (out_c // group)) * per_group  # each output's first input
    c = first[:, None] + np.arange(per_group)[None]  # (O, C/g)
    spatial = (h * win.width + col)[None, :, :, None]  # (1, oh, ow, 1, kh, kw)
    idx = c[:, None, None, :, None, None] * (win.height * win.width) + spatial
    coef = w4[:, None, None] * valid[None, :, :, None]  # (O, oh, ow, C/g, kh, kw)
    bias = np.zeros(out_c)
    if len(node.input) > 2 and node.input[2]:
        bias = np.asarray(ctx.const(node.input[2]), dtype=float)
    n = out_c * oh * ow
    kind = Linear(
        np.broadcast_to(idx, coef.shape).reshape(n, -1).astype(np.int64),
        coef.reshape(n, -1),
        np.repeat(bias, oh * ow),
    )
    return _linear(ctx, node, x, win.out_shape(out_c), kind)


def _pool_windows(
    ctx: Ctx, node: onnx.NodeProto
) -> tuple[str, _Window, IntArray, NDArray[np.bool_]]:
    x, s = ctx.var(node.input[0])
    win = _window(ctx, node, s, tuple(_attr(node, "kernel_shape", [])))
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
    return _linear(ctx, node, x, win.out_shape(win.channels), MaxWindow(windows))


def _avgpool(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, win, idx, valid = _pool_windows(ctx, node)
    count = (
        valid.shape[1] if _attr(node, "count_include_pad", 0) else valid.sum(axis=1, keepdims=True)
    )
    coef = valid / count
    kind = Linear(idx, coef, np.zeros(len(idx)))
    return _linear(ctx, node, x, win.out_shape(win.channels), kind)


def _global_windows(ctx: Ctx, node: onnx.NodeProto) -> tuple[str, tuple[int, ...], IntArray]:
    """Each channel's positions of a ``(1, C, ...)`` input, and the output shape."""
    x, s = ctx.var(node.input[0])
    if len(s) < 3 or s[0] != 1:
        raise ctx.fail(f"only inputs of shape (1, C, ...) are supported, got {s}")
    area = _size(s[2:])
    idx = np.arange(s[1])[:, None] * area + np.arange(area)[None]
    return x, (1, s[1]) + (1,) * (len(s) - 2), idx.astype(np.int64)


def _global_avgpool(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, out, idx = _global_windows(ctx, node)
    kind = Linear(idx, np.full(idx.shape, 1.0 / idx.shape[1]), np.zeros(len(idx)))
    return _linear(ctx, node, x, out, kind)


def _global_maxpool(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, out, idx = _global_windows(ctx, node)
    return _linear(ctx, node, x, out, MaxWindow(idx))


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
    return _elementwise(ctx, node, ctx.approximate(activations.sigmoid_smooth(ctx.tolerance)))


def _clip(ctx: Ctx, node: onnx.NodeProto) -> Node:
    bounds: list[float | None] = []
    for i in (1, 2):
        has = len(node.input) > i and node.input[i]
        bounds.append(float(np.asarray(ctx.const(node.input[i])).item()) if has else None)
    return _elementwise(ctx, node, activations.clip(bounds[0], bounds[1]))
