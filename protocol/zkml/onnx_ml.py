"""Converters of the ``ai.onnx.ml`` ops that skl2onnx and onnxmltools write for
scikit-learn models: Scaler, Normalizer, LinearClassifier, LinearRegressor,
TreeEnsembleClassifier and TreeEnsembleRegressor.

A classifier's first output (the label) is not computed: the model's output is its
probabilities (``--reveal argmax`` proves the class). Tree ensembles become, for every
branch node of every tree, one comparison bit of a feature against the threshold;
then, depth by depth, each node's indicator (the product of the decisions on its path:
one constraint per branch node); and the scores as constant-weighted sums of the leaf
indicators, plus the base values and the post-transform. Results agree with
onnxruntime's, including its two-class convention for one score column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from protocol.zkml import activations
from protocol.zkml.floatir import (
    Below,
    Combine,
    Linear,
    MaxWindow,
    Node,
    Part,
    Product,
    Quotient,
    SquareRoot,
)
from protocol.zkml.onnx_elementwise import softmax_rows
from protocol.zkml.onnx_ops import Array, Ctx, _attr, _linear, _size

Nodes = Node | tuple[Node, ...]
_BRANCH_MODES = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"}


def _floats(node: onnx.NodeProto, key: str) -> Array | None:
    """A float attribute, or its ``*_as_tensor`` form (ai.onnx.ml opset 3)."""
    value = _attr(node, key, None)
    if value is None:
        tensor = _attr(node, f"{key}_as_tensor", None)
        return None if tensor is None else onnx.numpy_helper.to_array(tensor).astype(float)
    return np.asarray(list(value), dtype=float)


def _features(ctx: Ctx, node: onnx.NodeProto) -> tuple[str, int, int]:
    """The input tensor, its rows (1) and features: ML ops read (1, F) or (F,)."""
    x, s = ctx.var(node.input[0])
    if len(s) not in (1, 2) or (len(s) == 2 and s[0] != 1):
        raise ctx.fail(f"only one sample of features (1, F) is supported, got {s}")
    return x, 1, s[-1]


def _scaler(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    x, s = ctx.var(node.input[0])
    n = _size(s)
    given_offset, given_scale = _floats(node, "offset"), _floats(node, "scale")
    offset = np.broadcast_to(np.zeros(1) if given_offset is None else given_offset, (n,))
    scale = np.broadcast_to(np.ones(1) if given_scale is None else given_scale, (n,))
    kind = Linear(np.arange(n, dtype=np.int64)[:, None], scale[:, None], -offset * scale)
    return _linear(ctx, node, x, s, kind)


def _normalizer(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    """x / norm(x) over the features: L1 (|x| summed), L2 (the root of the squares) or
    MAX (the largest value, which must stay positive), each an exact division."""
    x, _, width = _features(ctx, node)
    norm_kind = _attr(node, "norm", "MAX")
    out, every = node.output[0], np.arange(width, dtype=np.int64)
    zero = np.zeros(width, dtype=np.int64)
    total = f"{out}/norm"
    made: tuple[Node, ...]
    if norm_kind == "L1":
        magnitude = f"{out}/abs"
        made = (
            Node(ctx.name, ctx.op, (x,), magnitude, (1, width), activations.absolute()),
            Node(ctx.name, ctx.op, (magnitude,), total, (1,),
                 Linear(every[None], np.ones((1, width)), np.zeros(1))),
        )  # fmt: skip
    elif norm_kind == "L2":
        squares, summed = f"{out}/squares", f"{out}/sum"
        made = (
            Node(ctx.name, ctx.op, (x, x), squares, (width,), Product(every, every)),
            Node(ctx.name, ctx.op, (squares,), summed, (1,),
                 Linear(every[None], np.ones((1, width)), np.zeros(1))),
            Node(ctx.name, ctx.op, (summed,), total, (1,), SquareRoot(at_least_unit=True)),
        )  # fmt: skip
    elif norm_kind == "MAX":
        made = (Node(ctx.name, ctx.op, (x,), total, (1,), MaxWindow(every[None])),)
    else:
        raise ctx.fail(f"norm {norm_kind!r} is not one of MAX, L1, L2")
    bounds = (-1.0, 1.0) if norm_kind in ("L1", "L2") else None
    ratio = Node(ctx.name, ctx.op, (x, total), out, (1, width), Quotient(every, zero, bounds))
    return (*made, ratio)


def _scores_then(
    ctx: Ctx, node: onnx.NodeProto, scores: str, n_classes: int, transform: str, out: str
) -> tuple[Node, ...]:
    """The post-transform of a (1, n_classes) score tensor, into ``out``."""
    shape, every = (1, n_classes), np.arange(n_classes, dtype=np.int64)
    if transform == "NONE":
        same = Linear(every[:, None], np.ones((n_classes, 1)), np.zeros(n_classes))
        return (Node(ctx.name, ctx.op, (scores,), out, shape, same),)
    if transform == "LOGISTIC":
        spec = activations.sigmoid_smooth(ctx.tolerance)
        pwl = ctx.approximate(spec, "(the LOGISTIC post-transform)")
        return (Node(ctx.name, ctx.op, (scores,), out, shape, pwl),)
    if transform == "SOFTMAX":
        return softmax_rows(ctx, scores, shape, every[None], out)
    raise ctx.fail(f"post_transform {transform!r} is not supported (NONE, LOGISTIC, SOFTMAX are)")


def _linear_classifier(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    x, _, width = _features(ctx, node)
    coef = _floats(node, "coefficients")
    labels = _attr(node, "classlabels_ints", None) or _attr(node, "classlabels_strings", None)
    if coef is None or labels is None or coef.size % width:
        raise ctx.fail("LinearClassifier needs coefficients for its features and class labels")
    rows = coef.size // width
    if rows != len(labels):
        raise ctx.fail(f"{rows} coefficient rows for {len(labels)} classes: export one per class")
    intercepts = _floats(node, "intercepts")
    bias = np.zeros(rows) if intercepts is None else np.broadcast_to(intercepts, (rows,))
    idx = np.broadcast_to(np.arange(width, dtype=np.int64), (rows, width))
    scores = f"{node.output[1]}/scores"
    kind = Linear(idx.copy(), coef.reshape(rows, width), np.asarray(bias, dtype=float))
    first = Node(ctx.name, ctx.op, (x,), scores, (1, rows), kind)
    transform = _attr(node, "post_transform", "NONE")
    return (first, *_scores_then(ctx, node, scores, rows, transform, node.output[1]))


def _linear_regressor(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    x, _, width = _features(ctx, node)
    coef = _floats(node, "coefficients")
    targets = int(_attr(node, "targets", 1))
    if coef is None or coef.size != targets * width:
        raise ctx.fail(f"LinearRegressor needs {targets} x {width} coefficients")
    if _attr(node, "post_transform", "NONE") != "NONE":
        raise ctx.fail("only post_transform NONE is supported for a regressor")
    intercepts = _floats(node, "intercepts")
    bias = np.zeros(targets) if intercepts is None else np.broadcast_to(intercepts, (targets,))
    idx = np.broadcast_to(np.arange(width, dtype=np.int64), (targets, width))
    kind = Linear(idx.copy(), coef.reshape(targets, width), np.asarray(bias, dtype=float))
    return _linear(ctx, node, x, (1, targets), kind)


@dataclass(frozen=True)
class _Tree:
    """One ensemble's branch and leaf tables, by (tree, node id)."""

    feature: dict[tuple[int, int], int]
    threshold: dict[tuple[int, int], float]
    mode: dict[tuple[int, int], str]
    true_child: dict[tuple[int, int], int]
    false_child: dict[tuple[int, int], int]
    roots: list[tuple[int, int]]


