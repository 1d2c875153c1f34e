"""The model zoo: one trained reference model per family the compiler supports.

``python -m devnet.models.zoo [--out DIR] [--only NAME ...]`` trains them and writes
each ONNX file, its calibration samples, one sample input and ``manifest.json`` to
``devnet/models/zoo/``. The neural models are trained by the numpy kit on the 8x8
digits and exported as PyTorch's exporter writes the same layers; the tabular models are
scikit-learn estimators on the bundled breast-cancer data, exported by skl2onnx with its
defaults (ZipMap and label output included), as a user would bring them. Every seed is
fixed; before anything is written, onnxruntime must agree with the model that was
trained (numpy's outputs, or scikit-learn's predict_proba) within ``ORT_TOLERANCE``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from devnet.models import data
from devnet.models.export import INPUT_NAME
from devnet.models.export_graph import to_onnx_graph
from devnet.models.fit import Sequential, TrainConfig, accuracy, fit
from devnet.models.layers import Array, Conv2d, Dense, Flatten, Labels, MaxPool2x2, Relu
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
from devnet.models.train import _json_bytes, _npy_bytes, sha256_hex

ZOO_DIR = Path(__file__).resolve().parent / "zoo"
COMMAND = ".venv/bin/python -m devnet.models.zoo"
ORT_TOLERANCE = 1e-4
N_CALIBRATION = 64
N_CLASSES = 10
TABULAR_SEED = 20241205
SCALING = "pixel values (integers 0..16 from sklearn.datasets.load_digits) divided by 16"


@dataclass(frozen=True)
class NetSpec:
    """A neural reference model: layers, input layout, export form and training run."""

    name: str
    family: str
    architecture: str
    preprocessing: str
    input_shape: tuple[int, ...]
    build: Callable[[np.random.Generator], Sequential]
    prepare: Callable[[Array], Array]
    config: TrainConfig
    opset: int = 13
    softmax_output: bool = False


def _separable(rng: np.random.Generator) -> Sequential:
    return Sequential([
        Conv2d(1, 8, 3, rng), Relu(),
        DepthwiseConv2d(8, 3, rng), Conv2d(8, 16, 1, rng), Relu(), MaxPool2x2(),
        DepthwiseConv2d(16, 3, rng), Conv2d(16, 16, 1, rng), Relu(), MaxPool2x2(),
        Flatten(), Dense(16 * 2 * 2, N_CLASSES, rng),
    ])  # fmt: skip


def _sequence(rng: np.random.Generator) -> Sequential:
    return Sequential([
        Conv1d(8, 16, 3, rng), Relu(), MaxPool1d2(),
        Conv1d(16, 16, 3, rng), Relu(), MeanAxis(2),
        Dense(16, N_CLASSES, rng),
    ])  # fmt: skip


def _gelu_mlp(rng: np.random.Generator) -> Sequential:
    return Sequential([
        Dense(64, 32, rng), Gelu(), Dense(32, 32, rng), Gelu(), Dense(32, N_CLASSES, rng),
    ])  # fmt: skip


def _softmax_mlp(rng: np.random.Generator) -> Sequential:
    return Sequential([Dense(64, 32, rng), Relu(), Dense(32, N_CLASSES, rng)])


D_MODEL, D_FF, TOKENS = 16, 32, 8


def _block(rng: np.random.Generator) -> list[Residual]:
    return [
        Residual([LayerNorm(D_MODEL), SelfAttention(D_MODEL, rng)]),
        Residual([
            LayerNorm(D_MODEL), TokenDense(D_MODEL, D_FF, rng), Gelu(),
            TokenDense(D_FF, D_MODEL, rng),
        ]),
    ]  # fmt: skip


def _transformer(rng: np.random.Generator) -> Sequential:
    return Sequential([
        TokenDense(8, D_MODEL, rng), AddPosition(TOKENS, D_MODEL, rng),
        *_block(rng), *_block(rng),
        LayerNorm(D_MODEL), MeanAxis(1), Dense(D_MODEL, N_CLASSES, rng),
    ])  # fmt: skip


NETS = (
    NetSpec(
        name="separable_cnn",
        family="depthwise-separable CNN",
        architecture=(
            "Conv 3x3 1->8, Relu, [depthwise Conv 3x3 (group 8), Conv 1x1 8->16, Relu, MaxPool "
            "2x2], [depthwise Conv 3x3 (group 16), Conv 1x1 16->16, Relu, MaxPool 2x2], Flatten, "
            "Gemm 64->10 (logits)"
        ),
        preprocessing=f"{SCALING}; shaped [1, 1, 8, 8] (NCHW)",
        input_shape=(1, 1, 8, 8),
        build=_separable,
        prepare=data.as_channels,
        config=TrainConfig(epochs=30, batch_size=32, learning_rate=0.005, seed=404),
    ),
    NetSpec(
        name="sequence_conv1d",
        family="Conv1d sequence model",
        architecture=(
            "the image's 8 rows as a sequence of 8 steps with 8 channels (its columns): Conv1d "
            "k3 8->16, Relu, MaxPool1d 2, Conv1d k3 16->16, Relu, ReduceMean over time, "
            "Gemm 16->10 (logits)"
        ),
        preprocessing=f"{SCALING}; shaped [1, 8, 8] as (channel = column, time = row)",
        input_shape=(1, 8, 8),
        build=_sequence,
        prepare=lambda images: images.transpose(0, 2, 1),
        config=TrainConfig(epochs=40, batch_size=32, learning_rate=0.005, seed=505),
    ),
    NetSpec(
        name="gelu_mlp",
        family="GELU MLP",
        architecture=(
            "Gemm 64->32, GELU, Gemm 32->32, GELU, Gemm 32->10 (logits); GELU in the exporters' "
            "Erf form x * 0.5 * (1 + erf(x / sqrt 2))"
        ),
        preprocessing=f"{SCALING}; the 8x8 image flattened row-major to [1, 64]",
        input_shape=(1, 64),
        build=_gelu_mlp,
        prepare=data.as_flat,
        config=TrainConfig(epochs=40, batch_size=32, learning_rate=0.005, seed=606),
    ),
    NetSpec(
        name="transformer",
        family="transformer encoder",
        architecture=(
            "the image's 8 rows as 8 tokens of 8 pixels: MatMul 8->16 + bias, learned position "
            "table, 2 pre-LayerNorm encoder blocks (single-head self-attention with Q/K/V/out "
            "projections, scores / sqrt 16, Softmax; MLP 16->32 GELU 32->16; residual Adds), "
            "LayerNormalization, ReduceMean over tokens, Gemm 16->10 (logits)"
        ),
        preprocessing=f"{SCALING}; shaped [1, 8, 8] as (token = row, feature = column)",
        input_shape=(1, 8, 8),
        build=_transformer,
        prepare=lambda images: images,
        config=TrainConfig(epochs=40, batch_size=32, learning_rate=0.003, seed=707),
        opset=17,
    ),
    NetSpec(
        name="softmax_mlp",
        family="softmax classifier",
        architecture="Gemm 64->32, Relu, Gemm 32->10, Softmax (probabilities)",
        preprocessing=f"{SCALING}; the 8x8 image flattened row-major to [1, 64]",
        input_shape=(1, 64),
        build=_softmax_mlp,
        prepare=data.as_flat,
        config=TrainConfig(epochs=40, batch_size=32, learning_rate=0.01, seed=808),
        softmax_output=True,
    ),
)


@dataclass(frozen=True)
class TabularSpec:
    """A scikit-learn reference model on the breast-cancer data."""

    name: str
    family: str
    architecture: str
    build: Callable[[], Any]


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped,unused-ignore]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped,unused-ignore]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped,unused-ignore]

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier  # type: ignore[import-untyped,unused-ignore]

    return DecisionTreeClassifier(max_depth=5, random_state=1)


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped,unused-ignore]

    return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=2, n_jobs=1)


def _boosted() -> Any:
    from sklearn.ensemble import GradientBoostingClassifier  # type: ignore[import-untyped,unused-ignore]

    return GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=3)


TABULAR = (
    TabularSpec(
        "logistic_regression", "logistic regression",
        "StandardScaler then LogisticRegression (skl2onnx: Scaler, LinearClassifier, "
        "Normalizer, ZipMap)", _logistic,
    ),
    TabularSpec(
        "decision_tree", "decision tree",
        "DecisionTreeClassifier, max depth 5 (skl2onnx: TreeEnsembleClassifier, ZipMap)", _tree,
    ),
    TabularSpec(
        "random_forest", "random forest",
        "RandomForestClassifier, 20 trees of depth <= 5 (skl2onnx: TreeEnsembleClassifier, "
        "ZipMap)", _forest,
    ),
    TabularSpec(
        "gradient_boosting", "gradient-boosted ensemble",
        "GradientBoostingClassifier, 50 trees of depth 3 (skl2onnx: TreeEnsembleClassifier "
        "with a logistic post-transform, ZipMap)", _boosted,
    ),
)  # fmt: skip


class ZooMismatchError(Exception):
    """onnxruntime disagrees with the trained model about an exported file's outputs."""


