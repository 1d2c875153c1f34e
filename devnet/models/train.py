"""Train the reference models on the 8x8 digits and write them, checked, with a manifest.

``python -m devnet.models.train [--out DIR]`` is deterministic: every seed is fixed
below, so a rerun on the same machine writes byte-identical files. Before anything
is written, onnxruntime's logits on each exported model must match the numpy
model's within ``ORT_TOLERANCE``; the accuracies in the manifest are onnxruntime's.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from devnet.models import data
from devnet.models.export import INPUT_NAME, OPSET, to_onnx
from devnet.models.fit import Sequential, TrainConfig, accuracy, fit
from devnet.models.layers import (
    Array,
    BatchNorm2d,
    Conv2d,
    Dense,
    Flatten,
    MaxPool2x2,
    Relu,
)

MODELS_DIR = Path(__file__).resolve().parent
TRAIN_COMMAND = ".venv/bin/python -m devnet.models.train"
ORT_TOLERANCE = 1e-4
N_CALIBRATION = 64
N_CLASSES = 10


@dataclass(frozen=True)
class ModelSpec:
    """One reference model: its layers, its input preprocessing and its training run."""

    name: str
    architecture: str
    preprocessing: str
    input_shape: tuple[int, ...]
    build: Callable[[np.random.Generator], Sequential]
    prepare: Callable[[Array], Array]
    config: TrainConfig


SCALING = "pixel values (integers 0..16 from sklearn.datasets.load_digits) divided by 16"


def _mlp(rng: np.random.Generator) -> Sequential:
    return Sequential(
        [Dense(64, 32, rng), Relu(), Dense(32, 16, rng), Relu(), Dense(16, N_CLASSES, rng)]
    )


def _cnn(rng: np.random.Generator) -> Sequential:
    return Sequential(
        [
            *(Conv2d(1, 4, 3, rng, learn_bias=False), BatchNorm2d(4), Relu(), MaxPool2x2()),
            *(Conv2d(4, 8, 3, rng), Relu(), MaxPool2x2()),
            *(Flatten(), Dense(8 * 2 * 2, N_CLASSES, rng)),
        ]
    )


def _mlp784(rng: np.random.Generator) -> Sequential:
    return Sequential([Dense(784, 56, rng), Relu(), Dense(56, N_CLASSES, rng)])


SPECS = (
    ModelSpec(
        name="digits_mlp",
        architecture="Gemm 64->32, Relu, Gemm 32->16, Relu, Gemm 16->10 (logits)",
        preprocessing=f"{SCALING}; the 8x8 image flattened row-major to [1, 64]",
        input_shape=(1, 64),
        build=_mlp,
        prepare=data.as_flat,
        config=TrainConfig(epochs=60, batch_size=32, learning_rate=0.01, seed=101),
    ),
    ModelSpec(
        name="digits_cnn",
        architecture=(
            "Conv 3x3 pad 1 1->4, BatchNormalization, Relu, MaxPool 2x2, "
            "Conv 3x3 pad 1 4->8, Relu, MaxPool 2x2, Flatten, Gemm 32->10 (logits)"
        ),
        preprocessing=f"{SCALING}; shaped [1, 1, 8, 8] (NCHW)",
        input_shape=(1, 1, 8, 8),
        build=_cnn,
        prepare=data.as_channels,
        config=TrainConfig(epochs=40, batch_size=32, learning_rate=0.01, seed=202),
    ),
    ModelSpec(
        name="mnist784_mlp",
        architecture="Gemm 784->56, Relu, Gemm 56->10 (logits)",
        preprocessing=(
            f"{SCALING}; bilinearly upsampled 8x8 -> 28x28 (half-pixel centres, source "
            "coordinate (i + 0.5) * 8 / 28 - 0.5 clamped to [0, 7], as ONNX Resize "
            "half_pixel); flattened row-major to [1, 784]"
        ),
        input_shape=(1, 784),
        build=_mlp784,
        prepare=lambda images: data.as_flat(data.upsample(images)),
        config=TrainConfig(epochs=30, batch_size=32, learning_rate=0.003, seed=303),
    ),
)


class ExportMismatchError(Exception):
    """onnxruntime disagrees with the numpy model about an exported model's logits."""


