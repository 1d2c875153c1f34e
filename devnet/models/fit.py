"""Training: a layer stack, softmax cross-entropy, Adam with a cosine learning-rate decay.

Everything random (initial weights, batch order) comes from one seeded generator,
so a run is a pure function of its configuration and data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from devnet.models.layers import Array, Labels, Layer

# Adam's published defaults (Kingma & Ba 2015, Algorithm 1).
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8


@dataclass(frozen=True)
class TrainConfig:
    """How one model is trained."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


class Sequential:
    """Layers applied in order."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)

    def forward(self, x: Array, *, train: bool = False) -> Array:
        """The logits of a batch (training mode updates batch-norm running statistics)."""
        for layer in self.layers:
            x = layer.forward(x, train=train)
        return x

    def backward(self, grad: Array) -> None:
        """Propagate the loss gradient, leaving each layer's parameter gradients set."""
        for layer in reversed(self.layers):
            grad = layer.backward(grad)


def softmax_cross_entropy(logits: Array, labels: Labels) -> tuple[float, Array]:
    """Mean cross-entropy of a batch and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(-np.log(probs[rows, labels] + 1e-300).mean())
    grad = probs.copy()
    grad[rows, labels] -= 1.0
    return loss, grad / len(labels)


class Adam:
    """Adam over every parameter of a ``Sequential``, updating the arrays in place."""

    def __init__(self, model: Sequential) -> None:
        self.model = model
        self.t = 0
        self.moments: dict[tuple[int, str], tuple[Array, Array]] = {}

    def step(self, learning_rate: float) -> None:
        """Apply one update from the gradients of the last backward pass."""
        self.t += 1
        c1, c2 = 1 - ADAM_BETA1**self.t, 1 - ADAM_BETA2**self.t
        for i, layer in enumerate(self.model.layers):
            for name, (param, grad) in layer.params().items():
                m, v = self.moments.get((i, name), (np.zeros_like(param), np.zeros_like(param)))
                m = ADAM_BETA1 * m + (1 - ADAM_BETA1) * grad
                v = ADAM_BETA2 * v + (1 - ADAM_BETA2) * grad * grad
                self.moments[(i, name)] = (m, v)
                param -= learning_rate * (m / c1) / (np.sqrt(v / c2) + ADAM_EPSILON)


def fit(model: Sequential, x: Array, y: Labels, config: TrainConfig) -> list[float]:
    """Train in place; return the mean training loss of each epoch."""
    rng = np.random.default_rng(config.seed)
    optimiser = Adam(model)
    history = []
    for epoch in range(config.epochs):
        rate = config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
        order = rng.permutation(len(y))
        losses = []
        for start in range(0, len(y), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss, grad = softmax_cross_entropy(model.forward(x[batch], train=True), y[batch])
            model.backward(grad)
            optimiser.step(rate)
            losses.append(loss)
        history.append(float(np.mean(losses)))
    return history


def accuracy(logits: Array, labels: Labels) -> float:
    """Fraction of rows whose largest logit is the label."""
    return float((logits.argmax(axis=1) == labels).mean())