def ort_outputs(model_bytes: bytes, samples: Array) -> Array:
    """onnxruntime's float output for each sample (probabilities for the tabular models)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    last = session.get_outputs()[-1].name  # the scores: after the label for skl2onnx
    rows = []
    for x in samples.astype(np.float32):
        (out,) = session.run([last], {first.name: x[None]})
        if isinstance(out, list):  # ZipMap: one {class: probability} per row
            out = [list(row.values()) for row in out]
        rows.append(np.asarray(out, dtype=np.float64).reshape(-1))
    return np.asarray(rows)


def tabular_split() -> tuple[Array, Labels, Array, Labels]:
    """The breast-cancer data (569 x 30, benign = 1), shuffled; the last 20 % held out."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped,unused-ignore]

    bunch = load_breast_cancer()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(TABULAR_SEED).permutation(len(y))
    n_test = round(len(y) * data.TEST_FRACTION)
    train, test = order[:-n_test], order[-n_test:]
    return x[train], y[train], x[test], y[test]


@dataclass(frozen=True)
class Built:
    """One zoo model's files and manifest entry."""

    files: dict[str, bytes]
    entry: dict[str, Any]


def _check(name: str, ours: Array, theirs: Array) -> None:
    worst = float(np.abs(ours - theirs).max())
    if worst > ORT_TOLERANCE:
        raise ZooMismatchError(f"{name}: onnxruntime differs from the trained model by {worst}")


