"""Tiny ONNX models, one or two ops each, with random weights (fixed seeds)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import helper

from tests.protocol.zkml.helpers import init, make_model
from tests.protocol.zkml.models_layout import LAYOUT
from tests.protocol.zkml.models_spatial import SPATIAL


def _w(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.6, size=shape)


def gemm() -> tuple[bytes, tuple[int, ...]]:
    node = helper.make_node(
        "Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1, alpha=0.5, beta=2.0
    )
    return make_model([node], (1, 4), (1, 3), [init("w", _w(2, 3, 4)), init("b", _w(3, 3))]), (1, 4)


def gemm_trans_a() -> tuple[bytes, tuple[int, ...]]:
    node = helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transA=1)
    return make_model([node], (4, 1), (1, 3), [init("w", _w(4, 4, 3))]), (4, 1)


def matmul_add_relu() -> tuple[bytes, tuple[int, ...]]:
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "b"], ["a"], name="bias"),
        helper.make_node("Relu", ["a"], ["y"], name="act"),
    ]
    return make_model(nodes, (1, 4), (1, 3), [init("w", _w(5, 4, 3)), init("b", _w(6, 3))]), (1, 4)


def gemm_then(
    op: str, *consts: np.ndarray, opset: int = 13, **attrs: float
) -> Callable[[], tuple[bytes, tuple[int, ...]]]:
    """fc (x 3 the weights' spread, so curved regions are reached), then ``op``."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        names = [f"c{i}" for i in range(len(consts))]
        nodes = [
            helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1, alpha=3.0),
            helper.make_node(op, ["h", *names], ["y"], name="act", **attrs),
        ]
        inits = [init("w", _w(7, 3, 4)), *(init(n, c) for n, c in zip(names, consts, strict=True))]
        return make_model(nodes, (1, 4), (1, 3), inits, opset=opset), (1, 4)

    return build


def _two_branches(op: str) -> Callable[[], tuple[bytes, tuple[int, ...]]]:
    """``op`` of two computed tensors, one broadcast along a row."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        nodes = [
            helper.make_node("MatMul", ["x", "w"], ["a"], name="left"),
            helper.make_node("MatMul", ["x", "v"], ["b"], name="right"),
            helper.make_node(op, ["a", "b"], ["y"], name="pick"),
        ]
        inits = [init("w", _w(18, 4, 3) * 2), init("v", _w(19, 4, 1) * 2)]
        return make_model(nodes, (1, 4), (1, 3), inits), (1, 4)

    return build


def gelu_erf() -> tuple[bytes, tuple[int, ...]]:
    """GELU as PyTorch's exporter writes it: x * 0.5 * (1 + erf(x / sqrt 2))."""
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1, alpha=3.0),
        helper.make_node("Div", ["h", "sqrt2"], ["s"], name="gelu/div"),
        helper.make_node("Erf", ["s"], ["e"], name="gelu/erf"),
        helper.make_node("Add", ["e", "one"], ["e1"], name="gelu/add"),
        helper.make_node("Mul", ["h", "e1"], ["m"], name="gelu/mul"),
        helper.make_node("Mul", ["m", "half"], ["y"], name="gelu/half"),
    ]
    inits = [init("w", _w(20, 3, 4)), init("sqrt2", np.array(np.sqrt(2.0))),
             init("one", np.array(1.0)), init("half", np.array(0.5))]  # fmt: skip
    return make_model(nodes, (1, 4), (1, 3), inits), (1, 4)


def silu_and_mish() -> tuple[bytes, tuple[int, ...]]:
    """SiLU (x * sigmoid(x)) and Mish (x * tanh(softplus(x))) as exporters write them."""
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1, alpha=3.0),
        helper.make_node("Sigmoid", ["h"], ["s"], name="silu/sigmoid"),
        helper.make_node("Mul", ["h", "s"], ["silu"], name="silu/mul"),
        helper.make_node("Softplus", ["h"], ["sp"], name="mish/softplus"),
        helper.make_node("Tanh", ["sp"], ["t"], name="mish/tanh"),
        helper.make_node("Mul", ["h", "t"], ["mish"], name="mish/mul"),
        helper.make_node("Concat", ["silu", "mish"], ["y"], name="both", axis=1),
    ]
    return make_model(nodes, (1, 4), (1, 6), [init("w", _w(22, 3, 4))]), (1, 4)


