"""``provernet devnet up | demo | status | logs | down``: a whole market on this machine.

Every command takes ``--dir DIR`` (default ``.devnet``), the directory holding the
devnet: ``devnet.json`` (the network), ``pids.json`` (the processes), anvil's log
and saved chain, the keystore password and one home per node under ``nodes/``.
Point the CLI at a node with ``provernet --home DIR/nodes/node0 ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node.exit_codes import OK, USAGE, CliError

DEFAULT_DIR = ".devnet"
LOG_LINES = 40


def add_devnet_commands(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``devnet`` group."""
    group = groups.add_parser(
        "devnet",
        help="run a whole market on this machine",
        description="A local chain and N provernet nodes as processes on this machine.",
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    up = commands.add_parser("up", help="start (or resume) the devnet")
    up.add_argument("--nodes", type=int, help="how many nodes (default 4: a requester, 3 provers)")
    up.add_argument("--block-time", type=int, metavar="SECONDS", help="whole seconds; default 1")
    up.set_defaults(func=cmd_up)
    demo = commands.add_parser("demo", help="run one job end to end and show the money")
    demo.add_argument("--reveal", default="logits", metavar="logits|argmax|threshold:I:V",
                      help="the job goes to the demo model registered to make only this "
                           "public (registered on first use; default logits)")  # fmt: skip
    demo.set_defaults(func=cmd_demo)
    status = commands.add_parser("status", help="the processes, peers, sync and jobs")
    status.set_defaults(func=cmd_status)
    logs = commands.add_parser("logs", help="the end of a node's (or anvil's) log")
    logs.add_argument(
        "node", nargs="?", metavar="NODE", help="node0, 1, ... or anvil (default all)"
    )
    logs.add_argument("--lines", type=int, default=LOG_LINES, help=f"default {LOG_LINES}")
    logs.set_defaults(func=cmd_logs)
    down = commands.add_parser("down", help="stop the devnet's processes")
    down.add_argument("--clean", action="store_true", help="also delete DIR")
    down.set_defaults(func=cmd_down)
    for command in (up, demo, status, logs, down):
        command.add_argument(
            "--dir", type=Path, default=Path(DEFAULT_DIR), help=f"default {DEFAULT_DIR}"
        )
    for command in (up, demo, status):
        command.add_argument("--json", action="store_true", help="print one JSON object")


@contextmanager
def _state_errors() -> Iterator[None]:
    """A missing or malformed devnet directory becomes a usage error."""
    from devnet.state import DevnetStateError

    try:
        yield
    except DevnetStateError as exc:
        raise CliError(str(exc), USAGE) from exc


def _reporter(as_json: bool) -> Any:
    """Progress lines: stdout for humans, stderr when stdout carries the JSON."""
    stream = sys.stderr if as_json else sys.stdout

    def report(line: str) -> None:
        print(line, file=stream, flush=True)

    return report


def cmd_up(args: argparse.Namespace) -> int:
    """Start a devnet, or resume the one in --dir."""
    from devnet import orchestrate

    if args.nodes is not None or args.block_time is not None:
        orchestrate.check_arguments(
            orchestrate.DEFAULT_NODES if args.nodes is None else args.nodes,
            orchestrate.DEFAULT_BLOCK_TIME_S if args.block_time is None else args.block_time,
        )
    with _state_errors():
        result = orchestrate.up(args.dir, args.nodes, args.block_time, _reporter(args.json))
    if args.json:
        print(json.dumps({**result.state.to_json(), "dir": str(args.dir.absolute()),
                          "started": list(result.started), "resumed": result.resumed},
                         indent=2))  # fmt: skip
        return OK
    _print_summary(args.dir.absolute(), result.state)
    return OK


def _print_summary(directory: Path, state: Any) -> None:
    print()
    print(f"devnet in {directory}  ({directory / 'devnet.json'})")
    print(f"chain     {state.rpc_url} (chain id {state.chain_id})")
    for name, address in state.deployment.get("contracts", {}).items():
        print(f"          {name:<14} {address}")
    for entry in state.nodes:
        price = f", {entry.price_per_1k_constraints / 10**18:g} ETH per 1k constraints"
        print(f"{entry.name:<9} {entry.role}{price if entry.role == 'prover' else ''}")
        print(f"          address {entry.address}")
        print(f"          peer    {entry.multiaddr}")
        print(f"          home    {entry.home}  (log: {entry.home}/daemon.log)")
    home0 = state.nodes[0].home
    print()
    print(f"use a node:   provernet --home {home0} node status")
    print(f"              provernet --home {home0} job list")
    print(f"run a job:    provernet devnet demo --dir {directory}")
    print(f"stop it:      provernet devnet down --dir {directory}   (--clean also deletes it)")


def cmd_demo(args: argparse.Namespace) -> int:
    """Submit one job to the demo model and show it settle."""
    from devnet import demo
    from protocol.zkml import CompileError
    from protocol.zkml.model import parse_reveal

    try:
        parse_reveal(args.reveal)
    except CompileError as exc:
        raise CliError(str(exc), USAGE) from exc
    with _state_errors():
        return demo.run(args.dir.absolute(), as_json=args.json, reveal=args.reveal)


def cmd_status(args: argparse.Namespace) -> int:
    """Show the processes and the nodes."""
    from devnet import orchestrate

    with _state_errors():
        answer = orchestrate.status(args.dir)
    if args.json:
        print(json.dumps(answer, indent=2))
        return OK
    anvil = answer["anvil"]
    print(f"devnet    {answer['dir']}")
    print(f"anvil     {_alive(anvil['running'])} pid {anvil['pid']}, {answer['rpc_url']}")
    for node in answer["nodes"]:
        jobs = {f"{role}:{s}": n for role, states in (node["jobs"] or {}).items()
                for s, n in states.items()}  # fmt: skip
        line = f"{node['name']:<9} {_alive(node['running'])} pid {node['pid']}, {node['role']}"
        if node["ready"] is not None:
            counts = ", ".join(f"{k} {v}" for k, v in jobs.items()) or "none"
            sync = f"{node['processed_block']}/{node['head_block']}"
            line += f", ready {node['ready']}, peers {node['peers']}, block {sync}, jobs {counts}"
        print(line)
    if not anvil["running"] or not all(node["running"] for node in answer["nodes"]):
        print(f"start what is stopped: provernet devnet up --dir {answer['dir']}")
    return OK


def _alive(running: bool) -> str:
    return "running" if running else "stopped"


def cmd_logs(args: argparse.Namespace) -> int:
    """Print the end of one log, or of every log."""
    from devnet.chain import tail
    from devnet.state import ANVIL, ANVIL_LOG, DevnetState, DevnetStateError

    directory = args.dir.absolute()
    try:
        state = DevnetState.load(directory)
        if args.node is None:
            wanted = [("anvil", directory / ANVIL_LOG)] + [
                (e.name, Path(e.home) / "daemon.log") for e in state.nodes
            ]
        elif args.node == ANVIL:
            wanted = [("anvil", directory / ANVIL_LOG)]
        else:
            entry = state.node(args.node)
            wanted = [(entry.name, Path(entry.home) / "daemon.log")]
    except DevnetStateError as exc:
        raise CliError(str(exc), USAGE) from exc
    for name, path in wanted:
        if len(wanted) > 1:
            print(f"==> {name}: {path} <==")
        print(tail(path, args.lines))
    return OK


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the devnet's processes."""
    from devnet import orchestrate

    with _state_errors():
        orchestrate.down(args.dir, args.clean, _reporter(False))
    return OK
