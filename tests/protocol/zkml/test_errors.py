"""Compile errors name the node, its op and a remedy; input errors reject bad inputs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from protocol.errors import RemoteProtocolError
from protocol.zkml import CompiledModel, CompileError, CompileOptions, InputError, compile_model
from protocol.zkml.errors import UnsupportedNodesError
from tests.protocol.zkml.helpers import SALT, init, make_model, run_onnxruntime, tensor
from tests.protocol.zkml.models import matmul_add_relu


def _fc(extra: list, out: str = "h", out_shape: tuple[int, ...] = (1, 3)) -> bytes:
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1), *extra]
    return make_model(nodes, (1, 4), out_shape, [init("w", np.ones((3, 4)))], out_name=out)


def test_unsupported_op_names_node_and_op() -> None:
    data = _fc([helper.make_node("Sin", ["h"], ["y"], name="squash")], out="y")
    with pytest.raises(CompileError) as err:
        compile_model(data)
    assert err.value.node_name == "squash"
    assert err.value.op_type == "Sin"
    assert "node 'squash' (op Sin) is not supported" in str(err.value)
    assert err.value.hint


def test_log_softmax_says_to_use_softmax_or_remove_it() -> None:
    data = _fc([helper.make_node("LogSoftmax", ["h"], ["y"], name="probs", axis=1)], out="y")
    with pytest.raises(
        CompileError, match=r"node 'probs' \(op LogSoftmax\).*use Softmax .*or remove a final"
    ):
        compile_model(data)


def test_a_dynamic_batch_is_one_sample_and_another_dynamic_dimension_is_named() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], name="act")

    def model(dims: list[object]) -> bytes:
        graph = helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)],
        )  # fmt: skip
        return helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 13)]
        ).SerializeToString()

    assert compile_model(model(["batch", 4])).input_shape == (1, 4)
    with pytest.raises(CompileError, match=r"tensor '[xy]' has a dynamic dimension 'width'"):
        compile_model(model([1, "width"]))


def test_weight_that_is_a_graph_input_is_rejected() -> None:
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    graph = helper.make_graph(
        [node], "g", [tensor("x", (1, 4)), tensor("w", (4, 3))], [tensor("y", (1, 3))]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(CompileError, match=r"node 'mm' \(op MatMul\).*'w' is a graph input") as err:
        compile_model(model.SerializeToString())
    assert "initializers" in err.value.hint


def test_two_outputs_are_rejected() -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["y"], name="a"),
        helper.make_node("Neg", ["x"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [tensor("x", (1, 4))], [tensor("y", (1, 4)), tensor("z", (1, 4))]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(CompileError, match="the model has 2 outputs"):
        compile_model(model.SerializeToString())


def test_a_matmul_operand_computed_from_the_input_is_a_product_of_activations() -> None:
    """It once failed with "weights must be initializers", which read like an export
    mistake; it is x @ reshape(relu(x)), two computed tensors, and compiles."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="act"),
        helper.make_node("MatMul", ["x", "r2"], ["y"], name="mm"),
        helper.make_node("Reshape", ["r", "shape"], ["r2"], name="rs"),
    ]
    nodes = [nodes[0], nodes[2], nodes[1]]
    inits = [init("shape", np.array([4, 1], dtype=np.int64))]
    data = make_model(nodes, (1, 4), (1, 1), inits)
    x = np.array([[0.5, -0.25, 0.75, 0.1]])
    model = compile_model(data, np.stack([x, -x, x / 2]))
    out = model.dequantize_output(model.infer_quantized(model.quantize_input(x)))
    np.testing.assert_allclose(out, run_onnxruntime(data, x).ravel(), atol=0.01)


@pytest.mark.parametrize("cut", [1, 10, 40, -7])
def test_truncated_onnx_bytes(cut: int) -> None:
    data, _ = matmul_add_relu()
    with pytest.raises(CompileError):
        compile_model(data[:cut])


def test_garbage_bytes() -> None:
    with pytest.raises(CompileError):
        compile_model(b"\xff\x00not an onnx model at all\x13\x37" * 5)


def test_unsupported_opset() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], name="act")
    with pytest.raises(CompileError, match="opset"):
        compile_model(make_model([node], (1, 4), (1, 4), opset=9))


def test_a_default_domain_opset_out_of_range_is_named_as_such() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], name="act")
    with pytest.raises(CompileError, match="default-domain opset 19 is not supported"):
        compile_model(make_model([node], (1, 4), (1, 4), opset=19))