def gelu_tanh() -> tuple[bytes, tuple[int, ...]]:
    """GELU's tanh form: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1, alpha=3.0),
        helper.make_node("Pow", ["h", "three"], ["c"], name="gelu/pow"),
        helper.make_node("Mul", ["c", "k"], ["ck"], name="gelu/mul0"),
        helper.make_node("Add", ["h", "ck"], ["inner"], name="gelu/add0"),
        helper.make_node("Mul", ["inner", "root"], ["arg"], name="gelu/mul1"),
        helper.make_node("Tanh", ["arg"], ["t"], name="gelu/tanh"),
        helper.make_node("Add", ["t", "one"], ["t1"], name="gelu/add1"),
        helper.make_node("Mul", ["h", "t1"], ["m"], name="gelu/mul2"),
        helper.make_node("Mul", ["m", "half"], ["y"], name="gelu/half"),
    ]
    inits = [init("w", _w(21, 3, 4)), init("three", np.array(3.0)), init("k", np.array(0.044715)),
             init("root", np.array(np.sqrt(2.0 / np.pi))), init("one", np.array(1.0)),
             init("half", np.array(0.5))]  # fmt: skip
    return make_model(nodes, (1, 4), (1, 3), inits), (1, 4)


def clip(lo: float | None, hi: float | None) -> Callable[[], tuple[bytes, tuple[int, ...]]]:
    def build() -> tuple[bytes, tuple[int, ...]]:
        inits = [init("w", _w(8, 3, 4))]
        names = ["h", "", ""]
        if lo is not None:
            inits.append(init("lo", np.array(lo, dtype=np.float32)))
            names[1] = "lo"
        if hi is not None:
            inits.append(init("hi", np.array(hi, dtype=np.float32)))
            names[2] = "hi"
        nodes = [
            helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
            helper.make_node("Clip", names, ["y"], name="clip"),
        ]
        return make_model(nodes, (1, 4), (1, 3), inits, opset=11), (1, 4)

    return build


def conv_relu() -> tuple[bytes, tuple[int, ...]]:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="act"),
    ]
    inits = [init("w", _w(9, 2, 1, 3, 3)), init("b", _w(10, 2))]
    return make_model(nodes, (1, 1, 4, 4), (1, 2, 4, 4), inits), (1, 1, 4, 4)


def conv_strided() -> tuple[bytes, tuple[int, ...]]:
    node = helper.make_node(
        "Conv", ["x", "w"], ["y"], name="conv", strides=[2, 1], dilations=[1, 2], pads=[0, 1, 1, 0]
    )
    return make_model([node], (1, 2, 5, 5), (1, 1, 3, 4), [init("w", _w(11, 1, 2, 2, 2))]), (
        1,
        2,
        5,
        5,
    )


def conv_bn_maxpool() -> tuple[bytes, tuple[int, ...]]:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
        helper.make_node("MaxPool", ["n"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
    ]
    inits = [
        init("w", _w(12, 2, 1, 3, 3)),
        init("s", np.array([1.5, 0.7])),
        init("bb", np.array([0.1, -0.2])),
        init("m", np.array([0.05, -0.1])),
        init("v", np.array([0.9, 1.3])),
    ]
    return make_model(nodes, (1, 1, 4, 4), (1, 2, 2, 2), inits), (1, 1, 4, 4)


def maxpool_padded() -> tuple[bytes, tuple[int, ...]]:
    node = helper.make_node(
        "MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
    )
    return make_model([node], (1, 1, 4, 4), (1, 1, 2, 2)), (1, 1, 4, 4)


def avgpool() -> tuple[bytes, tuple[int, ...]]:
    node = helper.make_node(
        "AveragePool",
        ["x"],
        ["y"],
        name="pool",
        kernel_shape=[3, 3],
        pads=[1, 1, 1, 1],
        strides=[2, 2],
    )
    return make_model([node], (1, 2, 4, 4), (1, 2, 2, 2)), (1, 2, 4, 4)


def global_avgpool() -> tuple[bytes, tuple[int, ...]]:
    node = helper.make_node("GlobalAveragePool", ["x"], ["y"], name="gap")
    return make_model([node], (1, 2, 3, 3), (1, 2, 1, 1)), (1, 2, 3, 3)


def batchnorm_alone() -> tuple[bytes, tuple[int, ...]]:
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")
    inits = [init(n, np.random.default_rng(99).uniform(0.5, 1.5, 2)) for n in ("s", "b", "m", "v")]
    return make_model([node], (1, 2, 2, 2), (1, 2, 2, 2), inits), (1, 2, 2, 2)


def layout_chain(opset: int) -> Callable[[], tuple[bytes, tuple[int, ...]]]:
    def build() -> tuple[bytes, tuple[int, ...]]:
        if opset < 13:
            unsq = helper.make_node("Unsqueeze", ["t"], ["u"], name="unsq", axes=[0])
            sq = helper.make_node("Squeeze", ["u"], ["s"], name="sq", axes=[0])
            inits = [init("shape", np.array([1, 6, 2], dtype=np.int64))]
        else:
            unsq = helper.make_node("Unsqueeze", ["t", "ax"], ["u"], name="unsq")
            sq = helper.make_node("Squeeze", ["u", "ax"], ["s"], name="sq")
            inits = [
                init("shape", np.array([1, 6, 2], dtype=np.int64)),
                init("ax", np.array([0], dtype=np.int64)),
            ]
        nodes = [
            helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
            helper.make_node("Transpose", ["r"], ["t"], name="tr", perm=[0, 2, 1]),
            unsq,
            sq,
            helper.make_node("Identity", ["s"], ["i"], name="id"),
            helper.make_node("Flatten", ["i"], ["f"], name="flat"),
            helper.make_node("Relu", ["f"], ["y"], name="act"),
        ]
        return make_model(nodes, (1, 3, 4), (1, 12), inits, opset=opset), (1, 3, 4)

    return build


def branches() -> tuple[bytes, tuple[int, ...]]:
    """Add, Sub and Concat of computed tensors, Mul by a constant, Div by a constant."""
    nodes = [
        helper.make_node("Gemm", ["x", "w1"], ["a"], name="fa", transB=1),
        helper.make_node("Relu", ["a"], ["ra"], name="ra"),
        helper.make_node("Gemm", ["x", "w2"], ["b"], name="fb", transB=1),
        helper.make_node("Add", ["ra", "b"], ["s"], name="add"),
        helper.make_node("Sub", ["s", "x"], ["d"], name="sub"),
        helper.make_node("Mul", ["d", "k"], ["m"], name="mulc"),
        helper.make_node("Div", ["ra", "two"], ["h"], name="div"),
        helper.make_node("Concat", ["m", "h", "c"], ["y"], name="cat", axis=1),
    ]
    inits = [
        init("w1", _w(13, 4, 4)),
        init("w2", _w(14, 4, 4)),
        init("k", _w(15, 4)),
        init("two", np.array(2.0)),
        init("c", np.array([[0.25, -0.5]])),
    ]
    return make_model(nodes, (1, 4), (1, 10), inits), (1, 4)


def product() -> tuple[bytes, tuple[int, ...]]:
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["a"], name="fc", transB=1),
        helper.make_node("Mul", ["a", "x"], ["y"], name="mul"),
    ]
    return make_model(nodes, (1, 3), (1, 3), [init("w", _w(16, 3, 3))]), (1, 3)


def chained_products() -> tuple[bytes, tuple[int, ...]]:
    """Products of products (x^2, x^4, x^4 * x, a ReLU of that, times x^2): each
    product's operands are rescaled first, so widths do not double along the chain."""
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["g"], name="fc", transB=1),
        helper.make_node("Mul", ["g", "g"], ["sq"], name="square"),
        helper.make_node("Mul", ["sq", "sq"], ["quad"], name="fourth"),
        helper.make_node("Mul", ["quad", "g"], ["fifth"], name="fifth"),
        helper.make_node("Relu", ["fifth"], ["r"], name="act"),
        helper.make_node("Mul", ["r", "sq"], ["y"], name="last"),
    ]
    return make_model(nodes, (1, 3), (1, 3), [init("w", _w(17, 3, 3))]), (1, 3)


