"""Elementwise activations as piecewise-linear functions, with their error bounds.

Relu, LeakyRelu, Clip, HardSigmoid and Abs are exactly piecewise linear. Sigmoid,
Tanh, Erf, Softplus, Elu, Selu and a softmax's exp are ``Smooth`` functions:
interpolants at nodes placed automatically for a set error (the compile option
``smooth_tolerance``), following the function's asymptotes outside (sigmoid saturates
to exactly 0 and 1), each with an error bound over all reals.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protocol.zkml.floatir import FloatArray, Pwl


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


# --- smooth functions by automatic interpolation ---------------------------------

FloatFn = Callable[[FloatArray], FloatArray]
SMOOTH_TOLERANCE = 0.001  # the interpolation error each segment is placed for (standard)
_GRID_STEP = 1.0 / 16384  # the grid the error is measured on (a power of two: exact)
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


def _tail(tolerance: float) -> float:
    """Where a saturating exponential tail e^-t falls within half the tolerance."""
    return math.ceil(math.log(2.0 / tolerance))


def tanh(tolerance: float = SMOOTH_TOLERANCE) -> Smooth:
    """tanh, saturating at -1 and 1."""
    t = max(3.5, _tail(tolerance) / 2)  # 1 - tanh(t) < 2 e^(-2t)
    return Smooth("tanh", np.tanh, -t, t, (0.0, -1.0), (0.0, 1.0), 1.0, tolerance)


def erf(tolerance: float = SMOOTH_TOLERANCE) -> Smooth:
    """The error function, saturating at -1 and 1 (GELU's exported form uses it)."""
    t = max(2.75, math.ceil(4 * math.sqrt(_tail(tolerance))) / 4)  # 1 - erf(t) < e^(-t^2)
    lipschitz = 2.0 / math.sqrt(math.pi)
    return Smooth("erf", _erf, -t, t, (0.0, -1.0), (0.0, 1.0), lipschitz, tolerance)


def sigmoid_smooth(tolerance: float = SMOOTH_TOLERANCE) -> Smooth:
    """The logistic function 1 / (1 + e^-x), saturating at 0 and 1."""
    t = max(6.0, _tail(tolerance))  # 1 - sigmoid(t) < e^-t

    def f(x: FloatArray) -> FloatArray:
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))

    return Smooth("sigmoid", f, -t, t, (0.0, 0.0), (0.0, 1.0), 0.25, tolerance)


def exp_nonpositive(tolerance: float = SMOOTH_TOLERANCE) -> Smooth:
    """e^x for x <= 0 (a softmax's inputs after the row maximum is subtracted): 0 on
    the left; the interpolant reaches exactly 1 at 0."""
    lo = -max(6.0, _tail(tolerance))
    return Smooth("exp", np.exp, lo, 0.0, (0.0, 0.0), (1.0, 1.0), 1.0, tolerance, upper=0.0)


def exp_upto(upper: float, tolerance: float = SMOOTH_TOLERANCE) -> Smooth:
    """e^x for inputs at most ``upper`` (rounded up to the node grid), to within
    ``tolerance`` of e^upper, the output's own scale: 0 below the nodes, where e^x is
    within half of that, and the tangent at ``upper`` beyond."""
    hi = math.ceil(upper * 64) / 64
    top = math.exp(hi)
    lo = math.floor(hi - _tail(tolerance))
    right = (top, top * (1.0 - hi))
    return Smooth("exp", np.exp, lo, hi, (0.0, 0.0), right, top, tolerance * top, upper=hi)


def softplus(tolerance: float = SMOOTH_TOLERANCE) -> Smooth:
    """log(1 + e^x): 0 on the left, x on the right."""
    t = max(6.0, _tail(tolerance))  # log(1 + e^-t) < e^-t
    return Smooth(
        "softplus", lambda x: np.logaddexp(0.0, x), -t, t, (0.0, 0.0), (1.0, 0.0), 1.0, tolerance
    )


def elu(alpha: float, gamma: float = 1.0, tolerance: float = SMOOTH_TOLERANCE) -> Smooth:
    """gamma * (x for x >= 0, alpha (e^x - 1) below): Elu, and Selu with its gamma."""

    def f(x: FloatArray) -> FloatArray:
        return np.asarray(gamma * np.where(x < 0, alpha * np.expm1(np.minimum(x, 0.0)), x))

    name = "elu" if gamma == 1.0 else "selu"
    lo = -math.log(max(abs(gamma * alpha), 1e-300) / (tolerance / 2))  # tail within
    return Smooth(
        name, f, min(-1.0, math.floor(lo)), 0.0, (0.0, -gamma * alpha), (gamma, 0.0),
        gamma * max(1.0, abs(alpha)), tolerance,
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
