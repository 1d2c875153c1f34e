"""EZKL 23.0.5 (halo2 + KZG) on an ONNX model: the peer point provernet's benchmark compares to.

``python -m bench.peers.ezkl_bench --all`` runs every model of
``devnet/models/manifest.json``; ``--model M.onnx --input M_input.json
--calibration M_calibration.npy`` runs one. EZKL lives in its own virtualenv
(``bench/out/ezkl-venv``, created on first use with ``pip install ezkl==23.0.5``);
it is a comparison point only, never a provernet dependency. Each EZKL phase runs
in its own child process (``bench/peers/ezkl_phase.py``) so its wall time and peak
RSS are its own. The structured reference string is generated locally with
``ezkl.gen_srs`` (no download; fine for timing, not for production). The result is
JSON on stdout (and ``--json``), optionally a Markdown table (``--markdown``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.peers.measure import (
    MIB,
    Measured,
    add_report_options,
    emit_report,
    machine,
    run_measured,
)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
EZKL_VERSION = "23.0.5"
PHASE_SCRIPT = Path(__file__).resolve().parent / "ezkl_phase.py"
MANIFEST = REPO / "devnet" / "models" / "manifest.json"


def ensure_ezkl(venv: Path) -> Path:
    """The Python of a virtualenv holding ezkl==EZKL_VERSION, creating it if needed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import ezkl; print(ezkl.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip() == EZKL_VERSION:
            return python
    print(f"installing ezkl=={EZKL_VERSION} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", f"ezkl=={EZKL_VERSION}"]
    subprocess.run(pip, check=True)
    return python


@dataclass(frozen=True)
class Job:
    """One model to benchmark and the files EZKL reads and writes for it."""

    name: str
    onnx: Path
    input_json: Path
    calibration_npy: Path
    work: Path

    def path(self, name: str) -> str:
        """A file in this job's working folder."""
        return str(self.work / name)


def write_ezkl_inputs(job: Job) -> None:
    """EZKL's data files: {"input_data": [flat values]}; calibration samples concatenated."""
    job.work.mkdir(parents=True, exist_ok=True)
    sample = np.asarray(json.loads(job.input_json.read_text())["input"], dtype=np.float32)
    calibration = np.load(job.calibration_npy).astype(np.float32)
    for name, values in (("input.json", sample), ("calibration.json", calibration)):
        doc = {"input_data": [[float(v) for v in values.reshape(-1)]]}
        Path(job.path(name)).write_text(json.dumps(doc))


class Runner:
    """Runs EZKL phases in child processes of the EZKL virtualenv's Python."""

    def __init__(self, python: Path) -> None:
        self.python = python

    def phase(self, name: str, **kwargs: Any) -> dict[str, Any]:
        """Run ``ezkl.<name>(**kwargs)``; its in-call seconds, process wall time and peak RSS."""
        argv = [str(self.python), str(PHASE_SCRIPT), name, json.dumps(kwargs)]
        done: Measured = run_measured(argv)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        return {
            "seconds": round(summary["seconds"], 3),
            "process_wall_s": round(done.wall_s, 3),
            "process_cpu_s": round(done.cpu_s, 3),
            "load_before": round(done.load_before, 2),
            "peak_rss_mib": round(done.peak_rss_bytes / MIB, 1),
            "result": summary["result"],
            "async": summary["async"],
        }


def _srs(runner: Runner, logrows: int) -> tuple[str, dict[str, Any] | None]:
    path = OUT / "ezkl" / "srs" / f"kzg{logrows}.srs"
    if path.exists():
        return str(path), None
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path), runner.phase("gen_srs", srs_path=str(path), logrows=logrows)


