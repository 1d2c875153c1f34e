"""The node's Ethereum signing key: anvil dev accounts or an encrypted JSON keystore.

Keystores follow the Web3 Secret Storage format (the files geth, clef and
``cast wallet`` write). The password comes from a file or an environment variable
that the caller names; nothing here reads the environment by itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.anvil import DEV_PRIVATE_KEYS
from node.home import write_secret

PASSWORD_ENV = "PROVERNET_KEYSTORE_PASSWORD"


class KeyLoadError(Exception):
    """A signing key could not be loaded; the message says which and what to do."""


def dev_account(index: int) -> LocalAccount:
    """anvil's funded dev account number ``index`` (0-9); for devnets and tests only."""
    if not 0 <= index < len(DEV_PRIVATE_KEYS):
        raise KeyLoadError(
            f"dev account {index} does not exist; anvil has accounts 0 to "
            f"{len(DEV_PRIVATE_KEYS) - 1}"
        )
    account: LocalAccount = Account.from_key(DEV_PRIVATE_KEYS[index])
    return account


def read_password(password_file: Path | None, env: Mapping[str, str]) -> str:
    """The keystore password: the first line of ``password_file``, else the env variable."""
    if password_file is not None:
        try:
            lines = password_file.read_text().splitlines()
        except OSError as exc:
            raise KeyLoadError(f"cannot read the password file {password_file}: {exc}") from exc
        return lines[0] if lines else ""
    password = env.get(PASSWORD_ENV)
    if password is None:
        raise KeyLoadError(
            f"the keystore needs a password: pass --password-file FILE or set {PASSWORD_ENV}"
        )
    return password


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt an encrypted JSON keystore file."""
    try:
        keyfile = json.loads(path.read_text())
    except OSError as exc:
        raise KeyLoadError(f"cannot read the keystore {path}: {exc}") from exc
    except ValueError as exc:
        raise KeyLoadError(f"the keystore {path} is not JSON: {exc}") from exc
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError as exc:
        raise KeyLoadError(f"cannot decrypt the keystore {path}: {exc} (wrong password?)") from exc
    account: LocalAccount = Account.from_key(key)
    return account


def write_keystore(account: LocalAccount, path: Path, password: str) -> None:
    """Encrypt ``account`` into a new keystore file, mode 0600 (refuses to overwrite one)."""
    if path.exists():
        raise KeyLoadError(f"{path} already exists; choose another path")
    write_secret(path, json.dumps(Account.encrypt(account.key, password)).encode())
