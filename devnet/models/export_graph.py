"""ONNX export of any layer stack of the numpy kit, branches included, as the usual exporters
write it.

``to_onnx_graph`` walks the layers once, each emitting its nodes through a ``Builder``:
the classic layers as in ``export``; GELU in PyTorch's Erf form (Div, Erf, Add, Mul,
Mul); a token projection as MatMul then Add; attention as three projections, a
Transpose, MatMul, Div by sqrt(d), Softmax, MatMul and the output projection; a
residual as its branch then Add. Initialiser names are ``<layer name>.<parameter>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from devnet.models.export import INPUT_NAME, IR_VERSION, PRODUCER, ExportError, _layer_node
from devnet.models.fit import Sequential
from devnet.models.layers import Array, Layer
from devnet.models.layers_seq import (
    LN_EPSILON,
    SQRT2,
    AddPosition,
    Conv1d,
    DepthwiseConv2d,
    Gelu,
    LayerNorm,
    MaxPool1d2,
    MeanAxis,
    Reshape,
    Residual,
    SelfAttention,
    TokenDense,
)


class Builder:
    """Collects nodes and initialisers; every tensor name is unique."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, array: Array | float, dtype: type = np.float32) -> str:
        """An initialiser named ``name`` holding ``array``."""
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], name: str, **attrs: Any) -> str:
        """One node named ``name`` with the single output ``<name>.out``."""
        out = f"{name}.out"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))
        return out


def _dense(b: Builder, layer: TokenDense, name: str, x: str) -> str:
    y = b.op("MatMul", [x, b.const(f"{name}.weight", layer.weight)], f"{name}/matmul")
    return b.op("Add", [y, b.const(f"{name}.bias", layer.bias)], name)


def _gelu(b: Builder, name: str, x: str) -> str:
    scaled = b.op("Div", [x, b.const(f"{name}.sqrt2", SQRT2)], f"{name}/div")
    erf = b.op("Erf", [scaled], f"{name}/erf")
    plus = b.op("Add", [erf, b.const(f"{name}.one", 1.0)], f"{name}/add")
    times = b.op("Mul", [x, plus], f"{name}/mul")
    return b.op("Mul", [times, b.const(f"{name}.half", 0.5)], name)


def _attention(b: Builder, layer: SelfAttention, name: str, x: str) -> str:
    q = _dense(b, layer.q, f"{name}.q", x)
    k = _dense(b, layer.k, f"{name}.k", x)
    v = _dense(b, layer.v, f"{name}.v", x)
    k_t = b.op("Transpose", [k], f"{name}/transpose", perm=[0, 2, 1])
    scores = b.op("MatMul", [q, k_t], f"{name}/scores")
    root = b.const(f"{name}.sqrt_d", math.sqrt(layer.d))
    scaled = b.op("Div", [scores, root], f"{name}/scale")
    weights = b.op("Softmax", [scaled], f"{name}/softmax", axis=-1)
    mixed = b.op("MatMul", [weights, v], f"{name}/mix")
    return _dense(b, layer.o, f"{name}.o", mixed)


def emit(b: Builder, layer: Layer, name: str, x: str) -> str:
    """Emit ``layer`` applied to tensor ``x``; return its output tensor's name."""
    if isinstance(layer, TokenDense):
        return _dense(b, layer, name, x)
    if isinstance(layer, Gelu):
        return _gelu(b, name, x)
    if isinstance(layer, SelfAttention):
        return _attention(b, layer, name, x)
    if isinstance(layer, Residual):
        y = x
        for i, inner in enumerate(layer.layers):
            y = emit(b, inner, f"{name}.{i}", y)
        return b.op("Add", [x, y], name)
    if isinstance(layer, DepthwiseConv2d):
        c, k, p = len(layer.weight), layer.k, layer.pad
        w = b.const(f"{name}.weight", layer.weight[:, None])
        return b.op(
            "Conv", [x, w, b.const(f"{name}.bias", layer.bias)], name,
            group=c, kernel_shape=[k, k], pads=[p, p, p, p], strides=[1, 1],
        )  # fmt: skip
    if isinstance(layer, Conv1d):
        k, p = layer.k, layer.pad
        inputs = [x, b.const(f"{name}.weight", layer.weight), b.const(f"{name}.bias", layer.bias)]
        return b.op("Conv", inputs, name, kernel_shape=[k], pads=[p, p], strides=[1])
    if isinstance(layer, MaxPool1d2):
        return b.op("MaxPool", [x], name, kernel_shape=[2], strides=[2])
    if isinstance(layer, MeanAxis):
        return b.op("ReduceMean", [x], name, axes=[layer.axis], keepdims=0)
    if isinstance(layer, LayerNorm):
        inputs = [x, b.const(f"{name}.scale", layer.scale), b.const(f"{name}.shift", layer.shift)]
        return b.op("LayerNormalization", inputs, name, axis=-1, epsilon=LN_EPSILON)
    if isinstance(layer, AddPosition):
        return b.op("Add", [x, b.const(f"{name}.table", layer.table)], name)
    if isinstance(layer, Reshape):
        shape = b.const(f"{name}.shape", np.array([1, *layer.shape]), dtype=np.int64)
        return b.op("Reshape", [x, shape], name)
    node, tensors = _layer_node(layer, name, x, f"{name}.out")
    b.nodes.append(node)
    b.inits.extend(tensors)
    return f"{name}.out"


def to_onnx_graph(
    model: Sequential,
    input_shape: Sequence[int],
    output: tuple[str, Sequence[int]],
    graph_name: str,
    *,
    opset: int,
    softmax_output: bool = False,
) -> onnx.ModelProto:
    """The ONNX model computing ``model.forward`` (then a Softmax if asked) on one sample."""
    b = Builder()
    x = INPUT_NAME
    for i, layer in enumerate(model.layers):
        x = emit(b, layer, f"{type(layer).__name__.lower()}_{i}", x)
    if softmax_output:
        x = b.op("Softmax", [x], "softmax", axis=-1)
    out_name, out_shape = output
    b.nodes.append(helper.make_node("Identity", [x], [out_name], name="output"))
    graph = helper.make_graph(
        b.nodes,
        graph_name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(out_shape))],
        initializer=b.inits,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=PRODUCER
    )
    onnx_model.ir_version = IR_VERSION  # IR 8 reads every opset up to 17
    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except onnx.checker.ValidationError as exc:  # a kit bug, not a user's
        raise ExportError(f"{graph_name}: exported graph is invalid: {exc}") from exc
    return onnx_model
