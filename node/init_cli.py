"""``provernet node init``: create a node's home, configuration and keys.

``node init`` works offline: it copies the deployment file's chain id, first
block and contract addresses into config.toml, creates an encrypted Ethereum
keystore (a new random key, an imported one, or an anvil dev account) and a
libp2p identity, and prints the node's address and peer id. ``--check`` also asks
the RPC whether the deployment is live there.

The keystore password comes from ``--password-file`` or
``$PROVERNET_KEYSTORE_PASSWORD``; without either, init refuses, except with
``--dev-account``, whose keys are public anyway: then the password is empty and
an empty ``keystore.password`` is written next to it (devnets only). A password
file's path is recorded in config.toml so ``node run`` can start unattended.

An existing home's key is never overwritten without ``--force``: the key controls
the node's stake and earnings. With ``--force`` the old keystore is kept beside
the new one as ``keystore.json.replaced-<unix time>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node import keys
from node.chain.deploy import Deployment
from node.chain.errors import ChainError, DeploymentFileError, RpcUnreachable
from node.config import ConfigError, render_config
from node.exit_codes import FAILED, OK, UNAVAILABLE, USAGE, CliError
from node.home import (
    HomeError,
    HomeLayout,
    HomeLockedError,
    acquire_home_lock,
    create_home,
    resolve_home,
    write_secret,
)

DEV_PASSWORD_FILE = "keystore.password"
ROLES = {"requester": (True, False), "prover": (False, True), "both": (True, True)}


def add_node_init_command(node_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``node init`` in the ``node`` group's subcommands."""
    init = node_commands.add_parser(
        "init", help="create the node's home: configuration, encrypted key, libp2p identity"
    )
    init.add_argument("--rpc-url", required=True, help="the chain's JSON-RPC endpoint")
    init.add_argument(
        "--deployment", type=Path, required=True, help="deployment file (contracts deploy --out)"
    )
    init.add_argument("--role", choices=sorted(ROLES), default="requester")
    init.add_argument(
        "--bootstrap", nargs="+", default=[], metavar="MULTIADDR", help="peers to dial first"
    )
    init.add_argument(
        "--listen", action="append", metavar="MULTIADDR", help="where to accept peers (repeatable)"
    )
    key = init.add_mutually_exclusive_group()
    key.add_argument(
        "--dev-account", type=int, metavar="N", help="use anvil's dev account N (devnets only)"
    )
    key.add_argument(
        "--import-key-file",
        type=Path,
        metavar="FILE",
        help="import a key: a hex private key on the first line, or a JSON keystore",
    )
    init.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help=f"keystore password file (default: ${keys.PASSWORD_ENV})",
    )
    init.add_argument(
        "--force", action="store_true", help="replace an existing home's key (kept as a backup)"
    )
    init.add_argument("--check", action="store_true", help="check the deployment on the RPC")
    init.add_argument("--json", action="store_true", help="print the result as JSON")
    init.set_defaults(func=cmd_node_init)


@dataclass(frozen=True)
class InitResult:
    """What ``node init`` made and where."""

    home: Path
    address: str
    peer_id: str
    chain_id: int
    roles: str

    def to_json(self) -> dict[str, Any]:
        layout = HomeLayout(self.home)
        return {
            "home": str(self.home),
            "address": self.address,
            "peer_id": self.peer_id,
            "chain_id": self.chain_id,
            "roles": self.roles,
            "config": str(layout.config),
            "keystore": str(layout.keystore),
            "p2p_key": str(layout.p2p_key),
            "database": str(layout.database),
        }


def cmd_node_init(args: argparse.Namespace) -> int:
    """Create or re-create a node home; see the module docstring."""
    env = dict(os.environ)
    home = resolve_home(args.home, env, Path.home()).absolute()
    deployment = _load_deployment(args.deployment)
    _refuse_overwrite(HomeLayout(home), args.force)  # early, and again under the lock
    config_values = _config_values(args, deployment)
    password, password_file = _password(args, env)
    dev_password = args.dev_account is not None and password_file is None and not password
    if password_file is not None:
        config_values["keys.password_file"] = str(password_file)
    elif dev_password:
        config_values["keys.password_file"] = DEV_PASSWORD_FILE
    try:
        config_text = render_config(config_values)
    except ConfigError as exc:
        raise CliError(str(exc), USAGE) from exc
    account = _account(args, password)
    if args.check:
        _check_rpc(args.rpc_url, deployment)
    try:
        layout = create_home(home)
        with acquire_home_lock(home):
            _refuse_overwrite(layout, args.force)
            _write_home(layout, config_text, account, password, dev_password=dev_password)
            peer_id = _identity(layout)
    except HomeLockedError as exc:
        raise CliError(str(exc), FAILED) from exc
    except (HomeError, OSError) as exc:
        raise CliError(f"cannot set up the node home: {exc}", FAILED) from exc
    result = InitResult(home, account.address, peer_id, deployment.chain_id, args.role)
    _report(result, as_json=args.json)
    return OK


