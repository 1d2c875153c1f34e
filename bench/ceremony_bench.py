"""Phase-2 ceremony speed: provernet's setup, contribution, beacon and verification
beside snarkjs's ``groth16 setup``, ``zkey contribute`` and ``zkey verify`` on the same
files (a chained-squares circuit and a phase-1 file provernet writes).

Every phase runs as its own child process (``bench.peers.measure``), so each time
includes the process start and the file reads and writes, as a user's command would.

    .venv/bin/python -m bench.ceremony_bench --constraints 4000 16000 \\
        --contributions 5 --markdown bench/results/ceremony.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from bench.peers.measure import (
    MIB,
    add_report_options,
    emit_report,
    machine,
    markdown_header,
    run_measured,
)
from bench.peers.snarkjs_bench import Snarkjs, write_synthetic

OUT = Path(__file__).resolve().parent / "out" / "ceremony"
PYTHON = sys.executable


def _phase(argv: list[str]) -> int:
    """One measured phase, run in this child process."""
    from node.parallel import ceremony_backend
    from protocol.groth16 import phase2
    from protocol.groth16.ptau import Phase1Secret, PowersOfTau, check_powers, new_powers_of_tau
    from protocol.groth16.zkey import zkey_from_bytes, zkey_to_bytes
    from protocol.r1cs.binfmt import r1cs_from_bytes

    name, *paths = argv
    if name == "ptau":
        power, out = int(paths[0]), Path(paths[1])
        out.write_bytes(new_powers_of_tau(power, Phase1Secret.from_entropy(os.urandom(64))))
    elif name == "check-ptau":
        ptau = PowersOfTau(Path(paths[0]).read_bytes())
        check_powers(ptau, seed=os.urandom(32), lagrange_sizes=[int(paths[1])])
    elif name == "setup":
        r1cs = r1cs_from_bytes(Path(paths[0]).read_bytes())
        ptau = PowersOfTau(Path(paths[1]).read_bytes())
        Path(paths[2]).write_bytes(
            zkey_to_bytes(phase2.initial_zkey(r1cs, ptau, backend=ceremony_backend()))
        )
    elif name == "contribute":
        key = zkey_from_bytes(Path(paths[0]).read_bytes())
        out_key = phase2.contribute(key, os.urandom(64), name="bench", backend=ceremony_backend())
        Path(paths[1]).write_bytes(zkey_to_bytes(out_key))
    elif name == "beacon":
        key = zkey_from_bytes(Path(paths[0]).read_bytes())
        beacon = hashlib.sha256(b"bench beacon").digest()
        Path(paths[1]).write_bytes(
            zkey_to_bytes(phase2.beacon(key, beacon, 10, backend=ceremony_backend()))
        )
    elif name == "verify":
        r1cs = r1cs_from_bytes(Path(paths[0]).read_bytes())
        ptau = PowersOfTau(Path(paths[1]).read_bytes())
        key = zkey_from_bytes(Path(paths[2]).read_bytes())
        phase2.verify_zkey(key, r1cs, ptau, seed=os.urandom(32), backend=ceremony_backend())
    else:
        raise SystemExit(f"unknown phase {name!r}")
    return 0


def _ours(*args: str | Path) -> dict[str, Any]:
    return run_measured([PYTHON, "-m", "bench.ceremony_bench", "--phase", *map(str, args)]).timing()


def _strip(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if k != "stdout"}


def bench_size(snarkjs: Snarkjs, n_constraints: int, contributions: int) -> dict[str, Any]:
    """Every phase at one circuit size."""
    folder = OUT / f"chain{n_constraints}"
    r1cs, _ = write_synthetic(n_constraints, folder)
    domain = 1 << (n_constraints + 2 - 1).bit_length()  # constraints + public rows
    power = domain.bit_length() - 1 + (1 if domain > 1 << 14 else 0)
    ptau = folder / f"pot{power}.ptau"
    result: dict[str, Any] = {"constraints": n_constraints, "domain": domain, "power": power}
    result["ptau_new"] = _ours("ptau", power, ptau)
    result["ptau_check"] = _ours("check-ptau", ptau, domain)
    keys = [folder / "c0000.zkey"]
    result["setup"] = _ours("setup", r1cs, ptau, keys[0])
    result["snarkjs_setup"] = _strip(snarkjs.run("groth16", "setup", r1cs, ptau, folder / "s.zkey"))
    result["contribute"] = []
    for i in range(1, contributions + 1):
        keys.append(folder / f"c{i:04d}.zkey")
        result["contribute"].append(_ours("contribute", keys[-2], keys[-1]))
    final = folder / "final.zkey"
    result["beacon"] = _ours("beacon", keys[-1], final)
    result["verify"] = _ours("verify", r1cs, ptau, final)
    result["snarkjs_contribute"] = _strip(snarkjs.run(
        "zkey", "contribute", keys[-1], folder / "snarkjs_next.zkey", "--name=bench",
        "-e=provernet-bench",
    ))  # fmt: skip
    result["snarkjs_verify"] = _strip(snarkjs.run("zkey", "verify", r1cs, ptau, final))
    result["zkey_mib"] = round(final.stat().st_size / MIB, 2)
    return result


def to_markdown(report: dict[str, Any]) -> str:
    """The report as the results file shows it."""
    lines = [
        *markdown_header("Phase-2 ceremony: provernet beside snarkjs 0.7.6", report),
        "- each time is a whole child process (start-up and file I/O included); ratios are "
        "provernet's time over snarkjs's in the same run (the machine is shared: load is "
        "the 1-minute load average when the step started)",
        f"- verify is the whole transcript: {report['contributions']} contributions and a "
        "beacon, every point checked by random linear combinations",
        "",
        "| constraints (domain) | setup s (snarkjs) | contribute s, median (snarkjs) "
        "| verify s (snarkjs) | verify ratio | phase-1 new s | phase-1 check s | zkey MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        contrib = sorted(c["seconds"] for c in r["contribute"])[len(r["contribute"]) // 2]
        lines.append(
            f"| {r['constraints']:,} (2^{r['domain'].bit_length() - 1}) "
            f"| {r['setup']['seconds']:.1f} ({r['snarkjs_setup']['seconds']:.1f}) "
            f"| {contrib:.1f} ({r['snarkjs_contribute']['seconds']:.1f}) "
            f"| {r['verify']['seconds']:.1f} ({r['snarkjs_verify']['seconds']:.1f}) "
            f"| {r['verify']['seconds'] / r['snarkjs_verify']['seconds']:.2f} "
            f"| {r['ptau_new']['seconds']:.1f} | {r['ptau_check']['seconds']:.1f} "
            f"| {r['zkey_mib']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --phase, one phase of it)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phase"]:
        return _phase(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=int, nargs="+", default=[4000])
    parser.add_argument("--contributions", type=int, default=5)
    add_report_options(parser)
    args = parser.parse_args(argv)
    snarkjs = Snarkjs()
    report: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m bench.ceremony_bench", *argv]),
        "machine": machine(),
        "contributions": args.contributions,
        "results": [bench_size(snarkjs, n, args.contributions) for n in args.constraints],
    }
    emit_report(report, args, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
