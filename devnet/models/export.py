"""ONNX export of a trained ``Sequential``: one ONNX node per layer, opset 13, float32.

The graph takes one sample (batch dimension 1) named ``input`` and returns the raw
logits named ``logits``; there is no Softmax. Initialiser names are
``<node name>.<parameter>`` so a reader can match them to the training code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from devnet.models.fit import Sequential
from devnet.models.layers import (
    BN_EPSILON,
    Array,
    BatchNorm2d,
    Conv2d,
    Dense,
    Flatten,
    Layer,
    MaxPool2x2,
    Relu,
)

OPSET = 13
IR_VERSION = 8  # the IR version that shipped with opset 13 (onnx 1.10); widely readable
PRODUCER = "provernet-devnet"
INPUT_NAME, OUTPUT_NAME = "input", "logits"


class ExportError(Exception):
    """A layer has no ONNX counterpart in this exporter."""


def _tensor(name: str, array: Array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)


def _layer_node(
    layer: Layer, name: str, x: str, y: str
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    if isinstance(layer, Dense):
        inits = [_tensor(f"{name}.weight", layer.weight), _tensor(f"{name}.bias", layer.bias)]
        return helper.make_node("Gemm", [x, *(t.name for t in inits)], [y], name=name), inits
    if isinstance(layer, Conv2d):
        inits = [_tensor(f"{name}.weight", layer.weight), _tensor(f"{name}.bias", layer.bias)]
        k, p = layer.k, layer.pad
        node = helper.make_node(
            "Conv", [x, *(t.name for t in inits)], [y], name=name,
            kernel_shape=[k, k], pads=[p, p, p, p], strides=[1, 1],
        )  # fmt: skip
        return node, inits
    if isinstance(layer, BatchNorm2d):
        arrays = {"scale": layer.scale, "bias": layer.shift, "mean": layer.mean, "var": layer.var}
        inits = [_tensor(f"{name}.{key}", value) for key, value in arrays.items()]
        node = helper.make_node(
            "BatchNormalization", [x, *(t.name for t in inits)], [y], name=name,
            epsilon=BN_EPSILON,
        )  # fmt: skip
        return node, inits
    if isinstance(layer, Relu):
        return helper.make_node("Relu", [x], [y], name=name), []
    if isinstance(layer, MaxPool2x2):
        node = helper.make_node("MaxPool", [x], [y], name=name, kernel_shape=[2, 2], strides=[2, 2])
        return node, []
    if isinstance(layer, Flatten):
        return helper.make_node("Flatten", [x], [y], name=name, axis=1), []
    raise ExportError(f"no ONNX export for layer type {type(layer).__name__}")


def to_onnx(
    model: Sequential, input_shape: Sequence[int], output_shape: Sequence[int], graph_name: str
) -> onnx.ModelProto:
    """The ONNX model computing ``model.forward`` on inputs of ``input_shape``."""
    nodes, inits = [], []
    x = INPUT_NAME
    for i, layer in enumerate(model.layers):
        name = f"{type(layer).__name__.lower()}_{i}"
        y = OUTPUT_NAME if i == len(model.layers) - 1 else f"{name}.out"
        node, tensors = _layer_node(layer, name, x, y)
        nodes.append(node)
        inits.extend(tensors)
        x = y
    graph = helper.make_graph(
        nodes,
        graph_name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, list(output_shape))],
        initializer=inits,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER
    )
    onnx_model.ir_version = IR_VERSION
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model
