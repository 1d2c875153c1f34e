"""Tiny layout models: Pad, Slice, Split, Expand, Tile and nearest Resize after a
computed tensor (fixed-seed random weights)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from tests.protocol.zkml.helpers import init, make_model

Build = Callable[[], tuple[bytes, tuple[int, ...]]]


def _w(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.6, size=shape)


def after_conv(
    op: str, out_shape: tuple[int, ...], *consts: np.ndarray | None, opset: int = 13, **attrs: Any
) -> Build:
    """A 1x1 Conv of a (1, 2, 3, 4) input to 3 channels, then ``op`` (consts as inputs;
    None leaves an optional input empty), then ReLU."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        names = ["" if c is None else f"k{i}" for i, c in enumerate(consts)]
        nodes = [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
            helper.make_node(op, ["c", *names], ["l"], name="layout", **attrs),
            helper.make_node("Relu", ["l"], ["y"], name="act"),
        ]
        inits = [init("w", _w(50, 3, 2, 1, 1))]
        inits += [init(n, c) for n, c in zip(names, consts, strict=True) if c is not None]
        return make_model(nodes, (1, 2, 3, 4), out_shape, inits, opset=opset), (1, 2, 3, 4)

    return build


def split_and_join(opset: int) -> Build:
    """Split a computed (1, 6) tensor in three, then join two of the parts backwards."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        split = np.array([1, 2, 3], dtype=np.int64)
        nodes = [
            helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
            helper.make_node("Split", ["h", "sizes"] if opset >= 13 else ["h"], ["a", "b", "c"],
                             name="split", axis=1, **({} if opset >= 13 else {"split": split})),
            helper.make_node("Concat", ["c", "a"], ["y"], name="join", axis=1),
        ]  # fmt: skip
        inits = [init("w", _w(51, 6, 4))] + ([init("sizes", split)] if opset >= 13 else [])
        return make_model(nodes, (1, 4), (1, 4), inits, opset=opset), (1, 4)

    return build


def attention_scores() -> tuple[bytes, tuple[int, ...]]:
    """Two heads of q @ k^T then @ v, with q, k, v computed from the input."""
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"], name="q"),
        helper.make_node("MatMul", ["x", "wk"], ["k"], name="k"),
        helper.make_node("MatMul", ["x", "wv"], ["v"], name="v"),
        helper.make_node("Reshape", ["q", "heads"], ["qh"], name="q/heads"),
        helper.make_node("Reshape", ["k", "heads"], ["kh"], name="k/heads"),
        helper.make_node("Reshape", ["v", "heads"], ["vh"], name="v/heads"),
        helper.make_node("Transpose", ["qh"], ["qt"], name="q/t", perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["kh"], ["kt"], name="k/t", perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["vh"], ["vt"], name="v/t", perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["qt", "kt"], ["scores"], name="scores"),
        helper.make_node("MatMul", ["scores", "vt"], ["y"], name="mix"),
    ]
    inits = [init("wq", _w(52, 4, 4)), init("wk", _w(53, 4, 4)), init("wv", _w(54, 4, 4)),
             init("heads", np.array([1, 3, 2, 2], dtype=np.int64))]  # fmt: skip
    return make_model(nodes, (1, 3, 4), (1, 2, 3, 2), inits), (1, 3, 4)


def mat_of_two() -> tuple[bytes, tuple[int, ...]]:
    """(3, 4) @ (4, 2), both computed."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="act"),
        helper.make_node("Transpose", ["x"], ["t"], name="t", perm=[1, 0]),
        helper.make_node("MatMul", ["t", "w"], ["b"], name="proj"),
        helper.make_node("MatMul", ["a", "b"], ["y"], name="mm"),
    ]
    return make_model(nodes, (3, 4), (3, 2), [init("w", _w(55, 3, 2))]), (3, 4)


