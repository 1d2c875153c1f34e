"""snarkjs 0.7.6 Groth16 on a circom-format circuit: the peer point for provernet's prover.

``python -m bench.peers.snarkjs_bench --r1cs C.r1cs --wtns W.wtns`` times snarkjs on
our own ``.r1cs``/``.wtns`` files; ``--all`` compiles every reference model of
``devnet/models/manifest.json`` with provernet's zkML compiler and benches its
circuit and witness; ``--synthetic N`` first writes a chained-squares circuit of N
constraints (full-size field values, snarkjs's worst case) with provernet's R1CS
writer; ``--prepare-ptau 12 16`` only prepares (and times) powers
of tau 2^12..2^16. A powers-of-tau file of the needed size is made locally
(``powersoftau new``, one contribution with fixed entropy, ``prepare phase2``) and
cached in ``bench/out/ptau/`` with its preparation times beside it. Then
``groth16 setup``, ``zkey contribute``, ``zkey export verificationkey``, and the
timed ``groth16 prove`` (``--repeats`` times, median) and ``groth16 verify``, each
in its own child process with its peak RSS. The result is JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.peers.measure import (
    MIB,
    add_report_options,
    emit_report,
    machine,
    markdown_header,
    run_measured,
)
from node import tools
from protocol.r1cs.binfmt import r1cs_to_bytes, wtns_to_bytes
from protocol.r1cs.system import ConstraintSystem, LinearCombination, R
from protocol.zkml.compiler import compile_model

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
PTAU_DIR = OUT / "ptau"
MANIFEST = REPO / "devnet" / "models" / "manifest.json"
BENCH_SALT = 1  # the input commitment's salt; any fixed value serves for timing
# Fixed entropy: these keys are for timing only, so reproducibility beats secrecy.
ENTROPY = "provernet-bench-fixed-entropy"
_R1CS_HEADER_SECTION = 1


def r1cs_counts(path: Path) -> dict[str, int]:
    """nConstraints, nWires and public counts from an ``.r1cs`` header section."""
    data = path.read_bytes()
    if data[:4] != b"r1cs":
        raise ValueError(f"{path} is not an .r1cs file")
    (n_sections,) = struct.unpack_from("<I", data, 8)
    offset = 12
    for _ in range(n_sections):
        kind, size = struct.unpack_from("<IQ", data, offset)
        offset += 12
        if kind == _R1CS_HEADER_SECTION:
            (n8,) = struct.unpack_from("<I", data, offset)
            wires, pub_out, pub_in, prv_in, _labels, constraints = struct.unpack_from(
                "<IIIIQI", data, offset + 4 + n8
            )
            return {
                "constraints": constraints, "wires": wires, "public_outputs": pub_out,
                "public_inputs": pub_in, "private_inputs": prv_in,
            }  # fmt: skip
        offset += size
    raise ValueError(f"{path} has no header section")


def ptau_power(counts: dict[str, int]) -> int:
    """The smallest power of tau snarkjs accepts for the circuit (zkey_new.js, cirPower)."""
    n = counts["constraints"] + counts["public_inputs"] + counts["public_outputs"]
    return max(n.bit_length(), 1)


class Snarkjs:
    """Runs snarkjs subcommands as measured child processes."""

    def __init__(self) -> None:
        self.binary = str(tools.require("snarkjs"))

    def run(self, *args: str | Path) -> dict[str, Any]:
        """One snarkjs command; its wall time, peak RSS and output."""
        done = run_measured([self.binary, *map(str, args)])
        return {
            "seconds": round(done.wall_s, 3),
            "cpu_s": round(done.cpu_s, 3),
            "load_before": round(done.load_before, 2),
            "peak_rss_mib": round(done.peak_rss_bytes / MIB, 1),
            "stdout": done.stdout.strip()[-500:],
        }


def prepare_ptau(snarkjs: Snarkjs, power: int) -> tuple[Path, dict[str, Any]]:
    """The prepared powers of tau for 2^power, made and timed once, then cached.

    Intermediate files carry this process's id and the final file appears by an
    atomic rename, its timings after it, so concurrent benchmarks never read a
    half-written file (a reader takes the cache only when both are present).
    """
    final = PTAU_DIR / f"pot{power}_final.ptau"
    timings_file = final.with_suffix(".json")
    if final.exists() and timings_file.exists():
        return final, {"cached": True, **json.loads(timings_file.read_text())}
    PTAU_DIR.mkdir(parents=True, exist_ok=True)
    new, contributed, prepared = (
        PTAU_DIR / f"pot{power}_{stage}.{os.getpid()}.tmp" for stage in ("0000", "0001", "final")
    )
    steps = {
        "new": snarkjs.run("powersoftau", "new", "bn128", str(power), new),
        "contribute": snarkjs.run(
            "powersoftau", "contribute", new, contributed, "--name=bench", f"-e={ENTROPY}"
        ),
        "prepare_phase2": snarkjs.run("powersoftau", "prepare", "phase2", contributed, prepared),
    }
    new.unlink()
    contributed.unlink()
    os.replace(prepared, final)
    timings: dict[str, Any] = {
        name: {k: v for k, v in step.items() if k != "stdout"} for name, step in steps.items()
    }
    timings["total_seconds"] = round(sum(step["seconds"] for step in steps.values()), 3)
    timings["file_bytes"] = final.stat().st_size
    staged = timings_file.with_suffix(f".{os.getpid()}.tmp")
    staged.write_text(json.dumps(timings, indent=1))
    os.replace(staged, timings_file)
    return final, {"cached": False, **timings}


def cached_ptau_timings() -> dict[int, Any]:
    """The recorded preparation times of every cached powers-of-tau file, by power."""
    found = {}
    for timings in PTAU_DIR.glob("pot*_final.json"):
        power = int(timings.name.removeprefix("pot").removesuffix("_final.json"))
        found[power] = json.loads(timings.read_text())
    return dict(sorted(found.items()))


def bench_circuit(
    snarkjs: Snarkjs, r1cs: Path, wtns: Path, work: Path, repeats: int
) -> dict[str, Any]:
    """Setup, prove and verify one circuit with snarkjs, measuring every step."""
    work.mkdir(parents=True, exist_ok=True)
    counts = r1cs_counts(r1cs)
    power = ptau_power(counts)
    ptau, ptau_timings = prepare_ptau(snarkjs, power)
    zkey0, zkey, vk = work / "circuit_0000.zkey", work / "circuit_final.zkey", work / "vk.json"
    proof, public = work / "proof.json", work / "public.json"
    steps = {
        "groth16_setup": snarkjs.run("groth16", "setup", r1cs, ptau, zkey0),
        "zkey_contribute": snarkjs.run(
            "zkey", "contribute", zkey0, zkey, "--name=bench", f"-e={ENTROPY}"
        ),
        "export_vk": snarkjs.run("zkey", "export", "verificationkey", zkey, vk),
    }
    proves = [snarkjs.run("groth16", "prove", zkey, wtns, proof, public) for _ in range(repeats)]
    steps["groth16_prove"] = sorted(proves, key=lambda run: run["seconds"])[len(proves) // 2]
    steps["groth16_prove"]["all_seconds"] = [run["seconds"] for run in proves]
    steps["groth16_verify"] = snarkjs.run("groth16", "verify", vk, public, proof)
    verified = "OK!" in steps["groth16_verify"]["stdout"]
    for step in steps.values():
        step.pop("stdout")
    return {
        "r1cs": str(r1cs),
        "circuit": counts,
        "ptau_power": power,
        "ptau": ptau_timings,
        "steps": steps,
        "sizes_bytes": {"zkey": zkey.stat().st_size, "vk": vk.stat().st_size},
        "verified": verified,
    }


def write_synthetic(n_constraints: int, folder: Path) -> tuple[Path, Path]:
    """A chained-squares circuit ``x_{i+1} = x_i^2 + i`` with one public output, as files."""
    cs = ConstraintSystem()
    out = cs.alloc_public()
    x = cs.alloc_private_input()
    values = {0: 1, x: 3}
    for i in range(n_constraints - 1):
        nxt = cs.alloc()
        values[nxt] = (values[x] * values[x] + i) % R
        wire = LinearCombination.wire(x)
        cs.enforce(wire, wire, LinearCombination.wire(nxt) - i)
        x = nxt
    values[out] = values[x]
    cs.enforce_equal(LinearCombination.wire(x), LinearCombination.wire(out))
    r1cs = cs.finish()
    folder.mkdir(parents=True, exist_ok=True)
    r1cs_path, wtns_path = (
        folder / f"chain{n_constraints}.r1cs",
        folder / f"chain{n_constraints}.wtns",
    )
    r1cs_path.write_bytes(r1cs_to_bytes(r1cs))
    wtns_path.write_bytes(wtns_to_bytes([values[w] for w in range(r1cs.n_wires)]))
    return r1cs_path, wtns_path


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: command, machine, date, ptau preparation and one row per circuit."""
    lines = [
        *markdown_header("snarkjs 0.7.6 Groth16", report),
        "- times are whole snarkjs processes (node start-up included); CPU s is their user + "
        "system time; load is the 1-minute load average when each started (the machine is "
        "shared); peak RSS is the process's own (wait4 ru_maxrss); prove is the median of "
        "the runs listed",
        "",
    ]
    ptau = report["ptau"]
    if ptau:
        lines += [
            "## Powers of tau preparation (new + 1 contribution + prepare phase2), as cached",
            "",
            "| power | new s | contribute s | prepare phase2 s (CPU s) | total s | file MiB |",
            "|---|---|---|---|---|---|",
        ]
        for power, t in sorted(ptau.items()):
            lines.append(
                f"| 2^{power} | {t['new']['seconds']:.1f} | {t['contribute']['seconds']:.1f} "
                f"| {t['prepare_phase2']['seconds']:.1f} ({t['prepare_phase2']['cpu_s']:.1f}) "
                f"| {t['total_seconds']:.1f} "
                f"| {t['file_bytes'] / MIB:.1f} |"
            )
        lines.append("")
    if report["results"]:
        lines += [
            "## Circuits",
            "",
            "| circuit | constraints | wires | ptau power | setup s | prove s (runs) "
            "| prove CPU s | load | prove peak RSS MiB | verify s | zkey MiB | verified |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["results"]:
            st, c = r["steps"], r["circuit"]
            runs = ", ".join(f"{x:.2f}" for x in st["groth16_prove"]["all_seconds"])
            lines.append(
                f"| {Path(r['r1cs']).name} | {c['constraints']} | {c['wires']} | {r['ptau_power']} "
                f"| {st['groth16_setup']['seconds']:.2f} | {st['groth16_prove']['seconds']:.2f} "
                f"({runs}) | {st['groth16_prove']['cpu_s']:.1f} "
                f"| {st['groth16_prove']['load_before']:.1f} "
                f"| {st['groth16_prove']['peak_rss_mib']:.0f} "
                f"| {st['groth16_verify']['seconds']:.2f} "
                f"| {r['sizes_bytes']['zkey'] / MIB:.1f} | {r['verified']} |"
            )
    lines += ["", "Raw results:", "", "```json", json.dumps(report, indent=1), "```", ""]
    return "\n".join(lines)


def write_model_circuit(manifest: Path, entry: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Compile a reference model with provernet's zkML compiler; write its circuit and witness."""
    base = manifest.parent
    calibration = np.load(base / entry["calibration"]["file"])
    compiled = compile_model((base / entry["file"]).read_bytes(), calibration)
    sample = np.asarray(json.loads((base / entry["sample_input"]["file"]).read_text())["input"])
    witness = compiled.generate_witness(compiled.quantize_input(sample), BENCH_SALT)
    folder.mkdir(parents=True, exist_ok=True)
    r1cs_path, wtns_path = folder / f"{entry['name']}.r1cs", folder / f"{entry['name']}.wtns"
    r1cs_path.write_bytes(r1cs_to_bytes(compiled.r1cs))
    wtns_path.write_bytes(wtns_to_bytes(witness.values))
    return r1cs_path, wtns_path


def main(argv: list[str] | None = None) -> int:
    """Benchmark snarkjs Groth16 on the given circuit(s), or only prepare powers of tau."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--r1cs", type=Path, help="circom .r1cs file (with --wtns)")
    parser.add_argument("--wtns", type=Path, help="snarkjs .wtns witness for --r1cs")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[], metavar="N",
                        help="also bench chained-squares circuits of N constraints")  # fmt: skip
    parser.add_argument("--all", action="store_true",
                        help="compile and bench every reference model")  # fmt: skip
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--prepare-ptau", type=int, nargs=2, metavar=("LO", "HI"),
                        help="prepare and time powers of tau 2^LO..2^HI")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="prove this many times")
    add_report_options(parser)
    args = parser.parse_args(argv)
    snarkjs = Snarkjs()
    report: dict[str, Any] = {
        "tool": "snarkjs 0.7.6 groth16",
        "command": " ".join([".venv/bin/python -m bench.peers.snarkjs_bench", *sys.argv[1:]]),
        "machine": machine(),
    }
    if args.prepare_ptau:
        lo, hi = args.prepare_ptau
        for power in range(lo, hi + 1):
            prepare_ptau(snarkjs, power)
    circuits = [write_synthetic(n, OUT / "snarkjs" / "synthetic") for n in args.synthetic]
    if args.all:
        entries = json.loads(args.manifest.read_text())["models"]
        folder = OUT / "snarkjs" / "models"
        circuits += [write_model_circuit(args.manifest, entry, folder) for entry in entries]
    if args.r1cs and args.wtns:
        circuits.append((args.r1cs, args.wtns))
    elif args.r1cs or args.wtns:
        parser.error("--r1cs and --wtns go together")
    report["results"] = [
        bench_circuit(snarkjs, r1cs, wtns, OUT / "snarkjs" / r1cs.stem, args.repeats)
        for r1cs, wtns in circuits
    ]
    report["ptau"] = cached_ptau_timings()
    emit_report(report, args, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
