"""The ``provernet`` command line: one parser, one subcommand group per module.

Every handler takes the parsed arguments and returns an exit code. Errors the user
can act on are printed as one line on stderr (``error: ...``) with the exit code of
their kind (node.exit_codes); tracebacks are only for bugs.

Only the group being run is imported: the node's groups pull in web3, libp2p and
trio, which the offline ``circuit`` commands do not need (about 50 MiB of memory and
a second of start-up; bench/results/proving.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from node import exit_codes

Register = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]

# group -> (help, "module:function" registering it)
GROUPS: dict[str, tuple[str, str]] = {
    "circuit": (
        "offline circuit toolchain (no node needed)",
        "node.circuit_cli:add_circuit_commands",
    ),
    "ceremony": (
        "trusted-setup ceremonies: phase-1 files, contributions, verification",
        "node.ceremony_cli:add_ceremony_commands",
    ),
    "node": ("set up and run a provernet node", "node.cli:add_node_commands"),
    "stake": ("the prover stake in ProverStaking", "node.node_cli:add_stake_commands"),
    "job": ("request proofs: submit jobs and follow them", "node.job_cli:add_job_commands"),
    "model": (
        "register and inspect models (through the daemon)",
        "node.model_cli:add_model_commands",
    ),
    "contracts": ("deploy provernet's contracts", "node.chain.cli:add_contracts_commands"),
    "devnet": ("run a whole market on this machine", "devnet.cli:add_devnet_commands"),
}


def _register(name: str) -> Register:
    module, function = GROUPS[name][1].split(":")
    register: Register = getattr(import_module(module), function)
    return register


def _selected_group(argv: Sequence[str]) -> str | None:
    """The group named on the command line, if any (skipping the global options)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--home")
    _, rest = pre.parse_known_args(list(argv))
    return rest[0] if rest and rest[0] in GROUPS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, the other groups are listed but not loaded."""
    parser = argparse.ArgumentParser(
        prog="provernet",
        description="A peer-to-peer market for zero-knowledge proofs of ML inference.",
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="node home directory (default: $PROVERNET_HOME, then ~/.provernet)",
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND")
    groups.required = True
    for name, (help_text, _) in GROUPS.items():
        if only is None or name == only:
            _register(name)(groups)
        else:
            groups.add_parser(name, help=help_text)
    return parser


def add_node_commands(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``node`` group: ``init``, ``run``, ``status``, ``peers``."""
    from node.init_cli import add_node_init_command
    from node.node_cli import add_node_daemon_commands

    group = groups.add_parser("node", help=GROUPS["node"][0])
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    add_node_init_command(commands)
    add_node_daemon_commands(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected_group(arguments))
    args = parser.parse_args(arguments)
    try:
        code: int = args.func(args)
    except exit_codes.CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    return code


if __name__ == "__main__":
    raise SystemExit(main())
