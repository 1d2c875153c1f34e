"""What the daemon opens before its services start: logging, the key, the chain, the store.

Each opener turns the failures a user can fix into ``DaemonError`` with a one-line
message and the CLI exit code of its kind (an unreachable RPC is UNAVAILABLE).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3.exceptions import TransactionNotFound

from node import exit_codes, keys
from node.chain.client import Web3Chain
from node.chain.errors import ChainError, RpcUnreachable
from node.chain.sender import Receipt, TxRecord, TxStatus
from node.config import NodeConfig
from node.home import HomeLayout
from node.store import Store, StoreError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DaemonError(Exception):
    """The daemon cannot start; the message says why, ``code`` is the CLI exit code."""

    def __init__(self, message: str, code: int = exit_codes.FAILED) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def daemon_logging(home: Path, level: str) -> Iterator[None]:
    """Log to stderr and ``<home>/logs/node.log`` at ``level`` for the ``with`` block."""
    layout = HomeLayout(home)
    layout.logs.mkdir(mode=0o700, parents=True, exist_ok=True)
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stderr),
        logging.FileHandler(layout.logs / "node.log", encoding="utf-8"),
    ]
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(level.upper())
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    # py-libp2p's loggers do not propagate by default (LIBP2P_NOTES).
    logging.getLogger("libp2p").propagate = True
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(old_level)


def load_account(config: NodeConfig, env: Mapping[str, str]) -> LocalAccount:
    """The node's Ethereum key, decrypted with the configured password source."""
    try:
        if config.keys.password_file is not None:
            password = keys.read_password(config.keys.password_file, {})
        elif config.keys.password_env in env:
            password = env[config.keys.password_env]
        else:
            raise keys.KeyLoadError(
                f"the keystore needs a password: set keys.password_file in config.toml "
                f"or ${config.keys.password_env}"
            )
        return keys.load_keystore(config.keys.keystore, password)
    except keys.KeyLoadError as exc:
        raise DaemonError(str(exc), exit_codes.USAGE) from exc


def open_chain(config: NodeConfig, account: LocalAccount) -> Web3Chain:
    """The chain client; checks the chain id and the contracts' code (blocks: use a thread)."""
    try:
        return Web3Chain.open(
            config.chain.rpc_url,
            config.chain.to_deployment(),
            account,
            confirmations=config.chain.confirmations,
            max_log_range=config.chain.max_log_range,
        )
    except RpcUnreachable as exc:
        raise DaemonError(str(exc), exit_codes.UNAVAILABLE) from exc
    except ChainError as exc:
        raise DaemonError(str(exc), exit_codes.USAGE) from exc


def open_store(home: Path, config: NodeConfig) -> Store:
    """The home's store, bound to the configured chain and contracts."""
    try:
        return Store.open(
            HomeLayout(home).database,
            chain_id=config.chain.chain_id,
            contracts=config.chain.contracts,
        )
    except StoreError as exc:
        raise DaemonError(str(exc), exit_codes.USAGE) from exc


class Web3TxLookup:
    """``node.engine.TxLookup`` on the chain client's web3 connection."""

    def __init__(self, chain: Web3Chain) -> None:
        self.chain = chain

    def receipt_of(self, tx_hash: str) -> Receipt | None:
        try:
            return Receipt.from_web3(self.chain.w3.eth.get_transaction_receipt(HexStr(tx_hash)))
        except TransactionNotFound:
            return None

    def status_of(self, sender: str, tx_hash: str, nonce: int) -> TxStatus:
        # reconcile() reads the sender, hash and nonce only; it never broadcasts.
        record = TxRecord("reconcile", sender, None, 0, "0x", nonce, 0, 0, 0, 0, tx_hash, "0x")
        return self.chain.sender.reconcile(record)
