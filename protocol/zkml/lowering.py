"""Float IR to the quantized program: scales, bit widths and gadget choice.

Each variable tensor becomes an ``Affine`` over constrained sources. Linear nodes
quantize their coefficients to ``weight_bits`` (or fewer bits when that is exact)
and compose at no constraint cost. A nonlinear node first materialises its input:
the affine value is rescaled to the tensor's scale, chosen from its calibrated
range so that ``headroom * max|x|`` fits ``activation_bits`` signed bits.

Widths are bounded everywhere: only sources at most ``activation_bits`` (or
``input_bits``) wide are used as they are; a wider one (a product of two
activations) is rescaled before any gadget reads it, so chained products never grow
towards the field's size, every accumulator stays below 2^FIELD_SAFE_BITS and every
bit decomposition fits the witness generator's WITNESS_BITS.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from protocol.zkml.affine import INT64_SAFE, Affine
from protocol.zkml.errors import CompileError
from protocol.zkml.floatir import (
    ArgMaxWindow,
    Below,
    Combine,
    Linear,
    MaxWindow,
    Node,
    Product,
    Pwl,
    Quotient,
    SquareRoot,
)
from protocol.zkml.gadgets import (
    ArgMaxLayout,
    BelowLayout,
    DivLayout,
    MaxLayout,
    ReluLayout,
    RequantLayout,
    SegmentLayout,
    SqrtLayout,
)
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
    Source,
    SqrtStep,
    Step,
    ViewStep,
)

IntArray = NDArray[np.int64]
FIELD_SAFE_BITS = 200  # accumulators stay below 2^200, far below R / 2 ~ 2^253
MAX_SHIFT = 60  # rescale shifts (and their remainders) stay within int64
WITNESS_BITS = 62  # the witness generator decomposes int64 values: no layout is wider


@dataclass(frozen=True)
class TensorInfo:
    """A constrained tensor in the report: its scale exponent, bit width and bounds."""

    name: str
    layer: str
    scale: int
    bits: int
    lo: int
    hi: int


def scale_for(max_abs: float, bits: int, headroom: float) -> int:
    """The largest power-of-two scale keeping ``headroom * max_abs`` within ``bits`` signed bits."""
    top = (1 << (bits - 1)) - 1
    if max_abs <= 0.0:
        return bits - 2
    return math.floor(math.log2(top / (headroom * max_abs)))


def signed_bits(lo: int, hi: int) -> int:
    """Bits B such that ``[lo, hi]`` lies within ``[-2^(B-1), 2^(B-1))``."""
    return max(2, 1 + max(max(hi, 0).bit_length(), max(-lo - 1, 0).bit_length()))


def quantize_coefs(coef: NDArray[np.float64], weight_bits: int) -> tuple[IntArray, int]:
    """Integer coefficients and their scale; exact when few bits suffice."""
    top = float(np.max(np.abs(coef), initial=0.0))
    if top == 0.0:
        return np.zeros(coef.shape, dtype=np.int64), 0
    scale = (weight_bits - 1) - math.ceil(math.log2(top + 1e-300))
    if top * 2.0**scale > (1 << (weight_bits - 1)) - 1:
        scale -= 1
    for exact in range(0, max(scale, 0) + 1):
        scaled = coef * 2.0**exact
        if np.all(scaled == np.round(scaled)) and np.max(np.abs(scaled)) < 2**62:
            return scaled.astype(np.int64), exact
    return np.round(coef * 2.0**scale).astype(np.int64), scale


def _shift(a: Affine, bits: int, tensor: str, layer: str) -> Affine:
    try:
        return a.shifted(bits)
    except OverflowError as exc:
        hint = "lower weight_bits or activation_bits"
        raise CompileError(f"tensor '{tensor}': {exc}", layer, "", hint) from exc


@dataclass
class Lowering:
    """The mutable state of one lowering pass (see module docstring)."""

    stats: Mapping[str, float]  # calibrated max |x| per tensor
    activation_bits: int
    weight_bits: int
    headroom: float
    input_bits: int
    sources: list[Source] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    env: dict[str, Affine] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)

    def add_source(self, src: Source, name: str, layer: str) -> int:
        self.sources.append(src)
        bits = signed_bits(src.lo, src.hi)
        self.tensors.append(TensorInfo(name, layer, src.scale, bits, src.lo, src.hi))
        return len(self.sources) - 1

    def note_constant(self, name: str, layer: str, values: IntArray, scale: int) -> None:
        """Report a quantized constant (weights, biases, slopes) with its scale and width."""
        lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
        self.tensors.append(TensorInfo(name, layer, scale, signed_bits(lo, hi), lo, hi))

    def materialize(
        self, a: Affine, tensor: str, layer: str, relu: bool = False
    ) -> tuple[int, int]:
        """Constrain an affine value; returns (q source, relu(q) source or -1)."""
        if self.narrow_view(a) and not relu:
            base = self.sources[a.srcs[0]]
            out = self.add_source(Source(a.n, base.scale, base.lo, base.hi), tensor, layer)
            self.steps.append(ViewStep(layer, a.srcs[0], a.idx[:, 0].copy(), out))
            return out, -1
        scale = scale_for(self.stats[tensor], self.activation_bits, self.headroom)
        k = a.scale - scale
        if k < 0:
            a, k = _shift(a, -k, tensor, layer), 0
        if k > MAX_SHIFT:
            raise CompileError(
                f"rescaling tensor '{tensor}' needs a {k}-bit shift", layer, "", "lower weight_bits"
            )
        bound = a.bound([max(-self.sources[s].lo, self.sources[s].hi) for s in a.srcs])
        if bound.bit_length() > FIELD_SAFE_BITS:
            raise CompileError(
                f"accumulator of '{tensor}' may reach 2^{bound.bit_length()}", layer, ""
            )
        half = 1 << (self.activation_bits - 1)
        q_info, y_info = Source(0, 0, -half, half - 1), Source(0, 0, 0, half - 1)
        q = self.add_source(Source(a.n, scale, q_info.lo, q_info.hi), tensor, layer)
        y = (
            self.add_source(Source(a.n, scale, y_info.lo, y_info.hi), f"relu({tensor})", layer)
            if relu
            else -1
        )
        lay = RequantLayout(k, self.activation_bits, relu)
        self.steps.append(RequantStep(layer, a, lay, bound >= INT64_SAFE, q, y))
        return q, y

    def narrow_view(self, a: Affine) -> bool:
        """Whether ``a`` is one constrained source as is, narrow enough for any gadget to
        read without rescaling (a product of two activations is twice as wide)."""
        base = self.sources[a.srcs[0]]
        narrow = signed_bits(base.lo, base.hi) <= max(self.activation_bits, self.input_bits)
        return narrow and a.is_view(base.scale)

    def source_affine(self, src: int) -> Affine:
        s = self.sources[src]
        return Affine.source(src, s.size, s.scale)

    def linear(self, node: Node, kind: Linear) -> None:
        a = self.env[node.inputs[0]]
        coef, cs = quantize_coefs(kind.coef, self.weight_bits)
        bias = np.round(kind.bias * 2.0 ** (a.scale + cs))
        if np.max(np.abs(bias), initial=0.0) >= INT64_SAFE:
            raise CompileError(
                "a bias is too large for its scale", node.name, node.op_type, "lower weight_bits"
            )
        if cs or np.any(np.abs(coef) > 1) or np.any(bias):  # not a pure layout op or sum
            self.note_constant(f"{node.name}.weights", node.name, coef, cs)
            self.note_constant(f"{node.name}.bias", node.name, bias.astype(np.int64), a.scale + cs)
        try:
            self.env[node.output] = a.compose(kind.idx, coef, bias.astype(np.int64), cs)
        except OverflowError as exc:
            raise CompileError(
                str(exc), node.name, node.op_type, "lower weight_bits or activation_bits"
            ) from exc

    def combine(self, node: Node, kind: Combine) -> None:
        ins = [self.env[i] for i in node.inputs]
        scale = max(a.scale for a in ins)
        n = len(kind.bias)
        acc: Affine | None = None
        for a, part in zip(ins, kind.parts, strict=True):
            a = _shift(a, scale - a.scale, node.output, node.name)
            rows = np.zeros(n, dtype=np.int64)
            rows[part.rows] = part.cols
            mask = np.zeros((n, 1), dtype=np.int64)
            mask[part.rows] = int(part.coef)
            term = a.compose(rows[:, None], mask, np.zeros(n, dtype=np.int64), 0)
            acc = term if acc is None else acc.plus(term)
        assert acc is not None
        rounded = np.round(kind.bias * 2.0**scale)
        if np.max(np.abs(rounded) + np.abs(acc.bias), initial=0.0) >= INT64_SAFE:
            raise CompileError(
                "a constant is too large for its scale", node.name, node.op_type,
                "the constant does not fit 64-bit integers at this tensor's precision; "
                "scale the constant down or lower activation_bits",
            )  # fmt: skip
        bias = rounded.astype(np.int64)
        self.env[node.output] = Affine(
            acc.srcs, acc.sizes, acc.idx, acc.coef, acc.bias + bias, acc.scale
        )

    def maxpool(self, node: Node, kind: MaxWindow) -> None:
        src, _ = self.materialize(self.env[node.inputs[0]], node.inputs[0], node.name)
        s = self.sources[src]
        lay = MaxLayout(
            kind.windows.shape[1], _checked_width(max(1, (s.hi - s.lo).bit_length()), node)
        )
        out = self.add_source(
            Source(len(kind.windows), s.scale, s.lo, s.hi), node.output, node.name
        )
        self.steps.append(MaxStep(node.name, src, kind.windows, lay, out))
        self.env[node.output] = self.source_affine(out)

    def product(self, node: Node, kind: Product) -> None:
        a, _ = self.materialize(self.env[node.inputs[0]], node.inputs[0], node.name)
        b, _ = self.materialize(self.env[node.inputs[1]], node.inputs[1], node.name)
        sa, sb = self.sources[a], self.sources[b]
        corners = [x * y for x in (sa.lo, sa.hi) for y in (sb.lo, sb.hi)]
        wide = max(abs(c) for c in corners) >= INT64_SAFE
        out = self.add_source(
            Source(len(kind.ia), sa.scale + sb.scale, min(corners), max(corners)),
            node.output,
            node.name,
        )
        self.steps.append(MulStep(node.name, a, kind.ia, b, kind.ib, wide, out))
        self.env[node.output] = self.source_affine(out)

    def quotient(self, node: Node, kind: Quotient) -> None:
        """``a / b`` with b >= 1 in fixed point, at the output's calibrated scale."""
        a, _ = self.materialize(self.env[node.inputs[0]], node.inputs[0], node.name)
        b, _ = self.materialize(self.env[node.inputs[1]], node.inputs[1], node.name)
        sa, sb = self.sources[a], self.sources[b]
        if sb.hi < 1:
            raise CompileError(
                "the divisor is never positive on the calibration data", node.name,
                node.op_type, "only division by a positive computed tensor is supported",
            )  # fmt: skip
        scale = scale_for(self.stats[node.output], self.activation_bits, self.headroom)
        shift = sb.scale - sa.scale + scale  # q = a 2^shift / b at the output's scale
        k, d = max(shift, 0), max(-shift, 0)
        if k > MAX_SHIFT or d > MAX_SHIFT:
            raise CompileError(f"the quotient needs a {max(k, d)}-bit shift", node.name,
                               node.op_type, "lower weight_bits or activation_bits")  # fmt: skip
        r_bits = _checked_width(max(1, (sb.hi << d).bit_length()), node)
        lay = DivLayout(k, d, self.activation_bits, r_bits)
        half = 1 << (self.activation_bits - 1)
        out = self.add_source(Source(len(kind.ia), scale, -half, half - 1), node.output, node.name)
        self.steps.append(DivStep(node.name, a, kind.ia, b, kind.ib, lay, out))
        self.env[node.output] = self.source_affine(out)

    def square_root(self, node: Node, kind: SquareRoot) -> None:
        """The floor root, exact, at the output's calibrated scale."""
        src, _ = self.materialize(self.env[node.inputs[0]], node.inputs[0], node.name)
        s = self.sources[src]
        scale = scale_for(self.stats[node.output], self.activation_bits, self.headroom)
        m = 2 * scale - s.scale  # root(x 2^m) = sqrt(x) 2^scale for x at scale s.scale
        if not 0 <= m <= MAX_SHIFT:  # about activation_bits whatever the ranges
            raise CompileError(f"the square root needs a {m}-bit shift", node.name,
                               node.op_type, "lower activation_bits")  # fmt: skip
        bits = self.activation_bits - 1
        out = self.add_source(Source(s.size, scale, 0, (1 << bits) - 1), node.output, node.name)
        lay = SqrtLayout(m, bits, int(kind.at_least_unit))
        self.steps.append(SqrtStep(node.name, src, lay, out))
        self.env[node.output] = self.source_affine(out)

    def argmax(self, node: Node, kind: ArgMaxWindow) -> None:
        """The first maximum's index of each window: an integer at scale 0."""
        src, _ = self.materialize(self.env[node.inputs[0]], node.inputs[0], node.name)
        s = self.sources[src]
        n, width = kind.windows.shape
        lay = ArgMaxLayout(width, _checked_width(max(1, (s.hi - s.lo).bit_length()), node))
        out = self.add_source(Source(n, 0, 0, width - 1), node.output, node.name)
        self.steps.append(ArgMaxStep(node.name, src, kind.windows, lay, out))
        self.env[node.output] = self.source_affine(out)

    def below(self, node: Node, kind: Below) -> None:
        """``[x < v]`` at x's fixed-point precision: ``x_q < ceil(v 2^scale)``; ``[x <= v]``
        is ``x_q < floor(v 2^scale) + 1``."""
        src, _ = self.materialize(self.env[node.inputs[0]], node.inputs[0], node.name)
        s = self.sources[src]
        scaled = np.asarray(kind.values, dtype=np.float64) * 2.0**s.scale
        c = np.floor(scaled) + 1 if kind.inclusive else np.ceil(scaled)
        consts = np.clip(c, s.lo - 1, s.hi + 1).astype(np.int64)  # the same answer beyond
        width = max(s.hi - int(consts.min(initial=0)), int(consts.max(initial=0)) - s.lo + 1)
        bits = _checked_width(max(width, 1).bit_length() + 1, node)
        out = self.add_source(Source(len(kind.idx), 0, 0, 1), node.output, node.name)
        self.steps.append(BelowStep(node.name, src, kind.idx, consts, BelowLayout(bits), out))
        self.env[node.output] = self.source_affine(out)

    def pwl(self, node: Node, kind: Pwl) -> None:
        a, tensor = self.env[node.inputs[0]], node.inputs[0]
        view = self.narrow_view(a)
        scale = (
            a.scale if view else scale_for(self.stats[tensor], self.activation_bits, self.headroom)
        )
        knots = [round(t * 2.0**scale) for t in kind.knots]
        half = 1 << (self.activation_bits - 1)
        base = self.sources[a.srcs[0]]
        lo, hi = (base.lo, base.hi) if view else (-half, half - 1)
        if _segments_cost(knots, lo, hi) < _relus_cost(knots, lo, hi, free_zero=not view):
            q, _ = self.materialize(a, tensor, node.name)
            self.env[node.output] = self._segments(node, kind, q, knots, scale)
            return
        q, y = self.materialize(a, tensor, node.name, relu=0 in knots and not view)
        src = self.sources[q]
        terms: list[tuple[int, float]] = []
        a0, const = kind.a0, kind.c * 2.0**scale
        for t, slope in zip(knots, kind.slopes, strict=True):
            if t <= src.lo:  # relu(q - t) = q - t on the whole range
                a0, const = a0 + slope, const - slope * t
            elif t >= src.hi:  # relu(q - t) = 0 on the whole range
                continue
            elif t == 0 and y >= 0:
                terms.append((y, slope))
            else:
                lay = ReluLayout(_checked_width(signed_bits(src.lo - t, src.hi - t), node))
                out = self.add_source(
                    Source(src.size, scale, 0, src.hi - t), f"{node.output}@{t}", node.name
                )
                self.steps.append(ReluStep(node.name, q, t, lay, out))
                terms.append((out, slope))
        if a0 or not terms:
            terms.insert(0, (q, a0))
        self.env[node.output] = self._weighted(terms, src.size, const, scale, node)

    def _segments(self, node: Node, kind: Pwl, q: int, knots: list[int], scale: int) -> Affine:
        """The Pwl of source ``q`` by segment selection: ``alpha_j + beta_j q`` on segment j."""
        src = self.sources[q]
        a0, const = kind.a0, kind.c * 2.0**scale
        merged: dict[int, float] = {}  # rounding may bring two knots onto one integer
        for t, slope in zip(knots, kind.slopes, strict=True):
            if t <= src.lo:  # the slope change applies on the whole range
                a0, const = a0 + slope, const - slope * t
            elif t <= src.hi:
                merged[t] = merged.get(t, 0.0) + slope
        ts = np.array(sorted(merged), dtype=np.int64)
        betas, cs = quantize_coefs(np.cumsum([a0, *(merged[int(t)] for t in ts)]), self.weight_bits)
        alphas = round(const * 2.0**cs) - np.concatenate([[0], np.cumsum(np.diff(betas) * ts)])
        starts = np.concatenate([[src.lo], ts]).astype(np.int64)
        ends = np.concatenate([ts - 1, [src.hi]]).astype(np.int64)
        bits = _checked_width(max(1, int((ends - starts).max()).bit_length()), node)
        lay = SegmentLayout(len(starts), bits)
        self.note_constant(f"{node.name}.slopes", node.name, betas, cs)
        n, k = src.size, len(ts)
        top = int(np.abs(betas).max()) * max(-src.lo, src.hi)
        sel = self.add_source(Source(n * k, 0, 0, 1), f"{node.output}/segment", node.name)
        m = self.add_source(Source(n, scale + cs, -top, top), f"{node.output}/slope*x", node.name)
        self.steps.append(SegmentStep(node.name, q, starts, ends, betas, lay, sel))
        e = np.arange(n, dtype=np.int64)[:, None]
        idx = np.concatenate([e * k + np.arange(k, dtype=np.int64)[None], n * k + e], axis=1)
        coef = np.broadcast_to(np.append(alphas[1:] - alphas[0], 1), (n, k + 1)).astype(np.int64)
        bias = np.full(n, alphas[0], dtype=np.int64)
        return Affine((sel, m), (n * k, n), idx, coef, bias, scale + cs)

    def _weighted(
        self, terms: list[tuple[int, float]], n: int, const: float, scale: int, node: Node
    ) -> Affine:
        coefs, cs = quantize_coefs(np.array([c for _, c in terms]), self.weight_bits)
        if cs or np.any(np.abs(coefs) > 1):  # plain ReLU and Clip slopes are exact
            self.note_constant(f"{node.name}.slopes", node.name, coefs, cs)
        idx = (
            np.arange(n, dtype=np.int64)[:, None] + n * np.arange(len(terms), dtype=np.int64)[None]
        )
        bias = np.full(n, round(const * 2.0**cs), dtype=np.int64)
        srcs = tuple(s for s, _ in terms)
        coef = np.broadcast_to(coefs, (n, len(terms))).copy()
        return Affine(srcs, (n,) * len(terms), idx, coef, bias, scale + cs)


