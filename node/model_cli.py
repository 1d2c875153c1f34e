"""``provernet model register | list | show | ceremony | contribute``: models and their
setup ceremonies, through the daemon.

``model register`` sends the paths of the ONNX file, the calibration samples and
the phase-1 file its key's ceremony starts from
(the daemon runs on this machine, as this user, and reads them itself), then
follows the registration's progress (compile, setup, on-chain registration,
announcement) by long polling until it is done, printing each stage on stderr.
``model list`` and ``model show NAME|ID`` read the daemon's models; ``show`` adds
the registry's current state (owner, deprecated). Names are local labels: the
on-chain id is the model's identity, and a name resolves only when one model that
takes jobs has it (``node.engine.models.records.model_by_ref``).

``model ceremony NAME|ID`` shows a phase-2 ceremony's on-chain record; ``model contribute
NAME|ID`` adds this node's contribution to an open one (the daemon fetches the latest key
from a peer, contributes with fresh entropy it then forgets, and records it), so a
model's users need trust only that one of the contributors, themselves included, was
honest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from node.api.client import EXIT_CODES, ApiClient, daemon_errors
from node.config_fields import parse_duration
from node.exit_codes import FAILED, OK, USAGE, CliError
from node.home import resolve_home
from node.human import moment

REVEAL_HELP = (
    "what the proof makes public: every output (logits, the default), only the index of "
    "the largest (argmax), or only the bit output[I] < V (threshold:I:V)"
)
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
    register.add_argument("--reveal", default="logits", metavar="logits|argmax|threshold:I:V",
                          help=REVEAL_HELP)  # fmt: skip
    register.add_argument("--precision", default="standard", choices=["low", "standard", "high"],
                          help="activation and weight widths (see circuit compile)")  # fmt: skip
    register.add_argument(
        "--ptau",
        metavar="POT.ptau",
        required=True,
        help="the phase-1 file (snarkjs .ptau, e.g. a Perpetual Powers of Tau file) the "
        "key's on-chain phase-2 ceremony starts from; the market takes jobs only for "
        "models set up by a ceremony",
    )
    register.add_argument(
        "--contribution-window",
        default="10m",
        metavar="DURATION",
        help="how long others may contribute before the beacon (default 10m)",
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
    ceremony = commands.add_parser("ceremony", help="a setup ceremony's state and contributions")
    ceremony.add_argument("ceremony", metavar="NAME|ID")
    ceremony.add_argument("--json", action="store_true", help="print the ceremony as JSON")
    ceremony.set_defaults(func=cmd_model_ceremony)
    contribute = commands.add_parser(
        "contribute", help="add this node's contribution to an open setup ceremony"
    )
    contribute.add_argument(
        "ceremony", metavar="NAME|ID",
        help="the ceremony's id, or the model name it was opened under (one open ceremony)",
    )  # fmt: skip
    contribute.add_argument(
        "--name", default="", help="a label kept in the key's transcript (public; optional)"
    )
    contribute.add_argument("--json", action="store_true", help="print the result as JSON")
    contribute.set_defaults(func=cmd_model_contribute)


def _ceremony_ref(text: str) -> int | str:
    """A ceremony id (a positive number) or a model name; CliError (usage) otherwise."""
    if text.strip().lstrip("+-").isdigit():
        if int(text) < 1:
            raise CliError(f"{text!r} is not a ceremony id (ids start at 1)", USAGE)
        return int(text)
    if not text or not text.isprintable():
        raise CliError(f"{text!r} is neither a ceremony id nor a model name", USAGE)
    return text


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
    if args.reveal != "logits":
        body["reveal"] = args.reveal
    if args.precision != "standard":
        body["precision"] = args.precision
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
    if stage == "fetching":
        return f"  fetching the latest key ({event['key'][:16]}…) ..."
    if stage == "contributing":
        return f"  contributing after {event['after']} recorded contribution(s) ..."
    if stage == "rebasing":
        return (f"  another contribution was recorded first; contributing again on it "
                f"(attempt {event['attempt'] + 1}) ...")  # fmt: skip
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
        cid = event["ceremony_id"]
        return (f"opened ceremony {cid}; others may contribute until {until}: "
                f"provernet model contribute {cid}")  # fmt: skip
    if step == "contributed":
        return f"our contribution recorded as #{event['index']} (hash {event['hash'][:32]}…)"
    if step == "verifying":
        return f"verifying the {event['recorded']} recorded contribution(s) ..."
    if step == "chosen":
        line = f"the final key includes {event['included']} of {event['recorded']} contribution(s)"
        return "; ".join([line, *(f"left out {why}" for why in event["left_out"])])
    if step == "waiting":
        until = moment(event["contribution_deadline"])
        return f"waiting for the window to end ({until}), then for the beacon block ..."
    return f"{step} ..."


def cmd_model_contribute(args: argparse.Namespace) -> int:
    """Contribute to a ceremony and wait until the contribution is recorded."""
    body = {"ceremony": _ceremony_ref(args.ceremony), "name": args.name}
    with daemon_errors():
        client = _client(args)
        rid = client.post("/ceremonies/contributions", body)["contribution"]
        for event in client.watch(f"/ceremonies/contributions/{rid}", timeout_s=POLL_TIMEOUT_S):
            if event["stage"] == "failed":
                raise CliError(event["error"], EXIT_CODES.get(event["code"], FAILED))
            if event["stage"] == "done":
                if args.json:
                    print(json.dumps(event, indent=2, sort_keys=True))
                else:
                    print(f"contribution #{event['index']} to ceremony {event['ceremony_id']} "
                          "recorded\n"
                          f"hash          {event['hash']}\n"
                          f"key sha256    {event['key_sha256']}\n"
                          "keep this daemon running until the ceremony is finalized (it serves "
                          "the key), then check `provernet model show` lists you")  # fmt: skip
                return OK
            print(_describe(event), file=sys.stderr, flush=True)
    raise CliError("the daemon stopped reporting before the contribution was recorded", FAILED)


def cmd_model_ceremony(args: argparse.Namespace) -> int:
    """Show one ceremony."""
    with daemon_errors():
        ref = _ceremony_ref(args.ceremony)
        info = _client(args).get(f"/ceremonies/{quote(str(ref), safe='')}")
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return OK
    state = info["state"]
    if state == "open":
        state += f", contributions until {moment(info['contribution_deadline'])}"
    elif state == "finalized":
        state += f" as model {info['model_id']}, including {info['included']} contribution(s)"
    elif state == "closed":
        state += f", beacon from block {info['beacon_block']}"
    lines = [
        f"ceremony      {info['id']}" + (f" ({info['name']})" if info.get("name") else ""),
        f"state         {state}",
        f"coordinator   {info['coordinator']}",
        f"circuit       {info['circuit_hash']}",
        f"phase 1       sha256 {info['phase1_sha256']}",
        f"contributions {len(info['contributions'])}",
    ]
    for c in info["contributions"]:
        mark = "" if info["included"] is None or c["index"] <= info["included"] else "  (left out)"
        lines.append(f"  #{c['index']:<3} {c['contributor']}  {c['hash'][:32]}…{mark}")
    print("\n".join(lines))
    return OK


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
        model = _client(args).get(f"/models/{quote(args.ref, safe='')}")
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
