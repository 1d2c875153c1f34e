"""The 8x8 digits data set, its fixed train/test split and each model's preprocessing.

The data is scikit-learn's bundled copy of the UCI "Optical Recognition of
Handwritten Digits" test set: 1,797 images of 8x8 pixels with integer values
0..16, labels 0..9. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits  # type: ignore[import-untyped,unused-ignore]

from devnet.models.layers import Array as Floats
from devnet.models.layers import Labels

SPLIT_SEED = 20240607
TEST_FRACTION = 0.2
PIXEL_MAX = 16.0  # load_digits pixel values are counts 0..16 over a 4x4 block
UPSAMPLED_SIDE = 28  # the MNIST image side


@dataclass(frozen=True)
class Split:
    """Images scaled to [0, 1], shape (n, 8, 8), and their labels, for both halves."""

    train_images: Floats
    train_labels: Labels
    test_images: Floats
    test_labels: Labels


def load_split() -> Split:
    """The digits, shuffled with a fixed seed, with the last 20% held out as the test split."""
    digits = load_digits()
    images = np.asarray(digits.images, dtype=np.float64) / PIXEL_MAX
    labels = np.asarray(digits.target, dtype=np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    n_test = round(len(labels) * TEST_FRACTION)
    train, test = order[:-n_test], order[-n_test:]
    return Split(images[train], labels[train], images[test], labels[test])


def bilinear_matrix(src: int, dst: int) -> Floats:
    """The (dst, src) matrix of 1-D bilinear resampling with half-pixel centres.

    Output pixel ``i`` samples the input at ``(i + 0.5) * src / dst - 0.5``, clamped
    to ``[0, src - 1]`` (ONNX Resize's ``half_pixel`` mode, edges replicated).
    """
    matrix = np.zeros((dst, src), dtype=np.float64)
    for i in range(dst):
        x = min(max((i + 0.5) * src / dst - 0.5, 0.0), src - 1.0)
        lo = int(np.floor(x))
        hi = min(lo + 1, src - 1)
        frac = x - lo
        matrix[i, lo] += 1.0 - frac
        matrix[i, hi] += frac
    return matrix


def upsample(images: Floats, side: int = UPSAMPLED_SIDE) -> Floats:
    """Bilinearly resize (n, h, w) images to (n, side, side)."""
    rows = bilinear_matrix(images.shape[1], side)
    cols = bilinear_matrix(images.shape[2], side)
    out: Floats = np.einsum("ih,nhw,jw->nij", rows, images, cols)
    return out


def as_flat(images: Floats) -> Floats:
    """(n, h, w) images as (n, h * w) row vectors, row-major."""
    return images.reshape(len(images), -1)


def as_channels(images: Floats) -> Floats:
    """(n, h, w) images as (n, 1, h, w) single-channel tensors."""
    return images[:, None, :, :]
