"""The CLI's client: finding the daemon, telling 'not running' apart, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from node import exit_codes
from node.api import (
    ApiClient,
    ApiError,
    DaemonNotAnswering,
    DaemonNotRunning,
    daemon_errors,
    exit_code_for,
)
from node.api.files import INFO_FILE, TOKEN_FILE, ApiInfo, publish, read_info, write_private
from tests.node.api.harness import start_daemon


def expected_message(home: Path) -> str:
    return (
        f"the provernet daemon for {home} is not running; "
        f"start it with `provernet --home {home} node run`"
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_no_api_json_means_not_running(tmp_path: Path):
    with pytest.raises(DaemonNotRunning) as caught:
        ApiClient.for_home(tmp_path)
    assert str(caught.value) == expected_message(tmp_path)


def test_a_dead_pid_means_not_running(tmp_path: Path):
    publish(tmp_path, ApiInfo("127.0.0.1", free_port(), dead_pid()), "token")
    with pytest.raises(DaemonNotRunning):
        ApiClient.for_home(tmp_path)


def test_nothing_listening_means_not_running(tmp_path: Path):
    publish(tmp_path, ApiInfo("127.0.0.1", free_port(), os.getpid()), "token")
    client = ApiClient.for_home(tmp_path)
    with pytest.raises(DaemonNotRunning, match="is not running"):
        client.get("/status")


def test_a_garbled_api_json_means_not_running(tmp_path: Path):
    (tmp_path / INFO_FILE).write_text('{"port": "eighty"')
    (tmp_path / TOKEN_FILE).write_text("t")
    assert read_info(tmp_path) is None
    with pytest.raises(DaemonNotRunning):
        ApiClient.for_home(tmp_path)


def test_a_daemon_that_never_answers_times_out(tmp_path: Path):
    import socket

    with socket.socket() as listener:  # accepts into the backlog, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = ApiClient(listener.getsockname()[1], "t", home=tmp_path, timeout_s=0.2)
        with pytest.raises(DaemonNotAnswering, match="did not answer"):
            client.get("/status")


def test_exit_codes_follow_the_error_kind(tmp_path: Path):
    assert exit_code_for(DaemonNotRunning(tmp_path)) == exit_codes.UNAVAILABLE == 7
    assert exit_code_for(ApiError("not_found", "no job 9", 404)) == exit_codes.FAILED
    assert exit_code_for(ApiError("bad_request", "x", 400)) == exit_codes.USAGE
    assert exit_code_for(ApiError("input_rejected", "x", 400)) == exit_codes.INPUT_REJECTED
    assert exit_code_for(ApiError("not_ready", "x", 503)) == exit_codes.UNAVAILABLE
    with pytest.raises(exit_codes.CliError) as caught, daemon_errors():
        ApiClient.for_home(tmp_path)
    assert caught.value.code == exit_codes.UNAVAILABLE
    assert str(caught.value) == expected_message(tmp_path)


def test_private_files_replace_wider_ones_without_ever_being_readable(tmp_path: Path):
    path = tmp_path / TOKEN_FILE
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert (path.stat().st_mode & 0o777, path.read_text()) == (0o600, "new")


async def test_server_errors_reach_the_client_with_code_and_status(
    nursery: trio.Nursery, tmp_path: Path
):
    daemon = await start_daemon(nursery, tmp_path)
    with pytest.raises(ApiError) as caught:
        await daemon.call("get", "/jobs/x")
    assert (caught.value.code, caught.value.status) == ("bad_request", 400)
    assert "path parameter id" in caught.value.message
    with pytest.raises(ApiError) as missing:
        await daemon.call("get", "/nope")
    assert (missing.value.code, missing.value.status) == ("not_found", 404)
    metrics = await daemon.call("get_text", "/metrics")
    assert "provernet_bids_sent_total" in metrics


async def test_the_client_ignores_proxy_settings(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    daemon = await start_daemon(nursery, tmp_path)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "")
    assert (await daemon.call("get", "/health")) == {"status": "ok"}
    assert json.loads((tmp_path / INFO_FILE).read_text())["port"] == daemon.port