def softmax_classifier(opset: int) -> Build:
    """A classifier that ends in Softmax, as every tutorial model does."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        axis = {"axis": 1} if opset < 13 else {}
        nodes = [
            helper.make_node("Gemm", ["x", "w"], ["logits"], name="fc", transB=1, alpha=4.0),
            helper.make_node("Softmax", ["logits"], ["y"], name="probs", **axis),
        ]
        return make_model(nodes, (1, 4), (1, 5), [init("w", _w(56, 5, 4))], opset=opset), (1, 4)

    return build


def attention_block() -> tuple[bytes, tuple[int, ...]]:
    """softmax(q k^T / sqrt d) v over a 3-token sequence: Softmax inside the model."""
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"], name="q"),
        helper.make_node("MatMul", ["x", "wk"], ["k"], name="k"),
        helper.make_node("MatMul", ["x", "wv"], ["v"], name="v"),
        helper.make_node("Transpose", ["k"], ["kt"], name="k/t", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
        helper.make_node("Div", ["s", "root"], ["scaled"], name="scale"),
        helper.make_node("Softmax", ["scaled"], ["p"], name="attend", axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["y"], name="mix"),
    ]
    inits = [init("wq", _w(57, 4, 4)), init("wk", _w(58, 4, 4)), init("wv", _w(59, 4, 4)),
             init("root", np.array(2.0))]  # fmt: skip
    return make_model(nodes, (1, 3, 4), (1, 3, 4), inits), (1, 3, 4)


def root_and_ratio() -> tuple[bytes, tuple[int, ...]]:
    """sqrt(h^2 + 1), h / (h^2 + 1) and 1 / (h^2 + 1): Sqrt of, Div by and Reciprocal of
    computed tensors."""
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1, alpha=2.0),
        helper.make_node("Mul", ["h", "h"], ["sq"], name="square"),
        helper.make_node("Add", ["sq", "one"], ["den"], name="plus_one"),
        helper.make_node("Sqrt", ["den"], ["root"], name="root"),
        helper.make_node("Div", ["h", "den"], ["ratio"], name="ratio"),
        helper.make_node("Reciprocal", ["den"], ["inv"], name="inverse"),
        helper.make_node("Concat", ["root", "ratio", "inv"], ["y"], name="all", axis=1),
    ]
    inits = [init("w", _w(60, 3, 4)), init("one", np.array(1.0))]
    return make_model(nodes, (1, 4), (1, 9), inits), (1, 4)


def powers() -> tuple[bytes, tuple[int, ...]]:
    """(h^2 + 1) to the powers 0.5, -0.5, -1 and -2: Pow's root and reciprocals."""
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1, alpha=2.0),
        helper.make_node("Mul", ["h", "h"], ["sq"], name="square"),
        helper.make_node("Add", ["sq", "one"], ["den"], name="plus_one"),
        *(helper.make_node("Pow", ["den", f"e{i}"], [f"p{i}"], name=f"pow{i}") for i in range(4)),
        helper.make_node("Concat", [f"p{i}" for i in range(4)], ["y"], name="all", axis=1),
    ]
    exps = [init(f"e{i}", np.array(v)) for i, v in enumerate((0.5, -0.5, -1.0, -2.0))]
    inits = [init("w", _w(61, 3, 4)), init("one", np.array(1.0)), *exps]
    return make_model(nodes, (1, 4), (1, 12), inits), (1, 4)


