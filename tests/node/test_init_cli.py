"""``provernet node init`` end to end through the CLI entry point, in a temporary home."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from node.anvil import DEV_PRIVATE_KEYS, AnvilProcess, rpc_call
from node.chain.deploy import Deployment, DeployParams, deploy_contracts
from node.chain.rpc import connect
from node.chain.sender import TxSender
from node.cli import main
from node.config import load_config
from node.exit_codes import OK, USAGE
from node.keys import PASSWORD_ENV, dev_account, load_keystore

PEER = "12D3KooWDQsrj984TGqN4AW4TQDxAGdgqYGA7Yun1ekscpyAjLaL"
CONTRACTS = {
    "ModelRegistry": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "ProverStaking": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "JobMarket": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
}


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    path = tmp_path / "deployment.json"
    Deployment(31337, 3, CONTRACTS).save(path)
    return path


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv("PROVERNET_HOME", raising=False)


def init(home: Path, deployment: Path, *extra: str) -> int:
    return main(
        ["--home", str(home), "node", "init", "--rpc-url", "http://127.0.0.1:8545",
         "--deployment", str(deployment), *extra]
    )  # fmt: skip


def keystore_address(path: Path) -> str:
    """The address a keystore declares in clear (decrypting costs a second of scrypt)."""
    return str(to_checksum_address("0x" + json.loads(path.read_text())["address"]))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_home_with_an_encrypted_new_key(
    tmp_path: Path, deployment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, password = tmp_path / "alice", tmp_path / "password"
    password.write_text("correct horse\n")
    listen = "/ip4/127.0.0.1/tcp/4100"
    bootstrap = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
    code = init(home, deployment, "--role", "both", "--password-file", str(password),
                "--listen", listen, "--bootstrap", bootstrap, "--json")  # fmt: skip
    assert code == OK
    report = json.loads(capsys.readouterr().out)
    assert mode(home) == 0o700
    for name in ("config.toml", "keystore.json", "p2p.key"):
        assert mode(home / name) == 0o600, name
    account = load_keystore(home / "keystore.json", "correct horse")
    assert report["address"] == account.address
    assert account.key.hex() not in (home / "keystore.json").read_text()
    assert report["peer_id"].startswith("12D3KooW")
    config = load_config(home, {}, {})
    assert config.chain.chain_id == 31337
    assert config.chain.deployment_block == 3
    assert config.chain.contracts == CONTRACTS
    assert config.roles.requester
    assert config.roles.prover
    assert config.p2p.listen == (listen,)
    assert config.p2p.bootstrap == (bootstrap,)
    assert config.keys.password_file == password.absolute()


def test_init_refuses_to_replace_a_key_without_force(
    tmp_path: Path, deployment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "bob"
    assert init(home, deployment, "--dev-account", "1") == OK
    peer_key = (home / "p2p.key").read_bytes()
    capsys.readouterr()
    assert init(home, deployment, "--dev-account", "2") == USAGE
    error = capsys.readouterr().err
    assert "refusing to overwrite" in error
    assert "loses the money" in error
    assert dev_account(1).address[2:].lower() in error.lower()
    assert keystore_address(home / "keystore.json") == dev_account(1).address
    assert init(home, deployment, "--dev-account", "2", "--force") == OK
    assert load_keystore(home / "keystore.json", "").address == dev_account(2).address
    (backup,) = home.glob("keystore.json.replaced-*")
    assert keystore_address(backup) == dev_account(1).address
    assert (home / "p2p.key").read_bytes() == peer_key  # the peer identity is kept


def test_a_dev_account_may_use_an_empty_password_recorded_for_run(
    tmp_path: Path, deployment: Path
) -> None:
    home = tmp_path / "carol"
    assert init(home, deployment, "--dev-account", "0", "--role", "prover") == OK
    config = load_config(home, {}, {})
    assert config.keys.password_file == home / "keystore.password"
    assert config.keys.password_file.read_text() == ""
    assert mode(config.keys.password_file) == 0o600
    assert config.roles.prover
    assert not config.roles.requester


def test_an_imported_key_is_kept_under_the_environment_password(
    tmp_path: Path, deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key.hex"
    key_file.write_text(DEV_PRIVATE_KEYS[5] + "\n")
    monkeypatch.setenv(PASSWORD_ENV, "from the environment")
    monkeypatch.setenv("PROVERNET_HOME", str(tmp_path / "dave"))
    assert main(["node", "init", "--rpc-url", "http://127.0.0.1:8545", "--deployment",
                 str(deployment), "--import-key-file", str(key_file)]) == OK  # fmt: skip
    account = load_keystore(tmp_path / "dave" / "keystore.json", "from the environment")
    assert account.address == Account.from_key(DEV_PRIVATE_KEYS[5]).address
    assert load_config(tmp_path / "dave", {}, {}).keys.password_file is None


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "the keystore needs a password: pass --password-file FILE or set"),
        (("--password-file", "/nonexistent/pw"), {}, "cannot read the password file"),
        ((), {PASSWORD_ENV: ""}, "the keystore password is empty"),
        (("--bootstrap", "/ip4/1.2.3.4/tcp/1"), {PASSWORD_ENV: "pw"}, "p2p.bootstrap: "),
        (("--import-key-file", "/nonexistent/key"), {PASSWORD_ENV: "pw"}, "cannot read the key"),
    ],
)
def test_init_refuses_bad_input_before_writing_anything(
    tmp_path: Path,
    deployment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert init(tmp_path / "home", deployment, *args) == USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "home").exists()


def test_init_refuses_a_bad_deployment_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "deployment.json"
    bad.write_text(json.dumps({"format": "provernet-deployment", "version": 1, "chain_id": 1}))
    assert init(tmp_path / "home", bad, "--dev-account", "0") == USAGE
    assert "malformed deployment" in capsys.readouterr().err
    assert init(tmp_path / "home", tmp_path / "absent.json", "--dev-account", "0") == USAGE
    assert "cannot read the deployment file" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()


def test_check_asks_the_rpc_whether_the_deployment_is_live(
    tmp_path: Path, anvil: AnvilProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = rpc_call(anvil.rpc_url, "evm_snapshot")
    try:
        w3 = connect(anvil.rpc_url, expected_chain_id=anvil.chain_id)
        live = deploy_contracts(TxSender(w3, dev_account(0)), DeployParams())
        path = tmp_path / "live.json"
        live.save(path)
        args = ("--dev-account", "0", "--check")
        url = ["--rpc-url", anvil.rpc_url]
        assert main(["--home", str(tmp_path / "a"), "node", "init", *url,
                     "--deployment", str(path), *args]) == OK  # fmt: skip
        Deployment(anvil.chain_id, 0, {k: "0x" + "12" * 20 for k in CONTRACTS}).save(path)
        assert main(["--home", str(tmp_path / "b"), "node", "init", *url,
                     "--deployment", str(path), *args]) == USAGE  # fmt: skip
        assert "no contract code for" in capsys.readouterr().err
        dataclasses.replace(live, chain_id=1).save(path)
        assert main(["--home", str(tmp_path / "c"), "node", "init", *url,
                     "--deployment", str(path), *args]) == USAGE  # fmt: skip
        assert "serves chain id" in capsys.readouterr().err
        assert not (tmp_path / "b").exists()
    finally:
        rpc_call(anvil.rpc_url, "evm_revert", [snapshot])
