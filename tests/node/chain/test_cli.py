from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from eth_account import Account
from eth_typing import HexStr
from web3 import Web3

from node.anvil import DEV_PRIVATE_KEYS, AnvilProcess
from node.chain.cli import add_contracts_commands, parse_duration
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.exit_codes import UNAVAILABLE, USAGE
from node.keys import dev_account


def provernet(argv: Sequence[str]) -> int:
    """Run the ``provernet`` command line in-process."""
    try:
        from node.cli import main
    except ImportError:  # the top-level command is assembled elsewhere
        parser = argparse.ArgumentParser(prog="provernet")
        add_contracts_commands(parser.add_subparsers(dest="group"))
        args = parser.parse_args(list(argv))
        return int(args.func(args))
    return main(list(argv))


def deploy_args(rpc_url: str, out: Path, *extra: str) -> list[str]:
    return ["contracts", "deploy", "--rpc-url", rpc_url, "--out", str(out), *extra]


def test_deploy_with_a_dev_account_writes_the_deployment_file(
    chain: AnvilProcess, w3: Web3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deployment.json"
    argv = deploy_args(chain.rpc_url, out, "--dev-account", "2", "--withdrawal-delay", "10m")
    assert provernet([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    deployment = Deployment.load(out)
    assert printed["contracts"] == dict(deployment.contracts)
    assert deployment.chain_id == chain.chain_id
    assert deployment.deployer == dev_account(2).address
    assert deployment.params == {"withdrawal_delay_s": 600}
    staking = Web3Chain(w3, deployment, dev_account(1)).contracts["ProverStaking"]
    assert staking.call("withdrawalDelay") == 600
    deployment.check(w3)  # every address holds code on this chain
    first_tx = w3.eth.get_block(deployment.block)["transactions"][0]
    assert isinstance(first_tx, bytes)
    assert w3.eth.get_transaction(first_tx)["from"] == dev_account(2).address


def test_deploy_with_a_keystore(
    chain: AnvilProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keystore, password = tmp_path / "key.json", tmp_path / "password"
    # A cheap KDF keeps the test fast; real keystores use scrypt.
    encrypted = Account.encrypt(HexStr(DEV_PRIVATE_KEYS[3]), "s3cret", kdf="pbkdf2", iterations=2)
    keystore.write_text(json.dumps(encrypted))
    password.write_text("s3cret\n")
    out = tmp_path / "deployment.json"
    argv = deploy_args(chain.rpc_url, out, "--keystore", str(keystore))
    assert provernet([*argv, "--password-file", str(password)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (chain {chain.chain_id}" in printed
    assert Deployment.load(out).deployer == dev_account(3).address
    password.write_text("wrong\n")
    assert provernet([*argv, "--password-file", str(password), "--force"]) == USAGE
    assert "wrong password" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--chain-id", "1"], USAGE, "serves chain id 31337, but chain id 1"),
        (["--dev-account", "11"], USAGE, "dev account 11 does not exist"),
        (["--rpc-url", "localhost:8545"], USAGE, "is not an RPC URL"),
    ],
)
def test_configuration_errors_exit_2_with_one_line(
    chain: AnvilProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    code: int,
    message: str,
) -> None:
    key = [] if "--dev-account" in extra else ["--dev-account", "0"]
    assert provernet(deploy_args(chain.rpc_url, tmp_path / "d.json", *key, *extra)) == code
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "d.json").exists()


def test_the_rescue_window_option_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Settlement v2 has no rescue window: an old script's option is a usage error."""
    argv = deploy_args("http://127.0.0.1:9", tmp_path / "d.json", "--dev-account", "0")
    with pytest.raises(SystemExit) as caught:
        provernet([*argv, "--rescue-window", "10m"])
    assert caught.value.code == USAGE
    assert "--rescue-window" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()


def test_an_existing_deployment_file_is_not_replaced_without_force(
    chain: AnvilProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deployment.json"
    out.write_text("keep me")
    assert provernet(deploy_args(chain.rpc_url, out, "--dev-account", "0")) == USAGE
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me"


def test_unreachable_rpc_exits_quickly_with_its_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = deploy_args("http://127.0.0.1:9", tmp_path / "d.json", "--dev-account", "0")
    assert provernet([*argv, "--rpc-attempts", "1"]) == UNAVAILABLE
    assert "cannot reach the Ethereum RPC at http://127.0.0.1:9" in capsys.readouterr().err


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "1h", "7d")] == [
        90,
        90,
        900,
        3600,
        7 * 86400,
    ]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("1 week")
