"""scikit-learn models as skl2onnx exports them (the ai.onnx.ml domain, ZipMap, a label
output, a dynamic batch dimension): each compiles, agrees with onnxruntime on held-out
samples and gives a satisfying witness in which every wire is pinned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from protocol.r1cs.system import first_unsatisfied
from protocol.zkml import CompiledModel, CompileError, CompileOptions, compile_model
from tests.protocol.zkml.helpers import SALT, unpinned_wires

Data = tuple[np.ndarray, np.ndarray]


def _cancer() -> Data:
    x, y = load_breast_cancer(return_X_y=True)
    return x[:, :10].astype(np.float32), y  # ten features: the mean measurements


def _iris() -> Data:
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def _diabetes() -> Data:
    x, y = load_diabetes(return_X_y=True)
    return x.astype(np.float32), y


MODELS: dict[str, tuple[Callable[[], Any], Callable[[], Data], float]] = {
    # name: (estimator, data, largest |circuit - onnxruntime| allowed)
    "logistic_regression": (lambda: make_pipeline(StandardScaler(), LogisticRegression()),
                            _cancer, 0.02),
    "logistic_regression_3_classes": (lambda: make_pipeline(StandardScaler(),
                                      LogisticRegression()), _iris, 0.02),
    "normalized_logistic_regression": (lambda: make_pipeline(Normalizer(), LogisticRegression()),
                                       _iris, 0.02),
    "decision_tree": (lambda: DecisionTreeClassifier(max_depth=4, random_state=0), _cancer, 1e-3),
    "random_forest": (lambda: RandomForestClassifier(n_estimators=6, max_depth=3, random_state=0),
                      _iris, 1e-3),
    "gradient_boosting": (lambda: GradientBoostingClassifier(n_estimators=12, max_depth=2,
                          random_state=0), _cancer, 0.02),
    "gradient_boosting_3_classes": (lambda: GradientBoostingClassifier(n_estimators=4,
                                    max_depth=2, random_state=0), _iris, 0.02),
    "linear_regression": (lambda: make_pipeline(StandardScaler(), LinearRegression()),
                          _diabetes, 0.05),
    "tree_regression": (lambda: DecisionTreeRegressor(max_depth=3, random_state=0), _diabetes,
                        0.05),
    "gradient_boosting_regression": (lambda: GradientBoostingRegressor(n_estimators=6,
                                     max_depth=2, random_state=0), _diabetes, 0.05),
}  # fmt: skip


def _reference(data: bytes, x: np.ndarray) -> np.ndarray:
    """onnxruntime's probabilities (ZipMap's maps back into rows) or regression values."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    result = outputs[-1]
    if isinstance(result, list):  # ZipMap: one {class: probability} per sample
        return np.array([[row[k] for k in sorted(row)] for row in result])
    return np.asarray(result, dtype=np.float64).reshape(len(x), -1)


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request: pytest.FixtureRequest) -> tuple[str, bytes, CompiledModel, Data]:
    make, load, _ = MODELS[request.param]
    x, y = load()
    rng = np.random.default_rng(1)
    order = rng.permutation(len(x))
    train, test = order[: len(x) * 3 // 4], order[len(x) * 3 // 4 :]
    estimator = make().fit(x[train], y[train])
    data = to_onnx(estimator, x[:1]).SerializeToString()
    return request.param, data, compile_model(data, x[train]), (x[test], y[test])


def test_a_scikit_learn_export_agrees_with_onnxruntime(
    exported: tuple[str, bytes, CompiledModel, Data],
) -> None:
    name, data, model, (x, _) = exported
    samples = x[:48]
    reference = _reference(data, samples)
    scale = max(1.0, float(np.max(np.abs(reference))))  # regressions reach hundreds
    errors, agree = [], 0
    for xi, ri in zip(samples, reference, strict=True):
        out = np.array(model.dequantize_output(model.infer_quantized(model.quantize_input(xi))))
        errors.append(float(np.max(np.abs(out - ri))))
        agree += int(np.argmax(out) == np.argmax(ri))
    assert max(errors) <= MODELS[name][2] * scale, (name, max(errors))
    if reference.shape[1] > 1:  # classifiers: the class never differs
        assert agree == len(samples)


def test_a_scikit_learn_export_has_a_pinned_satisfying_witness(
    exported: tuple[str, bytes, CompiledModel, Data],
) -> None:
    _, _, model, (x, _) = exported
    witness = model.generate_witness(model.quantize_input(x[0]), SALT)
    assert first_unsatisfied(model.r1cs, witness.values) is None
    assert unpinned_wires(model.r1cs, list(witness.values)) == []
    assert model.report.input_bits == 32  # tabular widths (compiler.tabular_options)


def test_the_class_is_revealed_alone() -> None:
    x, y = _cancer()
    estimator = GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=0)
    data = to_onnx(estimator.fit(x, y), x[:1]).SerializeToString()
    model = compile_model(data, x, CompileOptions(reveal="threshold:1:0.5"))
    assert model.r1cs.n_public == 2
    for xi in x[200:240]:
        p1 = float(_reference(data, xi[None])[0, 1])
        bit = model.infer_quantized(model.quantize_input(xi))
        if abs(p1 - 0.5) > 0.02:
            assert bit == [int(p1 < 0.5)]


def test_an_unsupported_ml_op_names_the_domain() -> None:
    from sklearn.svm import SVR

    x, y = _diabetes()
    data = to_onnx(SVR().fit(x, y), x[:1]).SerializeToString()
    with pytest.raises(CompileError, match=r"\(op SVMRegressor\) is in the 'ai.onnx.ml' domain"):
        compile_model(data, x)


def test_an_l2_normalizer_of_a_zero_vector_is_proved() -> None:
    x, y = _iris()
    estimator = make_pipeline(Normalizer(), LogisticRegression()).fit(x, y)
    data = to_onnx(estimator, x[:1]).SerializeToString()
    model = compile_model(data, np.concatenate([x, np.zeros((1, 4), dtype=np.float32)]))
    zero = np.zeros((1, 4), dtype=np.float32)
    witness = model.generate_witness(model.quantize_input(zero), SALT)
    assert first_unsatisfied(model.r1cs, witness.values) is None
    out = np.array(model.dequantize_output(witness.outputs_q))
    assert np.max(np.abs(out - _reference(data, zero)[0])) < 0.02


def test_a_tree_whose_node_has_two_parents_is_refused() -> None:
    from onnx import helper

    node = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["y"], name="trees", domain="ai.onnx.ml",
        nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 1, 0],
        nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"], nodes_values=[0.5, 0.5, 0.0],
        nodes_truenodeids=[1, 2, 0], nodes_falsenodeids=[2, 2, 0],
        target_treeids=[0], target_nodeids=[2], target_ids=[0], target_weights=[1.0],
        n_targets=1,
    )  # fmt: skip
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", 1, [1, 2])],
        [helper.make_tensor_value_info("y", 1, [1, 1])],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)]
    data = helper.make_model(graph, opset_imports=opsets).SerializeToString()
    with pytest.raises(CompileError, match="node 2 of tree 0 has two parents"):
        compile_model(data)
