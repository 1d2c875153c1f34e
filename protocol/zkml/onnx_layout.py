"""Converters of ONNX layout ops that move, repeat or pad values (Pad, Slice, Split,
Expand, Tile and nearest-neighbour Resize), of reductions (ReduceSum / Mean / Max /
Min).

Each is the same numpy operation applied to the positions ``arange(n).reshape(shape)``
of the input: the result says which input element every output element is, so the
op is a gather (a ``Linear`` node, free in the circuit). Constant padding is a gather
with weight 0 and the pad value as bias.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx

from protocol.zkml.floatir import ArgMaxWindow, Linear, MaxWindow, Node
from protocol.zkml.onnx_ops import (
    Array,
    Ctx,
    IntArray,
    _attr,
    _gather,
    _linear,
    _positions,
    _size,
)

_OUTSIDE = -1  # a padded position: no input element


def _optional(ctx: Ctx, node: onnx.NodeProto, i: int) -> Array | None:
    """Constant input ``i``, or None when it is absent or empty."""
    if len(node.input) <= i or not node.input[i]:
        return None
    return np.asarray(ctx.const(node.input[i]))


def _ints(value: Array | None) -> list[int] | None:
    return None if value is None else [int(v) for v in value.ravel()]


def _pad(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    pads = _ints(_optional(ctx, node, 1)) if ctx.opset >= 11 else list(_attr(node, "pads", []))
    if pads is None or len(pads) % 2:
        raise ctx.fail("Pad needs pads (a begin and an end for each padded axis)")
    axes = _ints(_optional(ctx, node, 3)) or list(range(len(s)))
    if len(pads) != 2 * len(axes):
        raise ctx.fail(f"{len(pads)} pads for {len(axes)} axes")
    if any(p < 0 for p in pads):
        raise ctx.fail("negative pads (cropping) are not supported; use Slice")
    widths = [(0, 0)] * len(s)
    for k, axis in enumerate(axes):
        widths[axis % len(s)] = (pads[k], pads[k + len(axes)])
    mode = _attr(node, "mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise ctx.fail(f"Pad mode {mode!r} is not supported (constant, reflect, edge are)")
    positions = _positions(s)
    if mode == "constant":
        index = np.pad(positions, widths, constant_values=_OUTSIDE)
    else:
        if mode == "reflect" and any(w > d - 1 for (a, b), d in zip(widths, s, strict=True)
                                     for w in (a, b)):  # fmt: skip
            raise ctx.fail("reflect padding wider than the axis minus one is undefined")
        index = np.pad(positions, widths, mode="reflect" if mode == "reflect" else "edge")
    value = _optional(ctx, node, 2)
    fill = 0.0 if value is None or value.size == 0 else float(value.ravel()[0])
    flat = index.ravel()
    inside = flat != _OUTSIDE
    kind = Linear(
        np.where(inside, flat, 0)[:, None],
        inside.astype(float)[:, None],
        np.where(inside, 0.0, fill),
    )
    return _linear(ctx, node, x, tuple(index.shape), kind)


def _slice(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    starts, ends = _ints(_optional(ctx, node, 1)), _ints(_optional(ctx, node, 2))
    if starts is None or ends is None or len(starts) != len(ends):
        raise ctx.fail("Slice needs constant starts and ends of the same length")
    axes = _ints(_optional(ctx, node, 3)) or list(range(len(starts)))
    steps = _ints(_optional(ctx, node, 4)) or [1] * len(starts)
    if len(axes) != len(starts) or len(steps) != len(starts) or 0 in steps:
        raise ctx.fail("Slice's axes and steps must match its starts, and steps be nonzero")
    picks = [slice(None)] * len(s)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        # ONNX clamps like Python slicing, except that huge sentinels mean "to the end"
        picks[axis % len(s)] = slice(start, end, step)
    index = _positions(s)[tuple(picks)]
    if index.size == 0:
        raise ctx.fail(f"the slice of {s} is empty")
    return _gather(ctx, node, x, index.ravel(), tuple(index.shape))


def _split(ctx: Ctx, node: onnx.NodeProto) -> tuple[Node, ...]:
    x, s = ctx.var(node.input[0])
    axis = int(_attr(node, "axis", 0)) % len(s)
    outputs = list(node.output)
    sizes = _ints(_optional(ctx, node, 1)) if ctx.opset >= 13 else _attr(node, "split", None)
    if sizes is None:
        count = int(_attr(node, "num_outputs", len(outputs)))
        if count != len(outputs):
            raise ctx.fail(f"num_outputs {count} but {len(outputs)} outputs")
        part = math.ceil(s[axis] / count)
        sizes = [min(part, s[axis] - i * part) for i in range(count)]
    sizes = [int(v) for v in sizes]
    if len(sizes) != len(outputs) or sum(sizes) != s[axis] or min(sizes) < 1:
        raise ctx.fail(f"split sizes {sizes} do not cut axis {axis} of {s} into {len(outputs)}")
    pieces = np.split(_positions(s), np.cumsum(sizes)[:-1], axis=axis)
    nodes = []
    for out, index in zip(outputs, pieces, strict=True):
        if not out:
            continue
        n = index.size
        kind = Linear(index.ravel()[:, None], np.ones((n, 1)), np.zeros(n))
        nodes.append(Node(ctx.name, ctx.op, (x,), out, tuple(index.shape), kind))
    return tuple(nodes)


def _expand(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    shape = _ints(_optional(ctx, node, 1))
    if shape is None:
        raise ctx.fail("Expand needs a constant shape")
    try:
        out = np.broadcast_shapes(s, tuple(shape))
    except ValueError:
        raise ctx.fail(f"{s} does not broadcast to {tuple(shape)}") from None
    index = np.broadcast_to(_positions(s), out)
    return _gather(ctx, node, x, index.ravel(), tuple(out))


def _tile(ctx: Ctx, node: onnx.NodeProto) -> Node:
    x, s = ctx.var(node.input[0])
    repeats = _ints(_optional(ctx, node, 1))
    if repeats is None or len(repeats) != len(s) or min(repeats) < 1:
        raise ctx.fail(f"Tile needs one positive repeat count per axis of {s}")
    index = np.tile(_positions(s), repeats)
    return _gather(ctx, node, x, index.ravel(), tuple(index.shape))


_NEAREST: dict[str, Callable[[Array], Array]] = {
    "round_prefer_floor": lambda v: np.ceil(v - 0.5),
    "round_prefer_ceil": lambda v: np.floor(v + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


def _source_coordinate(mode: str, out: IntArray, scale: float, size: int, length: int) -> Array:
    """Where output coordinate ``out`` reads on an input axis (ONNX Resize's modes)."""
    if mode == "asymmetric":
        return out / scale
    if mode == "align_corners":
        return out * (size - 1) / (length - 1) if length > 1 else np.zeros(len(out))
    if mode == "pytorch_half_pixel" and length == 1:
        return np.zeros(len(out))
    if mode in ("half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn"):
        shift = 0.0 if mode == "tf_half_pixel_for_nn" else 0.5
        return (out + 0.5) / scale - shift
    raise ValueError(mode)


def _resize(ctx: Ctx, node: onnx.NodeProto) -> Node:
    """Nearest-neighbour Resize (Upsample's successor) of any axes."""
    x, s = ctx.var(node.input[0])
    if _attr(node, "mode", "nearest") != "nearest":
        raise ctx.fail("only mode 'nearest' is supported; linear and cubic resizing are not")
    scales, sizes = _optional(ctx, node, 2), _optional(ctx, node, 3)
    if sizes is not None and sizes.size:
        out = tuple(int(v) for v in sizes.ravel())
        factors = [o / d for o, d in zip(out, s, strict=True)]
    elif scales is not None and scales.size == len(s):
        factors = [float(v) for v in scales.ravel()]
        out = tuple(math.floor(d * f) for d, f in zip(s, factors, strict=True))
    else:
        raise ctx.fail("Resize needs constant scales or sizes, one per axis")
    if len(out) != len(s) or min(out) < 1:
        raise ctx.fail(f"Resize of {s} to {out} is not supported")
    mode = _attr(node, "coordinate_transformation_mode", "half_pixel")
    rounding = _NEAREST.get(_attr(node, "nearest_mode", "round_prefer_floor"))
    if rounding is None or mode not in (
        "asymmetric", "align_corners", "half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn"
    ):  # fmt: skip
        raise ctx.fail(f"coordinate mode {mode!r} with this nearest_mode is not supported")
    grids = []
    for d, length, f in zip(s, out, factors, strict=True):
        src = rounding(_source_coordinate(mode, np.arange(length), f, d, length))
        grids.append(np.clip(src, 0, d - 1).astype(np.int64))
    index = _positions(s)[np.ix_(*grids)]
    return _gather(ctx, node, x, index.ravel(), out)


# --- reductions ------------------------------------------------------------------


def _reduced_shape(node: onnx.NodeProto, s: tuple[int, ...], axes: set[int]) -> tuple[int, ...]:
    """The shape after reducing ``axes``: kept as 1s with keepdims (the default), dropped
    without."""
    if int(_attr(node, "keepdims", 1)):
        return tuple(1 if a in axes else d for a, d in enumerate(s))
    return tuple(d for a, d in enumerate(s) if a not in axes)


def _reduced(ctx: Ctx, node: onnx.NodeProto) -> tuple[str, tuple[int, ...], IntArray]:
    """The input, the output shape and, per output element, the input positions it reduces."""
    x, s = ctx.var(node.input[0])
    axes_input = (ctx.op == "ReduceSum" and ctx.opset >= 13) or ctx.opset >= 18
    axes = _ints(_optional(ctx, node, 1)) if axes_input else _attr(node, "axes", None)
    if not axes:
        if _attr(node, "noop_with_empty_axes", 0):
            raise ctx.fail("noop_with_empty_axes=1 with no axes is an identity; remove the node")
        axes = list(range(len(s)))
    kept_axes = sorted({int(a) % len(s) for a in axes})
    rest = [a for a in range(len(s)) if a not in kept_axes]
    moved = np.transpose(_positions(s), rest + kept_axes)
    n_out = _size(tuple(s[a] for a in rest))
    groups = moved.reshape(n_out, -1)
    out = _reduced_shape(node, s, set(kept_axes))
    return x, out, groups


def _reduce_linear(ctx: Ctx, node: onnx.NodeProto) -> Node:
    """ReduceSum and ReduceMean: a sum (or mean) over the reduced positions, free."""
    x, out, groups = _reduced(ctx, node)
    weight = 1.0 / groups.shape[1] if ctx.op == "ReduceMean" else 1.0
    kind = Linear(groups, np.full(groups.shape, weight), np.zeros(len(groups)))
    return _linear(ctx, node, x, out, kind)


def _reduce_max(ctx: Ctx, node: onnx.NodeProto) -> Node | tuple[Node, ...]:
    """ReduceMax by the max gadget; ReduceMin as -max(-x)."""
    x, out, groups = _reduced(ctx, node)
    if ctx.op == "ReduceMax":
        return _linear(ctx, node, x, out, MaxWindow(groups))
    _, s = ctx.var(node.input[0])
    n, m = _size(s), len(groups)
    negated, top = f"{node.output[0]}/neg", f"{node.output[0]}/max"
    flip_in = Linear(np.arange(n, dtype=np.int64)[:, None], -np.ones((n, 1)), np.zeros(n))
    flip_out = Linear(np.arange(m, dtype=np.int64)[:, None], -np.ones((m, 1)), np.zeros(m))
    return (
        Node(ctx.name, ctx.op, (x,), negated, s, flip_in),
        Node(ctx.name, ctx.op, (negated,), top, out, MaxWindow(groups)),
        Node(ctx.name, ctx.op, (top,), node.output[0], out, flip_out),
    )


def _argmax(ctx: Ctx, node: onnx.NodeProto) -> Node | tuple[Node, ...]:
    """ArgMax along one axis: the first maximum's index (the last one with
    select_last_index, by reading each window backwards)."""
    x, s = ctx.var(node.input[0])
    axis = int(_attr(node, "axis", 0)) % len(s)
    windows = np.moveaxis(_positions(s), axis, -1).reshape(-1, s[axis])
    out = _reduced_shape(node, s, {axis})
    if not _attr(node, "select_last_index", 0):
        return _linear(ctx, node, x, out, ArgMaxWindow(windows))
    backwards = f"{node.output[0]}/backwards"
    n, last = len(windows), s[axis] - 1
    flip = Linear(np.arange(n, dtype=np.int64)[:, None], -np.ones((n, 1)), np.full(n, float(last)))
    return (
        Node(ctx.name, ctx.op, (x,), backwards, out, ArgMaxWindow(windows[:, ::-1].copy())),
        Node(ctx.name, ctx.op, (backwards,), node.output[0], out, flip),
    )
