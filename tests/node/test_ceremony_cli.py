"""``provernet ceremony ...`` and ``circuit setup --ptau``: a whole ceremony on a small
model, snarkjs taking part, and the refusals a user meets."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from node.artifacts import CircuitDir
from node.cli import main
from node.exit_codes import ARTIFACT_MISMATCH, FAILED, USAGE
from protocol.groth16.ptau import unprepared
from protocol.groth16.zkey import zkey_from_bytes, zkey_to_bytes
from tests.protocol.snarkjs_cli import run_snarkjs

POWER = 9


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def _json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> dict[str, object]:
    capsys.readouterr()
    assert run(*argv, "--json") == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(7)
    weight = numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(3, np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[weight, bias],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx_model.ir_version = 8
    save(onnx_model, d / "tiny.onnx")
    np.save(d / "calibration.npy", rng.uniform(0, 1, size=(16, 1, 4)).astype(np.float32))
    (d / "input.json").write_text(json.dumps({"input": [[0.1, 0.5, 0.9, 0.3]]}))
    return d / "tiny.onnx", d / "calibration.npy", d / "input.json"


@pytest.fixture(scope="module")
def pot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pot") / "pot.ptau"
    assert run("ceremony", "ptau", "new", "--power", str(POWER), "--out", out) == 0
    return out


def _circuit(model: tuple[Path, Path, Path], where: Path) -> Path:
    onnx_file, calibration, _ = model
    out = where / "circuit"
    assert run("circuit", "compile", onnx_file, "--out", out, "--calibration", calibration) == 0
    return out


def test_a_ceremony_from_phase_1_to_a_proof(
    model: tuple[Path, Path, Path], pot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phase1 = _json(capsys, "ceremony", "ptau", "verify", pot)
    assert phase1["power"] == POWER
    assert phase1["prepared"] is True
    assert phase1["contributions"] == []
    circuit = _circuit(model, tmp_path)
    assert run("circuit", "setup", circuit, "--ptau", pot) == 0
    shown = _json(capsys, "ceremony", "show", circuit)
    assert (shown["status"], shown["contributions"]) == ("open", [])
    assert run("ceremony", "contribute", circuit, "--name", "alice") == 0
    bob = _json(capsys, "ceremony", "contribute", circuit, "--name", "bob")
    assert bob["index"] == 2
    assert run("ceremony", "beacon", circuit, "--beacon", "ab" * 32, "--iterations-exp", "10") == 0
    verified = _json(capsys, "ceremony", "verify", circuit, "--ptau", pot)
    assert verified["final"] is True
    names = [c["name"] for c in verified["contributions"]]  # type: ignore[attr-defined]
    assert names == ["alice", "bob", "beacon"]
    assert verified["contributions"][1]["hash"] == bob["hash"]  # type: ignore[index]
    assert run("ceremony", "contribute", circuit) == USAGE  # closed by the beacon
    _, _, input_file = model
    proof = tmp_path / "proof"
    assert run("circuit", "prove", circuit, "--input", input_file, "--out", proof) == 0
    assert run("circuit", "verify", circuit, proof) == 0


@pytest.mark.snarkjs
def test_snarkjs_contributes_between_our_contributions(
    model: tuple[Path, Path, Path], pot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    circuit = _circuit(model, tmp_path)
    assert run("circuit", "setup", circuit, "--ptau", pot) == 0
    assert run("ceremony", "contribute", circuit, "--name", "alice") == 0
    assert run("ceremony", "export", circuit, "--zkey", tmp_path / "a.zkey") == 0
    proc = run_snarkjs(
        "zkey", "contribute", "a.zkey", "b.zkey", "--name=carol", "-e=c", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A racing contributor built on the same state: one lands, the other must rebase.
    assert run("ceremony", "import", circuit, "--zkey", tmp_path / "b.zkey") == 0
    assert run("ceremony", "contribute", circuit, "--name", "dave") == 0
    assert run("ceremony", "import", circuit, "--zkey", tmp_path / "b.zkey") == ARTIFACT_MISMATCH
    verified = _json(capsys, "ceremony", "verify", circuit, "--ptau", pot)
    names = [c["name"] for c in verified["contributions"]]  # type: ignore[attr-defined]
    assert names == ["alice", "carol", "dave"]
    assert run("ceremony", "export", circuit, "--zkey", tmp_path / "final.zkey") == 0
    (tmp_path / "pot.ptau").write_bytes(pot.read_bytes())
    (tmp_path / "c.r1cs").write_bytes((circuit / "circuit.r1cs").read_bytes())
    proc = run_snarkjs("zkey", "verify", "c.r1cs", "pot.ptau", "final.zkey", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_phase_1_is_prepared_here_and_then_verifies(
    pot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ptau prepare turns a file without Lagrange bases into the prepared one: the same
    bytes ptau new wrote, and it verifies; a prepared file or an existing output is refused."""
    raw, out = tmp_path / "raw.ptau", tmp_path / "prepared.ptau"
    raw.write_bytes(unprepared(pot.read_bytes()))
    assert _json(capsys, "ceremony", "ptau", "verify", raw)["prepared"] is False
    made = _json(capsys, "ceremony", "ptau", "prepare", raw, "--out", out)
    assert (made["file"], made["power"]) == (str(out), POWER)
    assert out.read_bytes() == pot.read_bytes()
    assert _json(capsys, "ceremony", "ptau", "verify", out)["prepared"] is True
    assert run("ceremony", "ptau", "prepare", raw, "--out", out) == USAGE
    assert "exists" in capsys.readouterr().err
    assert run("ceremony", "ptau", "prepare", pot, "--out", tmp_path / "again.ptau") == USAGE
    assert "already prepared" in capsys.readouterr().err
    assert not (tmp_path / "again.ptau").exists()