def _sklearn_like(*, ml_node: bool = True) -> bytes:
    """An ai.onnx.ml op provernet does not compile (Binarizer), then a default-domain
    MatMul; both opsets imported, as skl2onnx does."""
    scaler = helper.make_node(
        "Binarizer", ["x"], ["s"], name="scaler", domain="ai.onnx.ml", threshold=0.5
    )
    first = scaler if ml_node else helper.make_node("Relu", ["x"], ["s"], name="act")
    nodes = [first, helper.make_node("MatMul", ["s", "w"], ["y"], name="linear")]
    graph = helper.make_graph(
        nodes, "g", [tensor("x", (1, 4))], [tensor("y", (1, 3))], [init("w", np.ones((4, 3)))]
    )
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


def test_a_model_in_the_ml_domain_is_told_the_domain_and_the_op() -> None:
    with pytest.raises(CompileError) as err:
        compile_model(_sklearn_like())
    assert (err.value.node_name, err.value.op_type) == ("scaler", "Binarizer")
    message = str(err.value)
    assert "node 'scaler' (op Binarizer) is in the 'ai.onnx.ml' domain" in message
    assert "TreeEnsembleClassifier" in message  # what is supported
    assert "opset" not in message
    assert "invalid" not in message


def test_an_imported_ml_opset_no_node_uses_is_harmless() -> None:
    compiled = compile_model(_sklearn_like(ml_node=False))
    assert compiled.report.ops == ("Relu", "MatMul")


def test_one_compile_lists_every_unsupported_node() -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
        helper.make_node("Sin", ["h"], ["t"], name="squash"),
        helper.make_node("Relu", ["t"], ["n"], name="after_squash"),  # after a refused node
        helper.make_node("Log", ["h"], ["e"], name="root"),
        helper.make_node("Reshape", ["h", "shape"], ["r"], name="to_image"),
        helper.make_node("Conv", ["r", "k"], ["c"], name="depthwise", group=2),
        helper.make_node("Flatten", ["c"], ["f"], name="flat"),
        helper.make_node("Add", ["n", "e"], ["a"], name="mix"),
        helper.make_node("LogSoftmax", ["h"], ["p"], name="inner_softmax", axis=1),
        helper.make_node("Concat", ["a", "f", "p"], ["y"], name="join", axis=1),
    ]
    inits = [init("w", np.ones((3, 4))), init("shape", np.array([1, 3, 1, 1])),
             init("k", np.ones((3, 1, 1, 1)))]  # fmt: skip
    with pytest.raises(UnsupportedNodesError) as err:
        compile_model(make_model(nodes, (1, 4), (1, 9), inits))
    named = [(p.node_name, p.op_type) for p in err.value.problems]
    assert named == [("squash", "Sin"), ("root", "Log"), ("depthwise", "Conv"),
                     ("inner_softmax", "LogSoftmax")]  # fmt: skip
    message = str(err.value)
    assert message.startswith("4 node(s) cannot be compiled:")
    assert "group" in message
    assert "use Softmax (supported anywhere)" in message
    assert "after_squash" not in message  # not checked: its input has no shape
    assert "'mix'" not in message
    assert err.value.node_name == "squash"  # the first problem, for callers that show one


@pytest.mark.parametrize("op", ["Concat", "Add", "Sub"])
def test_a_constant_past_int64_at_its_scale_is_refused_not_wrapped(op: str) -> None:
    """3e16 at the scale of a small input (2^15) needs 70 bits: it once wrapped silently."""
    huge = init("c", np.full((1, 3), 3e16))
    if op == "Concat":
        node = helper.make_node("Concat", ["h", "c"], ["y"], name="join", axis=1)
        data = _fc([node], out="y", out_shape=(1, 6))
    else:
        data = _fc([helper.make_node(op, ["h", "c"], ["y"], name="shift")], out="y")
    model = onnx.ModelProto.FromString(data)
    model.graph.initializer.append(huge)
    with pytest.raises(CompileError, match="too large for its scale"):
        compile_model(model.SerializeToString(), np.full((4, 1, 4), 0.01))


def test_a_group_that_does_not_divide_the_channels_is_rejected() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=3)
    data = make_model([node], (1, 2, 3, 3), (1, 3, 1, 1), [init("w", np.ones((3, 1, 3, 3)))])
    with pytest.raises(CompileError, match=r"node 'dw' \(op Conv\) .*group 3 does not divide"):
        compile_model(data)


