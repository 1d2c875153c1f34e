"""The ``provernet`` command line: one parser, one subcommand group per module.

Every handler takes the parsed arguments and returns an exit code. Errors the user
can act on are printed as one line on stderr (``error: ...``) with the exit code of
their kind (node.exit_codes); tracebacks are only for bugs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from node import exit_codes
from node.circuit_cli import add_circuit_commands
from node.init_cli import add_node_init_command
from node.job_cli import add_job_commands
from node.model_cli import add_model_commands
from node.node_cli import add_node_daemon_commands, add_stake_commands


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
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
    add_circuit_commands(groups)
    add_node_commands(groups)
    add_stake_commands(groups)
    add_job_commands(groups)
    add_model_commands(groups)
    try:
        from node.chain.cli import add_contracts_commands
    except ImportError:  # the chain client is optional while it is being built
        pass
    else:
        add_contracts_commands(groups)
    return parser


def add_node_commands(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``node`` group: ``init``, ``run``, ``status``, ``peers``."""
    group = groups.add_parser("node", help="set up and run a provernet node")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    add_node_init_command(commands)
    add_node_daemon_commands(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
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