def ort_logits(model_bytes: bytes, samples: Array) -> Array:
    """onnxruntime's logits for each sample, fed one at a time (the graph's batch is 1)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    batch = samples.astype(np.float32)[:, None]
    rows = [session.run(None, {INPUT_NAME: x})[0][0] for x in batch]
    return np.asarray(rows, dtype=np.float64)


def sha256_hex(blob: bytes) -> str:
    """Lower-case hex sha256 of ``blob``."""
    return hashlib.sha256(blob).hexdigest()


def _npy_bytes(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=1) + "\n").encode()


@dataclass(frozen=True)
class Trained:
    """A trained and checked model: the files to write and its manifest entry."""

    files: dict[str, bytes]
    entry: dict[str, Any]


def train_one(spec: ModelSpec, split: data.Split) -> Trained:
    """Train ``spec``, export it, check the export against numpy and collect its files."""
    x_train, x_test = spec.prepare(split.train_images), spec.prepare(split.test_images)
    model = spec.build(np.random.default_rng([spec.config.seed, 0]))
    losses = fit(model, x_train, split.train_labels, spec.config)
    onnx_bytes = to_onnx(model, spec.input_shape, (1, N_CLASSES), spec.name).SerializeToString()
    ort_train, ort_test = ort_logits(onnx_bytes, x_train), ort_logits(onnx_bytes, x_test)
    for ours, theirs in ((model.forward(x_train), ort_train), (model.forward(x_test), ort_test)):
        worst = float(np.abs(ours - theirs).max())
        if worst > ORT_TOLERANCE:
            raise ExportMismatchError(f"{spec.name}: onnxruntime differs from numpy by {worst}")
    calibration = x_train[:N_CALIBRATION].astype(np.float32).reshape(-1, *spec.input_shape)
    sample = x_test[0].astype(np.float32).reshape(spec.input_shape)
    files = {
        f"{spec.name}.onnx": onnx_bytes,
        f"{spec.name}_calibration.npy": _npy_bytes(calibration),
        f"{spec.name}_input.json": _json_bytes({"input": sample.tolist()}),
    }
    entry = _manifest_entry(spec, files, split, ort_train, ort_test)
    entry["final_train_loss"] = round(losses[-1], 6)
    return Trained(files, entry)


def _manifest_entry(
    spec: ModelSpec, files: dict[str, bytes], split: data.Split, ort_train: Array, ort_test: Array
) -> dict[str, Any]:
    onnx_name, cal_name, input_name = files
    return {
        "name": spec.name,
        "file": onnx_name,
        "sha256": sha256_hex(files[onnx_name]),
        "opset": OPSET,
        "architecture": spec.architecture,
        "input_name": INPUT_NAME,
        "input_shape": list(spec.input_shape),
        "output_name": "logits",
        "output_shape": [1, N_CLASSES],
        "output": "logits (no Softmax); the prediction is the argmax",
        "preprocessing": spec.preprocessing,
        "train_accuracy": accuracy(ort_train, split.train_labels),
        "test_accuracy": accuracy(ort_test, split.test_labels),
        "training": {
            "epochs": spec.config.epochs,
            "batch_size": spec.config.batch_size,
            "learning_rate": spec.config.learning_rate,
            "seed": spec.config.seed,
            "optimiser": "Adam, cosine learning-rate decay, softmax cross-entropy",
        },
        "calibration": {
            "file": cal_name,
            "sha256": sha256_hex(files[cal_name]),
            "shape": [N_CALIBRATION, *spec.input_shape],
            "source": f"the first {N_CALIBRATION} samples of the training split",
        },
        "sample_input": {
            "file": input_name,
            "sha256": sha256_hex(files[input_name]),
            "source": "the first sample of the test split",
            "label": int(split.test_labels[0]),
            "predicted": int(ort_test[0].argmax()),
        },
    }


def build_manifest(entries: list[dict[str, Any]], split: data.Split) -> dict[str, Any]:
    """The manifest of every model, with the data set and split they were trained on."""
    return {
        "dataset": (
            "sklearn.datasets.load_digits (UCI optical recognition of handwritten digits, "
            "1797 8x8 images, labels 0..9), bundled with scikit-learn, no download"
        ),
        "split": {
            "seed": data.SPLIT_SEED,
            "rule": "numpy default_rng(seed).permutation(1797); the last 20% is the test split",
            "train_size": len(split.train_labels),
            "test_size": len(split.test_labels),
        },
        "training_command": TRAIN_COMMAND,
        "models": entries,
    }


def main(argv: list[str] | None = None) -> int:
    """Train every reference model and write its files and the manifest to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="folder to write into")
    args = parser.parse_args(argv)
    split = data.load_split()
    trained = [train_one(spec, split) for spec in SPECS]
    args.out.mkdir(parents=True, exist_ok=True)
    for result in trained:
        for name, blob in result.files.items():
            (args.out / name).write_bytes(blob)
        entry = result.entry
        train_acc, test_acc = entry["train_accuracy"], entry["test_accuracy"]
        print(f"{entry['name']}: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}")
    manifest = build_manifest([result.entry for result in trained], split)
    (args.out / "manifest.json").write_bytes(_json_bytes(manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
