"""The numpy training kit's gradients agree with finite differences; exports match it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest

from devnet.models.export import INPUT_NAME, to_onnx
from devnet.models.fit import Sequential, softmax_cross_entropy
from devnet.models.layers import (
    Array,
    BatchNorm2d,
    Conv2d,
    Dense,
    Flatten,
    Layer,
    MaxPool2x2,
    Relu,
    col2im,
    im2col,
)
from devnet.models.layers_seq import (
    AddPosition,
    Conv1d,
    DepthwiseConv2d,
    Gelu,
    LayerNorm,
    MaxPool1d2,
    MeanAxis,
    Residual,
    SelfAttention,
    TokenDense,
)

STEP = 1e-6


def _numeric_grad(f: Callable[[], float], array: Array) -> Array:
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + STEP
        up = f()
        array[index] = saved - STEP
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * STEP)
    return grad


def _layers() -> list[tuple[str, Layer, tuple[int, ...]]]:
    rng = np.random.default_rng(7)
    return [
        ("dense", Dense(5, 3, rng), (4, 5)),
        ("conv", Conv2d(2, 3, 3, rng), (2, 2, 4, 4)),
        ("batchnorm", BatchNorm2d(3), (4, 3, 2, 2)),
        ("maxpool", MaxPool2x2(), (2, 2, 4, 4)),
        ("depthwise", DepthwiseConv2d(3, 3, rng), (2, 3, 4, 4)),
        ("conv1d", Conv1d(3, 4, 3, rng), (2, 3, 6)),
        ("maxpool1d", MaxPool1d2(), (2, 3, 6)),
        ("mean", MeanAxis(1), (2, 3, 4)),
        ("gelu", Gelu(), (3, 5)),
        ("token_dense", TokenDense(4, 3, rng), (2, 3, 4)),
        ("position", AddPosition(3, 4, rng), (2, 3, 4)),
        ("layernorm", LayerNorm(4), (2, 3, 4)),
        ("attention", SelfAttention(4, rng), (2, 3, 4)),
        ("residual", Residual([LayerNorm(4), TokenDense(4, 4, rng)]), (2, 3, 4)),
    ]


@pytest.mark.parametrize(("name", "layer", "shape"), _layers(), ids=[x[0] for x in _layers()])
def test_backward_matches_finite_differences(
    name: str, layer: Layer, shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=shape)
    probe = rng.normal(size=layer.forward(x, train=True).shape)
    if isinstance(layer, BatchNorm2d | LayerNorm):
        layer.scale[:] = rng.normal(size=layer.scale.shape)

    def loss() -> float:
        return float((layer.forward(x, train=True) * probe).sum())

    layer.forward(x, train=True)
    d_x = layer.backward(probe)
    np.testing.assert_allclose(d_x, _numeric_grad(loss, x), atol=1e-6)
    for param_name, (param, _) in layer.params().items():
        layer.forward(x, train=True)
        layer.backward(probe)
        analytic = layer.params()[param_name][1]
        np.testing.assert_allclose(analytic, _numeric_grad(loss, param), atol=1e-6)


def test_col2im_is_the_adjoint_of_im2col() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 5, 5))
    cols = rng.normal(size=im2col(x, 3, 1).shape)
    lhs = float((im2col(x, 3, 1) * cols).sum())
    rhs = float((x * col2im(cols, (2, 3, 5, 5), 3, 1)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_cross_entropy_gradient() -> None:
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(3, 4))
    labels = np.array([0, 3, 1])
    _, grad = softmax_cross_entropy(logits, labels)
    numeric = _numeric_grad(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    np.testing.assert_allclose(grad, numeric, atol=1e-7)


def test_export_runs_in_onnxruntime_like_numpy() -> None:
    rng = np.random.default_rng(9)
    model = Sequential(
        [Conv2d(1, 2, 3, rng), BatchNorm2d(2), Relu(), MaxPool2x2(), Flatten(), Dense(8, 3, rng)]
    )
    batch = rng.normal(size=(6, 1, 4, 4))
    model.forward(batch, train=True)  # moves the running statistics off their defaults
    onnx_model = to_onnx(model, (1, 1, 4, 4), (1, 3), "tiny")
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    for x in batch:
        (ours,) = model.forward(x[None])
        (theirs,) = session.run(None, {INPUT_NAME: x[None].astype(np.float32)})[0]
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
