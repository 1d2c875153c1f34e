"""Structural checks of a decoded ``Program``: decoded data is outside input.

A program that passes has every source id, index array and layout parameter in
range and of the expected type, so witness generation cannot index out of bounds
or mix dtypes; whether it matches its R1CS is checked by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from protocol.errors import RemoteProtocolError
from protocol.zkml.affine import Affine
from protocol.zkml.gadgets import ArgMaxLayout, BelowLayout, DivLayout, SegmentLayout, SqrtLayout
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
    ViewStep,
)

MAX_BITS = 62  # every bit width and shift must keep int64 witness arithmetic exact
MAX_ROOT_BITS = 31  # a root's square stays within int64


def _ints(arr: object, shape_rank: int) -> bool:
    return isinstance(arr, np.ndarray) and arr.dtype == np.int64 and arr.ndim == shape_rank


def _index(arr: object, rank: int, limit: int) -> bool:
    if not _ints(arr, rank):
        return False
    assert isinstance(arr, np.ndarray)
    return arr.size == 0 or (int(arr.min()) >= 0 and int(arr.max()) < limit)


def _bits(value: object, low: int) -> bool:
    return isinstance(value, int) and low <= value <= MAX_BITS


def _src(ref: object, index: int) -> bool:
    return isinstance(ref, int) and 0 <= ref < index


def _affine(a: Affine, sources: Sequence[Source], index: int) -> bool:
    ok = all(_src(s, index) for s in a.srcs) and isinstance(a.scale, int)
    ok = ok and a.sizes == tuple(sources[s].size for s in a.srcs)
    ok = ok and _index(a.idx, 2, sum(a.sizes)) and _ints(a.coef, 2) and _ints(a.bias, 1)
    return ok and a.coef.shape == a.idx.shape and a.bias.shape == (len(a.idx),)


def _requant(step: RequantStep, sources: Sequence[Source], index: int) -> bool:
    lay = step.lay
    ok = _bits(lay.bits, 2) and _bits(lay.k, 0) and isinstance(lay.relu, bool)
    ok = ok and isinstance(step.affine, Affine) and _affine(step.affine, sources, index)
    y_ok = step.y_out == (index + 1 if lay.relu else -1)
    return ok and step.q_out == index and sources[index].size == step.affine.n and y_ok


def _relu(step: ReluStep, sources: Sequence[Source], index: int) -> bool:
    return _src(step.src, index) and _bits(step.lay.bits, 2) and isinstance(step.knot, int)


def _max(step: MaxStep, sources: Sequence[Source], index: int) -> bool:
    ok = _src(step.src, index) and _bits(step.lay.bits, 1) and _bits(step.lay.width, 1)
    ok = ok and _index(step.windows, 2, sources[step.src].size)
    return ok and step.windows.shape[1] == step.lay.width


def _mul(step: MulStep, sources: Sequence[Source], index: int) -> bool:
    ok = _src(step.a, index) and _src(step.b, index) and isinstance(step.wide, bool)
    ok = ok and _index(step.ia, 1, sources[step.a].size)
    return ok and _index(step.ib, 1, sources[step.b].size) and len(step.ia) == len(step.ib)


def _div(step: DivStep, sources: Sequence[Source], index: int) -> bool:
    lay = step.lay
    ok = _src(step.a, index) and _src(step.b, index) and isinstance(lay, DivLayout)
    ok = ok and _bits(lay.bits, 2) and _bits(lay.r_bits, 1) and _bits(lay.k, 0)
    ok = ok and _bits(lay.d, 0)
    ok = ok and _index(step.ia, 1, sources[step.a].size)
    return ok and _index(step.ib, 1, sources[step.b].size) and len(step.ia) == len(step.ib)


def _sqrt(step: SqrtStep, sources: Sequence[Source], index: int) -> bool:
    lay = step.lay
    ok = _src(step.src, index) and isinstance(lay, SqrtLayout) and _bits(lay.m, 0)
    ok = ok and lay.offset in (0, 1)
    return ok and _bits(lay.bits, 1) and lay.bits <= MAX_ROOT_BITS


def _argmax(step: ArgMaxStep, sources: Sequence[Source], index: int) -> bool:
    lay = step.lay
    ok = _src(step.src, index) and isinstance(lay, ArgMaxLayout) and _bits(lay.bits, 1)
    ok = ok and _bits(lay.width, 1) and _index(step.windows, 2, sources[step.src].size)
    return ok and step.windows.shape[1] == lay.width


def _below(step: BelowStep, sources: Sequence[Source], index: int) -> bool:
    lay = step.lay
    ok = _src(step.src, index) and isinstance(lay, BelowLayout) and _bits(lay.bits, 1)
    ok = ok and _ints(step.consts, 1) and len(step.consts) == len(step.index)
    return ok and _index(step.index, 1, sources[step.src].size)


def _segments(step: SegmentStep, sources: Sequence[Source], index: int) -> bool:
    lay, src = step.lay, sources[step.src] if _src(step.src, index) else None
    ok = src is not None and isinstance(lay, SegmentLayout) and _bits(lay.bits, 1)
    ok = ok and isinstance(lay.segments, int) and lay.segments >= 1
    arrays = (step.starts, step.ends, step.slopes)
    ok = ok and all(_ints(a, 1) and len(a) == lay.segments for a in arrays)
    if not ok or src is None:
        return False
    widths = step.ends - step.starts
    tiled = bool(np.all(step.starts[1:] == step.ends[:-1] + 1)) and bool(np.all(widths >= 0))
    covers = int(step.starts[0]) <= src.lo and int(step.ends[-1]) >= src.hi
    fits = int(widths.max()) < (1 << lay.bits) and int(np.abs(step.slopes).max()) < 1 << MAX_BITS
    if step.out + 1 >= len(sources):
        return False
    sel, m = sources[step.out], sources[step.out + 1]
    outs_ok = sel.size == src.size * (lay.segments - 1) and m.size == src.size
    return tiled and covers and fits and outs_ok


def _view(step: ViewStep, sources: Sequence[Source], index: int) -> bool:
    return _src(step.src, index) and _index(step.index, 1, sources[step.src].size)


_CHECKS: dict[type, Callable[[Any, Sequence[Source], int], bool]] = {
    RequantStep: _requant,
    ReluStep: _relu,
    MaxStep: _max,
    MulStep: _mul,
    DivStep: _div,
    SqrtStep: _sqrt,
    ArgMaxStep: _argmax,
    BelowStep: _below,
    SegmentStep: _segments,
    ViewStep: _view,
}


def _steps_ok(program: Program) -> bool:
    produced = 1
    for step in program.steps:
        check = _CHECKS.get(type(step))
        out = step.q_out if isinstance(step, RequantStep) else getattr(step, "out", None)
        if check is None or out != produced or not check(step, program.sources, produced):
            return False
        two = isinstance(step, SegmentStep) or (isinstance(step, RequantStep) and step.lay.relu)
        produced += 2 if two else 1
    return produced == len(program.sources)


def _source_ok(s: object) -> bool:
    fields = ("size", "scale", "lo", "hi")
    return isinstance(s, Source) and all(isinstance(getattr(s, f), int) for f in fields)


def validate_program(program: object) -> None:
    """Raise RemoteProtocolError unless ``program`` is a well-formed Program."""
    if not (isinstance(program, Program) and _bits(program.input_bits, 2)):
        raise RemoteProtocolError("malformed compiled program")
    ok = bool(program.sources) and all(_source_ok(s) for s in program.sources)
    ok = ok and _steps_ok(program) and program.input_bits <= 32
    if not (ok and isinstance(program.output, int) and 0 <= program.output < len(program.sources)):
        raise RemoteProtocolError("malformed compiled program")
