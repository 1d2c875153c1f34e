"""Verification time of provernet's proofs on the reference models, beside snarkjs's.

For each reference model: compile with its calibration samples, set up (a fixed
benchmark seed: never do this for a real model), prove one input, then time
provernet's verifier (in-process, median of several runs) and `snarkjs groth16
verify` on the same verification key, proof and public signals (one process each,
wall time, which includes Node's start-up). Prints a Markdown table.

Run: `.venv/bin/python -m bench.verify_bench [--repeats N]`
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.peers.measure import machine, run_measured
from node import tools
from protocol import zkml
from protocol.groth16 import snarkjs
from protocol.groth16.prove import prove
from protocol.groth16.setup import ToxicWaste, setup
from protocol.groth16.verify import verify
from protocol.r1cs.system import R

MODELS = Path(__file__).resolve().parents[1] / "devnet" / "models"
NAMES = ("digits_mlp", "digits_cnn", "mnist784_mlp")


def measure(name: str, repeats: int, work: Path) -> dict[str, object]:
    """Verification timings for one reference model."""
    model = zkml.compile_model(
        (MODELS / f"{name}.onnx").read_bytes(), np.load(MODELS / f"{name}_calibration.npy")
    )
    pk = setup(model.r1cs, ToxicWaste.from_entropy(b"verify benchmark seed, not for real models"))
    x = np.asarray(json.loads((MODELS / f"{name}_input.json").read_text())["input"])
    witness = model.generate_witness(model.quantize_input(x), secrets.randbelow(R))
    proof = prove(pk, model.r1cs, witness.values, secrets.randbelow(R), secrets.randbelow(R))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ok = verify(pk.vk, witness.public, proof)
        times.append(time.perf_counter() - start)
        assert ok
    files = {
        "vk.json": snarkjs.vk_to_json(pk.vk),
        "proof.json": snarkjs.proof_to_json(proof),
        "public.json": snarkjs.public_to_json(witness.public),
    }
    for file_name, obj in files.items():
        (work / f"{name}-{file_name}").write_text(json.dumps(obj))
    theirs = run_measured(
        [
            str(tools.require("snarkjs")),
            "groth16",
            "verify",
            *(str(work / f"{name}-{f}") for f in ("vk.json", "public.json", "proof.json")),
        ]
    )
    return {
        "model": name,
        "constraints": model.r1cs.n_constraints,
        "public_signals": len(witness.public),
        "provernet_verify_s": statistics.median(times),
        "snarkjs_verify_s": theirs.wall_s,
        "snarkjs_accepted": "OK" in theirs.stdout,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every reference model and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(name, args.repeats, Path(tmp)) for name in NAMES]
    print(f"machine: {json.dumps(machine())}")
    print(
        "| model | constraints | public signals | provernet verify s (median) "
        "| snarkjs verify s (process) | snarkjs accepted |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['constraints']} | {r['public_signals']} "
            f"| {r['provernet_verify_s']:.3f} | {r['snarkjs_verify_s']:.2f} "
            f"| {r['snarkjs_accepted']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
