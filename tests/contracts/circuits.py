"""Tiny Groth16 circuits with real keys and proofs for the contract tests and the gas bench.

``toy_circuit(n)`` has ``n`` public signals laid out like provernet's: an input
"commitment" ``c = x^2 + 7`` of a private ``x``, then outputs ``out_k = (x + k) * x``.
Every public wire is constrained, so changing any signal breaks the proof.

Keys and proofs come from provernet's own ``protocol.groth16`` (fixed test seed and
randomisers), or from snarkjs (the pinned npm tool: a small powers-of-tau ceremony,
``groth16 setup`` per circuit, ``groth16 prove`` per witness), whose zkey can also
export snarkjs's own Solidity verifier for the gas comparison.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node import tools
from protocol.groth16.calldata import proof_to_evm_words, vk_to_evm_words
from protocol.groth16.prove import Prover
from protocol.groth16.setup import ToxicWaste, setup
from protocol.r1cs.binfmt import r1cs_to_bytes, wtns_to_bytes
from protocol.r1cs.system import R1CS, ConstraintSystem, LinearCombination, R

# 2^6 = 64 >= constraints + public signals + 1 for every circuit here (11 signals: 23).
PTAU_POWER = 6
COMMITMENT_OFFSET = 7  # c = x^2 + 7: any constant works; 7 keeps c != 0 for x = 0
TEST_ENTROPY = b"provernet contract tests: a fixed, public toxic-waste seed"


def toy_circuit(n_public: int) -> R1CS:
    """The circuit with ``n_public`` public signals (commitment first), one private input."""
    cs = ConstraintSystem()
    public = [cs.alloc_public() for _ in range(n_public)]
    x = LinearCombination.wire(cs.alloc_private_input())
    cs.enforce(x, x, LinearCombination.wire(public[0]) - COMMITMENT_OFFSET)
    for k, wire in enumerate(public[1:], start=1):
        cs.enforce(x + k, x, LinearCombination.wire(wire))
    return cs.finish()


def toy_witness(n_public: int, x: int) -> list[int]:
    """The full witness of ``toy_circuit(n_public)`` for private input ``x``."""
    commitment = (x * x + COMMITMENT_OFFSET) % R
    outputs = [(x + k) * x % R for k in range(1, n_public)]
    return [1, commitment, *outputs, x % R]


@dataclass(frozen=True)
class Statement:
    """Public signals ``[commitment, outputs...]`` with a proof as 8 EVM words."""

    public: tuple[int, ...]
    proof: tuple[int, ...]

    @property
    def commitment(self) -> int:
        return self.public[0]

    @property
    def outputs(self) -> list[int]:
        return list(self.public[1:])


def _g1_words(point: list[str]) -> list[int]:
    return [int(point[0]), int(point[1])]


def _g2_words(point: list[list[str]]) -> list[int]:
    # snarkjs JSON holds (real, imaginary); EIP-197 wants imaginary first.
    (x_re, x_im), (y_re, y_im) = point[0], point[1]
    return [int(x_im), int(x_re), int(y_im), int(y_re)]


def vk_words_from_json(vk: dict[str, Any]) -> list[int]:
    """A snarkjs verification_key.json in the registry's word layout."""
    words = _g1_words(vk["vk_alpha_1"])
    for name in ("vk_beta_2", "vk_gamma_2", "vk_delta_2"):
        words += _g2_words(vk[name])
    for point in vk["IC"]:
        words += _g1_words(point)
    return words


def proof_words_from_json(proof: dict[str, Any]) -> list[int]:
    """A snarkjs proof.json as the 8 calldata words."""
    return _g1_words(proof["pi_a"]) + _g2_words(proof["pi_b"]) + _g1_words(proof["pi_c"])


