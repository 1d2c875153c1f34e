"""ONNX bytes to the float IR: parsing, checking, constant folding, op lowering.

The importer accepts one input and one output tensor with static shapes (batch
dimension 1; a static shape is always one sample), default-domain opsets 11 to 18,
constant weights, and the ops in ``SUPPORTED_OPS``. Everything else fails with a
``CompileError`` naming the node, its op and what the model owner can do; a model
with several refused nodes gets one ``UnsupportedNodesError`` listing every one (nodes
that only depend on a refused one are not checked). Domains and op types are checked
before ONNX's shape inference, and a model strict inference cannot type (ONNX's
checker accepts it) is imported on the shapes the importer computes itself.
BatchNormalization, bias additions and layout ops are folded into the
neighbouring linear node.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from protocol.zkml import floatir, onnx_ml, onnx_ops, onnx_table
from protocol.zkml.activations import SMOOTH_TOLERANCE
from protocol.zkml.errors import CompileError, UnsupportedNodesError, unsupported
from protocol.zkml.floatir import Linear, Node
from protocol.zkml.report import Approximation

MIN_OPSET, MAX_OPSET = 11, 18
SUPPORTED_OPS = frozenset(onnx_table.CONVERTERS) | frozenset(onnx_table.FOLDABLE) | {"Constant"}
_LOG_SOFTMAX = "LogSoftmax"
_DEFAULT_DOMAINS = ("", "ai.onnx")
ML_DOMAIN = "ai.onnx.ml"
_ML_HINT = (
    "of the ai.onnx.ml domain only Scaler, Normalizer, LinearClassifier, LinearRegressor, "
    "TreeEnsembleClassifier, TreeEnsembleRegressor and ZipMap (dropped) are supported"
)


@dataclass(frozen=True)
class Graph:
    """An imported model: its IR nodes and the names and shapes of input and output."""

    nodes: tuple[Node, ...]
    input_name: str
    input_shape: tuple[int, ...]
    output_name: str
    output_shape: tuple[int, ...]
    ops: tuple[str, ...]  # the ONNX op types of the model, in order
    opset: int
    approximations: tuple[Approximation, ...] = ()  # of the nodes the output depends on


@dataclass
class _State:
    consts: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    notes: list[Approximation] = field(default_factory=list)
    tolerance: float = SMOOTH_TOLERANCE


def _parse(data: bytes) -> onnx.ModelProto:
    try:
        model = onnx.ModelProto.FromString(data)
    except Exception as exc:  # protobuf raises DecodeError and a few others on garbage
        raise CompileError(
            f"the ONNX file could not be parsed ({exc})", hint="export it again"
        ) from exc
    if not model.graph.node:
        raise CompileError(
            "the ONNX file holds no graph", hint="check that the file is a complete model"
        )
    return model


def _typed(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` checked by ONNX's checker, with the shapes ONNX infers for it."""
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # the checker raises several onnx error types
        raise CompileError(f"the ONNX model is invalid ({exc})", hint="fix the export") from exc
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception:  # strict inference refuses some valid models; the importer types them
        return onnx.shape_inference.infer_shapes(model)


