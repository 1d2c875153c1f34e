"""The offline toolchain as a user drives it: compile, setup, prove, verify, info.

One digits MLP (the project's reference model, trained on real data) is compiled
and set up once per session; each test then exercises one behaviour a user relies
on, through ``node.cli.main`` exactly as the ``provernet`` script runs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from node import circuit_cli, tools
from node.cli import main

MODELS = Path(__file__).resolve().parents[2] / "devnet" / "models"
MLP = MODELS / "digits_mlp.onnx"
CALIBRATION = MODELS / "digits_mlp_calibration.npy"
INPUT = MODELS / "digits_mlp_input.json"


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="session")
def circuit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mlp") / "circuit"
    assert run("circuit", "compile", MLP, "--out", out, "--calibration", CALIBRATION) == 0
    assert run("circuit", "setup", out) == 0
    return out


@pytest.fixture(scope="session")
def proof_dir(circuit_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("proof") / "proof"
    assert run("circuit", "prove", circuit_dir, "--input", INPUT, "--out", out) == 0
    return out


@pytest.fixture
def proof_copy(proof_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "proof"
    shutil.copytree(proof_dir, copy)
    return copy


def test_circuit_dir_holds_every_artifact(circuit_dir: Path) -> None:
    names = {p.name for p in circuit_dir.iterdir()}
    assert {
        "manifest.json",
        "model.onnx",
        "circuit.bin",
        "circuit.r1cs",
        "proving_key.bin",
        "verification_key.json",
    } <= names
    manifest = json.loads((circuit_dir / "manifest.json").read_text())
    assert manifest["onnx_sha256"] == manifest["files"]["model"]["sha256"]
    assert manifest["public_signals"][0] == "input_commitment"
    assert len(manifest["public_signals"]) == 11


def test_info_json_reports_constraints_layers_and_accuracy(
    circuit_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run("circuit", "info", circuit_dir, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["constraints"] > 0
    layers = info["quantization"]["layers"]
    assert sum(layer["constraints"] for layer in layers) == info["constraints"]
    assert info["calibration"]["accuracy"]["argmax_agreement"] >= 0.9
    assert run("circuit", "info", circuit_dir) == 0
    human = capsys.readouterr().out
    assert "constraints" in human
    assert "argmax agreement" in human


def test_proof_dir_matches_the_float_model(proof_dir: Path) -> None:
    names = {p.name for p in proof_dir.iterdir()}
    assert {"proof.json", "public.json", "witness.wtns", "output.json"} <= names
    output = json.loads((proof_dir / "output.json").read_text())
    public = json.loads((proof_dir / "public.json").read_text())
    assert public[0] == output["input_commitment"]
    assert len(output["output"]) == len(output["output_q"]) == 10
    x = np.asarray(json.loads(INPUT.read_text())["input"], dtype=np.float32)
    import onnxruntime as ort

    logits = ort.InferenceSession(str(MLP)).run(None, {"input": x})[0].ravel()
    assert int(np.argmax(output["output"])) == int(np.argmax(logits))
    assert np.max(np.abs(np.asarray(output["output"]) - logits)) < 0.25


def test_verify_accepts_a_valid_proof(circuit_dir: Path, proof_dir: Path) -> None:
    assert run("circuit", "verify", circuit_dir, proof_dir) == 0


def test_verify_rejects_a_tampered_output(circuit_dir: Path, proof_copy: Path) -> None:
    public = json.loads((proof_copy / "public.json").read_text())
    public[1] = str(int(public[1]) + 1)
    (proof_copy / "public.json").write_text(json.dumps(public))
    assert run("circuit", "verify", circuit_dir, proof_copy) == 1


def test_verify_rejects_output_json_that_lies(circuit_dir: Path, proof_copy: Path) -> None:
    output = json.loads((proof_copy / "output.json").read_text())
    output["output_q"][0] += 1
    (proof_copy / "output.json").write_text(json.dumps(output))
    assert run("circuit", "verify", circuit_dir, proof_copy) == 1


@pytest.mark.parametrize(
    "lie",
    [
        lambda out: out["output"].__setitem__(0, out["output"][0] + 0.5),
        lambda out: out["output"].__setitem__(slice(None), out["output"][::-1]),
        lambda out: out["output"].pop(),
        lambda out: out.__setitem__("output", "a string"),
        lambda out: out["output"].__setitem__(0, True),
    ],
)
def test_verify_rejects_float_outputs_that_are_not_the_proven_ones(
    circuit_dir: Path,
    proof_copy: Path,
    lie: Callable[[dict[str, Any]], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = json.loads((proof_copy / "output.json").read_text())
    lie(output)
    (proof_copy / "output.json").write_text(json.dumps(output))
    capsys.readouterr()
    assert run("circuit", "verify", circuit_dir, proof_copy) == 1
    assert "claims float outputs that differ from the proven ones" in capsys.readouterr().out


@pytest.mark.parametrize(
    "corruption",
    [
        lambda d: (d / "proof.json").write_text("{not json"),
        lambda d: (d / "proof.json").write_text(json.dumps({"pi_a": ["1", "2", "1"]})),
        lambda d: (d / "public.json").write_text(json.dumps(["1", "x"])),
        lambda d: (d / "public.json").unlink(),
    ],
)
def test_verify_exits_2_on_malformed_files(
    circuit_dir: Path, proof_copy: Path, corruption: object
) -> None:
    corruption(proof_copy)  # type: ignore[operator]
    assert run("circuit", "verify", circuit_dir, proof_copy) == 2


@pytest.mark.snarkjs
def test_snarkjs_accepts_our_proof_and_files(circuit_dir: Path, proof_dir: Path) -> None:
    snarkjs = str(tools.require("snarkjs"))
    ok = subprocess.run(
        [
            snarkjs,
            "groth16",
            "verify",
            circuit_dir / "verification_key.json",
            proof_dir / "public.json",
            proof_dir / "proof.json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    check = subprocess.run(
        [snarkjs, "wtns", "check", circuit_dir / "circuit.r1cs", proof_dir / "witness.wtns"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _write_input(path: Path, value: object) -> Path:
    path.write_text(json.dumps({"input": value}))
    return path


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ([[0.0] * 63], "shape"),
        ([[float("nan")] + [0.0] * 63], "NaN"),
        ([[1e6] * 64], "range"),
    ],
)
def test_prove_rejects_bad_inputs_with_exit_4(
    circuit_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    value: object,
    needle: str,
) -> None:
    bad = tmp_path / "input.json"
    if needle == "NaN":
        bad.write_text('{"input": [[NaN' + ", 0.0" * 63 + "]]}")
    else:
        _write_input(bad, value)
    assert run("circuit", "prove", circuit_dir, "--input", bad, "--out", tmp_path / "p") == 4
    assert needle.lower() in capsys.readouterr().err.lower()
    assert not (tmp_path / "p").exists()


def test_compile_rejects_truncated_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(MLP.read_bytes()[:200])
    code = run("circuit", "compile", broken, "--out", tmp_path / "c")
    assert code == 3
    assert "error:" in capsys.readouterr().err


def test_compile_names_every_unsupported_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [helper.make_node("Sin", ["x"], ["e"], name="squash"),
             helper.make_node("Log", ["e"], ["y"], name="root")]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "exp.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    )
    assert run("circuit", "compile", path, "--out", tmp_path / "c") == 3
    err = capsys.readouterr().err
    assert "2 node(s) cannot be compiled" in err
    assert "node 'squash' (op Sin) is not supported" in err
    assert "node 'root' (op Log) is not supported" in err


def test_setup_refuses_to_overwrite_keys(circuit_dir: Path) -> None:
    assert run("circuit", "setup", circuit_dir) == 2


def test_corrupt_proving_key_is_detected(circuit_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "c"
    shutil.copytree(circuit_dir, copy)
    key = copy / "proving_key.bin"
    data = bytearray(key.read_bytes())
    data[100] ^= 1
    key.write_bytes(bytes(data))
    assert run("circuit", "prove", copy, "--input", INPUT, "--out", tmp_path / "p") == 5


def test_proof_from_another_model_is_rejected(
    circuit_dir: Path, proof_copy: Path, tmp_path: Path
) -> None:
    output = json.loads((proof_copy / "output.json").read_text())
    output["circuit_sha256"] = "00" * 32
    (proof_copy / "output.json").write_text(json.dumps(output))
    assert run("circuit", "verify", circuit_dir, proof_copy) == 1
    assert run("circuit", "prove", circuit_dir, "--input", INPUT, "--out", proof_copy) == 5


def test_bad_cli_arguments_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        run("circuit", "prove", tmp_path)
    assert exc.value.code == 2
    assert run("circuit", "info", tmp_path / "missing") == 2


def test_prove_defaults_to_the_one_shot_backend_and_reports_memory(
    proof_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = json.loads((proof_dir / "output.json").read_text())
    assert output["backend"] == circuit_cli.one_shot_backend()
    assert output["peak_rss_mib"] > 10  # at least the interpreter itself
    monkeypatch.setattr(circuit_cli, "available_backends", lambda: ["zksnake", "hybrid", "pure"])
    assert circuit_cli.one_shot_backend() == "hybrid"
    monkeypatch.setattr(circuit_cli, "available_backends", lambda: ["pure"])
    assert circuit_cli.one_shot_backend() == "pure"


@pytest.mark.snarkjs
@pytest.mark.parametrize("reveal", ["argmax", "threshold:3:0.0"])
def test_a_revealing_circuit_proves_and_verifies_only_its_decision(
    tmp_path: Path, reveal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The digits MLP compiled to reveal its class (or one bit about logit 3): the proof
    verifies in provernet and snarkjs, and the public signals hold nothing else."""
    out, proof = tmp_path / "circuit", tmp_path / "proof"
    assert run("circuit", "compile", MLP, "--out", out, "--calibration", CALIBRATION,
               "--reveal", reveal) == 0  # fmt: skip
    assert run("circuit", "setup", out) == 0
    assert run("circuit", "prove", out, "--input", INPUT, "--out", proof) == 0
    assert run("circuit", "verify", out, proof) == 0
    public = json.loads((proof / "public.json").read_text())
    assert len(public) == 2
    x = np.asarray(json.loads(INPUT.read_text())["input"], dtype=np.float32)
    import onnxruntime as ort

    logits = ort.InferenceSession(str(MLP)).run(None, {"input": x})[0].ravel()
    expected = int(np.argmax(logits)) if reveal == "argmax" else int(logits[3] < 0.0)
    assert int(public[1]) == expected
    snarkjs = str(tools.require("snarkjs"))
    done = subprocess.run([snarkjs, "groth16", "verify", out / "verification_key.json",
                           proof / "public.json", proof / "proof.json"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    capsys.readouterr()
    assert run("circuit", "info", out) == 0
    assert f"(reveal {reveal})" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quantization"]["reveal"] == reveal
    assert manifest["calibration"]["accuracy"]["argmax_agreement"] >= 0.95


def test_a_reveal_that_is_not_understood_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run("circuit", "compile", MLP, "--out", tmp_path / "c", "--reveal", "argmin") == 2
    assert "use logits, argmax, or threshold:OUTPUT:VALUE" in capsys.readouterr().err


@pytest.mark.snarkjs
def test_a_scikit_learn_credit_model_proves_one_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gradient-boosted classifier exported by skl2onnx (ai.onnx.ml, ZipMap, a dynamic
    batch) compiles to reveal only "p(class 1) < 0.5", proves and verifies here and in
    snarkjs; the revealed bit is onnxruntime's answer."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :10].astype(np.float32)
    model = GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=0).fit(x, y)
    onnx_path, cal, sample = tmp_path / "gb.onnx", tmp_path / "cal.npy", tmp_path / "in.json"
    onnx_path.write_bytes(to_onnx(model, x[:1]).SerializeToString())
    np.save(cal, x)
    sample.write_text(json.dumps({"input": x[5:6].tolist()}))
    out, proof = tmp_path / "circuit", tmp_path / "proof"
    assert run("circuit", "compile", onnx_path, "--out", out, "--calibration", cal,
               "--reveal", "threshold:1:0.5") == 0  # fmt: skip
    assert run("circuit", "setup", out) == 0
    assert run("circuit", "prove", out, "--input", sample, "--out", proof) == 0
    assert run("circuit", "verify", out, proof) == 0
    public = json.loads((proof / "public.json").read_text())
    assert public[1] == str(int(model.predict_proba(x[5:6])[0, 1] < 0.5))
    snarkjs = str(tools.require("snarkjs"))
    done = subprocess.run([snarkjs, "groth16", "verify", out / "verification_key.json",
                           proof / "public.json", proof / "proof.json"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    accuracy = json.loads((out / "manifest.json").read_text())["calibration"]["accuracy"]
    assert accuracy["argmax_agreement"] >= 0.99  # the revealed bit, over the data set


def test_precision_presets_are_recorded_and_cost_what_they_say(tmp_path: Path) -> None:
    constraints = {}
    for preset in ("low", "high"):
        out = tmp_path / preset
        assert run("circuit", "compile", MLP, "--out", out, "--calibration", CALIBRATION,
                   "--precision", preset) == 0  # fmt: skip
        manifest = json.loads((out / "manifest.json").read_text())
        constraints[preset] = manifest["constraints"]
        error = manifest["calibration"]["accuracy"]["max_abs_error"]
        assert error < (0.001 if preset == "high" else 0.25)
    assert constraints["low"] < constraints["high"]
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        run("circuit", "compile", MLP, "--out", tmp_path / "x", "--precision", "extreme")
