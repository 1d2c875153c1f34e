"""One converter per supported ONNX op, from an ONNX node to a float-IR node.

Converters read constant operands (initializers, Constant nodes, folded
subgraphs) from the context and fail with a ``CompileError`` naming the node when
an operand that must be constant is a variable, or an attribute is unsupported.
``FOLDABLE`` evaluates shape arithmetic whose inputs are all constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from protocol.zkml.activations import SMOOTH_TOLERANCE, Smooth
from protocol.zkml.errors import CompileError, unsupported
from protocol.zkml.floatir import Combine, Kind, Linear, Node, Part, Product, Pwl, Quotient
from protocol.zkml.report import Approximation

Array = np.ndarray[Any, Any]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Ctx:
    """What a converter sees: the node's identity, the opset, constants, known shapes."""

    name: str
    op: str
    opset: int
    consts: Mapping[str, Array]
    shapes: Mapping[str, tuple[int, ...]]
    notes: list[Approximation] = field(default_factory=list)  # approximations made
    tolerance: float = SMOOTH_TOLERANCE  # the interpolation error smooth functions get

    def approximate(self, spec: Smooth, how: str = "") -> Pwl:
        """``spec``'s interpolant, noting its method (with ``how``) and bound for the report."""
        method = spec.method() + (f" {how}" if how else "")
        self.notes.append(
            Approximation(self.name, self.op, method, spec.error_bound(), spec.error_sampled())
        )
        return spec.pwl()

    def var(self, tensor: str) -> tuple[str, tuple[int, ...]]:
        if tensor not in self.shapes:
            raise unsupported(
                self.name, self.op, f"input '{tensor}' must be computed from the model input"
            )
        return tensor, self.shapes[tensor]

    def const(self, tensor: str) -> Array:
        if tensor not in self.consts:
            raise CompileError(
                f"operand '{tensor}' is not a constant",
                self.name,
                self.op,
                "weights must be initializers or Constant nodes, not graph inputs or "
                "computed values",
            )
        return self.consts[tensor]

    def fail(self, hint: str) -> CompileError:
        return unsupported(self.name, self.op, hint)


def _attr(node: onnx.NodeProto, key: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == key:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def constant_value(node: onnx.NodeProto) -> Array:
    """The value of a Constant node."""
    a = node.attribute[0]
    if a.name == "value":
        return numpy_helper.to_array(a.t)
    if a.name in ("value_float", "value_int"):
        return np.array(helper.get_attribute_value(a))
    if a.name in ("value_floats", "value_ints"):
        return np.array(list(helper.get_attribute_value(a)))
    raise unsupported(node.name, "Constant", f"attribute {a.name} is not supported")


def _size(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))


def _linear(ctx: Ctx, node: onnx.NodeProto, x: str, shape: tuple[int, ...], kind: Kind) -> Node:
    return Node(ctx.name, ctx.op, (x,), node.output[0], tuple(int(d) for d in shape), kind)


def _gather(
    ctx: Ctx, node: onnx.NodeProto, x: str, index: IntArray, shape: tuple[int, ...]
) -> Node:
    n = len(index)
    kind = Linear(index.astype(np.int64)[:, None], np.ones((n, 1)), np.zeros(n))
    return _linear(ctx, node, x, shape, kind)


def _positions(shape: tuple[int, ...]) -> IntArray:
    """Each element's flat position, in the tensor's shape."""
    return np.arange(_size(shape), dtype=np.int64).reshape(shape)


def _bidx(shape: tuple[int, ...], out: tuple[int, ...]) -> IntArray:
    return np.broadcast_to(np.arange(_size(shape)).reshape(shape), out).ravel().astype(np.int64)


# --- layout ---------------------------------------------------------------


_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                onnx.TensorProto.BFLOAT16}  # fmt: skip


def _cast(ctx: Ctx, node: onnx.NodeProto) -> Node:
    """A Cast of a computed tensor to a float type is the identity here (values are
    fixed point either way); to an integer type it would truncate, which is refused."""
    if int(_attr(node, "to", onnx.TensorProto.FLOAT)) not in _FLOAT_TYPES:
        raise ctx.fail("only casts of computed values to float types are supported")
    return _identity(ctx, node)


