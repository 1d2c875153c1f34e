"""Accuracy bought by each precision preset on the reference models.

``python -m bench.precision_bench --markdown bench/results/precision.md`` compiles every
model of ``devnet/models/manifest.json`` at the ``low``, ``standard`` and ``high``
presets and reports, against onnxruntime on the model's calibration samples, the
largest and mean absolute output error and the argmax agreement, with the constraint
count. No timing: the numbers are the same on any machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.peers.measure import add_report_options, emit_report, machine, markdown_header
from protocol.zkml import PRECISIONS, CompileOptions, accuracy_report, compile_model

MODELS = Path(__file__).resolve().parents[1] / "devnet" / "models"


def _onnxruntime(data: bytes, samples: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in inp.shape]
    runs = [session.run(None, {inp.name: x.reshape(shape).astype(np.float32)})[0] for x in samples]
    return np.stack(runs).astype(np.float64)


def measure(name: str, samples: int) -> list[dict[str, Any]]:
    """One row per preset for the reference model ``name``."""
    data = (MODELS / f"{name}.onnx").read_bytes()
    cal = np.load(MODELS / f"{name}_calibration.npy")
    reference = _onnxruntime(data, cal[:samples])
    rows = []
    for preset in PRECISIONS:
        model = compile_model(data, cal, CompileOptions().with_precision(preset))
        report = accuracy_report(model, cal[:samples], reference)
        rows.append({
            "model": name, "precision": preset, "constraints": model.r1cs.n_constraints,
            "activation_bits": PRECISIONS[preset][0], "weight_bits": PRECISIONS[preset][1],
            "max_abs_error": report.max_abs_error, "mean_abs_error": report.mean_abs_error,
            "argmax_agreement": report.argmax_agreement, "samples": report.samples,
        })  # fmt: skip
    return rows


def to_markdown(report: dict[str, Any]) -> str:
    lines = markdown_header("Precision presets: error against onnxruntime", report)
    lines += [
        "- error: the circuit's dequantized outputs against onnxruntime's float outputs on "
        "the model's calibration samples",
        "",
        "| model | precision | act / weight bits | constraints | max abs error | mean abs error "
        "| argmax agreement |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['activation_bits']} / {r['weight_bits']} "
            f"| {r['constraints']} | {r['max_abs_error']:.4f} | {r['mean_abs_error']:.4f} "
            f"| {r['argmax_agreement']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64, help="samples per model")
    add_report_options(parser)
    args = parser.parse_args(argv)
    names = [m["name"] for m in json.loads((MODELS / "manifest.json").read_text())["models"]]
    rows = [row for name in names for row in measure(name, args.samples)]
    command = "python -m bench.precision_bench " + " ".join(sys.argv[1:] if argv is None else argv)
    emit_report({"command": command.strip(), "machine": machine(), "rows": rows}, args, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
