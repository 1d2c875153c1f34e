from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from node.keys import (
    PASSWORD_ENV,
    KeyLoadError,
    dev_account,
    load_keystore,
    read_password,
    write_keystore,
)


def test_dev_accounts_are_anvils() -> None:
    assert dev_account(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    with pytest.raises(KeyLoadError, match="accounts 0 to 9"):
        dev_account(10)


def test_password_from_file_then_environment(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from file\nignored\n")
    assert read_password(secret, {PASSWORD_ENV: "from env"}) == "from file"
    assert read_password(None, {PASSWORD_ENV: "from env"}) == "from env"
    with pytest.raises(KeyLoadError, match="--password-file"):
        read_password(None, {})
    with pytest.raises(KeyLoadError, match="cannot read the password file"):
        read_password(tmp_path / "absent", {})


def test_keystore_round_trip_and_failures(tmp_path: Path) -> None:
    account = Account.create()
    path = tmp_path / "key.json"
    # A cheap KDF keeps the test fast; write_keystore itself uses the default scrypt.
    path.write_text(json.dumps(Account.encrypt(account.key, "pw", kdf="pbkdf2", iterations=2)))
    assert load_keystore(path, "pw").address == account.address
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_keystore(path, "not it")
    with pytest.raises(KeyLoadError, match="already exists"):
        write_keystore(account, path, "pw")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(KeyLoadError, match="not JSON"):
        load_keystore(tmp_path / "bad.json", "pw")
    with pytest.raises(KeyLoadError, match="cannot read"):
        load_keystore(tmp_path / "absent.json", "pw")


def test_written_keystore_is_private_and_decrypts(tmp_path: Path) -> None:
    account = Account.create()
    path = tmp_path / "new.json"
    write_keystore(account, path, "pw")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keystore(path, "pw").address == account.address
