"""The piecewise-linear activations: exact where they should be, bounded where not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocol.zkml import activations

X = np.linspace(-30.0, 30.0, 600_001)


def test_exact_activations() -> None:
    assert np.array_equal(activations.relu()(X), np.maximum(X, 0.0))
    np.testing.assert_allclose(activations.leaky_relu(0.2)(X), np.where(X > 0, X, 0.2 * X))
    np.testing.assert_allclose(activations.clip(-1.5, 2.0)(X), np.clip(X, -1.5, 2.0))
    np.testing.assert_allclose(activations.clip(None, 2.0)(X), np.minimum(X, 2.0))
    np.testing.assert_allclose(activations.clip(0.5, None)(X), np.maximum(X, 0.5))


def test_sigmoid_saturates_exactly() -> None:
    saturated = activations.sigmoid_smooth().pwl()(np.array([-50.0, 50.0]))
    np.testing.assert_allclose(saturated, [0.0, 1.0], atol=1e-12)


def test_more_exact_activations() -> None:
    hard = activations.hard_sigmoid(0.3, 0.4)
    np.testing.assert_allclose(hard(X), np.clip(0.3 * X + 0.4, 0.0, 1.0), atol=1e-12)
    falling = activations.hard_sigmoid(-0.5, 0.25)
    np.testing.assert_allclose(falling(X), np.clip(-0.5 * X + 0.25, 0.0, 1.0), atol=1e-12)
    np.testing.assert_allclose(activations.hard_sigmoid(0.0, 1.7)(X), np.ones_like(X))
    np.testing.assert_allclose(activations.absolute()(X), np.abs(X))


_ERF = np.vectorize(math.erf)
SMOOTH = {
    "sigmoid": (activations.sigmoid_smooth(), lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))),
    "exp": (activations.exp_nonpositive(), np.exp),
    "tanh": (activations.tanh(), np.tanh),
    "erf": (activations.erf(), _ERF),
    "softplus": (activations.softplus(), lambda x: np.logaddexp(0.0, x)),
    "elu": (activations.elu(0.7), lambda x: np.where(x < 0, 0.7 * np.expm1(np.minimum(x, 0)), x)),
    "selu": (
        activations.elu(1.6732632, 1.0507010),
        lambda x: 1.0507010 * np.where(x < 0, 1.6732632 * np.expm1(np.minimum(x, 0)), x),
    ),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_interpolants_stay_within_their_bounds_everywhere(name: str) -> None:
    """Checked against numpy's own functions on points the bound never saw: random
    reals (off the measuring grid) over a range wider than the grid's, and far tails."""
    spec, exact = SMOOTH[name]
    bound = spec.error_bound()
    assert spec.error_sampled() <= bound <= 2 * activations.SMOOTH_TOLERANCE
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-40.0, 40.0, 400_000), rng.normal(0.0, 2.0, 400_000),
                        [-1e6, -1e3, 1e3, 1e6]])  # fmt: skip
    x = np.minimum(x, spec.upper)
    assert np.max(np.abs(spec.pwl()(x) - exact(x))) <= bound
    nodes = spec.nodes()
    assert list(nodes) == sorted(set(nodes))
    assert all(abs(t * 64 - round(t * 64)) < 1e-12 for t in nodes)  # exact at any scale >= 6
    assert spec.method().startswith(f"piecewise-linear interpolation of {spec.name} at")


@pytest.mark.parametrize("tolerance", [0.005, 0.001, 0.0002])
def test_a_tighter_tolerance_buys_a_smaller_bound_with_more_knots(tolerance: float) -> None:
    for make in (activations.erf, activations.tanh, activations.sigmoid_smooth):
        spec, loose = make(tolerance), make(tolerance * 5)
        assert spec.error_bound() <= 2 * tolerance
        assert spec.error_bound() < loose.error_bound()
        assert len(spec.nodes()) > len(loose.nodes())
