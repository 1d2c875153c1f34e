"""``devnet demo``: one job end to end on the devnet, with the money shown.

Node 0 submits a job for the demo model with the sample input shipped beside it
(the first image of the digits test split); the bids are printed as they arrive,
then the winner and its fee, the proving time (from the input's delivery to the
accepted proof), the transactions, the output and the predicted digit (with
``--reveal argmax``, the demo model registered to make only the class public, and the
class it revealed). Both sides
withdraw what JobMarket owes them; once they have, a table shows every node's
ETH and JobMarket balance before and after, and the gas each node paid meanwhile.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from web3 import Web3

from devnet.state import DevnetState
from node.api.client import ApiClient, ClientError
from node.chain.amounts import format_amount
from node.chain.contracts import load_artifact
from node.chain.deploy import Deployment
from node.chain.rpc import connect
from node.exit_codes import FAILED, OK, UNAVAILABLE, CliError
from node.human import moment, span
from node.model_io import read_input

MAX_FEE = "0.02eth"
# Time to the proof deadline: bids close about 22 s after the job is created
# (node.engine.requester_acts: a quarter of it), proving digits_mlp takes seconds.
DEADLINE = "90s"
SETTLED = ("proven",)
# Prover and requester withdraw from JobMarket a block or two after the proof.
WITHDRAW_TIMEOUT_S = 60.0

Report = Callable[[str], None]


def run(directory: Path, *, as_json: bool, reveal: str = "logits") -> int:
    """Run the demo job on the devnet in ``directory``; OK if it settled. With a ``reveal``
    other than logits the job goes to the demo model registered to make only that public
    (registered on first use)."""
    state = DevnetState.load(directory)
    report: Report = (lambda _line: None) if as_json else print
    if reveal != "logits":
        from devnet import orchestrate

        model = orchestrate.revealing_model(directory, state, reveal, report)
        state = dataclasses.replace(state, model=model)
    w3 = connect(state.rpc_url, expected_chain_id=state.chain_id)
    market = _market(w3, state)
    names = {str(Web3.to_checksum_address(n.address)): n.name for n in state.nodes}
    start_block = int(w3.eth.block_number)
    before = _balances(w3, market, state)
    job, timeline = _submit_and_follow(state, names, report)
    settled = job["state"] in SETTLED
    if settled:
        _wait_withdrawn(market, [state.requester.address, str(job["prover"])])
    after = _balances(w3, market, state)
    gas = _gas_paid(w3, start_block, int(w3.eth.block_number), set(names))
    summary = _summary(state, job, timeline, before, after, gas)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary, names)
    return OK if settled else FAILED


def _market(w3: Web3, state: DevnetState) -> Any:
    address = Deployment.from_json(state.deployment).address("JobMarket")
    return w3.eth.contract(address=address, abi=list(load_artifact("JobMarket").abi))


def _balances(w3: Web3, market: Any, state: DevnetState) -> dict[str, tuple[int, int]]:
    """(ETH, JobMarket withdrawable) of each node, by address."""
    return {
        n.address: (
            int(w3.eth.get_balance(Web3.to_checksum_address(n.address))),
            int(market.functions.balanceOf(Web3.to_checksum_address(n.address)).call()),
        )
        for n in state.nodes
    }


def _client(state: DevnetState) -> ApiClient:
    try:
        return ApiClient.for_home(Path(state.requester.home), timeout_s=120)
    except ClientError as exc:
        raise CliError(f"{exc} (is the devnet up? `provernet devnet status`)", UNAVAILABLE) from exc


def _submit_and_follow(
    state: DevnetState, names: Mapping[str, str], report: Report
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit the demo job and print its events until it ends; the job and a timeline."""
    values, _ = read_input(Path(str(state.model["input"])))
    client = _client(state)
    # The requester contributed to the model's ceremony: it trusts nobody for the setup.
    body = {"model": state.model["name"], "input": values.tolist(), "max_fee": MAX_FEE,
            "deadline": DEADLINE, "require_own_contribution": True}  # fmt: skip
    ceremony = state.model.get("ceremony") or {}
    if ceremony:
        who = [names.get(Web3.to_checksum_address(a), a) for a in ceremony["contributors"]]
        report(f"model {state.model['name']}: key from ceremony {ceremony['id']}, verified; "
               f"contributors {', '.join(who)} (the requester among them)")  # fmt: skip
    started = time.monotonic()
    timeline: dict[str, Any] = {"bids": [], "states": {}}
    try:
        job = client.post("/jobs", body)
        windows = (span(job["bid_deadline"] - job["created_at"]), span(job["accept_window"]),
                   span(job["proof_window"]))  # fmt: skip
        report(f"submitted job {job['id']} for model {state.model['name']} (max fee {MAX_FEE}, "
               "bids for {}, accept within {}, prove within {})".format(*windows))  # fmt: skip
        while True:
            for event in client.watch(f"/jobs/{job['id']}/events"):
                _record(event, round(time.monotonic() - started, 2), timeline, names, report)
            job = client.get(f"/jobs/{job['id']}")
            if job.get("replaced_by") is None:
                return job, timeline
            report(f"job {job['id']} was resubmitted as job {job['replaced_by']}")
            job = client.get(f"/jobs/{job['replaced_by']}")
    except ClientError as exc:
        raise CliError(f"the requester node failed: {exc}", FAILED) from exc