class Snarkjs:
    """Drives the pinned snarkjs CLI inside one working folder."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binary = str(tools.require("snarkjs"))
        self._ptau: Path | None = None

    def _run(self, *args: str) -> None:
        proc = subprocess.run(
            [self.binary, *args], cwd=self.workdir, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"snarkjs {args[:2]} failed:\n{proc.stdout}\n{proc.stderr}")

    def ptau(self) -> Path:
        """A phase-2-ready powers-of-tau file (made once per folder)."""
        if self._ptau is None:
            self._run("powersoftau", "new", "bn128", str(PTAU_POWER), "pot0.ptau")
            self._run("powersoftau", "contribute", "pot0.ptau", "pot1.ptau", "--name=t", "-e=t")
            self._run("powersoftau", "prepare", "phase2", "pot1.ptau", "final.ptau")
            self._ptau = self.workdir / "final.ptau"
        return self._ptau

    def setup(self, r1cs: R1CS, name: str) -> Path:
        """A Groth16 zkey for ``r1cs`` (with one phase-2 contribution)."""
        (self.workdir / f"{name}.r1cs").write_bytes(r1cs_to_bytes(r1cs))
        ptau = self.ptau().name
        self._run("groth16", "setup", f"{name}.r1cs", ptau, f"{name}_0.zkey")
        self._run("zkey", "contribute", f"{name}_0.zkey", f"{name}.zkey", "--name=t", f"-e={name}")
        return self.workdir / f"{name}.zkey"

    def vk_words(self, zkey: Path) -> list[int]:
        """The zkey's verifying key in the registry's layout."""
        out = f"{zkey.stem}_vk.json"
        self._run("zkey", "export", "verificationkey", zkey.name, out)
        return vk_words_from_json(json.loads((self.workdir / out).read_text()))

    def prove(self, zkey: Path, witness: list[int], tag: str) -> Statement:
        """A proof of ``witness``; the public signals are read back from snarkjs."""
        wtns = f"{zkey.stem}_{tag}.wtns"
        (self.workdir / wtns).write_bytes(wtns_to_bytes(witness))
        proof, public = f"{zkey.stem}_{tag}_proof.json", f"{zkey.stem}_{tag}_public.json"
        self._run("groth16", "prove", zkey.name, wtns, proof, public)
        words = proof_words_from_json(json.loads((self.workdir / proof).read_text()))
        signals = [int(s) for s in json.loads((self.workdir / public).read_text())]
        return Statement(tuple(signals), tuple(words))

    def solidity_verifier(self, zkey: Path) -> str:
        """snarkjs's Solidity verifier for ``zkey``: a comparison point (GPL, not committed)."""
        out = f"{zkey.stem}_verifier.sol"
        self._run("zkey", "export", "solidityverifier", zkey.name, out)
        return (self.workdir / out).read_text()


@dataclass(frozen=True)
class ProvedCircuit:
    """A toy circuit, its key words, and proofs for private inputs 1, 2, 3, ..."""

    n_public: int
    r1cs: R1CS
    vk_words: tuple[int, ...]
    statements: tuple[Statement, ...]


def prove_toy_circuit(n_public: int, n_proofs: int) -> ProvedCircuit:
    """Set up ``toy_circuit(n_public)`` with protocol.groth16 and prove ``x = 1 .. n_proofs``."""
    r1cs = toy_circuit(n_public)
    pk = setup(r1cs, ToxicWaste.from_entropy(TEST_ENTROPY))
    prover = Prover(pk, r1cs)
    statements = []
    for x in range(1, n_proofs + 1):
        witness = toy_witness(n_public, x)
        # Fixed randomisers keep the tests reproducible; any r, s in Fr give a valid proof.
        proof = prover.prove(witness, r=1000 + x, s=2000 + x)
        public = tuple(witness[1 : n_public + 1])
        statements.append(Statement(public, proof_to_evm_words(proof)))
    return ProvedCircuit(n_public, r1cs, vk_to_evm_words(pk.vk), tuple(statements))


def snarkjs_toy_circuit(
    snarkjs: Snarkjs, n_public: int, n_proofs: int
) -> tuple[ProvedCircuit, Path]:
    """The same circuit set up and proved by snarkjs; also returns its zkey."""
    r1cs = toy_circuit(n_public)
    zkey = snarkjs.setup(r1cs, f"toy{n_public}")
    statements = []
    for x in range(1, n_proofs + 1):
        statement = snarkjs.prove(zkey, toy_witness(n_public, x), f"x{x}")
        if list(statement.public) != toy_witness(n_public, x)[1 : n_public + 1]:
            raise RuntimeError("snarkjs returned unexpected public signals")
        statements.append(statement)
    circuit = ProvedCircuit(n_public, r1cs, tuple(snarkjs.vk_words(zkey)), tuple(statements))
    return circuit, zkey
