"""provernet's Groth16 (pure and native backends) against snarkjs and EZKL.

``python -m bench.prove_bench`` benches, in one run, the reference models of
``devnet/models/manifest.json`` (compiled by provernet's zkML compiler) and
chained-squares circuits of 2^12, 2^14 and 2^16 domain rows (``--synthetic``
overrides the powers): provernet with each backend (``pure``, ``zksnake``),
snarkjs 0.7.6 ``groth16 setup``/``prove`` on the same ``.r1cs``/``.wtns`` files
(bench/peers/snarkjs_bench), and EZKL's figures on the same ONNX files from
``bench/out/peers-ezkl.json`` (bench/peers/ezkl_bench, its own earlier run: EZKL
takes minutes per model). Every provernet measurement runs in its own child
process, setup (``--setup``, once per circuit: the key does not depend on the
backend) apart from proving (``--prove``), with a ``ProverPool`` of one worker
per core; peak RSS is the sum of the child's and each worker's own peak (VmHWM).
Results go to ``bench/results/proving.md`` after every circuit, so a run cut short
keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.peers.measure import MIB, PhaseFailedError, machine, run_measured
from node.proving import ProverPool, default_workers
from protocol.bn254.backend import available_backends
from protocol.groth16.keys import proving_key_from_bytes, proving_key_to_bytes
from protocol.groth16.setup import ToxicWaste
from protocol.groth16.verify import verify
from protocol.r1cs.binfmt import r1cs_from_bytes, r1cs_to_bytes, wtns_from_bytes, wtns_to_bytes
from protocol.r1cs.system import ConstraintSystem, LinearCombination, R

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"  # as bench.peers.snarkjs_bench, imported only where needed:
# it pulls in the zkML compiler (onnx, numpy), which a proving child would carry in its RSS
MANIFEST = REPO / "devnet" / "models" / "manifest.json"
EZKL_JSON = OUT / "peers-ezkl.json"
RESULTS = REPO / "bench" / "results" / "proving.md"
ENTROPY = b"provernet-bench-fixed-entropy..."  # timing only: reproducibility beats secrecy
R_BENCH, S_BENCH = 0xBE7C1, 0xBE7C2  # fixed randomisers: timing only


def write_chain(power: int, folder: Path) -> tuple[Path, Path]:
    """Chained squares ``x_{i+1} = x_i^2 + i`` filling a 2^power domain (one public output)."""
    n = (1 << power) - 2  # the QAP adds one row per public signal and one for the one-wire
    cs = ConstraintSystem()
    out, x = cs.alloc_public(), cs.alloc_private_input()
    values = {0: 1, x: 3}
    for i in range(n - 1):
        nxt = cs.alloc()
        values[nxt] = (values[x] * values[x] + i) % R
        cs.enforce(
            LinearCombination.wire(x), LinearCombination.wire(x), LinearCombination.wire(nxt) - i
        )
        x = nxt
    values[out] = values[x]
    cs.enforce_equal(LinearCombination.wire(x), LinearCombination.wire(out))
    r1cs = cs.finish()
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / f"chain2e{power}.r1cs", folder / f"chain2e{power}.wtns"
    paths[0].write_bytes(r1cs_to_bytes(r1cs))
    paths[1].write_bytes(wtns_to_bytes([values[w] for w in range(r1cs.n_wires)]))
    return paths


def one_setup(r1cs_path: Path, pk_path: Path, backend: str) -> dict[str, Any]:
    """The setup of one circuit; the proving key goes to ``pk_path``."""
    r1cs = r1cs_from_bytes(r1cs_path.read_bytes())
    with ProverPool(backend, workers=default_workers()) as pool:
        start = time.perf_counter()
        pk = pool.setup(r1cs, ToxicWaste.from_entropy(ENTROPY))
        setup_s = time.perf_counter() - start
        peak = pool.peak_rss_mib()
    pk_path.write_bytes(proving_key_to_bytes(pk))
    return {"setup_s": round(setup_s, 3), "setup_peak_rss_mib": peak}


def one_prove(r1cs_path: Path, wtns_path: Path, pk_path: Path, backend: str) -> dict[str, Any]:
    """A cold proof (decode the key, start the workers, load its bases, prove), then a warm one."""
    r1cs = r1cs_from_bytes(r1cs_path.read_bytes())
    witness = wtns_from_bytes(wtns_path.read_bytes())
    times: dict[str, float] = {}
    start = time.perf_counter()
    pk = proving_key_from_bytes(pk_path.read_bytes())
    vk, pk_n_public = pk.vk, r1cs.n_public_total
    times["decode_pk_s"] = time.perf_counter() - start
    start = time.perf_counter()
    with ProverPool(backend, workers=default_workers()) as pool:
        times["start_workers_s"] = time.perf_counter() - start
        start = time.perf_counter()
        pool.prepare("bench", pk, r1cs)
        times["load_bases_s"] = time.perf_counter() - start
        domain = pk.domain_size
        del pk  # as `circuit prove` does: the workers hold the points
        start = time.perf_counter()
        proof = pool.prove("bench", witness, R_BENCH, S_BENCH)
        times["prove_s"] = time.perf_counter() - start
        start = time.perf_counter()
        pool.prove("bench", witness, S_BENCH, R_BENCH)
        times["prove_again_s"] = time.perf_counter() - start
        start = time.perf_counter()  # the hybrid backend converts G2 bases at their 2nd use
        pool.prove("bench", witness, R_BENCH, R_BENCH)
        times["warm_s"] = time.perf_counter() - start
        workers, peak = pool.workers, pool.peak_rss_mib()
    return {
        "backend": backend,
        "constraints": r1cs.n_constraints,
        "domain": domain,
        "workers": workers,
        **{k: round(v, 3) for k, v in times.items()},
        "pk_bytes": pk_path.stat().st_size,
        "peak_rss_mib": peak,
        "verified": verify(vk, witness[1 : 1 + pk_n_public], proof),
    }


def measure_setup(r1cs: Path, backend: str) -> tuple[Path, dict[str, Any]]:
    """The setup in its own child process; the key is the same whichever backend proves."""
    pk = OUT / "prove_bench" / f"{r1cs.stem}.pk"
    child = [sys.executable, "-m", "bench.prove_bench"]
    setup_run = run_measured([*child, "--setup", str(r1cs), str(pk), backend], cwd=REPO)
    return pk, json.loads(setup_run.stdout)


def measure_prove(r1cs: Path, wtns: Path, pk: Path, backend: str) -> dict[str, Any]:
    """Proving in its own child process (peak RSS of that process and its workers)."""
    child = [sys.executable, "-m", "bench.prove_bench"]
    prove_run = run_measured([*child, "--prove", str(r1cs), str(wtns), str(pk), backend], cwd=REPO)
    return dict(json.loads(prove_run.stdout))


def _ezkl_figures() -> dict[str, dict[str, Any]]:
    if not EZKL_JSON.exists():
        return {}
    report = json.loads(EZKL_JSON.read_text())
    return {
        r["model"]: {
            "prove_s": r["phases"]["prove"]["seconds"],
            "setup_s": r["phases"]["setup"]["seconds"],
            "peak_rss_mib": r["phases"]["prove"]["peak_rss_mib"],
            "pk_bytes": r["sizes_bytes"].get("pk.key"),
            "date": report["machine"]["date_utc"],
        }
        for r in report["results"]
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def to_markdown(report: dict[str, Any]) -> str:
    """The table of the issue, ratios against the native backend, and the raw JSON."""
    m = report["machine"]
    lines = [
        "# Groth16 proving: provernet (pure, native) against snarkjs and EZKL",
        "",
        f"- command: `{report['command']}`",
        f"- machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, {m['platform']}",
        f"- date: {m['date_utc']}; EZKL figures: {report.get('ezkl_date', '-')} "
        "(bench/peers/ezkl_bench)",
        "- prove s: provernet's third proof with the key's bases loaded (warm) and "
        "decode + start workers + load + prove (cold, what `provernet circuit prove` does); "
        "snarkjs's `groth16 prove` process (reads the zkey each time); EZKL's prove call",
        "- peak RSS: provernet's driver plus each of its workers (sum of VmHWM), snarkjs's "
        "prove process, EZKL's prove process; the machine is shared, so compare the ratios "
        "of one run",
        "",
        "| circuit | constraints | tool | setup s | prove s (warm) | prove s (cold) "
        "| peak RSS MiB | pk MiB | verified |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        pk = row.get("pk_bytes")
        lines.append(
            f"| {row['circuit']} | {row['constraints']} | {row['tool']}"
            f" | {_fmt(row.get('setup_s'))} | {_fmt(row.get('warm_s'))}"
            f" | {_fmt(row.get('cold_s'))}"
            f" | {_fmt(row.get('peak_rss_mib'))} | {_fmt(pk / MIB if pk else None)}"
            f" | {_fmt(row.get('verified'))} |"
        )
    lines += ["", "Ratios (peer's prove time / provernet's; provernet's peak RSS / peer's):", ""]
    lines += [f"- {text}" for text in report["ratios"]]
    lines += ["", "Raw results:", "", "```json", json.dumps(report, indent=1), "```", ""]
    return "\n".join(lines)


def _rows_for(name: str, r1cs: Path, wtns: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from bench.peers.snarkjs_bench import PTAU_DIR, Snarkjs, bench_circuit, ptau_power, r1cs_counts

    rows = []
    pk, setup = measure_setup(r1cs, args.backends[0])
    for backend in args.backends:
        got = measure_prove(r1cs, wtns, pk, backend) | setup
        cold = sum(got[k] for k in ("decode_pk_s", "start_workers_s", "load_bases_s", "prove_s"))
        rows.append(
            {"circuit": name, "tool": f"provernet {backend}", "cold_s": round(cold, 3), **got}
        )
    power = ptau_power(r1cs_counts(r1cs))
    if not (PTAU_DIR / f"pot{power}_final.json").exists():
        # Preparing powers of tau takes tens of minutes here and bench/peers owns that
        # cache: measure snarkjs only where a prepared file is already there.
        print(f"{name}: no prepared ptau 2^{power}; snarkjs skipped", file=sys.stderr)
    elif not args.no_snarkjs:
        try:
            s = bench_circuit(Snarkjs(), r1cs, wtns, OUT / "prove_bench" / r1cs.stem, repeats=1)
        except PhaseFailedError as exc:
            print(f"{name}: snarkjs failed: {exc}", file=sys.stderr)
            return rows
        rows.append(
            {
                "circuit": name,
                "tool": "snarkjs",
                "constraints": s["circuit"]["constraints"],
                "setup_s": s["steps"]["groth16_setup"]["seconds"]
                + s["steps"]["zkey_contribute"]["seconds"],
                "cold_s": s["steps"]["groth16_prove"]["seconds"],
                "peak_rss_mib": s["steps"]["groth16_prove"]["peak_rss_mib"],
                "pk_bytes": s["sizes_bytes"]["zkey"],
                "verified": s["verified"],
                "ptau_power": s["ptau_power"],
            }
        )
    return rows


def _ratios(rows: list[dict[str, Any]]) -> list[str]:
    """Each peer's proving time over provernet's best warm and best cold, and RSS ratios."""
    out = []
    for circuit in dict.fromkeys(r["circuit"] for r in rows):
        ours = [r for r in rows if r["circuit"] == circuit and r["tool"].startswith("provernet")]
        if not ours:
            continue
        warm = min(ours, key=lambda r: r["warm_s"])
        cold = min(ours, key=lambda r: r["cold_s"])
        for peer in [r for r in rows if r["circuit"] == circuit and r not in ours]:
            out.append(
                f"{circuit}: {peer['tool']} prove {peer['cold_s']:.2f} s = "
                f"{peer['cold_s'] / warm['warm_s']:.1f}x provernet warm ({warm['tool']}), "
                f"{peer['cold_s'] / cold['cold_s']:.1f}x provernet cold ({cold['tool']}); "
                f"provernet peak RSS / {peer['tool']}'s: "
                f"{warm['peak_rss_mib'] / peer['peak_rss_mib']:.2f} ({warm['tool']}), "
                f"{cold['peak_rss_mib'] / peer['peak_rss_mib']:.2f} ({cold['tool']})"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--setup``/``--prove``, one provernet phase as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", nargs=3, metavar=("R1CS", "PK", "BACKEND"))
    parser.add_argument("--prove", nargs=4, metavar=("R1CS", "WTNS", "PK", "BACKEND"))
    parser.add_argument("--synthetic", type=int, nargs="*", default=[12, 14, 16], metavar="K")
    parser.add_argument("--no-models", action="store_true")
    parser.add_argument("--no-snarkjs", action="store_true")
    parser.add_argument("--backends", nargs="*", default=available_backends())
    parser.add_argument("--markdown", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.setup:
        print(json.dumps(one_setup(Path(args.setup[0]), Path(args.setup[1]), args.setup[2])))
        return 0
    if args.prove:
        r1cs, wtns, pk = map(Path, args.prove[:3])
        print(json.dumps(one_prove(r1cs, wtns, pk, args.prove[3])))
        return 0
    ezkl = _ezkl_figures()
    report: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m bench.prove_bench", *sys.argv[1:]]),
        "machine": machine(),
        "ezkl_date": next(iter(ezkl.values()), {}).get("date"),
        "rows": [],
        "ratios": [],
    }
    circuits = [] if args.no_models else _models()
    circuits += [(f"chain 2^{k}", *write_chain(k, OUT / "prove_bench")) for k in args.synthetic]
    for name, r1cs, wtns in circuits:
        rows = _rows_for(name, r1cs, wtns, args)
        if name in ezkl:
            rows.append({"circuit": name, "tool": "EZKL", "constraints": "-", **ezkl[name]})
            rows[-1]["cold_s"] = rows[-1].pop("prove_s")
        report["rows"] += rows
        report["ratios"] = _ratios(report["rows"])
        args.markdown.write_text(to_markdown(report))
        print(f"done: {name}", file=sys.stderr, flush=True)
    return 0


def _models() -> list[tuple[str, Path, Path]]:
    from bench.peers.snarkjs_bench import write_model_circuit

    entries = json.loads(MANIFEST.read_text())["models"]
    folder = OUT / "prove_bench" / "models"
    return [(e["name"], *write_model_circuit(MANIFEST, e, folder)) for e in entries]


if __name__ == "__main__":
    raise SystemExit(main())
