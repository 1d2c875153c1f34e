"""Gas per JobMarket function on a real anvil, against snarkjs's Solidity verifier.

``python -m bench.gas.measure`` starts anvil, deploys the contracts, and measures the
gas of createJob, awardJob, acceptJob, submitProof (1, 3 and 11 public signals), the
whole happy path, slash, a re-award (after a slash and after a lapsed award), cancelJob
and withdraw, plus the bare Groth16 check (VerifierHarness)
on provernet's own keys and proofs (protocol.groth16). For comparison it sets up the
same toy circuits with snarkjs, exports snarkjs's Solidity verifier into
``bench/out/gas/`` (GPL-3.0: generated here, never committed), compiles it with the
pinned solc and measures its ``verifyProof`` on snarkjs's proofs. All figures are
``gasUsed`` of a transaction, so each includes the 21,000 base and calldata cost.
Writes ``bench/results/gas.md`` and ``bench/out/gas/gas.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from node import tools
from node.anvil import start_anvil
from tests.contracts.chain import send, set_time
from tests.contracts.circuits import (
    ProvedCircuit,
    Snarkjs,
    prove_toy_circuit,
    snarkjs_toy_circuit,
)
from tests.contracts.deployment import Deployment, deploy_all

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out" / "gas"
RESULTS = REPO / "bench" / "results" / "gas.md"
SIGNALS = (1, 3, 11)
COMMAND = ".venv/bin/python -m bench.gas.measure"
VIEW_GAS_LIMIT = 2_000_000  # far above any verification here (11 signals: ~0.3M)
# The happy path of settlement v1 (create + award + submitProof, 3 signals), measured on
# 2026-11-21 with the same circuits and settings; v2 aims to stay within 10 % of it.
V1_HAPPY_PATH_3 = 492_794
HAPPY_PATH = ("createJob", "awardJob", "acceptJob", "submitProof")


def compile_foreign(source: Path) -> tuple[list[Any], str]:
    """Compile one generated Solidity file with the pinned solc (same settings as ours)."""
    request = {
        "language": "Solidity",
        "sources": {source.name: {"content": source.read_text()}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    proc = subprocess.run(
        [str(tools.require("solc")), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    # solcjs may print a notice line (no SMT solver) before the JSON.
    output = json.loads(proc.stdout[proc.stdout.index("{") :])
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError(errors[0]["formattedMessage"])
    (contract,) = output["contracts"][source.name].values()
    return contract["abi"], "0x" + contract["evm"]["bytecode"]["object"]


def snarkjs_verifier_gas(w3: Web3, snarkjs: Snarkjs, n_public: int, sender: str) -> int:
    """Gas of one verifyProof transaction on snarkjs's own verifier, key and proof."""
    circuit, zkey = snarkjs_toy_circuit(snarkjs, n_public, 1)
    source = OUT / f"SnarkjsVerifier{n_public}.sol"
    source.write_text(snarkjs.solidity_verifier(zkey))
    abi, bytecode = compile_foreign(source)
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    address = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender}))[
        "contractAddress"
    ]
    verifier = w3.eth.contract(address=address, abi=abi)
    (statement,) = circuit.statements
    p = statement.proof
    call = verifier.functions.verifyProof(
        [p[0], p[1]], [[p[2], p[3]], [p[4], p[5]]], [p[6], p[7]], list(statement.public)
    )
    assert call.call() is True, "snarkjs's verifier rejected snarkjs's proof"
    return _view_tx_gas(w3, call, sender)


def _view_tx_gas(w3: Web3, call: Any, sender: str) -> int:
    """Gas of a verifying view sent as a transaction, with a generous explicit limit.

    A verifier returns false (rather than reverting) when the pairing precompile runs out
    of gas, so web3's gas estimate would settle on a limit at which verification fails.
    """
    receipt = w3.eth.wait_for_transaction_receipt(
        call.transact({"from": sender, "gas": VIEW_GAS_LIMIT})
    )
    return _gas(receipt)


def _gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def market_gas(d: Deployment, n: int) -> dict[str, int]:
    """Gas of each market call for the n-signal model, measured on a second job (warm accounts)."""
    ours = d.circuits[n].statements
    # Warm-up: this model's first job (for the first model, also bob's and alice's first).
    first = _gas(d.submit(_accepted(d, n), ours[0], d.bob))
    result: dict[str, int] = {"submitProof (model's first job)": first}
    job_id = d.create_job(n, 1)
    result["createJob"] = _gas(_last_receipt(d))
    result["awardJob"] = _gas(d.award(job_id, d.bob))
    result["acceptJob"] = _gas(d.accept(job_id, d.bob))
    result["submitProof"] = _gas(d.submit(job_id, ours[1], d.bob))
    result["happy path (create + award + accept + submitProof)"] = sum(
        result[name] for name in HAPPY_PATH
    )
    key = d.registry.functions.getModel(d.models[n]).call()[4]
    harness = d.harness.functions.verify(
        key, list(ours[1].proof), ours[1].commitment, ours[1].outputs
    )
    assert harness.call() is True
    result["verify (bare, VerifierHarness)"] = _view_tx_gas(d.w3, harness, d.dave.address)
    return result


