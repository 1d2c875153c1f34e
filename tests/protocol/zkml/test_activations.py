"""The piecewise-linear activations: exact where they should be, bounded where not."""

from __future__ import annotations

import numpy as np

from protocol.zkml import activations

X = np.linspace(-30.0, 30.0, 600_001)


def test_exact_activations() -> None:
    assert np.array_equal(activations.relu()(X), np.maximum(X, 0.0))
    np.testing.assert_allclose(activations.leaky_relu(0.2)(X), np.where(X > 0, X, 0.2 * X))
    np.testing.assert_allclose(activations.clip(-1.5, 2.0)(X), np.clip(X, -1.5, 2.0))
    np.testing.assert_allclose(activations.clip(None, 2.0)(X), np.minimum(X, 2.0))
    np.testing.assert_allclose(activations.clip(0.5, None)(X), np.maximum(X, 0.5))


def test_sigmoid_error_within_its_bound() -> None:
    error = np.abs(activations.sigmoid()(X) - 1.0 / (1.0 + np.exp(-X)))
    bound = activations.sigmoid_error_bound()
    assert error.max() <= bound < 0.02
    assert activations.sigmoid_error_sampled() <= bound
    saturated = activations.sigmoid()(np.array([-50.0, 50.0]))
    np.testing.assert_allclose(saturated, [0.0, 1.0], atol=1e-12)
