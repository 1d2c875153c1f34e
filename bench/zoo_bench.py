"""The model zoo: provernet beside EZKL on the same ONNX files, accuracy included.

``python -m bench.zoo_bench [--only NAME ...] [--samples N] [--no-ezkl]
--json bench/out/zoo.json --markdown bench/results/zoo.md`` measures every model of
``devnet/models/zoo/manifest.json``:

- provernet at default options: constraints, compile seconds, the setup (its own child
  process) and a cold and a warm proof (another child, one worker per core), verified;
  and on the first N samples of the model's test split, the circuit's outputs against
  onnxruntime's (largest and mean absolute error, argmax agreement, inputs refused);
- EZKL 23.0.5 (bench/peers/ezkl_bench, its own virtualenv) on the same file: logrows,
  setup, prove, verified, and the same error figures from its own witnesses on the
  same samples; or the phase where it failed and why.

Times are wall seconds on a shared machine: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.peers.measure import PhaseFailedError, add_report_options, emit_report, machine
from bench.peers.measure import markdown_header as header
from devnet.models import zoo
from protocol.zkml import accuracy_report, compile_model

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
MANIFEST = zoo.ZOO_DIR / "manifest.json"
BACKEND = "zksnake"


def _errors(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    diff = np.abs(outputs - reference)
    agree = outputs.argmax(axis=1) == reference.argmax(axis=1)
    return {
        "max_abs_error": float(diff.max()),
        "mean_abs_error": float(diff.mean()),
        "argmax_agreement": float(agree.mean()),
    }


def _samples(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test samples shaped as the model's input, and onnxruntime's outputs."""
    x, _ = zoo.split_inputs(name)
    x = x[:n]
    data = (zoo.ZOO_DIR / f"{name}.onnx").read_bytes()
    return x, zoo.ort_outputs(data, x.reshape(len(x), *x.shape[2:]))


def measure_provernet(
    entry: dict[str, Any], x: np.ndarray, reference: np.ndarray
) -> dict[str, Any]:
    """Compile, accuracy, setup and proofs of one zoo model."""
    from bench.peers.snarkjs_bench import write_model_circuit
    from bench.prove_bench import measure_prove, measure_setup

    name = entry["name"]
    data = (zoo.ZOO_DIR / entry["file"]).read_bytes()
    calibration = np.load(zoo.ZOO_DIR / entry["calibration"]["file"])
    start = time.perf_counter()
    model = compile_model(data, calibration)
    compile_s = time.perf_counter() - start
    acc = accuracy_report(model, x, reference)
    r1cs, wtns = write_model_circuit(MANIFEST, entry, OUT / "zoo_bench" / name)
    (OUT / "prove_bench").mkdir(parents=True, exist_ok=True)  # where measure_setup keeps keys
    pk, setup = measure_setup(r1cs, BACKEND)
    proof = measure_prove(r1cs, wtns, pk, BACKEND)
    cold = sum(proof[k] for k in ("decode_pk_s", "start_workers_s", "load_bases_s", "prove_s"))
    return {
        "constraints": model.r1cs.n_constraints,
        "compile_s": round(compile_s, 3),
        "setup_s": setup["setup_s"],
        "prove_cold_s": round(cold, 3),
        "prove_warm_s": proof["warm_s"],
        "peak_rss_mib": proof["peak_rss_mib"],
        "pk_bytes": proof["pk_bytes"],
        "verified": proof["verified"],
        "max_abs_error": acc.max_abs_error,
        "mean_abs_error": acc.mean_abs_error,
        "argmax_agreement": acc.argmax_agreement,
        "refused_inputs": acc.rejected,
        "approximations": [a.method for a in model.report.approximations],
    }


def _failure(message: str) -> str:
    """The phase and the last line of its output, from a PhaseFailedError's message."""
    head, _, tail = message.partition("\n")
    words = head.split()
    phase = words[2] if len(words) > 2 else "?"
    code = head.rsplit(" exited with ", 1)[-1].rstrip(":")
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    if lines:
        return f"{phase}: {lines[-1][:300]}"
    if code in ("-9", "137"):
        return f"{phase}: killed by SIGKILL (out of memory on this machine)"
    return f"{phase}: exited with {code}"


