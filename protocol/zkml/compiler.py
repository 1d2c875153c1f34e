"""``compile_model`` and ``accuracy_report``: the compiler's entry points."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from protocol.zkml import activations, floatir, onnx_ml
from protocol.zkml.errors import CompileError, InputError
from protocol.zkml.lowering import lower, scale_for
from protocol.zkml.model import DEFAULT_INPUT_RANGE, CompiledModel, CompileOptions, parse_reveal
from protocol.zkml.onnx_import import Graph, import_onnx
from protocol.zkml.report import AccuracyReport, Approximation, CompileReport

DEFAULT_OPTIONS = CompileOptions()


def _samples(calibration: NDArray[Any], graph: Graph) -> NDArray[np.float64]:
    shape = graph.input_shape
    try:
        x = np.asarray(calibration, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CompileError(f"calibration data is not numeric ({exc})") from exc
    accepted = (
        x.shape == shape or x.shape[1:] == shape or (shape[:1] == (1,) and x.shape[1:] == shape[1:])
    )
    if not accepted or x.size == 0:
        raise CompileError(
            f"calibration data of shape {x.shape} does not hold inputs of shape {shape}",
            hint="pass an array of shape (n_samples, *input_shape)",
        )
    if not np.all(np.isfinite(x)):
        raise CompileError(
            "calibration data contains NaN or infinite values", hint="clean the samples"
        )
    return x.reshape(-1, math.prod(shape))


def _ranges(
    graph: Graph, calibration: NDArray[Any] | None, options: CompileOptions
) -> tuple[dict[str, float], tuple[float, float], int]:
    """(max |x| per tensor, input range, number of calibration samples)."""
    n_in = math.prod(graph.input_shape)
    if calibration is None:
        lo, hi = options.input_range or DEFAULT_INPUT_RANGE
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            bounds = floatir.intervals(
                graph.nodes, graph.input_name, np.full(n_in, lo), np.full(n_in, hi)
            )
            stats = {
                k: float(max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0)))
                for k, (a, b) in bounds.items()
            }
        return _finite(stats, graph, "the input range"), (lo, hi), 0
    x = _samples(calibration, graph)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        stats = floatir.max_abs(floatir.evaluate(graph.nodes, graph.input_name, x))
    lo, hi = options.input_range or (float(x.min()), float(x.max()))
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    return _finite(stats, graph, "the calibration data"), (lo, hi), len(x)


EXP_MAX_INPUT = 80.0  # e^80 ~ 5.5e34: any larger and fixed point has nothing left to hold


def _upper_bounds(
    graph: Graph, calibration: NDArray[Any] | None, options: CompileOptions, tensors: set[str]
) -> dict[str, float]:
    """The largest value each of ``tensors`` takes: on the calibration samples, or by
    interval bounds over the input range without them."""
    n_in = math.prod(graph.input_shape)
    with np.errstate(over="ignore", invalid="ignore"):  # checked by the caller
        if calibration is None:
            lo, hi = options.input_range or DEFAULT_INPUT_RANGE
            bounds = floatir.intervals(
                graph.nodes, graph.input_name, np.full(n_in, lo), np.full(n_in, hi)
            )
            return {t: float(np.max(bounds[t][1], initial=-np.inf)) for t in tensors}
        values = floatir.evaluate(graph.nodes, graph.input_name, _samples(calibration, graph))
        return {t: float(np.max(values[t], initial=-np.inf)) for t in tensors}


def _resolve_exp(graph: Graph, calibration: NDArray[Any] | None, options: CompileOptions) -> Graph:
    """The graph with each Exp replaced by an interpolant of e^x up to the largest input
    calibration shows, plus the headroom (``activations.exp_upto``), noted for the report."""
    pending = [n for n in graph.nodes if isinstance(n.kind, floatir.Exp)]
    if not pending:
        return graph
    tops = _upper_bounds(graph, calibration, options, {n.inputs[0] for n in pending})
    nodes, notes = [], list(graph.approximations)
    for node in graph.nodes:
        if isinstance(node.kind, floatir.Exp):
            upper = tops[node.inputs[0]] + math.log(options.headroom)
            if not upper <= EXP_MAX_INPUT:  # NaN and infinity too
                raise CompileError(
                    f"Exp's input reaches {upper:.4g}: e^x beyond e^{EXP_MAX_INPUT:g} has no "
                    "fixed-point representation", node.name, node.op_type,
                    "rescale the model so the exponent stays small (subtract a row maximum "
                    "first, as Softmax does)",
                )  # fmt: skip
            spec = activations.exp_upto(max(upper, -EXP_MAX_INPUT), options.smooth_tolerance)
            notes.append(Approximation(
                node.name, node.op_type, spec.method(), spec.error_bound(), spec.error_sampled()
            ))  # fmt: skip
            node = dataclasses.replace(node, kind=spec.pwl())
        nodes.append(node)
    return dataclasses.replace(graph, nodes=tuple(nodes), approximations=tuple(notes))


def _finite(stats: dict[str, float], graph: Graph, source: str) -> dict[str, float]:
    """``stats``, or CompileError naming the first tensor whose range is not a finite float
    (a chain of products can overflow float64 long before any circuit limit)."""
    for node in graph.nodes:
        if not math.isfinite(stats.get(node.output, 0.0)):
            raise CompileError(
                f"tensor '{node.output}' has no finite bound on {source}", node.name,
                node.op_type, "the values grow without bound here (a chain of products, or a "
                "division by a value that may reach 0): compile with calibration data, "
                "rescale the model or narrow the inputs",
            )  # fmt: skip
    return stats


def _revealed(graph: Graph, reveal: str) -> Graph:
    """``graph`` with a last node computing what ``reveal`` makes public (model docs)."""
    mode, index, value = parse_reveal(reveal)
    if mode == "logits":
        return graph
    n = math.prod(graph.output_shape)
    out = f"reveal/{mode}"
    if mode == "argmax":
        kind: floatir.Kind = floatir.ArgMaxWindow(np.arange(n, dtype=np.int64)[None])
    else:
        if index >= n:
            raise CompileError(
                f"reveal {reveal!r} names output {index}, but the model has {n} outputs",
                hint=f"name an output from 0 to {n - 1}",
            )
        kind = floatir.Below(np.array([index], dtype=np.int64), np.array([value]))
    node = floatir.Node("reveal", f"Reveal({reveal})", (graph.output_name,), out, (1,), kind)
    return dataclasses.replace(
        graph, nodes=(*graph.nodes, node), output_name=out, output_shape=(1,)
    )


TABULAR_INPUT_BITS, TABULAR_WEIGHT_BITS = 32, 24


def tabular_options(options: CompileOptions) -> CompileOptions:
    """``options`` with at least 32-bit inputs and 24-bit weights: the widths a
    scikit-learn (ai.onnx.ml) model needs, whose features span many magnitudes under
    one input scale and whose folded scaler-times-coefficient weights do too. At
    tabular sizes (tens of features, a few outputs) they cost little."""
    return dataclasses.replace(
        options,
        input_bits=max(options.input_bits, TABULAR_INPUT_BITS),
        weight_bits=max(options.weight_bits, TABULAR_WEIGHT_BITS),
    )


def _widened(bounds: tuple[float, float], headroom: float) -> tuple[float, float]:
    """A tabular model's accepted input range: the calibrated one stretched away from 0 by
    ``headroom`` (32-bit inputs afford the bit), so that a feature a little past every
    calibration sample's is still proven rather than refused."""
    lo, hi = bounds
    return lo - (headroom - 1) * abs(lo), hi + (headroom - 1) * abs(hi)


