"""``provernet model register | list | show``: the model owner's commands, through the daemon.

``model register`` sends the paths of the ONNX file, the calibration samples and,
with ``--ptau``, the phase-1 file its key's ceremony starts from
(the daemon runs on this machine, as this user, and reads them itself), then
follows the registration's progress (compile, setup, on-chain registration,
announcement) by long polling until it is done, printing each stage on stderr.
``model list`` and ``model show NAME|ID`` read the daemon's models; ``show`` adds
the registry's current state (owner, deprecated). Names are local labels: the
on-chain id is the model's identity, and a name resolves only when one model that
takes jobs has it (``node.engine.models.records.model_by_ref``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from node.api.client import EXIT_CODES, ApiClient, daemon_errors
from node.config_fields import parse_duration
from node.exit_codes import FAILED, OK, USAGE, CliError
from node.home import resolve_home
from node.human import moment

# Compiling and setting up run in the daemon; each long poll waits this long at most.
POLL_TIMEOUT_S = 20.0


def add_model_commands(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``model`` group: ``register``, ``list``, ``show``."""
    group = groups.add_parser("model", help="register and inspect models (through the daemon)")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    register = commands.add_parser(
        "register", help="compile, set up, register on-chain and announce an ONNX model"
    )
    register.add_argument("model", metavar="MODEL.onnx")
    register.add_argument("--name", required=True, help="a local label for the model")
    register.add_argument("--calibration", metavar="SAMPLES", help=".npy array or JSON list")
    register.add_argument(
        "--ptau",
        metavar="POT.ptau",
        help="set the key up by an on-chain phase-2 ceremony from this phase-1 file "
        "(recommended: without it the key is a single-party setup nobody can audit)",
    )
    register.add_argument(
        "--contribution-window",
        default="10m",
        metavar="DURATION",
        help="with --ptau: how long others may contribute before the beacon (default 10m)",
    )
    register.add_argument("--json", action="store_true", help="print the model as JSON")
    register.set_defaults(func=cmd_model_register)
    listing = commands.add_parser("list", help="the models this node knows")
    listing.add_argument("--json", action="store_true", help="print the models as JSON")
    listing.set_defaults(func=cmd_model_list)
    show = commands.add_parser("show", help="one model, by name or on-chain id")
    show.add_argument("ref", metavar="NAME|ID")
    show.add_argument("--json", action="store_true", help="print the model as JSON")
    show.set_defaults(func=cmd_model_show)


def _client(args: argparse.Namespace, timeout_s: float = 10.0) -> ApiClient:
    home = resolve_home(args.home, os.environ, Path.home()).absolute()
    return ApiClient.for_home(home, timeout_s=timeout_s)


def _local(path: str, what: str) -> str:
    resolved = Path(path).expanduser().absolute()
    if not resolved.is_file():
        raise CliError(f"{what} not found: {resolved}", USAGE)
    return str(resolved)


def cmd_model_register(args: argparse.Namespace) -> int:
    """Register a model and wait until it is announced."""
    body: dict[str, Any] = {"onnx": _local(args.model, "model file"), "name": args.name}
    if args.calibration:
        body["calibration"] = _local(args.calibration, "calibration file")
    if args.ptau:
        body["ptau"] = _local(args.ptau, "phase-1 file")
        try:
            window = parse_duration(args.contribution_window)
        except ValueError as exc:
            raise CliError(
                f"--contribution-window {args.contribution_window!r} {exc}", USAGE
            ) from None
        body["contribution_window"] = int(window)
    with daemon_errors():
        client = _client(args)
        rid = client.post("/models", body)["registration"]
        for event in client.watch(f"/models/registrations/{rid}", timeout_s=POLL_TIMEOUT_S):
            print(_describe(event), file=sys.stderr, flush=True)
            if event["stage"] == "failed":
                raise CliError(event["error"], EXIT_CODES.get(event["code"], FAILED))
            if event["stage"] == "done":
                return _print_model(event["model"], as_json=args.json)
    raise CliError("the daemon stopped reporting before the registration finished", FAILED)


def _describe(event: Mapping[str, Any]) -> str:
    stage = event["stage"]
    if stage == "setup":
        return f"  Groth16 setup ({event['constraints']} constraints) ..."
    if stage == "registering":
        return f"  registering on-chain (circuit {event['circuit_hash']}) ..."
    if stage == "announcing":
        return f"  registered as model {event['model_id']}; announcing ..."
    if stage == "ceremony":
        return "  ceremony: " + _ceremony_step(event)
    return f"  {stage} ..."


def _ceremony_step(event: Mapping[str, Any]) -> str:
    step = event["step"]
    if step == "initial key":
        return f"initial key from the phase 1 ({event['constraints']} constraints) ..."
    if step == "opened":
        until = moment(event["contribution_deadline"])
        return f"opened ceremony {event['ceremony_id']}; contributions until {until}"
    if step == "contributed":
        return f"our contribution recorded (hash {event['hash'][:32]}…)"
    if step == "waiting":
        until = moment(event["contribution_deadline"])
        return f"waiting for the window to end ({until}), then for the beacon block ..."
    return f"{step} ..."


def _setup_line(ceremony: Mapping[str, Any] | None) -> str:
    if ceremony is None:
        return "no ceremony: whoever set the key up could forge proofs for it"
    if not ceremony["verified"]:
        return f"ceremony {ceremony['id']}, not verified here (fetch the model to verify it)"
    who = ", ".join(ceremony["contributors"]) or "nobody"
    return f"ceremony {ceremony['id']}, verified; contributors: {who}"


def cmd_model_list(args: argparse.Namespace) -> int:
    """List the known models."""
    with daemon_errors():
        models = _client(args).get("/models")["models"]
    if args.json:
        print(json.dumps(models, indent=2, sort_keys=True))
        return OK
    if not models:
        print("no models known")
    for m in models:
        flags = ("held" if m["held"] else "not held") + (", deprecated" if m["deprecated"] else "")
        ceremony = m.get("ceremony")
        flags += (", no ceremony" if ceremony is None else
                  f", ceremony {'verified' if ceremony['verified'] else 'unverified'}")  # fmt: skip
        print(f"{m['id']:>4}  {m['name'] or '(unnamed)':<24} {m['constraints']:>8} constraints"
              f"  {flags}")  # fmt: skip
    return OK


def cmd_model_show(args: argparse.Namespace) -> int:
    """Show one model."""
    with daemon_errors():
        model = _client(args).get(f"/models/{args.ref}")
    return _print_model(model, as_json=args.json)


def _print_model(model: Mapping[str, Any], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(model, indent=2, sort_keys=True))
        return OK
    chain = model.get("chain") or {}
    deprecated = chain.get("deprecated", model["deprecated"])
    lines = [
        f"model         {model['id']} ({model['name'] or 'unnamed'})",
        f"owner         {model['owner']}",
        f"constraints   {model['constraints']}",
        f"public        {model['n_public']} signals",
        f"onnx sha256   {model['onnx_sha256']}",
        f"circuit       {model['circuit_hash']}",
        f"manifest      {model['manifest_hash']}",
        f"deprecated    {'yes' if deprecated else 'no'}",
        f"held here     {model['dir'] or 'no'}",
    ]
    if model.get("registered_tx"):
        lines.append(f"registered in {model['registered_tx']}")
    lines.append(f"setup         {_setup_line(model.get('ceremony'))}")
    print("\n".join(lines))
    return OK