def _files(
    name: str, onnx_bytes: bytes, x_train: Array, x_test: Array, n_calibration: int
) -> dict[str, bytes]:
    shape = x_train.shape[1:]
    calibration = x_train[:n_calibration].astype(np.float32).reshape(-1, 1, *shape)
    sample = x_test[0].astype(np.float32).reshape(1, *shape)
    return {
        f"{name}.onnx": onnx_bytes,
        f"{name}_calibration.npy": _npy_bytes(calibration),
        f"{name}_input.json": _json_bytes({"input": sample.tolist()}),
    }


def _entry(
    name: str,
    family: str,
    architecture: str,
    files: dict[str, bytes],
    extra: dict[str, Any],
    calibration_source: str,
) -> dict[str, Any]:
    onnx_name, cal_name, input_name = files
    model = onnx.load_from_string(files[onnx_name])
    return {
        "name": name,
        "family": family,
        "file": onnx_name,
        "sha256": sha256_hex(files[onnx_name]),
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "architecture": architecture,
        **extra,
        "calibration": {
            "file": cal_name,
            "sha256": sha256_hex(files[cal_name]),
            "source": calibration_source,
        },
        "sample_input": {
            "file": input_name,
            "sha256": sha256_hex(files[input_name]),
            "source": "the first sample of the test split",
        },
    }


def build_net(spec: NetSpec, split: data.Split) -> Built:
    """Train ``spec`` on the digits, export it and check the export against numpy."""
    x_train, x_test = spec.prepare(split.train_images), spec.prepare(split.test_images)
    model = spec.build(np.random.default_rng([spec.config.seed, 0]))
    losses = fit(model, x_train, split.train_labels, spec.config)
    out_name = "probabilities" if spec.softmax_output else "logits"
    onnx_model = to_onnx_graph(
        model, spec.input_shape, (out_name, (1, N_CLASSES)), spec.name,
        opset=spec.opset, softmax_output=spec.softmax_output,
    )  # fmt: skip
    onnx_bytes = onnx_model.SerializeToString()
    outputs = {}
    for part, x in (("train", x_train), ("test", x_test)):
        ours = model.forward(x)
        if spec.softmax_output:
            ours = np.exp(ours - ours.max(axis=1, keepdims=True))
            ours /= ours.sum(axis=1, keepdims=True)
        theirs = ort_outputs(onnx_bytes, x)
        _check(spec.name, ours, theirs)
        outputs[part] = theirs
    files = _files(spec.name, onnx_bytes, x_train, x_test, N_CALIBRATION)
    extra = {
        "dataset": "digits",
        "input_name": INPUT_NAME,
        "input_shape": list(spec.input_shape),
        "output": f"{out_name} [1, {N_CLASSES}]; the prediction is the argmax",
        "preprocessing": spec.preprocessing,
        "train_accuracy": accuracy(outputs["train"], split.train_labels),
        "test_accuracy": accuracy(outputs["test"], split.test_labels),
        "training": {
            "epochs": spec.config.epochs,
            "batch_size": spec.config.batch_size,
            "learning_rate": spec.config.learning_rate,
            "seed": spec.config.seed,
            "final_train_loss": round(losses[-1], 6),
        },
    }
    source = f"the first {N_CALIBRATION} samples of the training split"
    return Built(files, _entry(spec.name, spec.family, spec.architecture, files, extra, source))


