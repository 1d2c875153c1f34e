"""``provernet job submit | status | list | watch | result | cancel``: the requester's commands.

Every command talks to the running daemon (node.api.client), whose requester
role does the work: ``submit`` sends the model, the input read from INPUT.json
and the terms; the daemon quantizes and commits to the input, escrows the max fee
and runs the job. ``--wait`` follows the job's event log until it ends and then
prints the job; with ``--json`` that is one object with ``id``, ``state``,
``output`` (dequantized), ``output_q``, ``prover``, ``fee``, ``bids`` and ``tx``
(hashes of create, award and proof). A job that ends unproven exits 1; one the
daemon resubmits at a higher max fee (``requester.auto_resubmit``) is followed to
its replacement, whose object is printed. ``submit`` prints the daemon's warnings
(a max fee below every known prover's quote, no known prover with free capacity:
drawn from the provers' heartbeats, never a refusal) on stderr, or as ``warnings``
in the JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from node.api.client import ApiClient, daemon_errors
from node.chain.amounts import AmountError, format_amount, parse_amount
from node.config_fields import parse_duration
from node.exit_codes import FAILED, OK, USAGE, CliError
from node.home import resolve_home
from node.human import moment, span
from node.model_io import read_input

# Submitting loads the model and commits to the input in the daemon before answering.
SUBMIT_TIMEOUT_S = 120.0
SETTLED = ("proven",)


def add_job_commands(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``job`` group."""
    group = groups.add_parser(
        "job",
        help="request proofs: submit jobs and follow them",
        description="Submit a proving job to the market and follow it (through the daemon).",
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    submit = commands.add_parser("submit", help="submit a job for a model and a private input")
    submit.add_argument("--model", required=True, help="a registered model's name or id")
    submit.add_argument("--input", required=True, help='INPUT.json: {"input": [...]}')
    submit.add_argument("--max-fee", required=True, help="the most to pay, e.g. 0.01eth")
    submit.add_argument("--collateral", help="stake the prover locks (default: from the config)")
    submit.add_argument(
        "--deadline",
        help="the latest the first prover's proof is due, from now, e.g. 10m: the bid, accept "
        "and proof windows add up to it (default: config)",
    )
    submit.add_argument("--bid-window", help="how long to take bids, e.g. 30s (default: a quarter "
                        "of the deadline, 5s to 60s)")  # fmt: skip
    submit.add_argument("--accept-window", help="how long the awarded prover has to check the "
                        "input and accept, e.g. 60s (default: a quarter of the deadline, 20s "
                        "to 60s)")  # fmt: skip
    submit.add_argument(
        "--require-own-contribution",
        action="store_true",
        help="refuse the model unless this node's contribution is in its verified ceremony "
        "(then nobody else needs to be trusted for its setup)",
    )
    submit.add_argument(
        "--trust-setup",
        action="store_true",
        help="accept a model whose ceremony this node has not verified (you trust its "
        "contributors without checking the transcript)",
    )
    submit.add_argument("--wait", action="store_true", help="wait until the job ends")
    submit.add_argument("--json", action="store_true", help="print the job as JSON")
    submit.set_defaults(func=cmd_submit)
    for name, func, text in (
        ("status", cmd_status, "one job: state, bids, result"),
        ("watch", cmd_watch, "follow a job's events until it ends"),
        ("result", cmd_result, "a proven job's outputs"),
        ("cancel", cmd_cancel, "cancel a job no prover holds (full refund)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("id", metavar="ID", type=int, help="the job's id (from job list)")
        command.add_argument("--json", action="store_true", help="print JSON")
        command.set_defaults(func=func)
    listing = commands.add_parser("list", help="every job this node requested")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_list)


def _client(args: argparse.Namespace, timeout_s: float = 10.0) -> ApiClient:
    home = resolve_home(args.home, os.environ, Path.home()).absolute()
    return ApiClient.for_home(home, timeout_s=timeout_s)


def _checked(option: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        parse_amount(text) if option in ("--max-fee", "--collateral") else parse_duration(text)
    except (AmountError, ValueError) as exc:
        raise CliError(f"{option} {text!r}: {exc}", USAGE) from exc
    return text


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a job; with --wait, follow it to its end."""
    values, _ = read_input(Path(args.input))
    body = {
        "model": args.model,
        "input": values.tolist(),
        "max_fee": _checked("--max-fee", args.max_fee),
        "collateral": _checked("--collateral", args.collateral),
        "deadline": _checked("--deadline", args.deadline),
        "bid_window": _checked("--bid-window", args.bid_window),
        "accept_window": _checked("--accept-window", args.accept_window),
    }
    body = {k: v for k, v in body.items() if v is not None}
    if args.require_own_contribution:
        body["require_own_contribution"] = True
    if args.trust_setup:
        body["trust_setup"] = True
    with daemon_errors():
        client = _client(args, SUBMIT_TIMEOUT_S)
        job = client.post("/jobs", body)
        warnings = list(job.get("warnings") or [])
        if not args.json:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
        if not args.wait:
            return _show(job, args.json)
        job = {**_follow(client, job, args.json), "warnings": warnings}
    _show(job, args.json)
    return OK if job["state"] in SETTLED else FAILED


def _follow(client: ApiClient, job: Mapping[str, Any], as_json: bool) -> Any:
    """Watch ``job`` (and each resubmission replacing it) to its end; the last job."""
    while True:
        for event in client.watch(f"/jobs/{job['id']}/events"):
            if not as_json:
                print(_event_line(event))
        job = client.get(f"/jobs/{job['id']}")
        if job.get("replaced_by") is None:
            return job
        job = client.get(f"/jobs/{job['replaced_by']}")


def cmd_status(args: argparse.Namespace) -> int:
    """Show one job."""
    with daemon_errors():
        return _show(_client(args).get(f"/jobs/{args.id}"), args.json)


def cmd_list(args: argparse.Namespace) -> int:
    """List the jobs this node requested."""
    with daemon_errors():
        jobs = _client(args).get("/jobs")["jobs"]
    if args.json:
        print(json.dumps(jobs, indent=2, sort_keys=True))
        return OK
    if not jobs:
        print("no jobs")
    for job in jobs:
        chain_id = "-" if job["job_id"] is None else job["job_id"]
        print(f"{job['id']:>4}  job {chain_id:<6} model {job['model_id']:<4} {job['state']}")
    return OK


def cmd_watch(args: argparse.Namespace) -> int:
    """Print a job's events as they happen, until it ends."""
    with daemon_errors():
        for event in _client(args).watch(f"/jobs/{args.id}/events"):
            print(json.dumps(event, sort_keys=True) if args.json else _event_line(event))
    return OK


def cmd_result(args: argparse.Namespace) -> int:
    """Print a proven job's outputs."""
    with daemon_errors():
        job = _client(args).get(f"/jobs/{args.id}")
    if job["output"] is None:
        raise CliError(f"job {args.id} has no result (it is {job['state']})", FAILED)
    if args.json:
        keys = ("id", "job_id", "state", "output", "output_q", "prover", "fee", "tx", "reveal")
        print(json.dumps({k: job.get(k) for k in keys}, indent=2, sort_keys=True))
        return OK
    reveal = job.get("reveal") or "logits"
    if reveal == "argmax":
        print(f"class    {job['output_q'][0]} (the model reveals only its argmax)")
    elif reveal.startswith("threshold:"):
        _, index, value = reveal.split(":")
        answer = "yes" if job["output_q"][0] == 1 else "no"
        print(f"output[{index}] < {value}: {answer} (the model reveals only this bit)")
    print("output   " + " ".join(f"{v:g}" for v in job["output"]))
    print("output_q " + " ".join(str(v) for v in job["output_q"]))
    print(f"proof tx {job['tx'].get('proof')}")
    return OK


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a job nobody won."""
    with daemon_errors():
        return _show(_client(args).post(f"/jobs/{args.id}/cancel", {}), args.json)


def _event_line(event: Mapping[str, Any]) -> str:
    details = ", ".join(
        f"{k} {v}" for k, v in sorted(event.items()) if k != "kind" and v is not None
    )
    return f"{event.get('kind')}: {details}"


def _history(job: Mapping[str, Any]) -> str:
    """What went wrong before, if anything: ``(award 2, after 1 lapsed and 0 slashed)``."""
    awards, slashes = int(job.get("awards") or 0), int(job.get("slashes") or 0)
    if awards <= 1 and not slashes:
        return ""
    return f" (award {awards}: {awards - 1 - slashes} lapsed, {slashes} slashed before)"


def _wei(value: object) -> str:
    return "-" if value is None else format_amount(int(str(value)))


def _show(job: Mapping[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(job, indent=2, sort_keys=True))
        return OK
    print(f"job        {job['id']} (on-chain {job['job_id']}), model {job['model_id']}")
    print(f"state      {job['state']}" + _history(job))
    print(f"max fee    {_wei(job['max_fee'])}, collateral {_wei(job['collateral'])}")
    print(f"windows    accept {span(job['accept_window'])}, prove {span(job['proof_window'])}")
    if job["state"] in ("created", "announced", "re-opened"):
        print(f"bids until {moment(job['bid_deadline'])}")
    if job.get("prover"):
        print(f"prover     {job['prover']} for {_wei(job['fee'])}")
    if job["state"] in ("awarded", "input delivered"):
        print(f"accept by  {moment(job['accept_deadline'])}")
    if job["state"] in ("accepted", "slashing") and job.get("proof_deadline"):
        print(f"proof by   {moment(job['proof_deadline'])}")
    for bid in job.get("bids") or []:
        reason = f" ({bid['reason']})" if bid["reason"] else ""
        print(f"bid        {bid['prover']} {_wei(bid['fee'])} {bid['status']}{reason}")
    if job.get("output") is not None:
        print("output     " + " ".join(f"{v:g}" for v in job["output"]))
    for name, tx in (job.get("tx") or {}).items():
        if tx and isinstance(tx, str):
            print(f"tx {name:<7} {tx}")
    return OK
