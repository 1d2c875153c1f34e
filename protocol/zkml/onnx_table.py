"""The table of supported ONNX ops: converters and constant folders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import onnx
from onnx import helper

from protocol.zkml import onnx_elementwise as el
from protocol.zkml import onnx_layout as la
from protocol.zkml import onnx_ops as o
from protocol.zkml import onnx_spatial as sp
from protocol.zkml.floatir import Node

Converter = Callable[[o.Ctx, onnx.NodeProto], Node | tuple[Node, ...]]
Array = np.ndarray[Any, Any]
Folder = Callable[[onnx.NodeProto, Mapping[str, Array], int], Array]

CONVERTERS: dict[str, Converter] = {
    "Identity": o._identity,
    "Cast": o._cast,
    "Flatten": o._flatten,
    "Reshape": o._reshape,
    "Squeeze": o._squeeze,
    "Unsqueeze": o._unsqueeze,
    "Transpose": o._transpose,
    "Concat": o._concat,
    "Pad": la._pad,
    "Slice": la._slice,
    "Split": la._split,
    "Expand": la._expand,
    "Tile": la._tile,
    "Resize": la._resize,
    "ReduceSum": la._reduce_linear,
    "ReduceMean": la._reduce_linear,
    "ReduceMax": la._reduce_max,
    "ReduceMin": la._reduce_max,
    "ArgMax": la._argmax,
    "Add": o._binary,
    "Sub": o._binary,
    "Mul": o._binary,
    "Div": o._binary,
    "Gemm": o._gemm,
    "MatMul": o._matmul,
    "Conv": sp._conv,
    "MaxPool": sp._maxpool,
    "AveragePool": sp._avgpool,
    "GlobalAveragePool": sp._global_avgpool,
    "GlobalMaxPool": sp._global_maxpool,
    "BatchNormalization": sp._batchnorm,
    "Relu": sp._relu,
    "LeakyRelu": sp._leaky_relu,
    "Sigmoid": sp._sigmoid,
    "Clip": sp._clip,
    "Tanh": el._tanh,
    "Erf": el._erf,
    "Exp": el._exp,
    "Softplus": el._softplus,
    "Elu": el._elu,
    "Selu": el._selu,
    "HardSigmoid": el._hard_sigmoid,
    "HardSwish": el._hard_swish,
    "Abs": el._abs,
    "Neg": el._neg,
    "PRelu": el._prelu,
    "Max": el._min_max,
    "Min": el._min_max,
    "Pow": el._pow,
    "Softmax": el._softmax,
    "Sqrt": el._sqrt,
    "Reciprocal": el._reciprocal,
    "LayerNormalization": el._layer_norm,
}


def _ins(node: onnx.NodeProto, consts: Mapping[str, Array]) -> list[Array]:
    return [consts[i] for i in node.input if i]


def _axes_of(node: onnx.NodeProto, consts: Mapping[str, Array], opset: int) -> list[int]:
    if opset < 13 or len(node.input) < 2:
        return list(o._attr(node, "axes", []))
    return [int(a) for a in consts[node.input[1]].ravel()]


def _unsqueeze(node: onnx.NodeProto, consts: Mapping[str, Array], opset: int) -> Array:
    x = consts[node.input[0]]
    axes = _axes_of(node, consts, opset)
    return np.expand_dims(x, tuple(a % (x.ndim + len(axes)) for a in axes))


def _squeeze(node: onnx.NodeProto, consts: Mapping[str, Array], opset: int) -> Array:
    x = consts[node.input[0]]
    axes = _axes_of(node, consts, opset)
    return np.squeeze(x, axis=tuple(axes) if axes else None)


def _slice(node: onnx.NodeProto, consts: Mapping[str, Array], opset: int) -> Array:
    ins = [consts[i] if i else None for i in node.input]
    x, starts, ends = ins[0], ins[1], ins[2]
    assert x is not None
    assert starts is not None
    assert ends is not None
    axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts.ravel()))
    steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts.ravel()))
    picks = [slice(None)] * x.ndim
    for a, b, axis, step in zip(starts.ravel(), ends.ravel(), axes.ravel(), steps.ravel(),
                                strict=True):  # fmt: skip
        picks[int(axis) % x.ndim] = slice(int(a), int(b), int(step))
    return np.asarray(x[tuple(picks)])


def _reshape(node: onnx.NodeProto, consts: Mapping[str, Array], opset: int) -> Array:
    x, shape = _ins(node, consts)[:2]
    target = [x.shape[i] if d == 0 else int(d) for i, d in enumerate(shape.ravel())]
    return x.reshape(target)


FOLDABLE: dict[str, Folder] = {
    "Identity": lambda n, c, v: _ins(n, c)[0],
    "Cast": lambda n, c, v: _ins(n, c)[0].astype(
        helper.tensor_dtype_to_np_dtype(o._attr(n, "to", 1))
    ),
    "Gather": lambda n, c, v: np.take(_ins(n, c)[0], _ins(n, c)[1], axis=o._attr(n, "axis", 0)),
    "Concat": lambda n, c, v: np.concatenate(_ins(n, c), axis=o._attr(n, "axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Transpose": lambda n, c, v: np.transpose(_ins(n, c)[0], o._attr(n, "perm", None)),
    "Add": lambda n, c, v: np.add(*_ins(n, c)),
    "Sub": lambda n, c, v: np.subtract(*_ins(n, c)),
    "Mul": lambda n, c, v: np.multiply(*_ins(n, c)),
    "Div": lambda n, c, v: np.divide(*_ins(n, c)),
    "Neg": lambda n, c, v: np.negative(_ins(n, c)[0]),
    "Pow": lambda n, c, v: np.power(*_ins(n, c)),
    "Max": lambda n, c, v: np.maximum.reduce(_ins(n, c)),
    "Min": lambda n, c, v: np.minimum.reduce(_ins(n, c)),
    "Abs": lambda n, c, v: np.abs(_ins(n, c)[0]),
    "Exp": lambda n, c, v: np.exp(_ins(n, c)[0]),
    "Sqrt": lambda n, c, v: np.sqrt(_ins(n, c)[0]),
    "Shape": lambda n, c, v: np.array(_ins(n, c)[0].shape, dtype=np.int64),
    "Slice": _slice,
    "Expand": lambda n, c, v: np.broadcast_to(
        _ins(n, c)[0], np.broadcast_shapes(_ins(n, c)[0].shape, tuple(_ins(n, c)[1]))
    ).copy(),
    "Tile": lambda n, c, v: np.tile(*_ins(n, c)),
}