def compile_model(
    onnx_bytes: bytes,
    calibration: NDArray[Any] | None = None,
    options: CompileOptions = DEFAULT_OPTIONS,
) -> CompiledModel:
    """Compile an ONNX model into a circuit; raises CompileError on anything unsupported."""
    options.check()
    graph = _revealed(import_onnx(onnx_bytes, options.smooth_tolerance), options.reveal)
    graph = _resolve_exp(graph, calibration, options)
    tabular = any(op in onnx_ml.CONVERTERS for op in graph.ops)
    if tabular:
        options = tabular_options(options)
    stats, input_range, n_samples = _ranges(graph, calibration, options)
    if tabular and options.input_range is None and n_samples:
        input_range = _widened(input_range, options.headroom)
    input_scale = scale_for(max(abs(input_range[0]), abs(input_range[1])), options.input_bits, 1.0)
    try:
        program, tensors = lower(
            graph.nodes,
            (graph.input_name, graph.output_name),
            math.prod(graph.input_shape),
            stats,
            input_scale,
            (options.input_bits, options.activation_bits, options.weight_bits),
            options.headroom,
        )
    except OverflowError as exc:  # a scale or bound past what floats or int64 hold
        raise CompileError(
            f"a value of the model is out of range when quantized ({exc})",
            hint="narrow the input range or lower activation_bits / weight_bits",
        ) from exc
    r1cs = program.emit()
    report = CompileReport(
        ops=graph.ops,
        opset=graph.opset,
        layers=r1cs.sections,
        tensors=tuple(tensors),
        approximations=graph.approximations,
        n_constraints=r1cs.n_constraints,
        n_wires=r1cs.n_wires,
        n_public=r1cs.n_public,
        input_scale=input_scale,
        input_bits=options.input_bits,
        input_range=input_range,
        output_scale=program.sources[program.output].scale,
        calibration_samples=n_samples,
        reveal=options.reveal,
    )
    return CompiledModel(
        r1cs,
        graph.input_shape,
        graph.output_shape,
        graph.input_name,
        graph.output_name,
        report,
        program,
        graph.nodes,
        input_range,
    )


def accuracy_report(
    model: CompiledModel, samples: NDArray[Any], reference_outputs: NDArray[Any]
) -> AccuracyReport:
    """Compare the quantized circuit's outputs with reference float outputs (e.g. onnxruntime)."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1, math.prod(model.input_shape))
    ref = np.asarray(reference_outputs, dtype=np.float64).reshape(len(x), -1)
    mode, index, value = parse_reveal(model.report.reveal)
    if mode == "argmax":  # compare what is revealed: the class, or the bit
        ref = np.argmax(ref, axis=1).astype(np.float64)[:, None]
    elif mode == "threshold":
        ref = (ref[:, index] < value).astype(np.float64)[:, None]
    errors, agree, rejected = [], 0, 0
    for xi, ri in zip(x, ref, strict=True):
        try:
            out = np.array(
                model.dequantize_output(
                    model.infer_quantized(model.quantize_input(xi.reshape(model.input_shape)))
                )
            )
        except InputError:
            rejected += 1
            continue
        errors.append(float(np.max(np.abs(out - ri))))
        agree += int(
            np.argmax(out) == np.argmax(ri) if mode == "logits" else np.array_equal(out, ri)
        )
    accepted = len(x) - rejected
    return AccuracyReport(
        samples=len(x),
        rejected=rejected,
        max_abs_error=max(errors, default=0.0),
        mean_abs_error=float(np.mean(errors)) if errors else 0.0,
        argmax_agreement=agree / accepted if accepted else 0.0,
    )
