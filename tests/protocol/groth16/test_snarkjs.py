"""snarkjs JSON: round trips, strict readers, and interoperability with real snarkjs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from protocol.bn254.fields import P, R
from protocol.errors import RemoteProtocolError
from protocol.groth16.prove import prove
from protocol.groth16.snarkjs import (
    proof_from_json,
    proof_to_json,
    public_from_json,
    public_to_json,
    vk_from_json,
    vk_to_json,
)
from protocol.groth16.verify import verify
from protocol.r1cs.binfmt import r1cs_to_bytes, wtns_to_bytes
from tests.protocol.circuits import cubic, cubic_witness
from tests.protocol.groth16.conftest import Circuit
from tests.protocol.snarkjs_cli import run_snarkjs

R_1, S_1 = 0x1234567, 0x89ABCDEF  # fixed randomisers: tests only


@pytest.fixture(scope="module")
def proof_json(multi_public_circuit: Circuit) -> dict[str, Any]:
    c = multi_public_circuit
    return proof_to_json(prove(c.pk, c.r1cs, c.witness, R_1, S_1))


def test_round_trips(multi_public_circuit: Circuit, proof_json: dict[str, Any]) -> None:
    vk = multi_public_circuit.pk.vk
    vk_obj = json.loads(json.dumps(vk_to_json(vk)))
    assert vk_obj["nPublic"] == 4
    assert vk_obj["vk_beta_2"][2] == ["1", "0"]
    assert vk_from_json(vk_obj) == vk
    proof = proof_from_json(json.loads(json.dumps(proof_json)))
    assert proof_to_json(proof) == proof_json
    assert public_from_json(public_to_json([0, 5, R - 1])) == [0, 5, R - 1]


def _mutated(obj: dict[str, Any], path: tuple[Any, ...], value: object) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()

VK_CASES = [
    (("protocol",), "plonk", "protocol"),
    (("curve",), "bls12381", "curve"),
    (("nPublic",), 3, "IC"),
    (("nPublic",), "4", "nPublic"),
    (("vk_alpha_1", 0), "0x1", "vk_alpha_1"),
    (("vk_alpha_1", 1), "3", "vk_alpha_1"),
    (("vk_alpha_1", 2), "2", "vk_alpha_1"),
    (("vk_beta_2", 0, 0), str(P), "vk_beta_2"),
    (("vk_gamma_2", 1, 0), "1", "vk_gamma_2"),
    (("IC", 2, 0), 5, "IC\\[2\\]"),
    (("vk_delta_2",), _DELETE, "vk_delta_2"),
]


@pytest.mark.parametrize(("path", "value", "message"), VK_CASES)
def test_vk_reader_rejects(
    multi_public_circuit: Circuit, path: tuple[Any, ...], value: object, message: str
) -> None:
    good = vk_to_json(multi_public_circuit.pk.vk)
    with pytest.raises(RemoteProtocolError, match=message):
        vk_from_json(_mutated(good, path, value))


PROOF_CASES = [
    (("pi_a", 0), "-1", "pi_a"),
    (("pi_a",), ["1", "2"], "pi_a"),
    (("pi_b", 1), ["1", "2"], "pi_b"),
    (("pi_c", 1), " 12", "pi_c"),
    (("pi_c",), _DELETE, "pi_c"),
    (("protocol",), "fflonk", "protocol"),
]


@pytest.mark.parametrize(("path", "value", "message"), PROOF_CASES)
def test_proof_reader_rejects(
    proof_json: dict[str, Any], path: tuple[Any, ...], value: object, message: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        proof_from_json(_mutated(proof_json, path, value))


@pytest.mark.parametrize("bad", [{"0": "1"}, ["1", 2], [str(R)], ["1e3"], ["01"]])
def test_public_reader_rejects(bad: object) -> None:
    with pytest.raises(RemoteProtocolError, match="public signal"):
        public_from_json(bad)


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj))


@pytest.mark.snarkjs
def test_snarkjs_verifies_our_proof(
    tmp_path: Path, multi_public_circuit: Circuit, proof_json: dict[str, Any]
) -> None:
    c = multi_public_circuit
    _write_json(tmp_path / "vk.json", vk_to_json(c.pk.vk))
    _write_json(tmp_path / "proof.json", proof_json)
    _write_json(tmp_path / "public.json", public_to_json(c.public))
    tampered = list(c.public)
    tampered[2] += 1
    _write_json(tmp_path / "tampered.json", public_to_json(tampered))
    ok = run_snarkjs("groth16", "verify", "vk.json", "public.json", "proof.json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK!" in ok.stdout
    bad = run_snarkjs("groth16", "verify", "vk.json", "tampered.json", "proof.json", cwd=tmp_path)
    assert bad.returncode != 0
    assert "Invalid proof" in bad.stdout + bad.stderr


@pytest.mark.snarkjs
@pytest.mark.slow
def test_we_verify_a_snarkjs_proof(tmp_path: Path) -> None:
    (tmp_path / "c.r1cs").write_bytes(r1cs_to_bytes(cubic()))
    (tmp_path / "w.wtns").write_bytes(wtns_to_bytes(cubic_witness(5)))
    steps = [
        ["powersoftau", "new", "bn128", "4", "pot0.ptau"],
        ["powersoftau", "contribute", "pot0.ptau", "pot1.ptau", "--name=t", "-e=test entropy"],
        ["powersoftau", "prepare", "phase2", "pot1.ptau", "pot.ptau"],
        ["groth16", "setup", "c.r1cs", "pot.ptau", "c.zkey"],
        ["zkey", "export", "verificationkey", "c.zkey", "vk.json"],
        ["groth16", "prove", "c.zkey", "w.wtns", "proof.json", "public.json"],
    ]
    for step in steps:
        proc = run_snarkjs(*step, cwd=tmp_path)
        assert proc.returncode == 0, f"{step}: {proc.stdout}{proc.stderr}"
    vk = vk_from_json(json.loads((tmp_path / "vk.json").read_text()))
    proof = proof_from_json(json.loads((tmp_path / "proof.json").read_text()))
    public = public_from_json(json.loads((tmp_path / "public.json").read_text()))
    assert public == [5**3 + 5 + 5]
    assert verify(vk, public, proof)
    assert not verify(vk, [public[0] + 1], proof)