CASES: dict[str, Callable[[], tuple[bytes, tuple[int, ...]]]] = {
    "gemm": gemm,
    "gemm_trans_a": gemm_trans_a,
    "matmul_add_relu": matmul_add_relu,
    "leaky_relu": gemm_then("LeakyRelu", alpha=0.1),
    "sigmoid": gemm_then("Sigmoid"),
    "clip_both": clip(-0.5, 0.75),
    "clip_relu6": clip(0.0, 6.0),
    "clip_max_only": clip(None, 0.3),
    "conv_relu": conv_relu,
    "conv_strided": conv_strided,
    "conv_bn_maxpool": conv_bn_maxpool,
    "maxpool_padded": maxpool_padded,
    "avgpool": avgpool,
    "global_avgpool": global_avgpool,
    "batchnorm_alone": batchnorm_alone,
    "layout_opset11": layout_chain(11),
    "layout_opset13": layout_chain(13),
    "branches": branches,
    "product": product,
    "chained_products": chained_products,
    "tanh": gemm_then("Tanh"),
    "exp": gemm_then("Exp"),
    "erf": gemm_then("Erf"),
    "softplus": gemm_then("Softplus"),
    "elu": gemm_then("Elu", alpha=0.7),
    "selu": gemm_then("Selu"),
    "hard_sigmoid": gemm_then("HardSigmoid", alpha=0.3, beta=0.4),
    "hard_swish": gemm_then("HardSwish", opset=14),
    "abs": gemm_then("Abs"),
    "neg": gemm_then("Neg"),
    "prelu_one_slope": gemm_then("PRelu", np.array([0.25])),
    "prelu_per_channel": gemm_then("PRelu", np.array([0.1, -0.3, 0.6])),
    "max_with_constant": gemm_then("Max", np.array(0.2)),
    "min_with_constant": gemm_then("Min", np.array(-0.1)),
    "max_of_two": _two_branches("Max"),
    "min_of_two": _two_branches("Min"),
    "cube": gemm_then("Pow", np.array(3.0)),
    "gelu_erf": gelu_erf,
    "gelu_tanh": gelu_tanh,
    "silu_and_mish": silu_and_mish,
}