def measure_ezkl(entry: dict[str, Any], x: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """EZKL's flow on one zoo model and its outputs on the same samples, or its failure."""
    from bench.peers import ezkl_bench as ez

    job = ez.jobs_from_manifest(MANIFEST)
    (one,) = [j for j in job if j.name == entry["name"]]
    runner = ez.Runner(ez.ensure_ezkl(OUT / "ezkl-venv"))
    visibility = {"input_visibility": "hashed", "output_visibility": "public",
                  "param_visibility": "fixed"}  # fmt: skip
    try:
        result = ez.bench_model(runner, one, visibility)
    except PhaseFailedError as exc:
        return {"failed": _failure(str(exc))}
    inputs = []
    for i, sample in enumerate(x):
        path = one.work / f"sample{i}.json"
        path.write_text(json.dumps({"input_data": [[float(v) for v in sample.ravel()]]}))
        inputs.append(str(path))
    srs = ez.OUT / "ezkl" / "srs" / f"kzg{result['circuit']['logrows']}.srs"
    got = runner.phase(
        "outputs", inputs=inputs, model=one.path("network.compiled"),
        output=one.path("sample_witness.json"), vk_path=one.path("vk.key"), srs_path=str(srs),
    )  # fmt: skip
    outputs = np.asarray(got["result"], dtype=np.float64).reshape(reference.shape)
    phases = result["phases"]
    return {
        "logrows": result["circuit"]["logrows"],
        "rows": result["circuit"].get("num_rows"),
        "setup_s": phases["setup"]["seconds"],
        "prove_s": phases["prove"]["seconds"],
        "peak_rss_mib": phases["prove"]["peak_rss_mib"],
        "pk_bytes": result["sizes_bytes"]["pk.key"],
        "verified": result["verified"],
        **_errors(outputs, reference),
    }


def _cell(value: Any, fmt: str = "") -> str:
    return "-" if value is None else format(value, fmt)


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table: one row per model and tool."""
    lines = header("The model zoo: provernet and EZKL on the same ONNX files", report)
    lines += [
        f"- accuracy: outputs on the first {report['samples']} samples of each model's test "
        "split against onnxruntime's (logits, or probabilities for the softmax and "
        "scikit-learn models); refused: inputs outside the calibrated range",
        "- provernet: default options (standard precision), Groth16 on BN254, backend "
        f"{BACKEND}, one worker per core; cold = key decode + workers + bases + proof",
        "- EZKL 23.0.5: input hashed, output public, params fixed, calibration target "
        '"resources", SRS from `ezkl.gen_srs`',
        "",
        "| model | family | tool | constraints / rows | setup s | prove s (cold / warm) "
        "| peak MiB | max abs error | mean abs error | argmax agree | verified |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        p, e = r["provernet"], r.get("ezkl")
        lines.append(
            f"| {r['model']} | {r['family']} | provernet | {p['constraints']} "
            f"| {p['setup_s']:.2f} | {p['prove_cold_s']:.2f} / {p['prove_warm_s']:.2f} "
            f"| {p['peak_rss_mib']:.0f} | {p['max_abs_error']:.4f} | {p['mean_abs_error']:.4f} "
            f"| {p['argmax_agreement']:.3f} | {p['verified']} |"
        )
        if e is None:
            continue
        if "failed" in e:
            lines.append(f"| {r['model']} | | EZKL | cannot: {e['failed']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['model']} | | EZKL | 2^{e['logrows']} ({_cell(e['rows'])} rows) "
            f"| {e['setup_s']:.2f} | {e['prove_s']:.2f} | {e['peak_rss_mib']:.0f} "
            f"| {e['max_abs_error']:.4f} | {e['mean_abs_error']:.4f} "
            f"| {e['argmax_agreement']:.3f} | {e['verified']} |"
        )
    lines += ["", "Error and time ratios (EZKL / provernet; above 1 favours provernet):", ""]
    for r in report["rows"]:
        p, e = r["provernet"], r.get("ezkl")
        if e and "failed" not in e:
            err = e["max_abs_error"] / max(p["max_abs_error"], 1e-12)
            cold = e["prove_s"] / p["prove_cold_s"]
            warm = e["prove_s"] / max(p["prove_warm_s"], 1e-9)
            lines.append(
                f"- {r['model']}: max error {err:.2f}x, prove {cold:.1f}x cold / {warm:.1f}x warm"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure the chosen zoo models and print (and optionally save) the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    entries = json.loads(MANIFEST.read_text())["models"]
    names = [e["name"] for e in entries]
    parser.add_argument("--only", nargs="+", choices=names, help="these models only")
    parser.add_argument("--samples", type=int, default=32, help="test samples for accuracy")
    parser.add_argument("--no-ezkl", action="store_true", help="provernet only")
    parser.add_argument("--render", type=Path, help="only re-render a saved JSON report")
    add_report_options(parser)
    args = parser.parse_args(argv)
    if args.render:
        emit_report(json.loads(args.render.read_text()), args, to_markdown)
        return 0
    rows = []
    for entry in entries:
        if args.only and entry["name"] not in args.only:
            continue
        x, reference = _samples(entry["name"], args.samples)
        row: dict[str, Any] = {"model": entry["name"], "family": entry["family"]}
        row["provernet"] = measure_provernet(entry, x, reference)
        if not args.no_ezkl:
            row["ezkl"] = measure_ezkl(entry, x, reference)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    command = "python -m bench.zoo_bench " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {"command": command.strip(), "machine": machine(), "samples": args.samples}
    emit_report(report | {"rows": rows}, args, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