def _tree_tables(ctx: Ctx, node: onnx.NodeProto, width: int) -> _Tree:
    trees = list(_attr(node, "nodes_treeids", []))
    ids = list(_attr(node, "nodes_nodeids", []))
    features = list(_attr(node, "nodes_featureids", []))
    modes = [m.decode() if isinstance(m, bytes) else m for m in _attr(node, "nodes_modes", [])]
    values = _floats(node, "nodes_values")
    trues = list(_attr(node, "nodes_truenodeids", []))
    falses = list(_attr(node, "nodes_falsenodeids", []))
    n = len(ids)
    if not n or values is None or not (len(trees) == len(features) == len(modes) == len(values)
                                       == len(trues) == len(falses) == n):  # fmt: skip
        raise ctx.fail("the tree tables (nodes_*) are missing or of different lengths")
    table = _Tree({}, {}, {}, {}, {}, [])
    parents: dict[tuple[int, int], tuple[int, int]] = {}  # child -> its branch
    for t, i, f, m, v, a, b in zip(trees, ids, features, modes, values, trues, falses,
                                   strict=True):  # fmt: skip
        key = (int(t), int(i))
        table.mode[key] = m
        if m == "LEAF":
            continue
        if m not in _BRANCH_MODES:
            raise ctx.fail(f"branch mode {m} is not supported ({', '.join(sorted(_BRANCH_MODES))})")
        if not 0 <= int(f) < width:
            raise ctx.fail(f"a branch reads feature {f} of {width}")
        table.feature[key], table.threshold[key] = int(f), float(v)
        table.true_child[key], table.false_child[key] = int(a), int(b)
        for child in ((int(t), int(a)), (int(t), int(b))):
            if child in parents or child == key:  # a shared child, or a cycle
                raise ctx.fail(f"node {child[1]} of tree {child[0]} has two parents")
            parents[child] = key
    table.roots.extend(sorted(k for k in table.mode if k not in parents))
    if len(table.roots) != len({t for t, _ in table.mode}):
        raise ctx.fail("every tree needs exactly one root (a node no branch points to)")
    for key in list(table.true_child):
        for child_id in (table.true_child[key], table.false_child[key]):
            if (key[0], child_id) not in table.mode:
                raise ctx.fail(f"tree {key[0]} names a node {child_id} it does not have")
    return table


