"""Phase-1 preparation speed: provernet's ``ceremony ptau prepare`` beside snarkjs's
``powersoftau prepare phase2`` on the same unprepared files (snarkjs's own phase 1:
``powersoftau new``, one contribution).

Every run is a whole child process (start-up and file I/O included). snarkjs is run up
to ``--snarkjs-max-power`` only: its time grows past half an hour at 2^16.

    .venv/bin/python -m bench.ptau_prepare_bench --powers 10 12 14 16 \\
        --snarkjs-max-power 14 --markdown bench/results/ptau-prepare.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.peers.measure import (
    add_report_options,
    emit_report,
    machine,
    markdown_header,
    run_measured,
)
from bench.peers.snarkjs_bench import Snarkjs

OUT = Path(__file__).resolve().parent / "out" / "ptau-prepare"
PYTHON = sys.executable


def _ours(raw: Path, out: Path) -> dict[str, Any]:
    return run_measured([PYTHON, "-m", "node.cli", "ceremony", "ptau", "prepare", str(raw),
                         "--out", str(out), "--force"]).timing()  # fmt: skip


def bench_power(snarkjs: Snarkjs, power: int, snarkjs_max: int) -> dict[str, Any]:
    """Both preparations of one unprepared file of ``power``; whether their bytes agree."""
    folder = OUT / f"pot{power}"
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "raw.ptau"
    if not raw.exists():
        snarkjs.run("powersoftau", "new", "bn128", str(power), folder / "p0.ptau")
        snarkjs.run("powersoftau", "contribute", folder / "p0.ptau", raw, "--name=bench",
                    "-e=provernet bench entropy")  # fmt: skip
    result: dict[str, Any] = {"power": power, "ours": _ours(raw, folder / "ours.ptau")}
    if power <= snarkjs_max:
        step = snarkjs.run("powersoftau", "prepare", "phase2", raw, folder / "theirs.ptau")
        result["snarkjs"] = {k: v for k, v in step.items() if k != "stdout"}
        ours, theirs = (folder / "ours.ptau").read_bytes(), (folder / "theirs.ptau").read_bytes()
        result["identical"] = ours == theirs
    return result


def to_markdown(report: dict[str, Any]) -> str:
    """The report as the results file shows it."""
    lines = [
        *markdown_header(
            "Phase-1 preparation (Lagrange bases): provernet beside snarkjs 0.7.6", report
        ),
        "- each time is a whole child process; ratios are provernet's time over snarkjs's in "
        "the same run; 'identical' compares the two prepared files byte for byte",
        "",
        "| power | provernet s | snarkjs s | ratio | identical | provernet peak MiB |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        ours, theirs = r["ours"], r.get("snarkjs")
        snark = f"{theirs['seconds']:.1f}" if theirs else "not run"
        ratio = f"{ours['seconds'] / theirs['seconds']:.2f}" if theirs else ""
        same = str(r["identical"]) if theirs else ""
        lines.append(f"| 2^{r['power']} | {ours['seconds']:.1f} | {snark} | {ratio} | {same} "
                     f"| {ours['peak_rss_mib']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--powers", type=int, nargs="+", default=[10, 12])
    parser.add_argument("--snarkjs-max-power", type=int, default=12)
    add_report_options(parser)
    args = parser.parse_args(argv)
    snarkjs = Snarkjs()
    report: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m bench.ptau_prepare_bench", *argv]),
        "machine": machine(),
        "results": [bench_power(snarkjs, p, args.snarkjs_max_power) for p in args.powers],
    }
    emit_report(report, args, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
