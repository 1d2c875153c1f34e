"""``provernet circuit ...``: the offline toolchain (compile, setup, prove, verify, info).

No network and no node are needed. The heavy lifting is protocol/'s; this module
reads and writes the circuit and proof directories (node.artifacts), draws the
randomness (toxic waste, r and s, salts) from the OS CSPRNG, and reports progress
on stderr while results go to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from node import artifacts as art
from node import model_io
from node.artifacts import CircuitDir
from node.ceremony_cli import setup_from_ptau
from node.exit_codes import (
    ARTIFACT_MISMATCH,
    FAILED,
    INPUT_REJECTED,
    OK,
    UNSUPPORTED_MODEL,
    USAGE,
    CliError,
)
from node.model_cli import REVEAL_HELP
from node.proving import pool_for
from protocol import zkml
from protocol.bn254.backend import available_backends, get_backend
from protocol.errors import RemoteProtocolError
from protocol.groth16 import keys as g16keys
from protocol.groth16 import snarkjs
from protocol.groth16.setup import ToxicWaste
from protocol.groth16.verify import verify
from protocol.r1cs import binfmt
from protocol.r1cs.system import R1CS, R
from protocol.zkml.model import parse_reveal

PROVERNET_VERSION = "0.1.0"

# A one-shot proof pays for converting the key's points to the native form (about
# 0.1 ms a G1 point, 0.37 ms a G2 point), as much as a pure MSM term with a
# full-size scalar costs; ML witnesses are mostly 0/1 and small values. The hybrid
# backend converts only the G1 bases whose scalars are large (mostly the H query)
# and keeps small terms pure: cold proofs measured in bench/results/proving.md
# ("one-shot proofs"). The daemon keeps keys loaded and uses the native backend.
ONE_SHOT_PREFERENCE = ("hybrid", "pure")


def one_shot_backend() -> str:
    """The backend `circuit prove` uses unless told otherwise: the first installed of
    ``ONE_SHOT_PREFERENCE``."""
    have = available_backends()
    return next(name for name in ONE_SHOT_PREFERENCE if name in have)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Stage:
    """Times one stage of long work and reports it on stderr."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = time.perf_counter()
        _progress(f"  {name} ...")

    def done(self, detail: str = "") -> float:
        elapsed = time.perf_counter() - self.start
        suffix = f" ({detail})" if detail else ""
        _progress(f"  {self.name}: done in {elapsed:.2f} s{suffix}")
        return elapsed