@pytest.mark.parametrize(
    ("op", "attrs", "message"),
    [("Resize", {"mode": "linear"}, "only mode 'nearest' is supported"),
     ("Pad", {"mode": "wrap"}, "Pad mode 'wrap' is not supported")],
)  # fmt: skip
def test_layout_modes_not_supported_are_named(op: str, attrs: dict[str, str], message: str) -> None:
    const = (np.array([1.0, 1.0, 2.0], dtype=np.float32) if op == "Resize"
             else np.array([0, 0, 1, 0, 0, 1], dtype=np.int64))  # fmt: skip
    inputs = ["h", "", "k"] if op == "Resize" else ["h", "k"]
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="act"),
             helper.make_node(op, inputs, ["y"], name="layout", **attrs)]  # fmt: skip
    out = (1, 3, 8) if op == "Resize" else (1, 3, 6)
    data = make_model(nodes, (1, 3, 4), out, [init("k", const)], opset=18)
    with pytest.raises(CompileError, match=message):
        compile_model(data)


def test_a_3d_convolution_names_the_ranks_supported() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c3")
    data = make_model(
        [node], (1, 1, 2, 2, 2), (1, 1, 1, 1, 1), [init("w", np.ones((1, 1, 2, 2, 2)))]
    )
    with pytest.raises(CompileError, match=r"only 1-D \(1, C, L\) and 2-D \(1, C, H, W\)"):
        compile_model(data)


def test_bad_calibration_shape() -> None:
    data, _ = matmul_add_relu()
    with pytest.raises(CompileError, match="calibration"):
        compile_model(data, np.zeros((5, 1, 7)))


@pytest.fixture(scope="module")
def model() -> CompiledModel:
    data, _ = matmul_add_relu()
    cal = np.random.default_rng(1).uniform(-1.0, 1.0, (16, 1, 4))
    return compile_model(data, cal)


class TestInputErrors:
    def test_wrong_shape(self, model: CompiledModel) -> None:
        with pytest.raises(InputError, match="shape"):
            model.quantize_input(np.zeros((1, 5)))

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite(self, model: CompiledModel, bad: float) -> None:
        with pytest.raises(InputError, match="NaN or infinite"):
            model.quantize_input(np.array([[0.1, bad, 0.2, 0.3]]))

    def test_outside_calibrated_range(self, model: CompiledModel) -> None:
        lo, hi = model.input_range
        with pytest.raises(InputError, match="calibrated range"):
            model.quantize_input(np.array([[0.0, hi + 0.5, 0.0, 0.0]]))
        assert model.quantize_input(np.array([[lo, hi, 0.0, 0.0]])).shape == (4,)

    def test_intermediate_overflow_names_the_layer(self) -> None:
        data, _ = matmul_add_relu()
        cal = np.full((4, 1, 4), 0.01)
        narrow = compile_model(data, cal, CompileOptions(input_range=(-100.0, 100.0)))
        x_q = narrow.quantize_input(np.array([[50.0, -50.0, 50.0, -50.0]]))
        with pytest.raises(InputError, match=r"layer 'act'.*recompile"):
            narrow.generate_witness(x_q, SALT)

    def test_quantized_input_out_of_bits(self, model: CompiledModel) -> None:
        with pytest.raises(InputError):
            model.generate_witness(np.array([1 << 20, 0, 0, 0]), SALT)

    def test_bad_salt(self, model: CompiledModel) -> None:
        x_q = model.quantize_input(np.zeros((1, 4)))
        with pytest.raises(InputError, match="salt"):
            model.input_commitment(x_q, -1)

    def test_errors_are_remote(self) -> None:
        assert issubclass(InputError, RemoteProtocolError)
        assert issubclass(CompileError, RemoteProtocolError)


@pytest.mark.parametrize(
    "options",
    [
        CompileOptions(activation_bits=1),
        CompileOptions(weight_bits=40),
        CompileOptions(headroom=0.5),
        CompileOptions(input_range=(1.0, -1.0)),
    ],
)
def test_invalid_options(options: CompileOptions) -> None:
    data, _ = matmul_add_relu()
    with pytest.raises(CompileError, match="invalid options"):
        compile_model(data, None, options)


@pytest.mark.parametrize(
    "cal", [np.array([["a", "b", "c", "d"]]), np.full((2, 1, 4), np.nan), np.zeros((0, 1, 4))]
)
def test_bad_calibration_values(cal: np.ndarray) -> None:
    data, _ = matmul_add_relu()
    with pytest.raises(CompileError, match="calibration"):
        compile_model(data, cal)


def test_rank_one_input_accepts_calibration() -> None:
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    data = make_model([node], (4,), (2,), [init("w", np.ones((4, 2)))])
    model = compile_model(data, np.random.default_rng(2).uniform(-1, 1, (8, 4)))
    assert model.input_shape == (4,)
    out_q = model.infer_quantized(model.quantize_input(np.full(4, 0.25)))
    assert model.dequantize_output(out_q) == [1.0, 1.0]
