"""Converters of elementwise ONNX ops built from the IR's kinds: smooth activations as
interpolants (each noting its error bound for the compile report), ops that are a
few exact IR nodes (HardSwish, PRelu, Min/Max, Pow by a small integer), and Softmax.

A converter may return several IR nodes; the intermediate tensors are named after the
ONNX output with a ``/`` suffix, which no ONNX name produced by the exporters uses.
"""

from __future__ import annotations

import numpy as np
import onnx

from protocol.zkml import activations
from protocol.zkml.activations import Smooth
from protocol.zkml.floatir import (
    Combine,
    Exp,
    Linear,
    MaxWindow,
    Node,
    Part,
    Product,
    Pwl,
    Quotient,
    SquareRoot,
)
from protocol.zkml.onnx_ops import Ctx, IntArray, _attr, _bidx, _gather, _linear, _positions, _size
from protocol.zkml.report import Approximation

Nodes = Node | tuple[Node, ...]
MAX_POWER = 4  # Pow by a constant integer exponent 1..MAX_POWER, as products


def _pwl(ctx: Ctx, node: onnx.NodeProto, pwl: Pwl, x: str | None = None) -> Node:
    x, s = ctx.var(node.input[0] if x is None else x)
    return _linear(ctx, node, x, s, pwl)


def _smooth(ctx: Ctx, node: onnx.NodeProto, spec: Smooth) -> Node:
    return _pwl(ctx, node, ctx.approximate(spec))