def _record(
    event: Mapping[str, Any],
    at: float,
    timeline: dict[str, Any],
    names: Mapping[str, str],
    report: Report,
) -> None:
    kind = event.get("kind")
    if kind == "bid":
        prover = Web3.to_checksum_address(str(event["prover"]))
        timeline["bids"].append({"at_s": at, "prover": prover, "fee": str(event["fee"]),
                                 "reason": event.get("reason")})  # fmt: skip
        refused = f" (refused: {event['reason']})" if event.get("reason") else ""
        report(f"{at:7.2f} s  bid from {names.get(prover, prover)}: "
               f"{format_amount(int(event['fee']))}{refused}")  # fmt: skip
    elif kind == "state":
        timeline["states"].setdefault(str(event["state"]), at)
        report(f"{at:7.2f} s  job {event['state']}")
    elif kind == "result":
        report(f"{at:7.2f} s  result on-chain (tx {event.get('tx')})")
    elif kind == "accepted":
        prover = Web3.to_checksum_address(str(event["prover"]))
        report(f"{at:7.2f} s  {names.get(prover, prover)} accepted: collateral locked, proof "
               f"due {moment(int(event['proof_deadline']))}")  # fmt: skip
    elif kind in ("award lapsed", "prover slashed", "input delivered"):
        prover = Web3.to_checksum_address(str(event["prover"]))
        report(f"{at:7.2f} s  {kind}: {names.get(prover, prover)}")
    else:
        report(f"{at:7.2f} s  {kind}: {event.get('reason', '')}")


def _wait_withdrawn(market: Any, addresses: Iterable[str]) -> None:
    deadline = time.monotonic() + WITHDRAW_TIMEOUT_S
    pending = [Web3.to_checksum_address(a) for a in addresses]
    while any(int(market.functions.balanceOf(a).call()) for a in pending):
        if time.monotonic() > deadline:
            return  # the table then shows what is still owed
        time.sleep(0.5)


def _gas_paid(w3: Web3, first: int, last: int, senders: set[str]) -> dict[str, int]:
    """Wei each of ``senders`` paid for gas in blocks ``first``..``last``."""
    paid = dict.fromkeys(senders, 0)
    for number in range(first, last + 1):
        transactions: list[Any] = list(w3.eth.get_block(number, True)["transactions"])
        for tx in transactions:
            sender = Web3.to_checksum_address(tx["from"])
            if sender in paid:
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                paid[sender] += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    return paid