def _load_deployment(path: Path) -> Deployment:
    try:
        return Deployment.load(path)
    except DeploymentFileError as exc:
        raise CliError(str(exc), USAGE) from exc


def _config_values(args: argparse.Namespace, deployment: Deployment) -> dict[str, Any]:
    requester, prover = ROLES[args.role]
    values: dict[str, Any] = {
        "chain.rpc_url": args.rpc_url,
        "chain.chain_id": deployment.chain_id,
        "chain.deployment_block": deployment.block,
        "chain.model_registry": deployment.contracts["ModelRegistry"],
        "chain.prover_staking": deployment.contracts["ProverStaking"],
        "chain.job_market": deployment.contracts["JobMarket"],
        "p2p.bootstrap": list(args.bootstrap),
        "roles.requester": requester,
        "roles.prover": prover,
    }
    if args.listen:
        values["p2p.listen"] = list(args.listen)
    return values


def _password(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, Path | None]:
    """The keystore password and the file it came from (None: the environment)."""
    if args.password_file is None and keys.PASSWORD_ENV not in env:
        if args.dev_account is not None:
            return "", None
        raise CliError(
            f"the keystore needs a password: pass --password-file FILE or set "
            f"{keys.PASSWORD_ENV} (only --dev-account may go without one)",
            USAGE,
        )
    try:
        password = keys.read_password(args.password_file, env)
    except keys.KeyLoadError as exc:
        raise CliError(str(exc), USAGE) from exc
    if not password and args.dev_account is None:
        raise CliError("the keystore password is empty; only --dev-account may use none", USAGE)
    return password, None if args.password_file is None else args.password_file.absolute()


def _account(args: argparse.Namespace, password: str) -> LocalAccount:
    try:
        if args.dev_account is not None:
            return keys.dev_account(args.dev_account)
        if args.import_key_file is not None:
            return _import_key(args.import_key_file, password)
    except keys.KeyLoadError as exc:
        raise CliError(str(exc), USAGE) from exc
    account: LocalAccount = Account.create()
    return account


def _import_key(path: Path, password: str) -> LocalAccount:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise keys.KeyLoadError(f"cannot read the key file {path}: {exc}") from exc
    if text.startswith("{"):
        return keys.load_keystore(path, password)
    try:
        account: LocalAccount = Account.from_key(text.splitlines()[0].strip())
    except (ValueError, IndexError) as exc:
        raise keys.KeyLoadError(
            f"{path} holds neither a hex private key nor a JSON keystore"
        ) from exc
    return account


def _check_rpc(rpc_url: str, deployment: Deployment) -> None:
    from node.chain.rpc import connect  # only --check talks to the network

    try:
        deployment.check(connect(rpc_url, expected_chain_id=deployment.chain_id))
    except RpcUnreachable as exc:
        raise CliError(str(exc), UNAVAILABLE) from exc
    except ChainError as exc:
        raise CliError(str(exc), USAGE) from exc


def _refuse_overwrite(layout: HomeLayout, force: bool) -> None:
    if force or not (layout.keystore.exists() or layout.config.exists()):
        return
    address = _keystore_address(layout.keystore)
    raise CliError(
        f"{layout.root} is already a node home{address}; refusing to overwrite its key: "
        "losing the key loses the money it has staked and earned. Use another --home, "
        "or pass --force (the old keystore is kept as a backup)",
        USAGE,
    )


def _keystore_address(path: Path) -> str:
    try:
        address = json.loads(path.read_text())["address"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f" (key 0x{address})" if isinstance(address, str) else ""


def _write_home(
    layout: HomeLayout,
    config_text: str,
    account: LocalAccount,
    password: str,
    *,
    dev_password: bool,
) -> None:
    if layout.keystore.exists():
        backup = layout.keystore.with_name(f"{layout.keystore.name}.replaced-{int(time.time())}")
        layout.keystore.rename(backup)
        print(f"kept the previous keystore as {backup}", file=sys.stderr)
    keystore = Account.encrypt(account.key, password)
    write_secret(layout.keystore, json.dumps(keystore).encode())
    if dev_password:
        write_secret(layout.root / DEV_PASSWORD_FILE, b"")
    write_secret(layout.config, config_text.encode())


def _identity(layout: HomeLayout) -> str:
    # libp2p takes most of a second to import: only commands that need it pay for it.
    from node.p2p.errors import IdentityError
    from node.p2p.identity import load_or_create_identity, peer_id_of

    try:
        return str(peer_id_of(load_or_create_identity(layout.p2p_key)).to_base58())
    except IdentityError as exc:
        raise HomeError(str(exc)) from exc


def _report(result: InitResult, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    layout = HomeLayout(result.home)
    print(f"node home      {result.home}")
    print(f"address        {result.address}")
    print(f"peer id        {result.peer_id}")
    print(f"chain          {result.chain_id}, roles: {result.roles}")
    print(f"config         {layout.config}")
    print(f"keystore       {layout.keystore} (encrypted)")
    print(f"p2p identity   {layout.p2p_key}")
    print("next: fund the address, then run `provernet node run`")