def _node_name(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def _refused_ops(model: onnx.ModelProto) -> dict[int, CompileError]:
    """The nodes (by index) whose domain or op type the importer does not support."""
    refused: dict[int, CompileError] = {}
    for i, node in enumerate(model.graph.node):
        name, op = _node_name(node, i), node.op_type
        if node.domain == ML_DOMAIN and (op in onnx_ml.CONVERTERS or op == "ZipMap"):
            continue
        if node.domain not in _DEFAULT_DOMAINS or op in onnx_ml.CONVERTERS:
            hint = _ML_HINT if node.domain == ML_DOMAIN else (
                f"provernet compiles default-domain ONNX ops only; the {node.domain!r} domain "
                "is not supported"
            )  # fmt: skip
            refused[i] = CompileError(f"is in the {node.domain!r} domain", name, op, hint)
        elif op == _LOG_SOFTMAX:
            hint = "use Softmax (supported anywhere), or remove a final LogSoftmax: the argmax"
            refused[i] = unsupported(name, op, hint + " of the logits is the same")
        elif op not in SUPPORTED_OPS:
            refused[i] = unsupported(
                name, op, f"supported ops are {', '.join(sorted(SUPPORTED_OPS))}"
            )
    return refused


# Default-domain ops whose meaning no opset changed: a model using only these (a
# scikit-learn export: ai.onnx.ml ops and a Cast) may import any opset.
_OPSET_FREE = frozenset({"Cast", "Identity", "Constant"})


def _opset(model: onnx.ModelProto, needed: set[int]) -> int:
    versions = [o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS]
    default_ops = {
        n.op_type for i, n in enumerate(model.graph.node) if i in needed and n.domain != ML_DOMAIN
    }
    if versions and default_ops <= _OPSET_FREE:
        return min(max(versions[0], MIN_OPSET), MAX_OPSET)
    if not versions:
        raise CompileError(
            "the model imports no default-domain opset",
            hint=f"export with a default-domain opset between {MIN_OPSET} and {MAX_OPSET}",
        )
    if not MIN_OPSET <= versions[0] <= MAX_OPSET:
        raise CompileError(
            f"default-domain opset {versions[0]} is not supported",
            hint=f"export with a default-domain opset between {MIN_OPSET} and {MAX_OPSET}",
        )
    return versions[0]


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int, ...]:
    """The tensor's shape; a dynamic first (batch) dimension is one sample."""
    tt = value.type.tensor_type
    if not tt.HasField("shape"):
        raise CompileError(f"tensor '{value.name}' has no shape", hint="export with a static shape")
    dims = []
    for k, d in enumerate(tt.shape.dim):
        if k == 0 and len(tt.shape.dim) > 1 and not d.HasField("dim_value"):
            dims.append(1)  # the batch: a proof is of one sample
            continue
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise CompileError(
                f"tensor '{value.name}' has a dynamic dimension '{d.dim_param or '?'}'",
                hint="export the model with static shapes and a batch dimension of 1",
            )
        dims.append(int(d.dim_value))
    return tuple(dims)


def _output(model: onnx.ModelProto) -> tuple[str, tuple[int, ...] | None]:
    """The tensor the circuit outputs, and its declared shape (None: not declared).

    A classifier exported from scikit-learn has two outputs, the label and the
    probabilities (often through ZipMap, a map per class): the probabilities are the
    output (ZipMap dropped), and ``--reveal argmax`` proves the label's class index.
    """
    outputs = list(model.graph.output)
    if len(outputs) == 1:
        return outputs[0].name, _static_shape(outputs[0])
    producer = {o: n for n in model.graph.node for o in n.output}
    if len(outputs) == 2:
        for out in outputs:
            made_by = producer.get(out.name)
            if made_by is not None and made_by.op_type == "ZipMap":
                return made_by.input[0], None
            tensor = out.name
            while made_by is not None and made_by.op_type in ("Identity", "Cast"):
                tensor = made_by.input[0]
                made_by = producer.get(tensor)
            classifier = made_by is not None and made_by.op_type in onnx_ml.CLASSIFIERS
            if classifier and list(made_by.output).index(tensor) == 1:  # type: ignore[union-attr]
                return out.name, _static_shape(out)
    raise CompileError(
        f"the model has {len(outputs)} outputs",
        hint="provernet proves models with one output tensor (or a classifier's label and "
        "probabilities, of which it proves the probabilities)",
    )


def _needed(model: onnx.ModelProto, output: str) -> set[int]:
    """The indices of the nodes ``output`` depends on."""
    needed, wanted = set(), {output}
    for i in range(len(model.graph.node) - 1, -1, -1):
        node = model.graph.node[i]
        if wanted.intersection(node.output):
            needed.add(i)
            wanted.update(x for x in node.input if x)
    return needed


