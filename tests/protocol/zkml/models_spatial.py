"""Tiny window models: grouped, depthwise and 1-D convolutions, 1-D pooling, automatic
padding and global max pooling (fixed-seed random weights)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import helper

from tests.protocol.zkml.helpers import init, make_model

Build = Callable[[], tuple[bytes, tuple[int, ...]]]


def _w(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.6, size=shape)


def conv(
    in_shape: tuple[int, ...], weight: tuple[int, ...], out_shape: tuple[int, ...], seed: int,
    **attrs: Any,
) -> Build:  # fmt: skip
    """One Conv (with a bias) then ReLU."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        nodes = [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", **attrs),
            helper.make_node("Relu", ["c"], ["y"], name="act"),
        ]
        inits = [init("w", _w(seed, *weight)), init("b", _w(seed + 1, weight[0]))]
        return make_model(nodes, in_shape, out_shape, inits), in_shape

    return build


def pool(
    op: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], **attrs: Any
) -> Build:  # fmt: skip
    """One pooling op of the input."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        node = helper.make_node(op, ["x"], ["y"], name="pool", **attrs)
        return make_model([node], in_shape, out_shape), in_shape

    return build


def separable() -> tuple[bytes, tuple[int, ...]]:
    """A depthwise-separable block: depthwise 3x3, pointwise 1x1, ReLU, global max."""
    nodes = [
        helper.make_node("Conv", ["x", "dw"], ["d"], name="depthwise", group=3, pads=[1] * 4),
        helper.make_node("Conv", ["d", "pw"], ["p"], name="pointwise"),
        helper.make_node("Relu", ["p"], ["r"], name="act"),
        helper.make_node("GlobalMaxPool", ["r"], ["y"], name="gmax"),
    ]
    inits = [init("dw", _w(40, 3, 1, 3, 3)), init("pw", _w(41, 4, 3, 1, 1))]
    return make_model(nodes, (1, 3, 5, 5), (1, 4, 1, 1), inits), (1, 3, 5, 5)


def conv1d_sequence() -> tuple[bytes, tuple[int, ...]]:
    """A Conv1d sequence model: conv, ReLU, 1-D max pool, conv, global average."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="act1"),
        helper.make_node("MaxPool", ["r1"], ["m"], name="pool", kernel_shape=[2], strides=[2]),
        helper.make_node("Conv", ["m", "w2"], ["c2"], name="conv2", dilations=[2]),
        helper.make_node("GlobalAveragePool", ["c2"], ["y"], name="gap"),
    ]
    inits = [init("w1", _w(42, 4, 2, 3)), init("w2", _w(43, 3, 4, 2))]
    return make_model(nodes, (1, 2, 10), (1, 3, 1), inits), (1, 2, 10)


SPATIAL: dict[str, Build] = {
    "conv_depthwise": conv((1, 3, 4, 4), (3, 1, 3, 3), (1, 3, 2, 2), 30, group=3),
    "conv_grouped": conv((1, 4, 4, 4), (6, 2, 2, 2), (1, 6, 2, 2), 32, group=2, strides=[2, 2]),
    "conv_depth_multiplier": conv((1, 2, 3, 3), (4, 1, 2, 2), (1, 4, 2, 2), 34, group=2),
    "conv1d": conv((1, 2, 7), (3, 2, 3), (1, 3, 3), 36, strides=[2], pads=[1, 0]),
    "conv_same_upper": conv(
        (1, 2, 5, 5), (2, 2, 3, 3), (1, 2, 3, 3), 38, auto_pad="SAME_UPPER", strides=[2, 2]
    ),
    "conv1d_same_lower": conv((1, 2, 6), (2, 2, 4), (1, 2, 6), 44, auto_pad="SAME_LOWER"),
    "maxpool1d": pool("MaxPool", (1, 2, 7), (1, 2, 3), kernel_shape=[3], strides=[2]),
    "avgpool1d_padded": pool(
        "AveragePool", (1, 2, 6), (1, 2, 3), kernel_shape=[3], pads=[1, 1], strides=[2]
    ),
    "maxpool_same_upper": pool(
        "MaxPool",
        (1, 2, 5, 5),
        (1, 2, 3, 3),
        kernel_shape=[2, 2],
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
    "global_maxpool": pool("GlobalMaxPool", (1, 3, 2, 3), (1, 3, 1, 1)),
    "global_avgpool1d": pool("GlobalAveragePool", (1, 3, 5), (1, 3, 1)),
    "separable_block": separable,
    "conv1d_sequence": conv1d_sequence,
}
