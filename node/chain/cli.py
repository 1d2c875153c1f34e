"""``provernet contracts ...``: deploy provernet's contracts to a chain.

``contracts deploy`` deploys and wires the contracts from one account (an anvil dev
account or an encrypted keystore) and writes the deployment file every node
loads. Progress goes to stderr, the result to stdout (``--json`` for scripts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from eth_account.signers.local import LocalAccount

from node import config_fields, keys
from node.anvil import DEFAULT_CHAIN_ID
from node.chain.deploy import Deployment, DeployParams, deploy_contracts
from node.chain.errors import (
    ChainError,
    DeploymentFileError,
    InvalidRpcUrl,
    RpcUnreachable,
    WrongChain,
)
from node.chain.rpc import RetryPolicy, connect
from node.chain.sender import TxSender
from node.exit_codes import FAILED, OK, UNAVAILABLE, USAGE, CliError


def parse_duration(text: str) -> int:
    """Whole seconds in ``text``: ``90``, ``90s``, ``15m``, ``1h``, ``7d`` (argparse type)."""
    try:
        seconds = config_fields.parse_duration(text)
    except ValueError:
        seconds = -1.0
    if seconds < 0 or not seconds.is_integer():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration in whole seconds (e.g. 3600, 15m, 1h, 7d)"
        )
    return int(seconds)


def add_contracts_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``contracts deploy``."""
    group = subparsers.add_parser("contracts", help="deploy provernet's contracts")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    deploy = commands.add_parser(
        "deploy",
        help="deploy ModelRegistry, ProverStaking and JobMarket and write a deployment file",
    )
    deploy.add_argument("--rpc-url", required=True, help="Ethereum JSON-RPC endpoint")
    deploy.add_argument(
        "--chain-id", type=int, help="refuse to deploy unless the RPC serves this chain id"
    )
    deploy.add_argument(
        "--rpc-attempts",
        type=int,
        default=RetryPolicy().attempts,
        metavar="N",
        help="tries per RPC read before giving up (default: %(default)s)",
    )
    add_key_options(deploy)
    _add_deploy_params(deploy)
    deploy.add_argument("--out", type=Path, required=True, help="deployment file to write")
    deploy.add_argument("--force", action="store_true", help="replace an existing --out file")
    deploy.add_argument("--json", action="store_true", help="print the deployment as JSON")
    deploy.set_defaults(func=cmd_deploy)


def add_key_options(parser: argparse.ArgumentParser) -> None:
    """``--dev-account N | --keystore FILE [--password-file FILE]`` (read by ``account_from``)."""
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument(
        "--dev-account", type=int, metavar="N", help="sign with anvil's dev account N (0-9)"
    )
    key.add_argument("--keystore", type=Path, metavar="FILE", help="encrypted JSON keystore")
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help=f"keystore password file (default: ${keys.PASSWORD_ENV})",
    )


def _add_deploy_params(parser: argparse.ArgumentParser) -> None:
    defaults = DeployParams()
    parser.add_argument(
        "--withdrawal-delay",
        type=parse_duration,
        default=defaults.withdrawal_delay_s,
        metavar="DURATION",
        help="wait between a stake withdrawal request and its payout (default: 7d)",
    )


def account_from(args: argparse.Namespace) -> LocalAccount:
    """The signing account chosen by ``add_key_options``; raises KeyLoadError."""
    if args.dev_account is not None:
        return keys.dev_account(args.dev_account)
    if not args.keystore.is_file():
        raise keys.KeyLoadError(f"the keystore {args.keystore} does not exist")
    return keys.load_keystore(args.keystore, keys.read_password(args.password_file, os.environ))


def _check_out(path: Path, force: bool) -> None:
    """Fail before spending gas if the deployment file cannot be written."""
    if path.exists() and not force:
        raise CliError(f"{path} already exists; pass --force to replace it", USAGE)
    if not path.parent.is_dir():
        raise CliError(f"the folder {path.parent} does not exist", USAGE)


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy the contracts and write the deployment file."""
    _check_out(args.out, args.force)
    try:
        account = account_from(args)
        params = DeployParams(args.withdrawal_delay)
    except (keys.KeyLoadError, ValueError) as exc:
        raise CliError(str(exc), USAGE) from exc
    try:
        retry = RetryPolicy(attempts=max(1, args.rpc_attempts))
        w3 = connect(args.rpc_url, expected_chain_id=args.chain_id, retry=retry)
        _announce(args, account.address, int(w3.eth.chain_id))
        progress = None if args.json else (lambda line: print(f"  {line}", file=sys.stderr))
        deployment = deploy_contracts(TxSender(w3, account), params, progress=progress)
        deployment.save(args.out)
    except RpcUnreachable as exc:
        raise CliError(str(exc), UNAVAILABLE) from exc
    except (DeploymentFileError, InvalidRpcUrl, WrongChain) as exc:
        raise CliError(str(exc), USAGE) from exc
    except ChainError as exc:
        raise CliError(str(exc), FAILED) from exc
    _report(deployment, args.out, as_json=args.json)
    return OK


def _announce(args: argparse.Namespace, deployer: str, chain_id: int) -> None:
    if args.dev_account is not None and chain_id != DEFAULT_CHAIN_ID:
        print(
            f"warning: dev account keys are public; anyone can take what account "
            f"{args.dev_account} holds on chain {chain_id}",
            file=sys.stderr,
        )
    if not args.json:
        print(f"deploying from {deployer} to chain {chain_id}", file=sys.stderr)


def _report(deployment: Deployment, out: Path, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**deployment.to_json(), "out": str(out)}, indent=2))
        return
    for name, address in deployment.contracts.items():
        print(f"{name:<14} {address}")
    print(f"wrote {out} (chain {deployment.chain_id}, from block {deployment.block})")