# ----------------------------------------------------------------------------- compile


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile an ONNX model into a circuit directory."""
    out = Path(args.out)
    if (out / art.MANIFEST).exists() and not args.force:
        raise CliError(
            f"{out} already holds a compiled circuit; pass --force to replace it "
            "(its keys become useless)",
            USAGE,
        )
    onnx_bytes = model_io.read_model(Path(args.model))
    samples = model_io.read_samples(Path(args.calibration)) if args.calibration else None
    options = _options(args)
    stage = _Stage("compiling")
    try:
        model = _compile(onnx_bytes, samples, options, args)
    except zkml.CompileError as exc:
        raise CliError(str(exc), UNSUPPORTED_MODEL) from None
    stage.done(f"{model.r1cs.n_constraints} constraints")
    accuracy = _accuracy(model, onnx_bytes, samples, args)
    out.mkdir(parents=True, exist_ok=True)
    cdir = CircuitDir(out, _new_manifest(model, onnx_bytes, accuracy, samples))
    cdir.record("model", art.MODEL_FILE, onnx_bytes)
    cdir.record("circuit", art.CIRCUIT_FILE, model.to_bytes())
    cdir.record("r1cs", art.R1CS_FILE, binfmt.r1cs_to_bytes(model.r1cs))
    for stale in (art.PROVING_KEY_FILE, art.VERIFICATION_KEY_FILE):
        (out / stale).unlink(missing_ok=True)
    cdir.save()
    return _emit(args, _info_object(cdir), f"compiled {args.model} into {out}")


def _options(args: argparse.Namespace) -> zkml.CompileOptions:
    try:
        preset = zkml.CompileOptions().with_precision(args.precision)
        options = dataclasses.replace(
            preset,
            activation_bits=args.activation_bits or preset.activation_bits,
            weight_bits=args.weight_bits or preset.weight_bits,
            input_bits=args.input_bits,
            headroom=args.headroom,
            input_range=tuple(args.input_range) if args.input_range else None,
            reveal=args.reveal,
        )
        options.check()
    except zkml.CompileError as exc:
        raise CliError(str(exc), USAGE) from None
    return options


def _compile(
    onnx_bytes: bytes, samples: Any, options: zkml.CompileOptions, args: argparse.Namespace
) -> zkml.CompiledModel:
    if samples is None:
        return zkml.compile_model(onnx_bytes, None, options)
    input_shape = model_io.onnx_input_shape(onnx_bytes)
    if input_shape is not None:
        samples = model_io.conform_samples(samples, input_shape, Path(args.calibration))
    return zkml.compile_model(onnx_bytes, samples, options)


def _accuracy(
    model: zkml.CompiledModel, onnx_bytes: bytes, samples: Any, args: argparse.Namespace
) -> dict[str, Any] | None:
    if samples is None:
        return None
    stage = _Stage("measuring accuracy against the float model (onnxruntime)")
    conformed = model_io.conform_samples(samples, model.input_shape, Path(args.calibration))
    reference = model_io.float_reference(onnx_bytes, model.input_name, conformed)
    report = zkml.accuracy_report(model, conformed, reference)
    stage.done()
    return report.to_json()


def _new_manifest(
    model: zkml.CompiledModel,
    onnx_bytes: bytes,
    accuracy: dict[str, Any] | None,
    samples: Any,
) -> dict[str, Any]:
    n_out = model.r1cs.n_public - 1
    mode, index, value = parse_reveal(model.report.reveal)
    outputs = [f"output[{i}]" for i in range(n_out)]
    if mode == "argmax":
        outputs = ["argmax(output)"]
    elif mode == "threshold":
        outputs = [f"output[{index}] < {value:g}"]
    return {
        "format": art.FORMAT,
        "format_version": art.FORMAT_VERSION,
        "provernet_version": PROVERNET_VERSION,
        "circuit_format": zkml.CIRCUIT_FORMAT_VERSION,
        "proving_key_format": g16keys.PROVING_KEY_FORMAT_VERSION,
        "onnx_sha256": art.sha256_hex(onnx_bytes),
        "input": {"name": model.input_name, "shape": list(model.input_shape)},
        "output": {"name": model.output_name, "shape": list(model.output_shape)},
        "public_signals": ["input_commitment", *outputs],
        "constraints": model.r1cs.n_constraints,
        "wires": model.r1cs.n_wires,
        "quantization": model.report.to_json(),
        "calibration": {
            "samples": 0 if samples is None else int(samples.shape[0]),
            "accuracy": accuracy,
        },
        "files": {},
    }


# ----------------------------------------------------------------------------- setup


def _load_r1cs(cdir: CircuitDir) -> R1CS:
    try:
        return binfmt.r1cs_from_bytes(cdir.read_checked("r1cs"))
    except RemoteProtocolError as exc:
        raise CliError(f"{cdir.path / art.R1CS_FILE} is corrupt: {exc}", USAGE) from None


def cmd_setup(args: argparse.Namespace) -> int:
    """Run the circuit-specific Groth16 setup and write the keys."""
    cdir = CircuitDir.open(Path(args.dir))
    if "proving_key" in cdir.manifest.get("files", {}) and not args.force:
        raise CliError(
            f"{cdir.path} already has keys; a new setup makes proofs for the old verifying "
            "key (and any on-chain registration of it) impossible. Pass --force to replace them",
            USAGE,
        )
    r1cs = _load_r1cs(cdir)
    if args.ptau:
        setup_from_ptau(cdir, r1cs, Path(args.ptau))
        human = (
            f"started {cdir.path}'s ceremony from {args.ptau}: add contributions with "
            "`provernet ceremony contribute DIR`, close it with `provernet ceremony beacon`"
        )
        return _emit(args, _info_object(cdir), human)
    with pool_for(args.backend, r1cs.n_constraints) as pool:
        backend = pool.backend
        stage = _Stage(
            f"Groth16 setup for {r1cs.n_constraints} constraints ({backend.name} backend, "
            f"{pool.workers or 'no'} worker processes)"
        )
        toxic = ToxicWaste.from_entropy(os.urandom(64))
        pk = pool.setup(r1cs, toxic)
        del toxic  # the toxic waste must not outlive the setup
        elapsed = stage.done()
    cdir.record_setup(pk, backend.name, elapsed)
    return _emit(args, _info_object(cdir), f"wrote keys to {cdir.path}")


# ----------------------------------------------------------------------------- prove


def _load_model(cdir: CircuitDir, r1cs: R1CS) -> zkml.CompiledModel:
    try:
        return zkml.CompiledModel.from_bytes(cdir.read_checked("circuit"), r1cs)
    except RemoteProtocolError as exc:
        raise CliError(f"{cdir.path / art.CIRCUIT_FILE} is corrupt: {exc}", USAGE) from None


def cmd_prove(args: argparse.Namespace) -> int:
    """Prove one inference on a private input."""
    cdir = CircuitDir.open(Path(args.dir))
    out = Path(args.out)
    _refuse_foreign_proof_dir(out, cdir)
    x, salt = model_io.read_input(Path(args.input))
    r1cs = _load_r1cs(cdir)
    model = _load_model(cdir, r1cs)
    try:
        pk = g16keys.proving_key_from_bytes(cdir.read_checked("proving_key"))
    except RemoteProtocolError as exc:
        raise CliError(f"{cdir.path / art.PROVING_KEY_FILE} is corrupt: {exc}", USAGE) from None
    try:
        x_q = model.quantize_input(x)
        salt = model_io.fresh_salt() if salt is None else salt
        stage = _Stage("computing the witness")
        witness = model.generate_witness(x_q, salt)
        stage.done()
    except zkml.InputError as exc:
        raise CliError(f"input rejected: {exc}", INPUT_REJECTED) from None
    stage = _Stage("proving")  # worker start-up included: a one-shot proof pays for it
    vk = pk.vk
    with pool_for(args.backend or one_shot_backend(), r1cs.n_constraints) as pool:
        model_key = cdir.manifest["files"]["r1cs"]["sha256"]
        pool.prepare(model_key, pk, r1cs)
        del pk  # the workers hold the key's points now; keep the peak RSS down
        proof = pool.prove(model_key, witness.values, secrets.randbelow(R), secrets.randbelow(R))
        backend_name, peak_rss_mib = pool.backend.name, pool.peak_rss_mib()
        prove_seconds = stage.done(f"{backend_name} backend, {pool.workers or 'no'} workers")
    if not verify(vk, witness.public, proof):
        raise CliError("internal error: the proof just made does not verify", FAILED)
    out.mkdir(parents=True, exist_ok=True)
    art.write_json(out / art.PROOF_FILE, snarkjs.proof_to_json(proof))
    art.write_json(out / art.PUBLIC_FILE, snarkjs.public_to_json(witness.public))
    art.write_atomic(out / art.WITNESS_FILE, binfmt.wtns_to_bytes(witness.values))
    output = {
        "output": model.dequantize_output(witness.outputs_q),
        "output_q": [int(v) for v in witness.outputs_q],
        "input_commitment": str(witness.commitment),
        "salt": str(salt),
        "circuit_sha256": cdir.circuit_id,
        "prove_seconds": round(prove_seconds, 3),
        "backend": backend_name,
        "peak_rss_mib": peak_rss_mib,  # this process and its workers, summed
    }
    art.write_json(out / art.OUTPUT_FILE, output)
    return _emit(args, output, f"proof written to {out}\noutput: {output['output']}")


def _refuse_foreign_proof_dir(out: Path, cdir: CircuitDir) -> None:
    existing = out / art.OUTPUT_FILE
    if not existing.is_file():
        return
    try:
        previous = json.loads(existing.read_bytes()).get("circuit_sha256")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous not in (None, cdir.circuit_id):
        raise CliError(
            f"{out} holds a proof for another circuit ({previous}); choose another --out",
            ARTIFACT_MISMATCH,
        )


# ----------------------------------------------------------------------------- verify


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a proof directory against a circuit's verifying key: exit 0, 1 or 2."""
    cdir = CircuitDir.open(Path(args.dir))
    proof_dir = Path(args.proof_dir)
    try:
        vk = snarkjs.vk_from_json(json.loads(cdir.read_checked("verification_key")))
        proof = snarkjs.proof_from_json(art.read_json(proof_dir / art.PROOF_FILE, "proof"))
        public = snarkjs.public_from_json(
            art.read_json(proof_dir / art.PUBLIC_FILE, "public signals")
        )
        valid = verify(vk, public, proof)
    except (RemoteProtocolError, ValueError) as exc:
        raise CliError(f"malformed proof or key: {exc}", USAGE) from None
    reason = _output_mismatch(proof_dir, public, cdir) if valid else "the pairing check failed"
    result = {"valid": reason is None, "reason": reason}
    human = "proof is valid" if reason is None else f"proof is NOT valid: {reason}"
    _emit(args, result, human)
    return OK if reason is None else FAILED