def bench_model(
    runner: Runner, job: Job, visibility: dict[str, str], repeats: int = 1
) -> dict[str, Any]:
    """The whole EZKL flow on one model, phase by phase; prove runs ``repeats`` times (median)."""
    write_ezkl_inputs(job)
    p = job.path
    model, compiled, settings = str(job.onnx), p("network.compiled"), p("settings.json")
    phases: dict[str, Any] = {}
    phases["gen_settings"] = runner.phase(
        "gen_settings", model=model, output=settings, py_run_args=visibility
    )
    phases["calibrate_settings"] = runner.phase(
        "calibrate_settings",
        data=p("calibration.json"), model=model, settings=settings, target="resources",
    )  # fmt: skip
    phases["compile_circuit"] = runner.phase(
        "compile_circuit", model=model, compiled_circuit=compiled, settings_path=settings
    )
    circuit = json.loads(Path(settings).read_text())
    srs, srs_phase = _srs(runner, circuit["run_args"]["logrows"])
    if srs_phase is not None:
        phases["gen_srs"] = srs_phase
    keys = {"vk_path": p("vk.key"), "srs_path": srs}
    phases["setup"] = runner.phase("setup", model=compiled, pk_path=p("pk.key"), **keys)
    phases["gen_witness"] = runner.phase(
        "gen_witness", data=p("input.json"), model=compiled, output=p("witness.json"), **keys
    )
    proves = [
        runner.phase(
            "prove",
            witness=p("witness.json"),
            model=compiled,
            pk_path=p("pk.key"),
            proof_path=p("proof.json"),
            srs_path=srs,
        )
        for _ in range(repeats)
    ]
    phases["prove"] = sorted(proves, key=lambda run: run["seconds"])[len(proves) // 2]
    phases["prove"]["all_seconds"] = [run["seconds"] for run in proves]
    phases["verify"] = runner.phase(
        "verify", proof_path=p("proof.json"), settings_path=settings, **keys
    )
    return {
        "model": job.name,
        "onnx": str(job.onnx.relative_to(REPO) if job.onnx.is_relative_to(REPO) else job.onnx),
        "circuit": _circuit_facts(circuit),
        "phases": phases,
        "sizes_bytes": {
            name: (job.work / name).stat().st_size
            for name in ("pk.key", "vk.key", "proof.json", "network.compiled")
        }
        | {"srs": Path(srs).stat().st_size},
        "verified": phases["verify"]["result"] is True,
    }


def _circuit_facts(settings: dict[str, Any]) -> dict[str, Any]:
    run_args = settings["run_args"]
    keys = ("input_visibility", "output_visibility", "param_visibility")
    facts = {key: run_args.get(key) for key in ("logrows", "input_scale", "param_scale", *keys)}
    for key in ("num_rows", "total_assignments", "total_const_size", "required_lookups"):
        if key in settings:
            facts[key] = settings[key]
    return facts


def jobs_from_manifest(manifest: Path) -> list[Job]:
    """One job per model in a reference-model manifest."""
    folder = manifest.parent
    return [
        Job(
            name=entry["name"],
            onnx=folder / entry["file"],
            input_json=folder / entry["sample_input"]["file"],
            calibration_npy=folder / entry["calibration"]["file"],
            work=OUT / "ezkl" / entry["name"],
        )
        for entry in json.loads(manifest.read_text())["models"]
    ]


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown section: command, machine, date and one row per model."""
    m = report["machine"]
    lines = [
        f"# EZKL {EZKL_VERSION} on the reference models",
        "",
        f"- command: `{report['command']}`",
        f"- machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, {m['platform']}",
        f"- date: {m['date_utc']}",
        f'- visibility: {json.dumps(report["visibility"])}; calibration target "resources"; '
        "SRS from `ezkl.gen_srs` (local, not a ceremony)",
        "- times are the EZKL call alone (process start and import excluded); peak RSS is "
        "the phase's own child process (wait4 ru_maxrss); prove is the median of "
        f"{len(report['results'][0]['phases']['prove']['all_seconds'])} runs; CPU s is user + "
        "system time of that run; load is the 1-minute load average when it started (the "
        "machine is shared, so compare ratios taken in one run)",
        "",
        "| model | logrows | rows | setup s | prove s (runs) | prove CPU s | load | "
        "prove peak RSS MiB | verify s | pk MiB | vk KiB | proof KiB | verified |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        ph, sz, c = r["phases"], r["sizes_bytes"], r["circuit"]
        prove = ph["prove"]
        runs = ", ".join(f"{x:.1f}" for x in prove["all_seconds"])
        lines.append(
            f"| {r['model']} | {c['logrows']} | {c.get('num_rows', '?')} "
            f"| {ph['setup']['seconds']:.2f} | {prove['seconds']:.2f} ({runs}) "
            f"| {prove['process_cpu_s']:.1f} | {prove['load_before']:.1f} "
            f"| {prove['peak_rss_mib']:.0f} | {ph['verify']['seconds']:.2f} "
            f"| {sz['pk.key'] / MIB:.1f} | {sz['vk.key'] / 1024:.1f} "
            f"| {sz['proof.json'] / 1024:.1f} | {r['verified']} |"
        )
    lines += ["", "Raw results:", "", "```json", json.dumps(report, indent=1), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Benchmark EZKL on the chosen models and print (and optionally save) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="every model in the manifest")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--model", type=Path, help="an ONNX file (with --input, --calibration)")
    parser.add_argument("--input", type=Path, help='{"input": nested list} for the proof')
    parser.add_argument("--calibration", type=Path, help=".npy of calibration samples")
    parser.add_argument("--venv", type=Path, default=OUT / "ezkl-venv")
    parser.add_argument("--input-visibility", default="hashed")
    parser.add_argument("--output-visibility", default="public")
    parser.add_argument("--param-visibility", default="fixed")
    parser.add_argument("--repeats", type=int, default=1, help="prove this many times")
    add_report_options(parser)
    args = parser.parse_args(argv)
    if args.all:
        jobs = jobs_from_manifest(args.manifest)
    elif args.model and args.input and args.calibration:
        work = OUT / "ezkl" / args.model.stem
        jobs = [Job(args.model.stem, args.model.resolve(), args.input, args.calibration, work)]
    else:
        parser.error("give --all, or --model with --input and --calibration")
    visibility = {
        "input_visibility": args.input_visibility,
        "output_visibility": args.output_visibility,
        "param_visibility": args.param_visibility,
    }
    runner = Runner(ensure_ezkl(args.venv))
    report = {
        "tool": f"ezkl {EZKL_VERSION}",
        "command": " ".join([".venv/bin/python -m bench.peers.ezkl_bench", *sys.argv[1:]]),
        "machine": machine(),
        "visibility": visibility,
        "results": [bench_model(runner, job, visibility, args.repeats) for job in jobs],
    }
    emit_report(report, args, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