def _accepted(d: Deployment, n: int, statement: int = 0) -> int:
    job_id = d.create_job(n, statement)
    d.accepted(job_id, d.bob)
    return job_id


def _last_receipt(d: Deployment) -> Any:
    block = d.w3.eth.get_block("latest")
    return d.w3.eth.get_transaction_receipt(block["transactions"][-1])


def settlement_gas(d: Deployment) -> dict[str, int]:
    """Gas of slash, re-awards, cancels and withdraw on the 3-signal model."""
    result: dict[str, int] = {}
    slashed = _accepted(d, 3)
    set_time(d.w3, int(d.job(slashed)["deadline"]) + 1)
    result["slash"] = _gas(send(d.w3, d.market.functions.slash(slashed), d.dave.address))
    result["awardJob (re-award after a slash)"] = _gas(d.award(slashed, d.carol))
    lapsed = d.create_job(3, 0)
    d.award(lapsed, d.bob)
    set_time(d.w3, int(d.job(lapsed)["deadline"]) + 1)
    result["awardJob (re-award after a lapse)"] = _gas(d.award(lapsed, d.carol))
    cancelled = d.create_job(3, 0)
    cancel = d.market.functions.cancelJob(cancelled)
    result["cancelJob (open)"] = _gas(send(d.w3, cancel, d.alice.address))
    set_time(d.w3, int(d.job(lapsed)["deadline"]) + 1)
    cancel = d.market.functions.cancelJob(lapsed)
    result["cancelJob (lapsed award)"] = _gas(send(d.w3, cancel, d.alice.address))
    result["withdraw"] = _gas(send(d.w3, d.market.functions.withdraw(), d.alice.address))
    return result


def measure() -> dict[str, Any]:
    """Run every measurement; returns the raw results."""
    OUT.mkdir(parents=True, exist_ok=True)
    circuits: dict[int, ProvedCircuit] = {n: prove_toy_circuit(n, 2) for n in SIGNALS}
    snarkjs = Snarkjs(OUT)
    with start_anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        d = deploy_all(w3, circuits)
        per_signals = {}
        for n in SIGNALS:
            row = market_gas(d, n)
            row["snarkjs verifyProof"] = snarkjs_verifier_gas(w3, snarkjs, n, d.dave.address)
            per_signals[n] = row
        settlement = settlement_gas(d)
        sizes = {
            name: _code_size(w3, c)
            for name, c in (
                ("ModelRegistry", d.registry),
                ("ProverStaking", d.staking),
                ("JobMarket", d.market),
            )
        }
    return {"per_signals": per_signals, "settlement": settlement, "code_bytes": sizes}


def _code_size(w3: Web3, contract: Contract) -> int:
    return len(w3.eth.get_code(contract.address))


def markdown(results: dict[str, Any], date: str) -> str:
    """The results file."""
    per = results["per_signals"]
    lines = [
        "# Gas of the settlement contracts",
        "",
        f"- command: `{COMMAND}`",
        f"- date: {date}",
        "- chain: anvil 1.7.1 (its default hardfork; EIP-196/197 prices as in cancun), bytecode",
        "  by solc 0.8.28 for cancun, optimizer 200 runs",
        "- every figure is a transaction's `gasUsed` (21,000 base and calldata included)",
        "- circuits: tests/contracts/circuits.py toy circuits with 1, 3 and 11 public signals;",
        "  ours are proved by protocol.groth16, snarkjs's verifier checks snarkjs's own key and",
        "  proof of the same circuit and witness (like for like)",
        "- market calls are measured on a model's second job; the first job of the 1-signal",
        "  model is also the first of its requester and prover, whose account slots go from",
        "  zero to non-zero (22,100 instead of 5,000 gas each, EIP-2200/2929)",
        "",
        "| call | " + " | ".join(f"{n} signal{'s' if n > 1 else ''}" for n in SIGNALS) + " |",
        "|---|" + "---|" * len(SIGNALS),
    ]
    for name in per[SIGNALS[0]]:
        lines.append(f"| {name} | " + " | ".join(f"{per[n][name]:,}" for n in SIGNALS) + " |")
    over = [per[n]["submitProof"] - per[n]["snarkjs verifyProof"] for n in SIGNALS]
    lines.append(
        "| submitProof minus snarkjs verifyProof | " + " | ".join(f"{o:+,}" for o in over) + " |"
    )
    happy = per[3]["happy path (create + award + accept + submitProof)"]
    lines += [
        "",
        f"Happy path at 3 signals: {happy:,} gas against settlement v1's {V1_HAPPY_PATH_3:,}"
        f" (create + award + submitProof): {100 * (happy / V1_HAPPY_PATH_3 - 1):+.1f} %"
        " (target: at most +10 %).",
    ]
    lines += ["", "| call (3 signals where it matters) | gas |", "|---|---|"]
    lines += [f"| {name} | {gas:,} |" for name, gas in results["settlement"].items()]
    lines += [
        "",
        "Deployed code size (bytes): "
        + ", ".join(f"{k} {v:,}" for k, v in results["code_bytes"].items()),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Measure, then write the markdown and JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = measure()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    (OUT / "gas.json").write_text(json.dumps(results, indent=1) + "\n")
    args.results.write_text(markdown(results, date))
    print(args.results.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