def _leaf_weights(
    ctx: Ctx, node: onnx.NodeProto, prefix: str, n_out: int
) -> dict[tuple[int, int], Array]:
    """Each leaf's contribution to each output column."""
    trees = list(_attr(node, f"{prefix}_treeids", []))
    ids = list(_attr(node, f"{prefix}_nodeids", []))
    cols = list(_attr(node, f"{prefix}_ids", []))
    weights = _floats(node, f"{prefix}_weights")
    if weights is None or not len(trees) == len(ids) == len(cols) == len(weights):
        raise ctx.fail(f"the leaf tables ({prefix}_*) are missing or of different lengths")
    out: dict[tuple[int, int], Array] = {}
    for t, i, c, w in zip(trees, ids, cols, weights, strict=True):
        if not 0 <= int(c) < n_out:
            raise ctx.fail(f"a leaf adds to column {c} of {n_out}")
        out.setdefault((int(t), int(i)), np.zeros(n_out))[int(c)] += float(w)
    return out


def _ensemble(
    ctx: Ctx, x: str, table: _Tree, weights: dict[tuple[int, int], Array], n_out: int, out: str
) -> tuple[Node, ...]:
    """Scores ``(1, n_out)`` of a tree ensemble (module docstring), without base values."""
    branches = sorted(table.feature)
    position = {key: j for j, key in enumerate(branches)}
    nodes: list[Node] = []
    goes = f"{out}/go"
    leq = [j for j, k in enumerate(branches) if table.mode[k] in ("BRANCH_LEQ", "BRANCH_GT")]
    lt = [j for j, k in enumerate(branches) if table.mode[k] in ("BRANCH_LT", "BRANCH_GTE")]
    parts = []
    for name, picked, inclusive in ((f"{out}/le", leq, True), (f"{out}/lt", lt, False)):
        if not picked:
            continue
        keys = [branches[j] for j in picked]
        idx = np.array([table.feature[k] for k in keys], dtype=np.int64)
        values = np.array([table.threshold[k] for k in keys])
        nodes.append(
            Node(ctx.name, ctx.op, (x,), name, (len(keys),), Below(idx, values, inclusive))
        )
        flips = np.array([table.mode[k] in ("BRANCH_GT", "BRANCH_GTE") for k in keys])
        rows = np.array(picked, dtype=np.int64)
        cols = np.arange(len(keys), dtype=np.int64)
        if np.any(~flips):
            parts.append((name, Part(rows[~flips], cols[~flips], 1.0)))
        if np.any(flips):  # x > t is 1 - [x <= t]; x >= t is 1 - [x < t]
            parts.append((name, Part(rows[flips], cols[flips], -1.0)))
    bias = np.array([float(table.mode[k] in ("BRANCH_GT", "BRANCH_GTE")) for k in branches])
    nodes.append(Node(ctx.name, ctx.op, tuple(n for n, _ in parts), goes, (len(branches),),
                      Combine(tuple(p for _, p in parts), bias)))  # fmt: skip
    # Depth by depth: the indicator of each node below the roots.
    level: list[tuple[int, int]] = []  # the nodes whose indicators the last tensor holds
    tensor: str | None = None  # None: the roots, whose indicators are 1
    frontier = [k for k in table.roots if k in position]
    leaves: list[tuple[str, int, tuple[int, int]]] = []
    leaves += [("", -1, k) for k in table.roots if k not in position]  # a single-leaf tree
    depth = 0
    while frontier:
        children: list[tuple[int, int]] = []
        for k in frontier:
            children += [(k[0], table.true_child[k]), (k[0], table.false_child[k])]
        rows_true = np.arange(0, 2 * len(frontier), 2, dtype=np.int64)
        rows_false = rows_true + 1
        go_cols = np.array([position[k] for k in frontier], dtype=np.int64)
        name = f"{out}/d{depth}"
        if tensor is None:
            kind = Combine((Part(rows_true, go_cols, 1.0), Part(rows_false, go_cols, -1.0)),
                           np.tile([0.0, 1.0], len(frontier)))  # fmt: skip
            nodes.append(Node(ctx.name, ctx.op, (goes, goes), name, (len(children),), kind))
        else:
            parent_cols = np.array([level.index(k) for k in frontier], dtype=np.int64)
            product = f"{name}/and"
            nodes.append(Node(ctx.name, ctx.op, (tensor, goes), product, (len(frontier),),
                              Product(parent_cols, go_cols)))  # fmt: skip
            every = np.arange(len(frontier), dtype=np.int64)
            kind = Combine((Part(rows_true, every, 1.0), Part(rows_false, parent_cols, 1.0),
                            Part(rows_false, every, -1.0)), np.zeros(len(children)))  # fmt: skip
            nodes.append(Node(ctx.name, ctx.op, (product, tensor, product), name,
                              (len(children),), kind))  # fmt: skip
        leaves += [(name, j, c) for j, c in enumerate(children) if c not in position]
        frontier = [c for c in children if c in position]
        level, tensor, depth = children, name, depth + 1
    # The scores: leaf indicators gathered into one tensor, then their weights.
    gathered = f"{out}/leaves"
    parts2: list[tuple[str, Part]] = []
    columns: list[tuple[int, int]] = []
    for name in dict.fromkeys(n for n, _, _ in leaves if n):
        found = [(j, k) for n, j, k in leaves if n == name]
        rows = np.arange(len(columns), len(columns) + len(found), dtype=np.int64)
        cols = np.array([j for j, _ in found], dtype=np.int64)
        parts2.append((name, Part(rows, cols, 1.0)))
        columns += [k for _, k in found]
    constant = np.zeros(n_out)
    for _, _, k in (leaf for leaf in leaves if not leaf[0]):
        constant += weights.get(k, np.zeros(n_out))  # a tree that is one leaf
    if not columns:
        raise ctx.fail("the ensemble has no branch: its output does not depend on the input")
    nodes.append(Node(ctx.name, ctx.op, tuple(n for n, _ in parts2), gathered, (len(columns),),
                      Combine(tuple(p for _, p in parts2), np.zeros(len(columns)))))  # fmt: skip
    w = np.stack([weights.get(k, np.zeros(n_out)) for k in columns], axis=1)  # (n_out, leaves)
    idx = np.broadcast_to(np.arange(len(columns), dtype=np.int64), w.shape).copy()
    nodes.append(Node(ctx.name, ctx.op, (gathered,), out, (1, n_out), Linear(idx, w, constant)))
    return tuple(nodes)


