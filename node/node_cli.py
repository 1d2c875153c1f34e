"""``provernet node run | status | peers | provers`` and ``provernet stake ...``.

``node run`` runs the daemon in the foreground until SIGINT or SIGTERM. The other
commands talk to the running daemon through its local API (node.api.client) and
fail with exit code 7 ("the provernet daemon for <home> is not running") when it
is not. ``node provers`` lists the provers whose heartbeats the daemon heard
recently (their free capacity, price and speed: advice, not a promise). Stake
commands go through the daemon's engine, so each transaction is in its intent
journal. Withdrawing stake takes two steps: ``stake withdraw AMOUNT``
asks for it (the stake stops backing jobs at once), and ``stake withdraw
--complete`` pays it out once ProverStaking's withdrawal delay has passed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from node.api.client import ApiClient, daemon_errors
from node.chain.amounts import AmountError, format_amount, parse_amount
from node.config import ConfigError, NodeConfig, load_config
from node.exit_codes import OK, USAGE, CliError
from node.home import resolve_home

# A stake transaction waits for its receipt in the daemon (TxSender: 120 s at most).
STAKE_TIMEOUT_S = 180.0


def add_node_daemon_commands(node_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``node run``, ``node status``, ``node peers`` and ``node provers``."""
    run = node_commands.add_parser("run", help="run the node daemon in the foreground")
    run.add_argument("--api-port", type=int, help="local API port (default: config, 0 = any)")
    run.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), help="log verbosity"
    )
    run.set_defaults(func=cmd_node_run)
    status = node_commands.add_parser("status", help="what the running daemon is doing")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=cmd_node_status)
    peers = node_commands.add_parser("peers", help="the peers the daemon is connected to")
    peers.add_argument("--json", action="store_true", help="print the peers as JSON")
    peers.set_defaults(func=cmd_node_peers)
    provers = node_commands.add_parser(
        "provers", help="the provers heard recently: free capacity, price, rate, models"
    )
    provers.add_argument("--json", action="store_true", help="print the provers as JSON")
    provers.set_defaults(func=cmd_node_provers)