def test_refusals_name_the_problem(
    model: tuple[Path, Path, Path], pot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    circuit = _circuit(model, tmp_path)
    assert run("ceremony", "contribute", circuit) == USAGE
    assert "no ceremony" in capsys.readouterr().err
    assert run("ceremony", "ptau", "new", "--power", "0", "--out", tmp_path / "x.ptau") == USAGE
    assert run("ceremony", "ptau", "new", "--power", "3", "--out", pot) == USAGE  # exists
    (tmp_path / "junk.ptau").write_bytes(b"not a ptau file")
    assert run("ceremony", "ptau", "verify", tmp_path / "junk.ptau") == USAGE
    assert "bad magic" in capsys.readouterr().err
    small = tmp_path / "small.ptau"
    assert run("ceremony", "ptau", "new", "--power", "3", "--out", small) == 0
    assert run("circuit", "setup", circuit, "--ptau", small) == USAGE
    assert "phase 1 of power" in capsys.readouterr().err
    assert run("circuit", "setup", circuit, "--ptau", pot) == 0
    assert run("ceremony", "beacon", circuit, "--beacon", "xyz", "--iterations-exp", "10") == USAGE
    assert run("ceremony", "beacon", circuit, "--beacon", "ab", "--iterations-exp", "3") == USAGE
    assert run("ceremony", "contribute", circuit) == 0
    other = tmp_path / "other.ptau"
    assert run("ceremony", "ptau", "new", "--power", str(POWER), "--out", other) == 0
    assert run("ceremony", "verify", circuit, "--ptau", other) == ARTIFACT_MISMATCH
    # A C point swapped for another curve point, the manifest updated to match.
    cdir = CircuitDir.open(circuit)
    key = zkey_from_bytes(cdir.read_checked("zkey"))
    cdir.record("zkey", "ceremony.zkey", zkey_to_bytes(replace(key, c=(key.a[1], *key.c[1:]))))
    cdir.save()
    capsys.readouterr()
    assert run("ceremony", "verify", circuit, "--ptau", pot) == FAILED
    assert "C section" in capsys.readouterr().err
    # A file changed behind the manifest's back is refused before anything is read.
    zkey = circuit / "ceremony.zkey"
    data = bytearray(zkey.read_bytes())
    data[-100] ^= 1
    zkey.write_bytes(bytes(data))
    assert run("ceremony", "verify", circuit, "--ptau", pot) == ARTIFACT_MISMATCH
    assert "does not match the sha256" in capsys.readouterr().err