# Each IR kind's lowering method.
_LOWER: dict[type, Callable[[Lowering, Node, Any], None]] = {
    Linear: Lowering.linear,
    Combine: Lowering.combine,
    Pwl: Lowering.pwl,
    MaxWindow: Lowering.maxpool,
    Product: Lowering.product,
    Quotient: Lowering.quotient,
    SquareRoot: Lowering.square_root,
    ArgMaxWindow: Lowering.argmax,
    Below: Lowering.below,
}


def _inner(knots: list[int], lo: int, hi: int) -> list[int]:
    return sorted({t for t in knots if lo < t <= hi})


def _relus_cost(knots: list[int], lo: int, hi: int, free_zero: bool) -> int:
    """Constraints per element of a Pwl as one ReLU per knot inside ``[lo, hi]``."""
    return sum(
        1 if t == 0 and free_zero else signed_bits(lo - t, hi - t) for t in _inner(knots, lo, hi)
    )


def _segments_cost(knots: list[int], lo: int, hi: int) -> int:
    """Constraints per element of a Pwl by segment selection (``gadgets.SegmentLayout``)."""
    inner = _inner(knots, lo, hi)
    if not inner:
        return 1 << 30  # a linear map needs no gadget at all
    edges = [lo, *inner, hi + 1]
    widest = max(b - a - 1 for a, b in itertools.pairwise(edges))
    return len(inner) + 2 * max(1, widest.bit_length()) + 2


