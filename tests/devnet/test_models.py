"""The committed reference models are the files the manifest describes, and they work."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.datasets import load_digits  # type: ignore[import-untyped,unused-ignore]

from devnet.models import data, train

MANIFEST = json.loads((train.MODELS_DIR / "manifest.json").read_text())
ENTRIES: list[dict[str, Any]] = MANIFEST["models"]
SPECS = {spec.name: spec for spec in train.SPECS}
IDS = [entry["name"] for entry in ENTRIES]
MAX_ONNX_BYTES = 1 << 20


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_lists_every_model() -> None:
    assert sorted(IDS) == sorted(SPECS) == ["digits_cnn", "digits_mlp", "mnist784_mlp"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_committed_files_match_manifest_sha256(entry: dict[str, Any]) -> None:
    for item in (entry, entry["calibration"], entry["sample_input"]):
        assert _sha256(train.MODELS_DIR / item["file"]) == item["sha256"], item["file"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_onnx_graph_is_opset13_batch1_logits(entry: dict[str, Any]) -> None:
    path = train.MODELS_DIR / entry["file"]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert path.stat().st_size < MAX_ONNX_BYTES
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]
    (graph_input,) = model.graph.input
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == entry["input_name"]
    assert dims == entry["input_shape"]
    assert dims[0] == 1
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "Softmax" not in {node.op_type for node in model.graph.node}


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_onnxruntime_accuracy_matches_manifest(entry: dict[str, Any]) -> None:
    split = data.load_split()
    spec = SPECS[entry["name"]]
    model_bytes = (train.MODELS_DIR / entry["file"]).read_bytes()
    logits = train.ort_logits(model_bytes, spec.prepare(split.test_images))
    measured = float((logits.argmax(axis=1) == split.test_labels).mean())
    assert abs(measured - entry["test_accuracy"]) < 1e-9
    assert measured >= (0.85 if entry["name"] == "digits_cnn" else 0.90)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_calibration_file_holds_training_samples(entry: dict[str, Any]) -> None:
    calibration = np.load(train.MODELS_DIR / entry["calibration"]["file"])
    assert calibration.dtype == np.float32
    assert list(calibration.shape) == [64, *entry["input_shape"]]
    assert np.isfinite(calibration).all()
    split = data.load_split()
    expected = SPECS[entry["name"]].prepare(split.train_images[:64]).astype(np.float32)
    np.testing.assert_array_equal(calibration.reshape(expected.shape), expected)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_sample_input_is_first_test_sample(entry: dict[str, Any]) -> None:
    doc = json.loads((train.MODELS_DIR / entry["sample_input"]["file"]).read_text())
    assert list(doc) == ["input"]
    sample = np.asarray(doc["input"], dtype=np.float32)
    assert list(sample.shape) == entry["input_shape"]
    assert np.isfinite(sample).all()
    split = data.load_split()
    expected = SPECS[entry["name"]].prepare(split.test_images[:1]).astype(np.float32)
    np.testing.assert_array_equal(sample.reshape(expected.shape), expected)
    session = ort.InferenceSession(
        train.MODELS_DIR / entry["file"], providers=["CPUExecutionProvider"]
    )
    (logits,) = session.run(None, {entry["input_name"]: sample})
    assert int(logits.argmax()) == entry["sample_input"]["predicted"]
    assert entry["sample_input"]["label"] == int(split.test_labels[0])


def test_upsampling_matches_onnx_resize_half_pixel() -> None:
    images = data.load_split().test_images[:3]
    node = onnx.helper.make_node(
        "Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
        coordinate_transformation_mode="half_pixel",
    )  # fmt: skip
    graph = onnx.helper.make_graph(
        [node],
        "resize",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3, 1, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 1, 28, 28])],
        initializer=[onnx.numpy_helper.from_array(np.array([3, 1, 28, 28], np.int64), "sizes")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (resized,) = session.run(None, {"x": images[:, None].astype(np.float32)})
    np.testing.assert_allclose(data.upsample(images), resized[:, 0], atol=1e-6)


def test_split_partitions_the_data_set() -> None:
    split = data.load_split()
    assert (len(split.train_labels), len(split.test_labels)) == (
        MANIFEST["split"]["train_size"],
        MANIFEST["split"]["test_size"],
    )
    every = load_digits()
    both = np.concatenate([split.train_images, split.test_images]) * data.PIXEL_MAX
    key = np.lexsort(both.reshape(len(both), -1).T)
    original = np.lexsort(every.images.reshape(len(every.images), -1).T)
    np.testing.assert_array_equal(both[key], every.images[original])


@pytest.mark.slow
def test_training_reproduces_committed_files(tmp_path: Path) -> None:
    assert train.main(["--out", str(tmp_path)]) == 0
    for entry in ENTRIES:
        for item in (entry, entry["calibration"], entry["sample_input"]):
            assert _sha256(tmp_path / item["file"]) == item["sha256"], item["file"]
    assert json.loads((tmp_path / "manifest.json").read_text()) == MANIFEST