def _summary(
    state: DevnetState,
    job: Mapping[str, Any],
    timeline: Mapping[str, Any],
    before: Mapping[str, tuple[int, int]],
    after: Mapping[str, tuple[int, int]],
    gas: Mapping[str, int],
) -> dict[str, Any]:
    output, reveal = job.get("output"), str(state.model.get("reveal", "logits"))
    revealed = (job.get("output_q") or [None])[0] if reveal != "logits" else None
    if reveal == "argmax":
        predicted = revealed
    else:
        predicted = None if not output else max(range(len(output)), key=lambda i: output[i])
    states = timeline["states"]
    proving = None
    if "proven" in states and "accepted" in states:
        proving = round(states["proven"] - states["accepted"], 2)
    balances = []
    for node in state.nodes:
        checksum = Web3.to_checksum_address(node.address)
        (eth0, market0), (eth1, market1) = before[node.address], after[node.address]
        balances.append({"name": node.name, "role": node.role, "address": checksum,
                         "eth_before": str(eth0), "eth_after": str(eth1),
                         "eth_delta": str(eth1 - eth0), "gas_paid": str(gas.get(checksum, 0)),
                         "market_before": str(market0), "market_after": str(market1)})  # fmt: skip
    return {
        "job": dict(job),
        "settled": job["state"] in SETTLED,
        "winner": job.get("prover"),
        "fee": job.get("fee"),
        "bids": timeline["bids"],
        "proving_s": proving,
        "tx": job.get("tx"),
        "output": output,
        "ceremony": state.model.get("ceremony"),
        "model": state.model.get("name"),
        "reveal": reveal,
        "revealed": revealed,
        "predicted": predicted,
        "label": state.model.get("label"),
        "balances": balances,
    }


def _eth(wei: int) -> str:
    return f"{wei / 10**18:+.6f}" if wei else "0"


def _print_summary(summary: Mapping[str, Any], names: Mapping[str, str]) -> None:
    job = summary["job"]
    print()
    print(f"job        {job['id']} (on-chain {job['job_id']}): {job['state']}")
    if summary["winner"]:
        winner = names.get(summary["winner"], summary["winner"])
        print(f"winner     {winner} ({summary['winner']}) for {format_amount(int(summary['fee']))}")
    if summary["proving_s"] is not None:
        print(f"proving    {summary['proving_s']} s from acceptance to the accepted proof")
    for name, tx in (summary["tx"] or {}).items():
        if tx and isinstance(tx, str):
            print(f"tx {name:<7} {tx}")
    label = summary["label"]
    truth = "" if label is None else f" (the sample is a handwritten {label})"
    reveal = summary["reveal"]
    if summary["output"] and reveal == "logits":
        print("output     " + " ".join(f"{v:.3f}" for v in summary["output"]))
        print(f"predicted  digit {summary['predicted']}{truth}")
    elif summary["revealed"] is not None and reveal == "argmax":
        print(f"revealed   digit {summary['revealed']}{truth}: the proof's only public output "
              "is the class, the logits are not on-chain")  # fmt: skip
    elif summary["revealed"] is not None:
        _, index, value = reveal.split(":")
        answer = "yes" if int(summary["revealed"]) else "no"
        print(f"revealed   logit {index} < {value}: {answer}{truth}; only this bit is public")
    print()
    print(f"{'node':<7} {'role':<10} {'ETH before':>18} {'ETH after':>18} {'change':>12} "
          f"{'gas paid':>10} {'owed by JobMarket':>18}")  # fmt: skip
    for row in summary["balances"]:
        eth0, eth1 = int(row["eth_before"]), int(row["eth_after"])
        owed = f"{int(row['market_before']) / 10**18:.6f}->{int(row['market_after']) / 10**18:.6f}"
        gas = int(row["gas_paid"]) / 10**18
        print(f"{row['name']:<7} {row['role']:<10} {eth0 / 10**18:>18.6f} {eth1 / 10**18:>18.6f} "
              f"{_eth(eth1 - eth0):>12} {gas:>10.6f} {owed:>18}")  # fmt: skip
    if not summary["settled"]:
        print(f"\nthe job did not settle: it ended {job['state']}")