def _io(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    for extra in inputs[1:]:
        for i, node in enumerate(model.graph.node):
            if extra.name in node.input and node.input[0] != extra.name:
                raise CompileError(
                    f"operand '{extra.name}' is a graph input, not a constant",
                    node.name or f"{node.op_type}_{i}",
                    node.op_type,
                    "store weights as initializers (export with constant weights); "
                    "provernet proves models with exactly one input tensor",
                )
    if len(inputs) != 1:
        raise CompileError(
            f"the model has {len(inputs)} inputs and {len(model.graph.output)} outputs",
            hint="provernet proves models with exactly one input and one output tensor",
        )
    return inputs[0]


def _convert_node(state: _State, node: onnx.NodeProto, name: str, opset: int, output: str) -> None:
    op = node.op_type
    if op == "Constant":
        state.consts[node.output[0]] = onnx_ops.constant_value(node)
        return
    live = [i for i in node.input if i and i not in state.consts]
    if not live and op in onnx_table.FOLDABLE:
        state.consts[node.output[0]] = onnx_table.FOLDABLE[op](node, state.consts, opset)
        return
    if op == "Shape" and len(live) == 1:
        state.consts[node.output[0]] = np.array(state.shapes[live[0]], dtype=np.int64)
        return
    table = onnx_ml.CONVERTERS if node.domain == ML_DOMAIN else onnx_table.CONVERTERS
    convert: onnx_table.Converter | None = table.get(op)
    assert convert is not None, f"{op} passed _refused_ops"
    several = op == "Split" or op in onnx_ml.CLASSIFIERS  # a classifier's label is not made
    if not several and len([o for o in node.output if o]) != 1:
        raise unsupported(name, op, "only the first output of a node may be used")
    ctx = onnx_ops.Ctx(name, op, opset, state.consts, state.shapes, tolerance=state.tolerance)
    made = convert(ctx, node)
    for ir in made if isinstance(made, tuple) else (made,):
        state.shapes[ir.output] = ir.shape
        state.nodes.append(ir)
    state.notes.extend(ctx.notes)


def _fold_linear(nodes: list[Node], output: str) -> list[Node]:
    """Merge chains of linear nodes where one side is elementwise or a gather."""
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    merged: dict[str, Node] = {}
    out: list[Node] = []
    for n in nodes:
        src = merged.get(n.inputs[0]) if len(n.inputs) == 1 else None
        if (
            isinstance(n.kind, Linear)
            and src is not None
            and isinstance(src.kind, Linear)
            and uses.get(src.output) == 1
            and src.output != output
            and (n.kind.idx.shape[1] == 1 or src.kind.idx.shape[1] == 1)
        ):
            out.remove(src)
            n = Node(
                f"{src.name}+{n.name}",
                src.op_type,
                src.inputs,
                n.output,
                n.shape,
                src.kind.then(n.kind),
            )
        merged[n.output] = n
        out.append(n)
    return out


def import_onnx(data: bytes, tolerance: float = SMOOTH_TOLERANCE) -> Graph:
    """Parse and convert an ONNX model (see module docstring); smooth functions are
    interpolated to within ``tolerance``."""
    model = _parse(data)
    output, out_shape = _output(model)
    needed = _needed(model, output)
    refused = {i: e for i, e in _refused_ops(model).items() if i in needed}
    opset = _opset(model, needed)
    if not refused:
        model = _typed(model)
    inp = _io(model)
    in_shape = _static_shape(inp)
    state = _State(tolerance=tolerance)
    for init in model.graph.initializer:
        state.consts[init.name] = numpy_helper.to_array(init)
    state.shapes[inp.name] = in_shape
    problems: list[CompileError] = []
    blocked: set[str] = set()  # outputs of refused nodes and of the nodes after them
    for i, node in enumerate(model.graph.node):
        if i not in needed:
            continue
        if i in refused or blocked.intersection(node.input):
            if i in refused:
                problems.append(refused[i])
            blocked.update(node.output)
            continue
        try:
            _convert_node(state, node, _node_name(node, i), opset, output)
        except CompileError as exc:
            problems.append(exc)
            blocked.update(node.output)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise UnsupportedNodesError(tuple(problems))
    if output not in state.shapes or output == inp.name:
        raise CompileError(
            f"output '{output}' does not depend on the input",
            hint="the model's output must be computed from its input",
        )
    if out_shape is not None and state.shapes[output] != out_shape:
        raise CompileError(
            f"output '{output}' has shape {state.shapes[output]}, declared {out_shape}"
        )
    out_shape = state.shapes[output]
    nodes = _prune(_fold_linear(_roots_that_divide(state.nodes), output), output)
    ops = tuple(n.op_type for n in model.graph.node)
    kept = {part for n in nodes for part in n.name.split("+")}  # folded names join with +
    notes = tuple(a for a in state.notes if a.node in kept)
    return Graph(tuple(nodes), inp.name, in_shape, output, out_shape, ops, opset, notes)


def _roots_that_divide(nodes: list[Node]) -> list[Node]:
    """``nodes`` with every square root that is a divisor (x / sqrt(var + eps), the
    decomposed LayerNorm) kept at least one unit, as LayerNormalization's is."""
    divisors = {n.inputs[1] for n in nodes if isinstance(n.kind, floatir.Quotient)}
    return [
        dataclasses.replace(n, kind=floatir.SquareRoot(at_least_unit=True))
        if isinstance(n.kind, floatir.SquareRoot) and n.output in divisors
        else n
        for n in nodes
    ]


def _prune(nodes: list[Node], output: str) -> list[Node]:
    """Drop nodes the output does not depend on."""
    needed = {output}
    keep: list[Node] = []
    for n in reversed(nodes):
        if n.output in needed:
            needed.update(n.inputs)
            keep.append(n)
    return keep[::-1]