def build_tabular(spec: TabularSpec) -> Built:
    """Fit ``spec`` on the breast-cancer data, export it with skl2onnx's defaults, check it."""
    from skl2onnx import to_onnx  # type: ignore[import-untyped,unused-ignore]

    x_train, y_train, x_test, y_test = tabular_split()
    estimator = spec.build().fit(x_train, y_train)
    onnx_model = to_onnx(estimator, x_train[:1].astype(np.float32))
    onnx_model.graph.name = spec.name
    onnx_bytes = onnx_model.SerializeToString()
    outputs = {}
    for part, x in (("train", x_train), ("test", x_test)):
        theirs = ort_outputs(onnx_bytes, x)
        _check(spec.name, estimator.predict_proba(x.astype(np.float32)), theirs)
        outputs[part] = theirs
    files = _files(spec.name, onnx_bytes, x_train, x_test, len(x_train))
    n_features = x_train.shape[1]
    extra = {
        "dataset": "breast_cancer",
        "input_name": onnx_model.graph.input[0].name,
        "input_shape": [1, n_features],
        "output": "probabilities [1, 2] (malignant, benign) beside the label; ZipMap dropped",
        "preprocessing": "the 30 raw features of sklearn.datasets.load_breast_cancer as float32",
        "train_accuracy": accuracy(outputs["train"], y_train),
        "test_accuracy": accuracy(outputs["test"], y_test),
        "training": {"estimator": repr(estimator), "random_seed_split": TABULAR_SEED},
    }
    # Raw tabular features span four decades: the whole training split sets the range.
    source = "the whole training split"
    return Built(files, _entry(spec.name, spec.family, spec.architecture, files, extra, source))


def split_inputs(name: str) -> tuple[Array, Labels]:
    """A zoo model's whole test split, shaped as its ONNX input, and the labels."""
    for spec in NETS:
        if spec.name == name:
            split = data.load_split()
            x = spec.prepare(split.test_images)
            return x.reshape(len(x), *spec.input_shape), split.test_labels
    _, _, x_test, y_test = tabular_split()
    return x_test.reshape(len(x_test), 1, -1), y_test


def manifest(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The zoo's manifest: the data sets, their splits and every model."""
    return {
        "datasets": {
            "digits": (
                "sklearn.datasets.load_digits, 1797 8x8 images, labels 0..9; split as "
                "devnet/models/manifest.json (seed "
                f"{data.SPLIT_SEED}, last 20 % test)"
            ),
            "breast_cancer": (
                "sklearn.datasets.load_breast_cancer, 569 samples x 30 features, 0 = "
                f"malignant, 1 = benign; numpy default_rng({TABULAR_SEED}).permutation, the "
                "last 20 % is the test split"
            ),
        },
        "command": COMMAND,
        "models": entries,
    }


def main(argv: list[str] | None = None) -> int:
    """Train the chosen zoo models (all by default) and write them and the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="folder to write into")
    names = [s.name for s in (*NETS, *TABULAR)]
    parser.add_argument("--only", nargs="+", choices=names, help="these models only")
    args = parser.parse_args(argv)
    chosen = set(args.only or names)
    split = data.load_split()
    built = [build_net(s, split) for s in NETS if s.name in chosen]
    built += [build_tabular(s) for s in TABULAR if s.name in chosen]
    args.out.mkdir(parents=True, exist_ok=True)
    old = args.out / "manifest.json"
    kept = json.loads(old.read_text())["models"] if old.exists() and args.only else []
    entries = {e["name"]: e for e in kept}
    for result in built:
        for file_name, blob in result.files.items():
            (args.out / file_name).write_bytes(blob)
        entries[result.entry["name"]] = result.entry
        e = result.entry
        print(f"{e['name']}: train accuracy {e['train_accuracy']:.4f}, "
              f"test accuracy {e['test_accuracy']:.4f}")  # fmt: skip
    ordered = [entries[n] for n in names if n in entries]
    (args.out / "manifest.json").write_bytes(_json_bytes(manifest(ordered)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
