"""Elementwise activations as piecewise-linear functions, with their error bounds.

Relu, LeakyRelu, Clip, HardSigmoid and Abs are exactly piecewise linear. Sigmoid is
replaced by the continuous interpolant of sigmoid at ``SIGMOID_NODES`` that saturates
to exactly 0 and 1 beyond the outermost nodes; ``sigmoid_error_bound`` bounds its
distance to the true sigmoid everywhere. Tanh, Erf, Softplus, Elu and Selu are
``Smooth`` functions: interpolants at nodes placed automatically for a set error,
following the function's asymptotes outside, each with an error bound over all reals.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protocol.zkml.floatir import FloatArray, Pwl

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


# --- smooth functions by automatic interpolation ---------------------------------

FloatFn = Callable[[FloatArray], FloatArray]
SMOOTH_TOLERANCE = 0.005  # the interpolation error each segment is placed for
_GRID_STEP = 1.0 / 4096  # the grid the error is measured on (a power of two: exact)
_KNOT_STEP = 1.0 / 64  # nodes lie on this grid, so their scaled values are exact


@dataclass(frozen=True)
class Smooth:
    """A smooth function of one variable replaced by its piecewise-linear interpolant.

    Between ``lo`` and ``hi`` the interpolant goes through ``f`` at nodes placed so that
    the interpolation error of each segment is about ``tolerance``; outside it follows
    the asymptotes ``left`` and ``right`` (slope, intercept). ``lipschitz`` is an
    analytic bound on ``|f'|`` over the reals: with it, the largest error on a grid of
    step h is a bound everywhere within the grid (the error's slope is at most
    ``lipschitz`` plus the largest interpolant slope). Every function here approaches
    its asymptotes monotonically, so beyond the grid the error only shrinks.
    """

    name: str
    f: FloatFn
    lo: float
    hi: float
    left: tuple[float, float]
    right: tuple[float, float]
    lipschitz: float
    tolerance: float = SMOOTH_TOLERANCE
    upper: float = math.inf  # inputs never exceed this (exp after a max is subtracted)

    def method(self) -> str:
        """How the function is computed, for the compile report."""
        where = "" if math.isinf(self.upper) else f" (inputs at most {self.upper:g})"
        return (
            f"piecewise-linear interpolation of {self.name} at {len(self.nodes())} nodes in "
            f"[{self.lo:g}, {self.hi:g}], following its asymptotes beyond{where}"
        )

    def nodes(self) -> tuple[float, ...]:
        """The interpolation nodes: the widest segments whose error is within tolerance."""
        return _placed(self)

    def pwl(self) -> Pwl:
        """The interpolant as a Pwl: the left asymptote, then slope changes at the nodes."""
        ts = self.nodes()
        vs = [float(v) for v in self.f(np.array(ts, dtype=np.float64))]
        vs[0] = self.left[0] * ts[0] + self.left[1]  # continuous with the asymptotes
        vs[-1] = self.right[0] * ts[-1] + self.right[1]
        slopes = [self.left[0]]
        slopes += [(vs[i + 1] - vs[i]) / (ts[i + 1] - ts[i]) for i in range(len(ts) - 1)]
        slopes.append(self.right[0])
        changes = tuple(b - a for a, b in itertools.pairwise(slopes))
        return Pwl(self.left[1], self.left[0], ts, changes)

    def error_bound(self) -> float:
        """A bound on ``|interpolant(x) - f(x)|`` over all real x (class docstring)."""
        err, steepest = _grid_error(self)
        return err + _GRID_STEP / 2 * (self.lipschitz + steepest)

    def error_sampled(self) -> float:
        """The largest error on the measuring grid (an attained value)."""
        return _grid_error(self)[0]


@functools.cache
def _placed(spec: Smooth) -> tuple[float, ...]:
    step = _KNOT_STEP
    x = np.arange(spec.lo, spec.hi + step / 2, step)
    y = spec.f(x)
    nodes, i = [0], 0
    while i < len(x) - 1:
        j = i + 2
        while j < len(x):  # the longest chord from x[i] whose error stays within tolerance
            chord = y[i] + (y[j] - y[i]) * (x[i : j + 1] - x[i]) / (x[j] - x[i])
            if np.max(np.abs(chord - y[i : j + 1])) > spec.tolerance:
                break
            j += 1
        i = min(j - 1, len(x) - 1)
        nodes.append(i)
    return tuple(float(x[k]) for k in nodes)


@functools.cache
def _grid_error(spec: Smooth) -> tuple[float, float]:
    """The largest error on a fine grid reaching well past the outer nodes, and the
    interpolant's steepest slope."""
    pwl = spec.pwl()
    span = spec.hi - spec.lo
    x = np.arange(spec.lo - span, min(spec.hi + span, spec.upper) + _GRID_STEP / 2, _GRID_STEP)
    slopes = np.cumsum([pwl.a0, *pwl.slopes])
    return float(np.max(np.abs(pwl(x) - spec.f(x)))), float(np.max(np.abs(slopes)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def tanh() -> Smooth:
    """tanh, saturating at -1 and 1."""
    return Smooth("tanh", np.tanh, -3.5, 3.5, (0.0, -1.0), (0.0, 1.0), 1.0)


def erf() -> Smooth:
    """The error function, saturating at -1 and 1 (GELU's exported form uses it)."""
    return Smooth("erf", _erf, -2.75, 2.75, (0.0, -1.0), (0.0, 1.0), 2.0 / math.sqrt(math.pi))


def exp_nonpositive() -> Smooth:
    """e^x for x <= 0 (a softmax's inputs after the row maximum is subtracted): 0 on
    the left; the interpolant reaches exactly 1 at 0."""
    return Smooth("exp", np.exp, -6.0, 0.0, (0.0, 0.0), (1.0, 1.0), 1.0, upper=0.0)


def softplus() -> Smooth:
    """log(1 + e^x): 0 on the left, x on the right."""
    return Smooth(
        "softplus", lambda x: np.logaddexp(0.0, x), -6.0, 6.0, (0.0, 0.0), (1.0, 0.0), 1.0
    )


def elu(alpha: float, gamma: float = 1.0) -> Smooth:
    """gamma * (x for x >= 0, alpha (e^x - 1) below): Elu, and Selu with its gamma."""

    def f(x: FloatArray) -> FloatArray:
        return np.asarray(gamma * np.where(x < 0, alpha * np.expm1(np.minimum(x, 0.0)), x))

    name = "elu" if gamma == 1.0 else "selu"
    lo = -math.log(max(abs(gamma * alpha), 1e-300) / (SMOOTH_TOLERANCE / 2))  # tail within
    return Smooth(
        name, f, min(-1.0, math.floor(lo)), 0.0, (0.0, -gamma * alpha), (gamma, 0.0),
        gamma * max(1.0, abs(alpha)),
    )  # fmt: skip


def hard_sigmoid(alpha: float, beta: float) -> Pwl:
    """max(0, min(1, alpha x + beta)), exactly."""
    if alpha == 0.0:
        return Pwl(min(max(beta, 0.0), 1.0), 0.0, (), ())
    a, b = sorted(((0.0 - beta) / alpha, (1.0 - beta) / alpha))
    return Pwl(0.0 if alpha > 0 else 1.0, 0.0, (a, b), (alpha, -alpha))


def absolute() -> Pwl:
    """|x|, exactly."""
    return Pwl(0.0, -1.0, (0.0,), (2.0,))
