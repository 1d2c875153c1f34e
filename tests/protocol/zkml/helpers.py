"""Shared test tools: tiny ONNX models, onnxruntime references, wire-pinning checks,
and an integer interpreter of the quantized program written independently of the
vectorised witness code."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from protocol.r1cs.system import R1CS, Constraint, R
from protocol.zkml import CompiledModel
from protocol.zkml.program import (
    ArgMaxStep,
    BelowStep,
    DivStep,
    MaxStep,
    MulStep,
    Program,
    ReluStep,
    RequantStep,
    SegmentStep,
    SqrtStep,
    ViewStep,
)

SALT = 0x1234_5678_9ABC_DEF0


def tensor(name: str, shape: Sequence[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def init(name: str, value: Any) -> onnx.TensorProto:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    return numpy_helper.from_array(arr, name)


def make_model(
    nodes: list[onnx.NodeProto],
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    inits: Sequence[onnx.TensorProto] = (),
    opset: int = 13,
    in_name: str = "x",
    out_name: str = "y",
) -> bytes:
    graph = helper.make_graph(
        nodes, "g", [tensor(in_name, in_shape)], [tensor(out_name, out_shape)], list(inits)
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def run_onnxruntime(data: bytes, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: x.astype(np.float32)})[0], dtype=np.float64)


def _dot(terms: dict[int, int], values: Sequence[int]) -> int:
    return sum(c * values[w] for w, c in terms.items()) % R


def _holds(con: Constraint, values: Sequence[int]) -> bool:
    return _dot(dict(con.a), values) * _dot(dict(con.b), values) % R == _dot(dict(con.c), values)


def unpinned_wires(r1cs: R1CS, values: list[int]) -> list[int]:
    """Wires (index >= 1) whose value can change by +1 with every constraint still holding."""
    by_wire: dict[int, list[int]] = defaultdict(list)
    for i, con in enumerate(r1cs.constraints):
        for w in set(con.a) | set(con.b) | set(con.c):
            by_wire[w].append(i)
    loose = []
    for w in range(1, r1cs.n_wires):
        old = values[w]
        values[w] = (old + 1) % R
        if all(_holds(r1cs.constraints[i], values) for i in by_wire[w]):
            loose.append(w)
        values[w] = old
    return loose


def _affine_row(step: RequantStep, flat: list[int], i: int) -> int:
    a = step.affine
    return int(a.bias[i]) + sum(
        int(c) * flat[int(j)] for j, c in zip(a.idx[i], a.coef[i], strict=True)
    )


def reference_run(program: Program, x_q: Sequence[int]) -> list[int]:
    """The program's integer outputs, computed element by element with Python ints."""
    vals: list[list[int]] = [[] for _ in program.sources]
    vals[0] = [int(v) for v in x_q]
    for step in program.steps:
        if isinstance(step, RequantStep):
            flat = [v for s in step.affine.srcs for v in vals[s]]
            k = step.lay.k
            accs = [_affine_row(step, flat, i) for i in range(step.affine.n)]
            q = [(acc + (1 << k >> 1)) // (1 << k) for acc in accs]
            vals[step.q_out] = q
            if step.y_out >= 0:
                vals[step.y_out] = [max(v, 0) for v in q]
        elif isinstance(step, ReluStep):
            vals[step.out] = [max(v - step.knot, 0) for v in vals[step.src]]
        elif isinstance(step, MaxStep):
            vals[step.out] = [max(vals[step.src][int(j)] for j in row) for row in step.windows]
        elif isinstance(step, MulStep):
            a, b = vals[step.a], vals[step.b]
            vals[step.out] = [a[int(i)] * b[int(j)] for i, j in zip(step.ia, step.ib, strict=True)]
        elif isinstance(step, DivStep):
            a, b, lay = vals[step.a], vals[step.b], step.lay
            vals[step.out] = [
                (a[int(i)] << lay.k) // (b[int(j)] << lay.d)
                for i, j in zip(step.ia, step.ib, strict=True)
            ]
        elif isinstance(step, ArgMaxStep):
            rows = [[vals[step.src][int(j)] for j in row] for row in step.windows]
            vals[step.out] = [row.index(max(row)) for row in rows]  # the first maximum
        elif isinstance(step, BelowStep):
            vals[step.out] = [
                int(vals[step.src][int(i)] < int(c))
                for i, c in zip(step.index, step.consts, strict=True)
            ]
        elif isinstance(step, SegmentStep):
            starts = [int(v) for v in step.starts]
            xs = vals[step.src]
            segment = [max(j for j, s in enumerate(starts) if s <= v) for v in xs]
            k = step.lay.segments - 1
            vals[step.out] = [int(j == i + 1) for j in segment for i in range(k)]
            vals[step.out + 1] = [int(step.slopes[j]) * v for j, v in zip(segment, xs, strict=True)]
        elif isinstance(step, SqrtStep):
            lay = step.lay
            vals[step.out] = [math.isqrt((v + lay.offset) << lay.m) for v in vals[step.src]]
        elif isinstance(step, ViewStep):
            vals[step.out] = [vals[step.src][int(i)] for i in step.index]
    return vals[program.output]


def calibration(shape: Sequence[int], n: int = 32, seed: int = 7, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-scale, scale, size=(n, *shape))


def quantized_close(model: CompiledModel, x: np.ndarray) -> float:
    """Largest |dequantized circuit output - float IR output| for input x."""
    out = model.dequantize_output(model.infer_quantized(model.quantize_input(x)))
    return float(np.max(np.abs(np.array(out) - model.infer_float(x).ravel())))
