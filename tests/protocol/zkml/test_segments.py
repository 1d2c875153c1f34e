"""Piecewise-linear activations with many knots are lowered by segment selection."""

from __future__ import annotations

import numpy as np

from protocol.r1cs.system import first_unsatisfied
from protocol.zkml import compile_model
from protocol.zkml.lowering import _relus_cost, _segments_cost
from protocol.zkml.program import ReluStep, RequantStep, SegmentStep
from tests.protocol.zkml.helpers import SALT, calibration, reference_run
from tests.protocol.zkml.models import CASES


def test_tanh_costs_k_plus_two_bits_plus_two_per_element() -> None:
    data, shape = CASES["tanh"]()
    model = compile_model(data, calibration(shape))
    (step,) = [s for s in model.program.steps if isinstance(s, SegmentStep)]
    assert not any(isinstance(s, ReluStep) for s in model.program.steps)
    n = model.program.sources[step.src].size
    per = step.lay.segments - 1 + 2 * step.lay.bits + 2
    sections = dict(model.report.layers)
    requant = sum(
        s.affine.n * (s.lay.k + s.lay.bits + int(s.lay.relu))
        for s in model.program.steps
        if isinstance(s, RequantStep) and s.layer == step.layer
    )
    assert sections[step.layer] == n * per + requant
    # one ReLU per knot would cost several times more
    knots = [int(t) for t in step.starts[1:]]
    src = model.program.sources[step.src]
    assert _relus_cost(knots, src.lo, src.hi, free_zero=True) > 4 * per


def test_segment_lowering_computes_the_pwl_exactly() -> None:
    data, shape = CASES["tanh"]()
    model = compile_model(data, calibration(shape))
    for x in calibration(shape, n=8, seed=5, scale=0.99):
        x_q = model.quantize_input(x)
        witness = model.generate_witness(x_q, SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None
        assert witness.outputs_q == reference_run(model.program, x_q.ravel().tolist())


def test_few_knots_keep_one_relu_each() -> None:
    half = 1 << 17
    assert _relus_cost([0], -half, half - 1, free_zero=True) == 1  # a ReLU is free
    assert _segments_cost([0], -half, half - 1) > 1
    knots = [-(1 << 10), 1 << 10]  # Clip: two knots, as cheap either way
    assert _relus_cost(knots, -half, half - 1, free_zero=True) <= _segments_cost(
        knots, -half, half - 1
    )
    assert _segments_cost([], -half, half - 1) > 1 << 20  # no knot: nothing to select
    assert np.isfinite(_segments_cost(list(range(-50, 50)), -half, half - 1))
