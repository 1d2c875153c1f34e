"""Two daemons as real processes on the session's anvil and real libp2p on 127.0.0.1.

alice and bob are ``node init``-ed with anvil dev accounts 1 and 2; bob bootstraps
from alice. The CLI in this process talks to them through their local APIs.
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path
from typing import Any

import pytest
import trio
from web3 import Web3

from node.anvil import AnvilProcess, rpc_call
from node.api.client import ApiClient
from node.chain.deploy import Deployment
from node.config import load_config
from node.daemon import DaemonError, run_node
from node.exit_codes import FAILED, UNAVAILABLE, USAGE
from node.home import acquire_home_lock
from tests.node.daemon.harness import (
    DAEMON_ENV,
    Home,
    alice_and_bob,
    cli_json,
    init_home,
    running,
    wait_for,
    wait_until_up,
)

ETH = 10**18

pytestmark = pytest.mark.slow


def status(home: Home, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    answer: dict[str, Any] = cli_json(home, capsys, "node", "status")
    return answer


def staked(w3: Web3, deployed: Deployment, address: str) -> tuple[int, int]:
    """(stakeOf(address) via ProverStaking, the contract's ether balance)."""
    staking = deployed.address("ProverStaking")
    abi = [{"type": "function", "name": "stakeOf", "stateMutability": "view",
            "inputs": [{"name": "prover", "type": "address"}],
            "outputs": [{"name": "stake", "type": "uint256"},
                        {"name": "locked", "type": "uint256"}]}]  # fmt: skip
    stake, _ = w3.eth.contract(address=staking, abi=abi).functions.stakeOf(address).call()
    return int(stake), int(w3.eth.get_balance(staking))


def test_two_daemons_peer_stake_sync_and_stop(
    anvil: AnvilProcess,
    w3: Web3,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment
    alice, bob = alice_and_bob(tmp_path, path, anvil.rpc_url, capsys)
    with running(alice, bob):
        for home in (alice, bob):
            wait_until_up(home, capsys)

        # They meet over libp2p and each learns the other's account from its peer record.
        def alice_sees_bob() -> bool:
            peers = cli_json(alice, capsys, "node", "peers")
            return any(p["peer_id"] == bob.peer_id and p["account"] == bob.address for p in peers)

        wait_for(alice_sees_bob, 20, "alice to see bob's bound peer record")
        bob_peers = cli_json(bob, capsys, "node", "peers")
        assert [p["peer_id"] for p in bob_peers] == [alice.peer_id]

        # Stake: exactly 1 ETH moves into ProverStaking, and stake status says so.
        before_stake, before_balance = staked(w3, deployed, bob.address)
        deposit = cli_json(bob, capsys, "stake", "deposit", "1eth")
        after_stake, after_balance = staked(w3, deployed, bob.address)
        assert (after_stake - before_stake, after_balance - before_balance) == (ETH, ETH)
        assert w3.eth.get_transaction_receipt(deposit["tx"])["status"] == 1
        shown = cli_json(bob, capsys, "stake", "status")
        assert (shown["stake"], shown["locked"], shown["free"]) == (str(ETH), "0", str(ETH))

        # Withdrawals: the request waits out the delay; completing early says until when.
        requested = cli_json(bob, capsys, "stake", "withdraw", "0.25eth")
        assert requested["pending_withdrawal"] == str(ETH // 4)
        assert requested["stake"] == str(3 * ETH // 4)
        capsys.readouterr()
        assert bob.cli("stake", "withdraw", "--complete") == FAILED
        err = capsys.readouterr().err
        assert "withdrawal delay has not passed" in err
        assert str(requested["available_at"]) in err
        assert bob.cli("stake", "withdraw", "5eth") == FAILED
        assert "is free" in capsys.readouterr().err
        assert bob.cli("stake", "deposit", "1 banana") == USAGE
        capsys.readouterr()
        assert bob.cli("stake", "deposit", "1000000eth") == FAILED  # dev accounts hold 10,000
        assert "insufficient balance" in capsys.readouterr().err

        # Chain sync follows the head: mined blocks are processed.
        first = status(alice, capsys)["node"]
        rpc_call(anvil.rpc_url, "anvil_mine", ["0x3"])
        target = first["head_block"] + 3

        def alice_processed() -> dict[str, Any] | None:
            node: dict[str, Any] = status(alice, capsys)["node"]
            return node if node["processed_block"] >= target else None

        later = wait_for(alice_processed, 15, "alice to process the mined blocks")
        assert later["head_block"] >= target
        assert later["events_applied"] >= 2  # bob's deposit and withdrawal request
        bob_status = status(bob, capsys)["node"]
        assert bob_status["stake"]["stake"] == str(3 * ETH // 4)
        assert bob_status["open_intents"] == 0
        assert bob_status["peers"] == 1

        # SIGTERM: a clean exit; SIGKILL: gone at once. Either way the CLI says so.
        assert bob.stop(signal.SIGTERM) == 0
        capsys.readouterr()
        assert bob.cli("node", "status") == UNAVAILABLE
        assert "is not running" in capsys.readouterr().err
        assert alice.stop(signal.SIGKILL) == -signal.SIGKILL
        assert alice.cli("stake", "status") == UNAVAILABLE
        assert f"the provernet daemon for {alice.root} is not running" in capsys.readouterr().err

        # Restarted after SIGKILL, alice resumes from her stored cursor: nothing is replayed.
        alice.start()
        wait_until_up(alice, capsys)
        again = wait_for(alice_processed, 15, "alice to catch up after the restart")
        assert again["events_applied"] == 0
        assert alice.stop(signal.SIGINT) == 0
    assert "shutting down" in bob.log()
    assert (bob.root / "logs" / "node.log").read_text().count("running; API on port") == 1


async def test_run_node_in_process_reports_its_addresses_and_cleans_up(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def out() -> str:
        return capsys.readouterr().out

    dave = init_home(tmp_path, "dave", deployment[1], anvil.rpc_url, 4, out)
    config = load_config(dave.root, DAEMON_ENV, {})
    run = functools.partial(run_node, config, dave.root, env={}, handle_signals=False)
    async with trio.open_nursery() as nursery:
        info = await nursery.start(run)
        assert (info.address, info.peer_id) == (dave.address, dave.peer_id)
        assert f"/ip4/127.0.0.1/tcp/{dave.port}/p2p/{dave.peer_id}" in info.listen_addrs
        with pytest.raises(DaemonError, match="is in use by process"):
            await run_node(config, dave.root, env={}, handle_signals=False)
        client = await trio.to_thread.run_sync(ApiClient.for_home, dave.root)
        answer = await trio.to_thread.run_sync(client.get, "/status")
        assert answer["ready"] is True
        assert answer["node"]["roles"] == ["requester", "prover"]
        assert answer["node"]["jobs"] == {"requester": {}, "prover": {}}
        metrics = await trio.to_thread.run_sync(client.get_text, "/metrics")
        assert "provernet_chain_processed_block" in metrics
        nursery.cancel_scope.cancel()
    assert not (dave.root / "api.json").exists()
    with acquire_home_lock(dave.root):  # released
        pass