def add_stake_commands(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``stake`` group: ``deposit``, ``status``, ``withdraw``."""
    group = groups.add_parser(
        "stake",
        help="the prover stake in ProverStaking",
        description="Deposit, inspect and withdraw this node's stake (through the daemon).",
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    deposit = commands.add_parser("deposit", help="deposit AMOUNT (e.g. 1eth, 0.5eth)")
    deposit.add_argument("amount", metavar="AMOUNT", help="an amount with a unit: 1eth, 10gwei")
    deposit.add_argument("--json", action="store_true", help="print the result as JSON")
    deposit.set_defaults(func=cmd_stake_deposit)
    status = commands.add_parser("status", help="stake, locked collateral, pending withdrawal")
    status.add_argument("--json", action="store_true", help="print the stake as JSON")
    status.set_defaults(func=cmd_stake_status)
    withdraw = commands.add_parser(
        "withdraw",
        help="request a withdrawal of AMOUNT, or --complete it after the delay",
        description=(
            "Withdrawing takes two steps. `stake withdraw AMOUNT` requests it: the amount "
            "stops backing jobs at once and becomes payable after ProverStaking's "
            "withdrawal delay. `stake withdraw --complete` then pays the pending amount "
            "to this node's address; before the delay has passed it says when it can."
        ),
    )
    which = withdraw.add_mutually_exclusive_group(required=True)
    which.add_argument("amount", metavar="AMOUNT", nargs="?", help="the amount to request")
    which.add_argument(
        "--complete", action="store_true", help="pay out the pending withdrawal (after the delay)"
    )
    withdraw.add_argument("--json", action="store_true", help="print the result as JSON")
    withdraw.set_defaults(func=cmd_stake_withdraw)


def _home(args: argparse.Namespace) -> Path:
    return resolve_home(args.home, os.environ, Path.home()).absolute()


def _config(home: Path, env: Mapping[str, str], flags: Mapping[str, Any]) -> NodeConfig:
    try:
        return load_config(home, env, flags)
    except ConfigError as exc:
        raise CliError(str(exc), USAGE) from exc


def cmd_node_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGINT or SIGTERM."""
    import trio  # the daemon's imports (libp2p, web3) are paid by ``node run`` only

    from node.daemon import DaemonError, daemon_logging, run_node

    home = _home(args)
    env = dict(os.environ)
    flags = {"api.port": args.api_port, "logging.level": args.log_level}
    config = _config(home, env, flags)
    with daemon_logging(home, config.logging.level):
        try:
            trio.run(_run, run_node, config, home, env)
        except DaemonError as exc:
            raise CliError(str(exc), exc.code) from exc
    return OK


async def _run(run_node: Any, config: NodeConfig, home: Path, env: Mapping[str, str]) -> None:
    await run_node(config, home, env=env)


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def cmd_node_status(args: argparse.Namespace) -> int:
    """Print the daemon's status."""
    home = _home(args)
    with daemon_errors():
        status = ApiClient.for_home(home).get("/status")
    if args.json:
        _print_json(status)
        return OK
    node = status.get("node", {})
    stake = node.get("stake") or {}
    jobs = {
        f"{role}:{state}": n
        for role, states in node.get("jobs", {}).items()
        for state, n in states.items()
    }
    print(f"home        {home}")
    print(f"address     {node.get('address')}")
    print(f"peer id     {node.get('peer_id')}")
    print(f"roles       {', '.join(node.get('roles', []))}")
    print(f"chain       {node.get('chain_id')}: head {node.get('head_block')}, ", end="")
    print(f"processed {node.get('processed_block')}")
    print(f"peers       {node.get('peers')}")
    print(f"provers     {node.get('provers')} heard recently")
    print(f"stake       {_wei(stake.get('stake'))} ({_wei(stake.get('locked'))} locked)")
    print(f"backend     {node.get('backend')}")
    print(f"jobs        {', '.join(f'{k} {v}' for k, v in jobs.items()) or 'none'}")
    print(f"ready       {status.get('ready')}{_pending(status)}")
    for address in node.get("listen_addrs", []):
        print(f"listening   {address}")
    return OK


def _pending(status: Mapping[str, Any]) -> str:
    pending = status.get("pending") or []
    return f" (waiting for {', '.join(pending)})" if pending else ""


def _wei(value: object) -> str:
    return "unknown" if value is None else format_amount(int(str(value)))


def cmd_node_peers(args: argparse.Namespace) -> int:
    """Print the connected peers."""
    home = _home(args)
    with daemon_errors():
        peers = ApiClient.for_home(home).get("/peers")["peers"]
    if args.json:
        _print_json(peers)
        return OK
    if not peers:
        print("no peers connected")
    for peer in peers:
        print(f"{peer['peer_id']}  {peer['account'] or '(account not yet bound)'}")
    return OK


def cmd_node_provers(args: argparse.Namespace) -> int:
    """Print the provers heard recently."""
    home = _home(args)
    with daemon_errors():
        provers = ApiClient.for_home(home).get("/provers")["provers"]
    if args.json:
        _print_json(provers)
        return OK
    if not provers:
        print("no prover heartbeat heard recently")
    for p in provers:
        models = ",".join(str(m) for m in p["models"]) or "-"
        print(
            f"{p['account']}  peer {p['peer_id']}  free {p['free_capacity']}  "
            f"{_wei(p['price_per_1k_constraints'])}/1k constraints  "
            f"{p['proving_rate']} constraints/s  models {models}  {p['age_s']:g} s ago"
        )
    return OK


def _checked_amount(text: str) -> str:
    try:
        if parse_amount(text) <= 0:
            raise CliError("the amount must be more than zero", USAGE)
    except AmountError as exc:
        raise CliError(str(exc), USAGE) from exc
    return text


def _stake_call(args: argparse.Namespace, method: str, path: str, body: object = None) -> Any:
    with daemon_errors():
        client = ApiClient.for_home(_home(args), timeout_s=STAKE_TIMEOUT_S)
        return client.get(path) if method == "GET" else client.post(path, body)


def _print_stake(stake: Mapping[str, Any], *, as_json: bool) -> None:
    if as_json:
        _print_json(stake)
        return
    if "tx" in stake:
        print(f"transaction {stake['tx']}")
    if "paid" in stake:
        print(f"paid        {_wei(stake['paid'])}")
    print(f"address     {stake['address']}")
    print(f"stake       {_wei(stake['stake'])}")
    print(f"locked      {_wei(stake['locked'])}")
    print(f"free        {_wei(stake['free'])}")
    pending = int(stake["pending_withdrawal"])
    if pending:
        ready = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stake["available_at"]))
        print(f"withdrawing {_wei(pending)}, payable from {ready}")


def cmd_stake_deposit(args: argparse.Namespace) -> int:
    """Deposit stake."""
    body = {"amount": _checked_amount(args.amount)}
    _print_stake(_stake_call(args, "POST", "/stake/deposit", body), as_json=args.json)
    return OK


def cmd_stake_status(args: argparse.Namespace) -> int:
    """Show the stake."""
    _print_stake(_stake_call(args, "GET", "/stake"), as_json=args.json)
    return OK


def cmd_stake_withdraw(args: argparse.Namespace) -> int:
    """Request a withdrawal, or complete the pending one."""
    if args.complete:
        answer = _stake_call(args, "POST", "/stake/withdraw/complete", {})
    else:
        body = {"amount": _checked_amount(args.amount)}
        answer = _stake_call(args, "POST", "/stake/withdraw", body)
    _print_stake(answer, as_json=args.json)
    return OK
