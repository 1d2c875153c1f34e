"""The devnet's records: devnet.json, pids.json, process fingerprints, stopping, arguments."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from devnet import orchestrate
from devnet.procs import spawn, stop, stop_all
from devnet.state import (
    ANVIL,
    ANVIL_STATE_FILE,
    PIDS_FILE,
    STATE_FILE,
    DevnetState,
    DevnetStateError,
    NodeEntry,
    ProcessRecord,
    fingerprint,
    is_running,
    load_pids,
    save_pids,
)
from node.anvil import free_port
from node.cli import main
from node.exit_codes import TOOL_MISSING, USAGE, CliError

PEER = "12D3KooWEFK8y3oRfMWnvPQNBh4Z5dLTZsfsQoh9rHuybUadiSw6"


def _state(tmp_path: Path) -> DevnetState:
    nodes = tuple(
        NodeEntry(
            f"node{i}",
            str(tmp_path / f"node{i}"),
            "requester" if i == 0 else "prover",
            f"0x{i + 1:040x}",
            PEER,
            4000 + i,
            i * 5 * 10**14,
        )
        for i in range(3)
    )
    deployment = {"chain_id": 31337, "contracts": {"JobMarket": "0x" + "ab" * 20}}
    return DevnetState("http://127.0.0.1:8545", 31337, 8545, 1, deployment, nodes, {"id": 1})


def test_devnet_json_round_trips_and_lists_what_users_need(tmp_path: Path) -> None:
    state = _state(tmp_path)
    state.save(tmp_path)
    assert DevnetState.load(tmp_path) == state
    written = json.loads((tmp_path / STATE_FILE).read_text())
    assert written["rpc_url"] == "http://127.0.0.1:8545"
    assert written["contracts"]["JobMarket"] == "0x" + "ab" * 20
    node1 = written["nodes"][1]
    assert (node1["role"], node1["home"]) == ("prover", str(tmp_path / "node1"))
    assert node1["multiaddr"] == f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
    assert node1["address"] == f"0x{2:040x}"


def test_nodes_are_found_by_name_or_number(tmp_path: Path) -> None:
    state = _state(tmp_path)
    assert state.node("2") is state.nodes[2]
    assert state.node("node1") is state.nodes[1]
    assert state.requester is state.nodes[0]
    with pytest.raises(DevnetStateError, match="node0, node1, node2"):
        state.node("7")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "not a provernet-devnet"),
        ({"nodes": []}, "lists no nodes"),
        ({"chain_id": "x"}, "malformed"),
    ],
)
def test_a_malformed_devnet_json_is_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({**_state(tmp_path).to_json(), **change}))
    with pytest.raises(DevnetStateError, match=message):
        DevnetState.load(tmp_path)


def test_a_directory_without_a_devnet_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(DevnetStateError, match="devnet up"):
        DevnetState.load(tmp_path)


def test_fingerprints_tell_a_recycled_pid_from_the_recorded_process(tmp_path: Path) -> None:
    own = fingerprint(os.getpid())
    assert own is not None
    assert own.isdigit()
    assert fingerprint(2**22 + 12345) is None  # above pid_max: no such process
    record = ProcessRecord("me", os.getpid(), own, ("python",), "log")
    assert is_running(record)
    # The same pid with another start time is another process: not ours.
    assert not is_running(ProcessRecord("me", os.getpid(), str(int(own) + 1), (), "log"))


def test_pids_json_round_trips(tmp_path: Path) -> None:
    records = {"anvil": ProcessRecord("anvil", 42, "123", ("anvil", "--port", "1"), "a.log")}
    save_pids(tmp_path, records)
    assert load_pids(tmp_path) == records
    (tmp_path / PIDS_FILE).write_text("{}")
    with pytest.raises(DevnetStateError, match="malformed"):
        load_pids(tmp_path)


def _sleeper(tmp_path: Path, name: str, ignore_term: bool = False) -> ProcessRecord:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('up', flush=True)\ntime.sleep(60)\n"
    record = spawn(name, [sys.executable, "-c", code], tmp_path / f"{name}.log")
    deadline = time.monotonic() + 10
    while "up" not in (tmp_path / f"{name}.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the handler is installed
    return record


def test_spawned_processes_run_detached_and_stop_by_their_record(tmp_path: Path) -> None:
    record = _sleeper(tmp_path, "sleeper")
    assert is_running(record)
    assert os.getsid(record.pid) == record.pid  # its own session: a Ctrl-C here misses it
    assert stop(record) is False  # SIGTERM was enough
    assert not is_running(record)
    assert stop(record) is False  # stopping a stopped process does nothing


def test_a_process_ignoring_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    stubborn = _sleeper(tmp_path, "stubborn", ignore_term=True)
    polite = _sleeper(tmp_path, "polite")
    assert stop_all([stubborn, polite], timeout_s=1.0) == ["stubborn"]
    assert not is_running(stubborn)
    assert not is_running(polite)


def test_stop_leaves_a_process_whose_fingerprint_differs_alone(tmp_path: Path) -> None:
    record = _sleeper(tmp_path, "other")
    impostor = ProcessRecord("other", record.pid, record.fingerprint + "0", (), "log")
    stop(impostor, timeout_s=0.5)
    assert is_running(record)
    stop(record)


@pytest.mark.parametrize(
    ("nodes", "block_time", "message"),
    [(1, 1, "2 to 16 nodes"), (17, 1, "2 to 16 nodes"), (3, 0, "from 1 to 60")],
)
def test_unsupported_arguments_are_refused_naming_the_limit(
    nodes: int, block_time: int, message: str
) -> None:
    with pytest.raises(CliError, match=message) as caught:
        orchestrate.check_arguments(nodes, block_time)
    assert caught.value.code == USAGE


def test_up_refuses_too_many_nodes_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "net"
    assert main(["devnet", "up", "--nodes", "40", "--dir", str(directory)]) == USAGE
    assert "at most 16" in capsys.readouterr().err
    assert not directory.exists()


def test_up_refuses_a_directory_whose_up_never_finished(tmp_path: Path) -> None:
    (tmp_path / "nodes").mkdir()
    with pytest.raises(CliError, match=r"down --dir .* --clean") as caught:
        orchestrate.up(tmp_path, None, None, lambda _line: None)
    assert caught.value.code == USAGE


def test_down_and_status_refuse_a_directory_without_a_devnet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devnet", "down", "--dir", str(tmp_path)]) == USAGE
    assert "holds no devnet" in capsys.readouterr().err
    assert main(["devnet", "status", "--dir", str(tmp_path)]) == USAGE
    assert "devnet up" in capsys.readouterr().err


def test_a_resumed_devnet_keeps_its_size(tmp_path: Path) -> None:
    _state(tmp_path).save(tmp_path)
    with pytest.raises(CliError, match="3 nodes, not 5"):
        orchestrate.up(tmp_path, 5, None, lambda _line: None)


def test_up_without_anvil_or_npm_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PROVERNET_TOOLS", str(tmp_path / "tools"))
    monkeypatch.setenv("PATH", str(empty))
    directory = tmp_path / "net"
    assert main(["devnet", "up", "--dir", str(directory)]) == TOOL_MISSING
    assert "npm was not found" in capsys.readouterr().err
    assert not directory.exists()


def _crashed_anvil(tmp_path: Path, port: int) -> None:
    """A recorded devnet whose anvil has died (its pid is above pid_max: long gone)."""
    state = _state(tmp_path)
    DevnetState(f"http://127.0.0.1:{port}", 31337, port, 1, state.deployment, state.nodes).save(
        tmp_path
    )
    argv = ("anvil", "--port", str(port))
    save_pids(tmp_path, {ANVIL: ProcessRecord(ANVIL, 2**22 + 1, "1", argv, "anvil.log")})


def test_resuming_without_the_saved_chain_refuses_and_names_down_clean(tmp_path: Path) -> None:
    _crashed_anvil(tmp_path, free_port())
    with pytest.raises(CliError, match=r"no saved chain .* down --dir .* --clean"):
        orchestrate.up(tmp_path, None, None, lambda _line: None)


def test_resuming_on_a_port_now_taken_says_so(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        _crashed_anvil(tmp_path, holder.getsockname()[1])
        (tmp_path / ANVIL_STATE_FILE).write_text("{}")
        with pytest.raises(CliError, match="is in use"):
            orchestrate.up(tmp_path, None, None, lambda _line: None)