def _output_mismatch(proof_dir: Path, public: list[int], cdir: CircuitDir) -> str | None:
    """Why output.json disagrees with the proven public signals, or None."""
    path = proof_dir / art.OUTPUT_FILE
    if not path.is_file():
        return None
    output = art.read_json(path, "output")
    if not isinstance(output, dict):
        return f"{path} is not a JSON object"
    circuit = output.get("circuit_sha256")
    if circuit is not None and circuit != cdir.circuit_id:
        return f"the proof directory was made for another circuit ({circuit})"
    proven_q = [v - R if v > R // 2 else v for v in public[1:]]
    if [int(v) for v in output.get("output_q", [])] != proven_q:
        return f"{path} claims outputs that differ from the proven public signals"
    if str(output.get("input_commitment")) != str(public[0]):
        return f"{path} claims an input commitment that differs from the proven one"
    if "output" in output:  # the float values people read: they must be the proven ones
        model = _load_model(cdir, _load_r1cs(cdir))
        claimed = output["output"]
        proven = model.dequantize_output(proven_q)
        numbers = isinstance(claimed, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in claimed
        )
        if not numbers or [float(v) for v in claimed] != proven:
            return f"{path} claims float outputs that differ from the proven ones ({proven})"
    return None


# ----------------------------------------------------------------------------- info


def _info_object(cdir: CircuitDir) -> dict[str, Any]:
    m = cdir.manifest
    return {
        "dir": str(cdir.path),
        "constraints": m["constraints"],
        "wires": m["wires"],
        "public_signals": m["public_signals"],
        "input": m["input"],
        "output": m["output"],
        "onnx_sha256": m["onnx_sha256"],
        "circuit_sha256": m["files"]["r1cs"]["sha256"],
        "quantization": m["quantization"],
        "calibration": m["calibration"],
        "setup": m.get("setup"),
        "files": m["files"],
        "backend": get_backend(None).name,
    }


def cmd_info(args: argparse.Namespace) -> int:
    """Describe a compiled circuit."""
    cdir = CircuitDir.open(Path(args.dir))
    info = _info_object(cdir)
    return _emit(args, info, _format_info(info))


def _public_line(info: dict[str, Any]) -> str:
    names = info["public_signals"]
    reveal = info["quantization"].get("reveal", "logits")
    if reveal == "logits":
        return f"public        {len(names)} signals: input_commitment, {len(names) - 1} outputs"
    return f"public        {len(names)} signals: {', '.join(names)} (reveal {reveal})"


def _format_info(info: dict[str, Any]) -> str:
    lines = [
        f"circuit       {info['dir']}",
        f"constraints   {info['constraints']}",
        f"wires         {info['wires']}",
        _public_line(info),
        f"input         {info['input']['name']} {info['input']['shape']}",
        f"output        {info['output']['name']} {info['output']['shape']}",
        f"onnx sha256   {info['onnx_sha256']}",
        f"circuit id    {info['circuit_sha256']}",
        f"backend       {info['backend']}",
        f"keys          {'present' if info['setup'] else 'none (run `provernet circuit setup`)'}",
        "",
    ]
    lines += zkml.format_report(info["quantization"])
    lines.append("")
    acc = info["calibration"]["accuracy"]
    if acc is None:
        lines.append("accuracy      not measured (compile with --calibration SAMPLES)")
    else:
        lines += [
            f"accuracy      over {info['calibration']['samples']} calibration samples:",
            f"  max abs error     {acc['max_abs_error']:.6g}",
            f"  argmax agreement  {acc['argmax_agreement'] * 100:.2f} %",
        ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plumbing


def _emit(args: argparse.Namespace, obj: dict[str, Any], human: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps(obj, indent=2))
    else:
        print(human)
    return OK


def add_circuit_commands(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``provernet circuit compile|setup|prove|verify|info``."""
    circuit = groups.add_parser("circuit", help="offline circuit toolchain (no node needed)")
    sub = circuit.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("compile", help="compile an ONNX model into a circuit directory")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--calibration", metavar="SAMPLES", help=".npy array or JSON list of inputs")
    p.add_argument("--force", action="store_true", help="replace an existing circuit in DIR")
    defaults = zkml.CompileOptions()
    p.add_argument(
        "--precision",
        choices=sorted(zkml.PRECISIONS),
        default="standard",
        help="activation and weight widths: low (fewest constraints), standard (the "
        "default), high (smallest error); the accuracy report shows what it bought",
    )
    p.add_argument(
        "--activation-bits",
        type=int,
        help=f"signed bits of rescaled activations (default {defaults.activation_bits}, "
        "or the --precision preset's)",
    )
    p.add_argument(
        "--weight-bits",
        type=int,
        help=f"signed bits of weights (default {defaults.weight_bits}, or the preset's)",
    )
    p.add_argument(
        "--input-bits",
        type=int,
        default=defaults.input_bits,
        help="signed bits per input value (default %(default)s)",
    )
    p.add_argument(
        "--headroom",
        type=float,
        default=defaults.headroom,
        help="factor applied to calibrated ranges (default %(default)s)",
    )
    p.add_argument(
        "--input-range",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="accepted input interval (default: the calibration range, else -1 1)",
    )
    p.add_argument("--reveal", default=defaults.reveal, metavar="logits|argmax|threshold:I:V",
                   help=REVEAL_HELP)  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("setup", help="run the circuit-specific Groth16 setup")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--force", action="store_true", help="replace existing keys")
    p.add_argument(
        "--ptau",
        metavar="POT.ptau",
        help="start a phase-2 ceremony from this phase 1 (without it: a single-party "
        "setup whose runner could forge proofs — for local experiments only)",
    )
    p.add_argument(
        "--backend",
        choices=available_backends(),
        help="arithmetic backend (default: the fastest installed)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("prove", help="prove one inference")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--input", required=True, metavar="INPUT.json")
    p.add_argument("--out", required=True, metavar="PROOFDIR")
    p.add_argument(
        "--backend",
        choices=available_backends(),
        help=f"arithmetic backend (default: {one_shot_backend()}, fastest for one-shot proofs)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prove)

    p = sub.add_parser("verify", help="verify a proof: exit 0 valid, 1 invalid, 2 malformed")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("proof_dir", metavar="PROOFDIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("info", help="describe a compiled circuit")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