def _identity(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    return _gather(ctx, node, x, np.arange(_size(s)), s)


def _reshape_to(ctx: Ctx, node: onnx.NodeProto, shape: tuple[int, ...]) -> Node:
    x, s = ctx.var(node.input[0])
    return _gather(ctx, node, x, np.arange(_size(s)), shape)


def _flatten(ctx: Ctx, node: onnx.NodeProto) -> Node:
    _, s = ctx.var(node.input[0])
    axis = _attr(node, "axis", 1) % (len(s) + 1) if s else 0
    return _reshape_to(ctx, node, (_size(s[:axis]), _size(s[axis:])))


def _reshape(ctx: Ctx, node: onnx.NodeProto) -> Node:
    _, s = ctx.var(node.input[0])
    target = [int(d) for d in ctx.const(node.input[1]).ravel()]
    if not _attr(node, "allowzero", 0):
        target = [s[i] if d == 0 else d for i, d in enumerate(target)]
    try:
        shape = np.zeros(s, dtype=bool).reshape(target).shape
    except ValueError as exc:
        raise ctx.fail(f"cannot reshape {s} to {target}") from exc
    return _reshape_to(ctx, node, shape)


def _axes(ctx: Ctx, node: onnx.NodeProto) -> list[int] | None:
    if ctx.opset < 13:
        axes = _attr(node, "axes", None)
        return None if axes is None else list(axes)
    if len(node.input) > 1 and node.input[1]:
        return [int(a) for a in ctx.const(node.input[1]).ravel()]
    return None


def _squeeze(ctx: Ctx, node: onnx.NodeProto) -> Node:
    _, s = ctx.var(node.input[0])
    axes = _axes(ctx, node)
    drop = (
        {a % len(s) for a in axes} if axes is not None else {i for i, d in enumerate(s) if d == 1}
    )
    if any(s[a] != 1 for a in drop):
        raise ctx.fail(f"cannot squeeze axes {sorted(drop)} of shape {s}")
    return _reshape_to(ctx, node, tuple(d for i, d in enumerate(s) if i not in drop))


def _unsqueeze(ctx: Ctx, node: onnx.NodeProto) -> Node:
    _, s = ctx.var(node.input[0])
    axes = _axes(ctx, node)
    if axes is None:
        raise ctx.fail("Unsqueeze needs axes")
    rank = len(s) + len(axes)
    out = list(s)
    for a in sorted(a % rank for a in axes):
        out.insert(a, 1)
    return _reshape_to(ctx, node, tuple(out))


def _transpose(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    perm = list(_attr(node, "perm", list(range(len(s)))[::-1]))
    index = np.arange(_size(s)).reshape(s).transpose(perm)
    return _gather(ctx, node, x, index.ravel(), index.shape)


def _concat(ctx: Ctx, node: onnx.NodeProto) -> Node:
    values = [ctx.consts.get(i) for i in node.input]
    shapes = [
        v.shape if v is not None else ctx.var(i)[1] for i, v in zip(node.input, values, strict=True)
    ]
    axis = _attr(node, "axis", 0) % len(shapes[0])
    out_shape = np.concatenate([np.zeros(s) for s in shapes], axis=axis).shape
    positions = np.arange(_size(out_shape)).reshape(out_shape)
    bias = np.zeros(positions.size)
    parts, inputs, start = [], [], 0
    for name, value, s in zip(node.input, values, shapes, strict=True):
        rows = np.take(positions, np.arange(start, start + s[axis]), axis=axis).ravel()
        start += s[axis]
        if value is None:
            parts.append(Part(rows.astype(np.int64), np.arange(len(rows), dtype=np.int64), 1.0))
            inputs.append(name)
        else:
            bias[rows] = np.asarray(value, dtype=float).ravel()
    return Node(
        ctx.name,
        ctx.op,
        tuple(inputs),
        node.output[0],
        tuple(out_shape),
        Combine(tuple(parts), bias),
    )


# --- arithmetic -----------------------------------------------------------


def _binary(ctx: Ctx, node: onnx.NodeProto) -> Node:
    a_name, b_name = node.input[0], node.input[1]
    a_const, b_const = ctx.consts.get(a_name), ctx.consts.get(b_name)
    if a_const is None and b_const is None:
        return _binary_vars(ctx, node)
    const_first = a_const is not None
    x, s = ctx.var(b_name if const_first else a_name)
    c = np.asarray(a_const if const_first else b_const, dtype=float)
    out = tuple(np.broadcast_shapes(s, c.shape))
    cb = np.broadcast_to(c, out).ravel()
    one = np.ones_like(cb)
    zero = np.zeros_like(cb)
    if ctx.op == "Add":
        coef, bias = one, cb
    elif ctx.op == "Sub":
        coef, bias = (-one, cb) if const_first else (one, -cb)
    elif ctx.op == "Mul":
        coef, bias = cb, zero
    elif const_first or np.any(cb == 0):
        raise ctx.fail("only division of a tensor by a nonzero constant is supported")
    else:
        coef, bias = 1.0 / cb, zero
    return _linear(ctx, node, x, out, Linear(_bidx(s, out)[:, None], coef[:, None], bias))


def _binary_vars(ctx: Ctx, node: onnx.NodeProto) -> Node:
    (a, sa), (b, sb) = ctx.var(node.input[0]), ctx.var(node.input[1])
    out = tuple(np.broadcast_shapes(sa, sb))
    ia, ib = _bidx(sa, out), _bidx(sb, out)
    rows = np.arange(_size(out), dtype=np.int64)
    kind: Kind
    if ctx.op == "Mul":
        kind = Product(ia, ib)
    elif ctx.op in ("Add", "Sub"):
        sign = -1.0 if ctx.op == "Sub" else 1.0
        kind = Combine((Part(rows, ia, 1.0), Part(rows, ib, sign)), np.zeros(len(rows)))
    else:  # Div by a computed tensor: its divisor must stay positive (checked when proving)
        kind = Quotient(ia, ib)
    return Node(ctx.name, ctx.op, (a, b), node.output[0], out, kind)


def _gemm(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    w = np.asarray(ctx.const(node.input[1]), dtype=float)
    if len(s) != 2 or w.ndim != 2:
        raise ctx.fail(f"Gemm needs 2-D operands, got {s} and {w.shape}")
    trans_a = bool(_attr(node, "transA", 0))
    m_dim, k_dim = (s[1], s[0]) if trans_a else s
    w = w.T if _attr(node, "transB", 0) else w
    if w.shape[0] != k_dim:
        raise ctx.fail(f"Gemm shapes {s} and {w.shape} do not match")
    n_dim = w.shape[1]
    m = np.arange(m_dim)[:, None, None]
    k = np.arange(k_dim)[None, None, :]
    pos = k * s[1] + m if trans_a else m * s[1] + k
    idx = np.broadcast_to(pos, (m_dim, n_dim, k_dim)).reshape(m_dim * n_dim, k_dim)
    coef = np.broadcast_to(_attr(node, "alpha", 1.0) * w.T[None], (m_dim, n_dim, k_dim))
    bias = np.zeros((m_dim, n_dim))
    if len(node.input) > 2 and node.input[2]:
        bias = bias + _attr(node, "beta", 1.0) * np.asarray(ctx.const(node.input[2]), dtype=float)
    kind = Linear(idx.astype(np.int64), coef.reshape(m_dim * n_dim, k_dim), bias.ravel())
    return _linear(ctx, node, x, (m_dim, n_dim), kind)


def _matmul(ctx: Ctx, node: onnx.NodeProto) -> Node | tuple[Node, ...]:
    if node.input[0] in ctx.consts:
        return _matmul_left(ctx, node)
    if node.input[1] not in ctx.consts:
        return _matmul_of_activations(ctx, node)
    x, s = ctx.var(node.input[0])
    w = np.asarray(ctx.const(node.input[1]), dtype=float)
    if w.ndim not in (1, 2) or w.shape[0] != s[-1]:
        raise ctx.fail(
            f"MatMul needs a 1-D or 2-D constant right operand matching {s}, got {w.shape}"
        )
    w2 = w[:, None] if w.ndim == 1 else w
    k_dim, n_dim = w2.shape
    lead = _size(s[:-1])
    pos = np.arange(lead)[:, None, None] * k_dim + np.arange(k_dim)[None, None, :]
    idx = np.broadcast_to(pos, (lead, n_dim, k_dim)).reshape(lead * n_dim, k_dim)
    coef = np.broadcast_to(w2.T[None], (lead, n_dim, k_dim)).reshape(lead * n_dim, k_dim)
    out = s[:-1] + ((n_dim,) if w.ndim == 2 else ())
    return _linear(ctx, node, x, out, Linear(idx.astype(np.int64), coef, np.zeros(lead * n_dim)))


def _matmul_left(ctx: Ctx, node: onnx.NodeProto) -> Node:
    """``W @ x`` with a constant 2-D ``W`` and a 2-D variable ``x``."""
    w = np.asarray(ctx.const(node.input[0]), dtype=float)
    x, s = ctx.var(node.input[1])
    if w.ndim != 2 or len(s) != 2 or w.shape[1] != s[0]:
        raise ctx.fail(f"MatMul of constant {w.shape} and {s} needs 2-D operands that match")
    (m_dim, k_dim), n_dim = w.shape, s[1]
    pos = np.arange(k_dim)[None, None, :] * n_dim + np.arange(n_dim)[None, :, None]
    idx = np.broadcast_to(pos, (m_dim, n_dim, k_dim)).reshape(m_dim * n_dim, k_dim)
    coef = np.broadcast_to(w[:, None, :], (m_dim, n_dim, k_dim)).reshape(m_dim * n_dim, k_dim)
    kind = Linear(idx.astype(np.int64), coef, np.zeros(m_dim * n_dim))
    return _linear(ctx, node, x, (m_dim, n_dim), kind)


def _matmul_of_activations(ctx: Ctx, node: onnx.NodeProto) -> tuple[Node, ...]:
    """MatMul of two computed tensors (attention's scores and weighted values): every
    product a_ik b_kj (one constraint each), then the sums over k (free)."""
    (a, sa), (b, sb) = ctx.var(node.input[0]), ctx.var(node.input[1])
    if len(sa) < 2 or len(sb) < 2 or sa[-1] != sb[-2]:
        raise ctx.fail(
            f"MatMul of computed tensors needs (..., n, k) @ (..., k, m), got {sa}, {sb}"
        )
    try:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ctx.fail(f"the batch dimensions of {sa} and {sb} do not broadcast") from None
    n_dim, k_dim, m_dim = sa[-2], sa[-1], sb[-1]
    pa = np.broadcast_to(_positions(sa), (*batch, n_dim, k_dim))
    pb = np.broadcast_to(_positions(sb), (*batch, k_dim, m_dim))
    ia = np.broadcast_to(pa[..., :, None, :], (*batch, n_dim, m_dim, k_dim))
    ib = np.broadcast_to(np.swapaxes(pb, -1, -2)[..., None, :, :], (*batch, n_dim, m_dim, k_dim))
    out = (*batch, n_dim, m_dim)
    terms, n_out = f"{node.output[0]}/terms", _size(out)
    products = Node(ctx.name, ctx.op, (a, b), terms, (n_out * k_dim,),
                    Product(ia.ravel().astype(np.int64), ib.ravel().astype(np.int64)))  # fmt: skip
    groups = np.arange(n_out * k_dim, dtype=np.int64).reshape(n_out, k_dim)
    sums = Linear(groups, np.ones(groups.shape), np.zeros(n_out))
    return products, Node(ctx.name, ctx.op, (terms,), node.output[0], out, sums)