def _tanh(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    return _smooth(ctx, node, activations.tanh(ctx.tolerance))


def _erf(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    return _smooth(ctx, node, activations.erf(ctx.tolerance))


def _softplus(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    return _smooth(ctx, node, activations.softplus(ctx.tolerance))


def _elu(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    alpha = float(_attr(node, "alpha", 1.0))
    return _smooth(ctx, node, activations.elu(alpha, tolerance=ctx.tolerance))


def _selu(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    alpha = float(_attr(node, "alpha", 1.67326319217681884765625))
    gamma = float(_attr(node, "gamma", 1.05070102214813232421875))
    return _smooth(ctx, node, activations.elu(alpha, gamma, ctx.tolerance))


def _exp(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """e^x; its interpolant is chosen once calibration bounds x (``compiler``)."""
    x, s = ctx.var(node.input[0])
    return Node(ctx.name, ctx.op, (x,), node.output[0], s, Exp())


def _hard_sigmoid(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    alpha, beta = float(_attr(node, "alpha", 0.2)), float(_attr(node, "beta", 0.5))
    return _pwl(ctx, node, activations.hard_sigmoid(alpha, beta))


def _abs(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    return _pwl(ctx, node, activations.absolute())


def _neg(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    x, s = ctx.var(node.input[0])
    n = _size(s)
    kind = Linear(np.arange(n, dtype=np.int64)[:, None], -np.ones((n, 1)), np.zeros(n))
    return _linear(ctx, node, x, s, kind)


def _product(ctx: Ctx, out: str, a: str, b: str, shape: tuple[int, ...]) -> Node:
    n = np.arange(_size(shape), dtype=np.int64)
    return Node(ctx.name, ctx.op, (a, b), out, shape, Product(n, n))


def _hard_swish(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """x * HardSigmoid(x) with alpha 1/6, beta 1/2: exact, as a clip and a product."""
    x, s = ctx.var(node.input[0])
    gate = f"{node.output[0]}/gate"
    clip = Node(ctx.name, ctx.op, (x,), gate, s, activations.hard_sigmoid(1.0 / 6.0, 0.5))
    return clip, _product(ctx, node.output[0], x, gate, s)


def _prelu(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """x for x >= 0, slope * x below (slope broadcast from a constant): one slope is a
    LeakyRelu; per-channel slopes are slope * x + (1 - slope) * relu(x)."""
    x, s = ctx.var(node.input[0])
    slope = np.asarray(ctx.const(node.input[1]), dtype=float)
    try:
        per = np.broadcast_to(slope, s).ravel()
    except ValueError:
        raise ctx.fail(f"the slope's shape {slope.shape} does not broadcast to {s}") from None
    if np.all(per == per[0]):
        return _pwl(ctx, node, activations.leaky_relu(float(per[0])))
    out, relu = node.output[0], f"{node.output[0]}/relu"
    n = _size(s)
    rows = np.arange(n, dtype=np.int64)
    first = Node(ctx.name, ctx.op, (x,), relu, s, activations.relu())
    kind = Combine((Part(rows, rows, 1.0), Part(rows, rows, 1.0)), np.zeros(n))
    scaled_x, scaled_r = f"{out}/x", f"{out}/r"
    ax = Node(ctx.name, ctx.op, (x,), scaled_x, s, Linear(rows[:, None], per[:, None], np.zeros(n)))
    ar = Node(
        ctx.name,
        ctx.op,
        (relu,),
        scaled_r,
        s,
        Linear(rows[:, None], (1 - per)[:, None], np.zeros(n)),
    )
    return first, ax, ar, Node(ctx.name, ctx.op, (scaled_x, scaled_r), out, s, kind)


def _min_max(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """Elementwise Max or Min of two tensors or a tensor and a constant, exactly:
    max(a, b) = b + relu(a - b), min(a, b) = a - relu(a - b)."""
    if len(node.input) != 2:
        raise ctx.fail(f"{ctx.op} of {len(node.input)} operands: use two")
    a_name, b_name = node.input
    consts = [ctx.consts.get(a_name), ctx.consts.get(b_name)]
    if consts[0] is not None and consts[1] is not None:
        raise ctx.fail("both operands are constant")  # folded before reaching here
    if consts[0] is not None or consts[1] is not None:
        var = b_name if consts[0] is not None else a_name
        c = np.asarray(consts[0] if consts[0] is not None else consts[1], dtype=float)
        if c.size != 1:
            raise ctx.fail(f"{ctx.op} with a constant needs one value, not shape {c.shape}")
        bound = float(c.ravel()[0])
        clip = activations.clip(bound, None) if ctx.op == "Max" else activations.clip(None, bound)
        return _pwl(ctx, node, clip, var)
    (a, sa), (b, sb) = ctx.var(a_name), ctx.var(b_name)
    out = tuple(np.broadcast_shapes(sa, sb))
    ia, ib = _bidx(sa, out), _bidx(sb, out)
    n = _size(out)
    rows = np.arange(n, dtype=np.int64)
    diff, gap = f"{node.output[0]}/diff", f"{node.output[0]}/gap"
    d = Node(ctx.name, ctx.op, (a, b), diff, out,
             Combine((Part(rows, ia, 1.0), Part(rows, ib, -1.0)), np.zeros(n)))  # fmt: skip
    r = Node(ctx.name, ctx.op, (diff,), gap, out, activations.relu())
    base, sign, idx = (b, 1.0, ib) if ctx.op == "Max" else (a, -1.0, ia)
    last = Node(ctx.name, ctx.op, (base, gap), node.output[0], out,
                Combine((Part(rows, idx, 1.0), Part(rows, rows, sign)), np.zeros(n)))  # fmt: skip
    return d, r, last


def _powers(ctx: Ctx, out: str, x: str, s: tuple[int, ...], k: int) -> list[Node]:
    """x^k for a whole k >= 2 as a chain of products, the last one into ``out``."""
    nodes, prev = [], x
    for i in range(2, k + 1):
        step = out if i == k else f"{out}/p{i}"
        nodes.append(_product(ctx, step, prev, x, s))
        prev = step
    return nodes


def _inverse(ctx: Ctx, out: str, x: str, s: tuple[int, ...]) -> list[Node]:
    """1 / x of a computed tensor that stays positive: the exact division of a constant 1
    (materialised once per element) by x."""
    n = _size(s)
    every, one = np.arange(n, dtype=np.int64), f"{out}/one"
    ones = Linear(every[:, None], np.zeros((n, 1)), np.ones(n))
    return [
        Node(ctx.name, ctx.op, (x,), one, s, ones),
        Node(ctx.name, ctx.op, (one, x), out, s, Quotient(every, every)),
    ]


def _pow(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """x to a constant power: a whole one 1..MAX_POWER as products, 0.5 as the exact root,
    and their reciprocals (-1..-MAX_POWER, -0.5) as an exact division of 1 by them, for a
    base that stays positive."""
    x, s = ctx.var(node.input[0])
    e = np.asarray(ctx.const(node.input[1]), dtype=float)
    k = float(e.ravel()[0]) if e.size == 1 else float("nan")
    size = abs(k)
    if not ((size.is_integer() and 1 <= size <= MAX_POWER) or size == 0.5):
        raise ctx.fail(
            f"only exponents +-1..{MAX_POWER} and +-0.5 are supported (got {e.ravel()[:4]})"
        )
    out = node.output[0]
    if k == 1:
        return _gather(ctx, node, x, np.arange(_size(s)), s)
    if k == -1:
        return tuple(_inverse(ctx, out, x, s))
    base = out if k > 0 else f"{out}/base"
    if size == 0.5:
        made = [Node(ctx.name, ctx.op, (x,), base, s, SquareRoot())]
    else:
        made = _powers(ctx, base, x, s, int(size))
    return tuple(made if k > 0 else [*made, *_inverse(ctx, out, base, s)])


def _sqrt(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """The exact floor square root of a computed tensor that stays non-negative."""
    x, s = ctx.var(node.input[0])
    return _linear(ctx, node, x, s, SquareRoot())


def _reciprocal(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """1 / x of a computed tensor that stays positive (``_inverse``)."""
    x, s = ctx.var(node.input[0])
    return tuple(_inverse(ctx, node.output[0], x, s))


def _layer_norm(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """LayerNormalization over the trailing axes from ``axis``: the mean and the
    variance (free sums and products of the centred values), an exact root and an
    exact division, then the constant scale and bias."""
    x, s = ctx.var(node.input[0])
    if len([o for o in node.output if o]) > 1:
        raise ctx.fail("only the first output (the normalized tensor) is supported")
    axis = int(_attr(node, "axis", -1)) % len(s)
    eps = float(_attr(node, "epsilon", 1e-5))
    width = _size(s[axis:])
    rows = _positions(s).reshape(-1, width)
    n, n_rows = _size(s), len(rows)
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), width)
    every = np.arange(n, dtype=np.int64)
    gamma = np.broadcast_to(np.asarray(ctx.const(node.input[1]), dtype=float), s[axis:]).ravel()
    beta = np.zeros(width)
    if len(node.input) > 2 and node.input[2]:
        beta = np.broadcast_to(np.asarray(ctx.const(node.input[2]), dtype=float), s[axis:]).ravel()
    spread = float(np.sqrt(max(width - 1, 1)))  # |x_i - mean| <= sqrt(n - 1) std
    out = node.output[0]
    mean, centred, square, var, root, ratio = (
        f"{out}/{p}" for p in ("mean", "centred", "square", "var", "root", "ratio")
    )
    row_sum = Linear(rows, np.full(rows.shape, 1.0 / width), np.zeros(n_rows))
    variance = Linear(rows, np.full(rows.shape, 1.0 / width), np.full(n_rows, eps))
    affine = Linear(every[:, None], np.tile(gamma, n_rows)[:, None], np.tile(beta, n_rows))
    return (
        Node(ctx.name, ctx.op, (x,), mean, (n_rows,), row_sum),
        Node(ctx.name, ctx.op, (x, mean), centred, s,
             Combine((Part(every, every, 1.0), Part(every, row_of, -1.0)), np.zeros(n))),
        Node(ctx.name, ctx.op, (centred, centred), square, s, Product(every, every)),
        Node(ctx.name, ctx.op, (square,), var, (n_rows,), variance),
        Node(ctx.name, ctx.op, (var,), root, (n_rows,), SquareRoot(at_least_unit=True)),
        Node(ctx.name, ctx.op, (centred, root), ratio, s,
             Quotient(every, row_of, (-spread, spread))),
        Node(ctx.name, ctx.op, (ratio,), out, s, affine),
    )  # fmt: skip


def _softmax(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """Softmax anywhere (``softmax_rows``), along ``axis``."""
    x, s = ctx.var(node.input[0])
    positions = _positions(s)
    if ctx.opset >= 13:
        axis = int(_attr(node, "axis", -1)) % len(s)
        rows = np.moveaxis(positions, axis, -1).reshape(-1, s[axis])
    else:  # the input is coerced to 2-D at axis
        axis = int(_attr(node, "axis", 1)) % len(s)
        rows = positions.reshape(_size(s[:axis]), _size(s[axis:]))
    return softmax_rows(ctx, x, s, rows, node.output[0])


def softmax_rows(
    ctx: Ctx, x: str, s: tuple[int, ...], rows: IntArray, out: str
) -> tuple[Node, ...]:
    """The softmax of each row of positions of ``x``: the row maximum subtracted (max
    gadget), e^x on x <= 0 as an interpolant, the row sums (free) and an exact floor
    division with a range-checked remainder, so each output is e_i / sum e within the
    exp's error (noted for the report)."""
    n, (n_rows, width) = _size(s), rows.shape
    row_of = np.empty(n, dtype=np.int64)
    row_of[rows.ravel()] = np.repeat(np.arange(n_rows, dtype=np.int64), width)
    # Every term's exp error reaches each probability through the row sum: a quarter of the
    # tolerance keeps the probabilities themselves within about the tolerance.
    spec = activations.exp_nonpositive(ctx.tolerance / 4)
    eps = spec.error_bound()
    bound = eps * (1 + width)  # |e'/s' - e/s| <= eps (1 + width y) / s' with s' >= 1
    ctx.notes.append(Approximation(
        ctx.name, ctx.op, f"{spec.method()} over x - max(row), then exact division by the "
        f"row sum ({width} terms)", bound, spec.error_sampled(),
    ))  # fmt: skip
    every = np.arange(n, dtype=np.int64)
    top, shifted, exps, sums = (f"{out}/{part}" for part in ("max", "shifted", "exp", "sum"))
    return (
        Node(ctx.name, ctx.op, (x,), top, (n_rows,), MaxWindow(rows.astype(np.int64))),
        Node(ctx.name, ctx.op, (x, top), shifted, s,
             Combine((Part(every, every, 1.0), Part(every, row_of, -1.0)), np.zeros(n))),
        Node(ctx.name, ctx.op, (shifted,), exps, s, spec.pwl()),
        Node(ctx.name, ctx.op, (exps,), sums, (n_rows,),
             Linear(rows.astype(np.int64), np.ones(rows.shape), np.zeros(n_rows))),
        Node(ctx.name, ctx.op, (exps, sums), out, s, Quotient(every, row_of, (0.0, 1.0))),
    )  # fmt: skip
