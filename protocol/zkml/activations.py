"""Elementwise activations as piecewise-linear functions, with their error bounds.

Relu, LeakyRelu and Clip are exactly piecewise linear. Sigmoid is replaced by the
continuous interpolant of sigmoid at ``SIGMOID_NODES`` that saturates to exactly 0
and 1 beyond the outermost nodes; ``sigmoid_error_bound`` bounds its distance to
the true sigmoid everywhere.
"""

from __future__ import annotations

import math

import numpy as np

from protocol.zkml.floatir import Pwl

# Interpolation nodes: denser near 0 where sigmoid bends most (|sigma'''| peaks there).
SIGMOID_NODES = (-6.0, -4.0, -2.5, -1.5, -0.75, 0.0, 0.75, 1.5, 2.5, 4.0, 6.0)
# |sigma''(x)| = sigma (1 - sigma) |1 - 2 sigma| is even, and on x >= 0 rises to its
# maximum 1 / (6 sqrt 3) at x = ln(2 + sqrt 3), then falls.
SIGMOID_SECOND_DERIVATIVE_PEAK = math.log(2.0 + math.sqrt(3.0))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _max_second_derivative(a: float, b: float) -> float:
    """max |sigma''| over [a, b]: at an endpoint or at a peak inside (see above)."""
    peak = SIGMOID_SECOND_DERIVATIVE_PEAK
    points = [a, b, *(p for p in (-peak, peak) if a < p < b)]
    return max(abs(_sigmoid(x) * (1 - _sigmoid(x)) * (1 - 2 * _sigmoid(x))) for x in points)


def relu() -> Pwl:
    """max(x, 0)."""
    return Pwl(0.0, 0.0, (0.0,), (1.0,))


def leaky_relu(alpha: float) -> Pwl:
    """x for x >= 0, alpha x otherwise."""
    return Pwl(0.0, alpha, (0.0,), (1.0 - alpha,))


def clip(lo: float | None, hi: float | None) -> Pwl:
    """min(max(x, lo), hi); a missing bound is open."""
    if lo is None and hi is None:
        return Pwl(0.0, 1.0, (), ())
    if lo is None:
        assert hi is not None
        return Pwl(0.0, 1.0, (hi,), (-1.0,))
    if hi is None:
        return Pwl(lo, 0.0, (lo,), (1.0,))
    return Pwl(lo, 0.0, (lo, hi), (1.0, -1.0))


def _sigmoid_values() -> list[float]:
    vals = [_sigmoid(t) for t in SIGMOID_NODES]
    vals[0], vals[-1] = 0.0, 1.0
    return vals


def sigmoid() -> Pwl:
    """The piecewise-linear sigmoid approximation (see module docstring)."""
    ts, vs = SIGMOID_NODES, _sigmoid_values()
    slopes = [(vs[i + 1] - vs[i]) / (ts[i + 1] - ts[i]) for i in range(len(ts) - 1)]
    changes = [b - a for a, b in zip([0.0, *slopes], [*slopes, 0.0], strict=True)]
    return Pwl(0.0, 0.0, ts, tuple(changes))


def sigmoid_error_bound() -> float:
    """A rigorous bound on ``|approximation(x) - sigmoid(x)|`` over all real x.

    On each segment the error is at most the larger endpoint error plus the
    linear-interpolation remainder ``h^2 / 8 * max|sigma''|`` (the maximum taken
    over the segment); beyond the outer nodes it is at most ``sigmoid(first
    node)`` (the saturation gap).
    """
    ts, vs = SIGMOID_NODES, _sigmoid_values()
    errs = [abs(v - _sigmoid(t)) for t, v in zip(ts, vs, strict=True)]
    bound = _sigmoid(ts[0])
    for i in range(len(ts) - 1):
        a, b = ts[i], ts[i + 1]
        remainder = (b - a) ** 2 / 8 * _max_second_derivative(a, b)
        bound = max(bound, max(errs[i], errs[i + 1]) + remainder)
    return bound


def sigmoid_error_sampled() -> float:
    """The approximation's largest error on a fine grid over [-10, 10] (an attained value)."""
    x = np.linspace(-10.0, 10.0, 200_001)
    return float(np.max(np.abs(sigmoid()(x) - 1.0 / (1.0 + np.exp(-x)))))