def layer_norm(decomposed: bool) -> Build:
    """LayerNormalization over the last axis of a (1, 3, 6) sequence, as the opset-17 op
    or as older exporters write it (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div)."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        gamma, beta = _w(61, 6) + 1.0, _w(62, 6)
        pre = helper.make_node("MatMul", ["x", "w"], ["h"], name="proj")
        inits = [init("w", _w(63, 4, 6) * 2), init("gamma", gamma), init("beta", beta)]
        if not decomposed:
            norm = helper.make_node("LayerNormalization", ["h", "gamma", "beta"], ["y"],
                                    name="ln", axis=-1, epsilon=1e-5)  # fmt: skip
            return make_model([pre, norm], (1, 3, 4), (1, 3, 6), inits, opset=17), (1, 3, 4)
        nodes = [
            pre,
            helper.make_node("ReduceMean", ["h"], ["mu"], name="ln/mean", axes=[-1]),
            helper.make_node("Sub", ["h", "mu"], ["d"], name="ln/sub"),
            helper.make_node("Pow", ["d", "two"], ["d2"], name="ln/pow"),
            helper.make_node("ReduceMean", ["d2"], ["var"], name="ln/var", axes=[-1]),
            helper.make_node("Add", ["var", "eps"], ["ve"], name="ln/eps"),
            helper.make_node("Sqrt", ["ve"], ["sd"], name="ln/sqrt"),
            helper.make_node("Div", ["d", "sd"], ["z"], name="ln/div"),
            helper.make_node("Mul", ["z", "gamma"], ["zg"], name="ln/scale"),
            helper.make_node("Add", ["zg", "beta"], ["y"], name="ln/shift"),
        ]
        inits += [init("two", np.array(2.0)), init("eps", np.array(1e-5))]
        return make_model(nodes, (1, 3, 4), (1, 3, 6), inits), (1, 3, 4)

    return build


def argmax(last: bool) -> Build:
    """ArgMax over the classes of a small classifier (an int64 output)."""

    def build() -> tuple[bytes, tuple[int, ...]]:
        nodes = [
            helper.make_node("Gemm", ["x", "w"], ["logits"], name="fc", transB=1),
            helper.make_node("ArgMax", ["logits"], ["y"], name="pick", axis=1, keepdims=0,
                             select_last_index=int(last)),
        ]  # fmt: skip
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 4))],
            [helper.make_tensor_value_info("y", TensorProto.INT64, (1,))],
            [init("w", _w(64, 5, 4))],
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        return model.SerializeToString(), (1, 4)

    return build


def _i(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def reduce(op: str, out: tuple[int, ...], axes: list[int], opset: int, **attrs: Any) -> Build:
    """``op`` over ``axes`` of a computed (1, 3, 3, 4) tensor (axes as an input where
    the opset says so)."""
    as_input = (op == "ReduceSum" and opset >= 13) or opset >= 18
    if as_input:
        return after_conv(op, out, np.array(axes, dtype=np.int64), opset=opset, **attrs)
    return after_conv(op, out, opset=opset, axes=axes, **attrs)


LAYOUT: dict[str, Build] = {
    "powers": powers,
    "reduce_sum": reduce("ReduceSum", (1, 3, 1, 1), [2, 3], 13),
    "reduce_mean": reduce("ReduceMean", (1, 3), [-1, -2], 13, keepdims=0),
    "reduce_mean_opset18": reduce("ReduceMean", (1, 1, 3, 4), [1], 18),
    "reduce_max": reduce("ReduceMax", (1, 3, 3, 1), [3], 13),
    "reduce_min": reduce("ReduceMin", (1, 1, 1, 4), [1, 2], 13),
    "matmul_of_two": mat_of_two,
    "softmax_opset13": softmax_classifier(13),
    "softmax_opset11": softmax_classifier(11),
    "attention_block": attention_block,
    "sqrt_and_div": root_and_ratio,
    "argmax": argmax(False),
    "argmax_last": argmax(True),
    "layer_norm": layer_norm(False),
    "layer_norm_decomposed": layer_norm(True),
    "attention_scores": attention_scores,
    "pad_constant": after_conv("Pad", (1, 3, 5, 5), _i(0, 0, 1, 0, 0, 0, 1, 1), np.array(0.5)),
    "pad_reflect": after_conv("Pad", (1, 3, 5, 6), _i(0, 0, 1, 1, 0, 0, 1, 1), mode="reflect"),
    "pad_edge": after_conv("Pad", (1, 3, 4, 7), _i(0, 0, 0, 2, 0, 0, 1, 1), mode="edge"),
    "slice": after_conv("Slice", (1, 2, 2, 2), _i(1, 0, 3), _i(3, 2, 0), _i(1, 2, 3), _i(1, 1, -2)),
    "slice_to_the_end": after_conv("Slice", (1, 3, 3, 3), _i(1), _i(2**62), _i(3)),
    "split_opset13": split_and_join(13),
    "split_opset11": split_and_join(11),
    "expand": after_conv("Expand", (2, 3, 3, 4), _i(2, 1, 1, 1)),
    "tile": after_conv("Tile", (1, 6, 3, 8), _i(1, 2, 1, 2)),
    "resize_nearest_scales": after_conv(
        "Resize", (1, 3, 6, 8), None, np.array([1.0, 1.0, 2.0, 2.0], dtype=np.float32)
    ),
    "resize_nearest_sizes": after_conv(
        "Resize",
        (1, 3, 5, 7),
        None,
        None,
        _i(1, 3, 5, 7),
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    ),
    "resize_align_corners": after_conv(
        "Resize",
        (1, 3, 4, 6),
        None,
        None,
        _i(1, 3, 4, 6),
        coordinate_transformation_mode="align_corners",
        nearest_mode="round_prefer_ceil",
    ),
}
