"""``node run`` refuses to start with one clear line and the exit code of the failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.anvil import AnvilProcess, free_port
from node.chain.deploy import Deployment
from node.exit_codes import FAILED, UNAVAILABLE, USAGE
from node.home import acquire_home_lock
from tests.node.daemon.harness import Home, init_home

# Addresses with no code on a fresh anvil (nothing deployed there in these tests).
NOWHERE = {
    "ModelRegistry": "0x00000000000000000000000000000000000000a1",
    "ProverStaking": "0x00000000000000000000000000000000000000a2",
    "JobMarket": "0x00000000000000000000000000000000000000a3",
}


@pytest.fixture
def carol(tmp_path: Path, anvil: AnvilProcess, capsys: pytest.CaptureFixture[str]) -> Home:
    path = tmp_path / "deployment.json"
    Deployment(anvil.chain_id, 0, NOWHERE).save(path)
    return init_home(tmp_path, "carol", path, anvil.rpc_url, 3, lambda: capsys.readouterr().out)


def run(home: Home, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = home.cli("node", "run")
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return code, errors[0]


@pytest.mark.slow
def test_an_unreachable_rpc_is_unavailable(
    carol: Home, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVERNET_RPC_URL", f"http://127.0.0.1:{free_port()}")
    code, error = run(carol, capsys)
    assert code == UNAVAILABLE
    assert "cannot reach the Ethereum RPC" in error


def test_the_wrong_chain_and_missing_contracts_are_refused(
    carol: Home, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, error = run(carol, capsys)
    assert code == USAGE
    assert "no contract code for" in error
    monkeypatch.setenv("PROVERNET_CHAIN_ID", "5")
    code, error = run(carol, capsys)
    assert code == USAGE
    assert "serves chain id 31337, but chain id 5 was expected" in error
    assert not (carol.root / "api.json").exists()


def test_a_home_in_use_is_refused(carol: Home, capsys: pytest.CaptureFixture[str]) -> None:
    with acquire_home_lock(carol.root):
        code, error = run(carol, capsys)
    assert code == FAILED
    assert f"is in use by process {os.getpid()}" in error