def _tree_classifier(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    x, _, width = _features(ctx, node)
    labels = _attr(node, "classlabels_int64s", None) or _attr(node, "classlabels_strings", None)
    if not labels:
        raise ctx.fail("TreeEnsembleClassifier needs class labels")
    n_classes = len(labels)
    table = _tree_tables(ctx, node, width)
    weights = _leaf_weights(ctx, node, "class", n_classes)
    columns = {int(c) for c in _attr(node, "class_ids", [])}
    binary = n_classes == 2 and columns <= {0}  # one score column: onnxruntime's [1 - s, s]
    scores, out = f"{node.output[1]}/scores", node.output[1]
    base = _floats(node, "base_values")
    made = _ensemble(ctx, x, table, weights, n_classes, scores)
    transform = _attr(node, "post_transform", "NONE")
    shift = np.zeros(n_classes) if base is None else np.resize(base, n_classes)
    if binary:
        # s = base + leaves (column 0); NONE gives [1 - s, s], LOGISTIC [sigmoid(-s), sigmoid(s)]
        s0 = float(shift[0])
        sign = np.array([[-1.0], [1.0]])
        if transform == "NONE":
            kind = Linear(np.zeros((2, 1), dtype=np.int64), sign, np.array([1.0 - s0, s0]))
            return (*made, Node(ctx.name, ctx.op, (scores,), out, (1, 2), kind))
        if transform != "LOGISTIC":
            raise ctx.fail(f"post_transform {transform!r} with one score column is not supported")
        signed = f"{out}/signed"
        kind = Linear(np.zeros((2, 1), dtype=np.int64), sign, np.array([-s0, s0]))
        tail = _scores_then(ctx, node, signed, 2, "LOGISTIC", out)
        return (*made, Node(ctx.name, ctx.op, (scores,), signed, (1, 2), kind), *tail)
    shifted = f"{out}/based"
    every = np.arange(n_classes, dtype=np.int64)[:, None]
    base_node = Node(ctx.name, ctx.op, (scores,), shifted, (1, n_classes),
                     Linear(every, np.ones((n_classes, 1)), shift))  # fmt: skip
    return (*made, base_node, *_scores_then(ctx, node, shifted, n_classes, transform, out))


def _tree_regressor(ctx: Ctx, node: onnx.NodeProto) -> Nodes:
    x, _, width = _features(ctx, node)
    targets = int(_attr(node, "n_targets", 1))
    if _attr(node, "post_transform", "NONE") != "NONE":
        raise ctx.fail("only post_transform NONE is supported for a regressor")
    aggregate = _attr(node, "aggregate_function", "SUM")
    if aggregate not in ("SUM", "AVERAGE"):
        raise ctx.fail(f"aggregate_function {aggregate} is not supported (SUM, AVERAGE are)")
    table = _tree_tables(ctx, node, width)
    weights = _leaf_weights(ctx, node, "target", targets)
    if aggregate == "AVERAGE":
        n_trees = len({t for t, _ in table.mode})
        weights = {k: w / n_trees for k, w in weights.items()}
    scores, out = f"{node.output[0]}/scores", node.output[0]
    base = _floats(node, "base_values")
    shift = np.zeros(targets) if base is None else np.resize(base, targets)
    every = np.arange(targets, dtype=np.int64)[:, None]
    made = _ensemble(ctx, x, table, weights, targets, scores)
    return (*made, Node(ctx.name, ctx.op, (scores,), out, (1, targets),
                        Linear(every, np.ones((targets, 1)), shift)))  # fmt: skip


CONVERTERS = {
    "Scaler": _scaler,
    "Normalizer": _normalizer,
    "LinearClassifier": _linear_classifier,
    "LinearRegressor": _linear_regressor,
    "TreeEnsembleClassifier": _tree_classifier,
    "TreeEnsembleRegressor": _tree_regressor,
}
CLASSIFIERS = {"LinearClassifier", "TreeEnsembleClassifier"}  # output 1: probabilities