def exported_flatten() -> tuple[bytes, tuple[int, ...]]:
    """A PyTorch-style flatten: Shape, Gather, Unsqueeze and Concat of Constant nodes."""
    const = helper.make_node(
        "Constant",
        [],
        ["idx"],
        name="c0",
        value=helper.make_tensor("v", 7, [], [0]),  # 7 = INT64
    )
    minus_one = helper.make_node("Constant", [], ["m1"], name="c1", value_ints=[-1])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="act"),
        helper.make_node("Shape", ["r"], ["s"], name="shape"),
        const,
        helper.make_node("Gather", ["s", "idx"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "zero"], ["n1"], name="unsq"),
        minus_one,
        helper.make_node("Concat", ["n1", "m1"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["r", "target"], ["f"], name="reshape"),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc", transB=1),
    ]
    inits = [
        init("zero", np.array([0], dtype=np.int64)),
        init("w", _w(30, 2, 8)),
        init("b", _w(31, 2)),
    ]
    return make_model(nodes, (1, 2, 2, 2), (1, 2), inits, opset=18), (1, 2, 2, 2)


def wide() -> tuple[bytes, tuple[int, ...]]:
    """Products and sums whose accumulators exceed 64 bits at wide bit settings."""
    nodes = [
        helper.make_node("Mul", ["x", "x"], ["p"], name="square"),
        helper.make_node("Gemm", ["p", "w"], ["y"], name="fc", transB=1),
    ]
    return make_model(nodes, (1, 6), (1, 2), [init("w", _w(32, 2, 6))]), (1, 6)


CASES["exported_flatten_opset18"] = exported_flatten
CASES["layout_opset18"] = layout_chain(18)


def matmul_left() -> tuple[bytes, tuple[int, ...]]:
    """A constant matrix times the input, then a second linear layer with no activation."""
    nodes = [
        helper.make_node("MatMul", ["w", "x"], ["h"], name="left"),
        helper.make_node("Gemm", ["h", "v"], ["y"], name="fc"),
    ]
    inits = [init("w", _w(40, 3, 4)), init("v", _w(41, 2, 3))]
    return make_model(nodes, (4, 2), (3, 3), inits), (4, 2)


CASES["matmul_left_then_gemm"] = matmul_left


CASES |= SPATIAL
CASES |= LAYOUT