def _checked_width(bits: int, node: Node) -> int:
    """``bits`` if the witness generator can decompose values that wide; else CompileError."""
    if bits > WITNESS_BITS:
        raise CompileError(
            f"needs a {bits}-bit decomposition (at most {WITNESS_BITS})", node.name, node.op_type,
            "lower activation_bits",
        )  # fmt: skip
    return bits


def lower(
    nodes: tuple[Node, ...],
    io: tuple[str, str],
    n_inputs: int,
    stats: Mapping[str, float],
    input_scale: int,
    bits: tuple[int, int, int],
    headroom: float,
) -> tuple[Program, list[TensorInfo]]:
    """The program for an imported graph; ``bits`` = (input, activation, weight) bits."""
    input_name, output_name = io
    input_bits, activation_bits, weight_bits = bits
    low = Lowering(stats, activation_bits, weight_bits, headroom, input_bits)
    half = 1 << (input_bits - 1)
    inp = low.add_source(Source(n_inputs, input_scale, -half, half - 1), input_name, "input")
    low.env[input_name] = low.source_affine(inp)
    producer = {input_name: "input"}
    for node in nodes:
        producer[node.output] = node.name
        _LOWER[type(node.kind)](low, node, node.kind)
    out, _ = low.materialize(low.env[output_name], output_name, producer[output_name])
    return Program(input_bits, tuple(low.sources), tuple(low.steps), out), low.tensors
