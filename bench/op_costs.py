"""Constraints per element of each elementwise op, and its error bound, at each precision.

``python -m bench.op_costs --markdown bench/results/op-costs.md`` compiles, for every
op, the model ``Gemm 4->8 (inputs spread to about +-8), OP, Gemm 8->3`` on 64 uniform
calibration samples and reports the constraints of the op's section (its input's
rescale, the op's gadgets, and any intermediate rescale) divided by its 8 elements,
with the largest error bound ``circuit info`` reports for it. No timing: the figures
are the same on any machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench.peers.measure import add_report_options, emit_report, machine, markdown_header
from protocol.zkml import PRECISIONS, CompileOptions, compile_model

WIDTH = 8
Build = Callable[[str, str], list[onnx.NodeProto]]


def _const(name: str, value: float | list[float]) -> onnx.NodeProto:
    tensor = numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)
    return helper.make_node("Constant", [], [name], value=tensor)


def _unary(op: str, **attrs: Any) -> Build:
    return lambda x, y: [helper.make_node(op, [x], [y], name="op", **attrs)]


def _gelu_erf(x: str, y: str) -> list[onnx.NodeProto]:
    return [
        _const("r2", 1.4142135), _const("one", 1.0), _const("half", 0.5),
        helper.make_node("Div", [x, "r2"], ["g_div"], name="op/div"),
        helper.make_node("Erf", ["g_div"], ["g_erf"], name="op"),
        helper.make_node("Add", ["g_erf", "one"], ["g_add"], name="op/add"),
        helper.make_node("Mul", [x, "g_add"], ["g_mul"], name="op/mul"),
        helper.make_node("Mul", ["g_mul", "half"], [y], name="op/half"),
    ]  # fmt: skip


def _silu(x: str, y: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("Sigmoid", [x], ["g_sig"], name="op"),
        helper.make_node("Mul", [x, "g_sig"], [y], name="op/mul"),
    ]


def _square(x: str, y: str) -> list[onnx.NodeProto]:
    return [helper.make_node("Mul", [x, x], [y], name="op")]


OPS: dict[str, Build] = {
    "Relu": _unary("Relu"),
    "Abs": _unary("Abs"),
    "HardSwish": _unary("HardSwish"),
    "Mul x x": _square,
    "Sigmoid": _unary("Sigmoid"),
    "Tanh": _unary("Tanh"),
    "Erf": _unary("Erf"),
    "Softplus": _unary("Softplus"),
    "Exp": _unary("Exp"),
    "Elu": _unary("Elu"),
    "Selu": _unary("Selu"),
    "GELU (Erf form)": _gelu_erf,
    "SiLU": _silu,
    "Softmax (row of 8)": _unary("Softmax", axis=-1),
}


def model_bytes(build: Build, seed: int = 7) -> bytes:
    """Gemm 4->8 (weights spread so activations reach about +-8), the op, Gemm 8->3."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array((rng.normal(size=(WIDTH, 4)) * 3).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(3, WIDTH)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc1", transB=1),
        *build("h", "a"),
        helper.make_node("Gemm", ["a", "w2"], ["y"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "op_cost",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[w1, w2],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def measure(name: str, precision: str) -> dict[str, Any]:
    """One op at one preset: constraints per element of its sections and its error bound."""
    calibration = np.random.default_rng(3).uniform(-1.0, 1.0, size=(64, 1, 4))
    options = CompileOptions().with_precision(precision)
    model = compile_model(model_bytes(OPS[name]), calibration, options)
    cost = sum(n for layer, n in model.report.layers if layer.startswith("op"))
    bounds = [a.max_error for a in model.report.approximations]
    return {
        "op": name, "precision": precision, "per_element": cost / WIDTH,
        "error_bound": max(bounds) if bounds else 0.0,
        "methods": [a.method for a in model.report.approximations],
    }  # fmt: skip


def to_markdown(report: dict[str, Any]) -> str:
    """One row per op, one column pair per preset."""
    lines = markdown_header("Constraints per element of the elementwise ops", report)
    presets = list(PRECISIONS)
    lines += [
        f"- model: Gemm 4->{WIDTH} (activations to about +-8), the op, Gemm {WIDTH}->3; cost: "
        f"the op's sections (its input's rescale included) over its {WIDTH} elements; bound: "
        "the largest approximation error `circuit info` reports (0: exact)",
        "",
        "| op | " + " | ".join(f"{p}: constraints / bound" for p in presets) + " |",
        "|---|" + "---|" * len(presets),
    ]
    by = {(r["op"], r["precision"]): r for r in report["rows"]}
    for op in OPS:
        cells = [by[(op, p)] for p in presets]
        lines.append(
            f"| {op} | "
            + " | ".join(f"{c['per_element']:.0f} / {c['error_bound']:.4f}" for c in cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_report_options(parser)
    args = parser.parse_args(argv)
    rows = [measure(op, p) for op in OPS for p in PRECISIONS]
    command = "python -m bench.op_costs " + " ".join(sys.argv[1:] if argv is None else argv)
    emit_report({"command": command.strip(), "machine": machine(), "rows": rows}, args, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
